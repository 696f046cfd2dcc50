"""`tripwire dev --demo`: a scenario played through the dev workspace's real edges, narrated on stdout."""

from __future__ import annotations

import json
import re
import secrets
import string
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import httpx

from bot.app.asgi import Tripwire
from bot.app.dev import DEV_USERS, REPORTER, TRIAGER, DevWorkspace
from bot.ingest.signing import sign
from bot.policy.oncall import resolve_targets
from localslack import LocalSlack

DEMO_WAIT_SECONDS = 10.0
_FILED_REF = re.compile(r"\*(INC-\d+)\*")


class DemoError(Exception):
    """The demo could not go on (the bot refused a step); the workspace keeps running."""


def demo_tag() -> str:
    """Letters naming one demo run's models: its results group onto its own incidents, never an earlier run's."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(5))


def crossing_results(tag: str) -> list[dict[str, Any]]:
    """A CTF score over the cyber alert line (pages the on-call) and a restricted bio score over its alert line."""
    return [
        {
            "source": "inspect",
            "model": f"frontier-{tag}",
            "checkpoint": "ckpt-0519",
            "task": "cyber_ctf_pro",
            "metric": "accuracy",
            "value": 0.56,
            "n": 200,
            "run_id": f"demo-{tag}-ctf",
        },
        {
            "source": "inspect",
            "model": f"frontier-{tag}",
            "checkpoint": "ckpt-0519",
            "task": "bio_uplift_qa",
            "scorer": "choice",
            "metric": "accuracy",
            "value": 0.57,
            "n": 400,
            "run_id": f"demo-{tag}-bio",
        },
    ]


TREND_VALUES = (0.22, 0.24, 0.27, 0.29, 0.31, 0.34, 0.36, 0.39)
TREND_SPACING = timedelta(days=2)


def trend_results(tag: str, now: datetime) -> list[dict[str, Any]]:
    """Two weeks of research-task scores, each under every line (and its near-miss band), rising steadily."""
    last = len(TREND_VALUES) - 1
    return [
        {
            "source": "inspect",
            "model": f"atlas-{tag}",
            "checkpoint": f"ckpt-{1100 + 100 * index}",
            "task": "ai_rd_kernel_opt",
            "metric": "mean",
            "value": value,
            "n": 40,
            "run_id": f"demo-{tag}-ai-rd-{index}",
            "observed_at": (now - TREND_SPACING * (last - index) - timedelta(hours=1)).isoformat(),
        }
        for index, value in enumerate(TREND_VALUES)
    ]


def post_results(dev: DevWorkspace, results: Sequence[dict[str, Any]]) -> list[str]:
    """Send results to the bot's signed /hooks/eval as a pipeline would, wait for triage; return the incidents."""
    body = json.dumps({"results": list(results)}).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-Tripwire-Timestamp": str(timestamp),
        "X-Tripwire-Signature": sign(dev.tripwire.settings.webhook_secret, body, timestamp),
    }
    url = dev.bot_server.url + "/hooks/eval?wait=1"
    answer = httpx.post(url, content=body, headers=headers, timeout=60, trust_env=False)
    if answer.status_code != 202:
        raise DemoError(f"/hooks/eval answered {answer.status_code}: {answer.text[:300]}")
    return [str(ref) for ref in answer.json().get("incidents", [])]


def _one_incident(refs: list[str]) -> str:
    if len(refs) != 1:
        raise DemoError(f"the demo expected its results to open one incident, the bot answered {refs}")
    return refs[0]


def _mentions(slack: LocalSlack, channel_id: str | None, ref: str) -> bool:
    """Whether a conversation holds a message naming the incident (its card, its page)."""
    if channel_id is None:
        return False
    with slack.workspace.lock:
        # Cards and pages set the ref in bold: `*INC-2*` never matches INC-21.
        return any(
            f"*{ref}*" in message.text or f"*{ref}*" in json.dumps(message.blocks)
            for message in slack.workspace.channel_history(channel_id)
        )


def _wait_until(slack: LocalSlack, found: Callable[[], bool]) -> bool:
    try:
        slack.wait_for(found, timeout=DEMO_WAIT_SECONDS)
    except TimeoutError:
        return False
    return True


def _clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M:%S UTC")


def next_escalation(bot: Tripwire, ref: str) -> str:
    """When an unacknowledged incident pages its route's next step, and whom, as the policy in force says."""
    incident = bot.incidents.get(incident_id=int(ref.split("-")[1])).incident
    policy = bot.policies.current
    route = policy.routes.get(incident.route or "")
    if route is None or len(route.escalation) < 2:
        return "nobody else is paged (its route has one step)"
    when = incident.created_at + route.escalation[1].after
    names = {user_id: name for user_id, name, _real, _tz in DEV_USERS}
    people = [names.get(user, user) for user in resolve_targets(route.escalation[1], policy=policy, at=when)]
    return f"at {_clock(when)} it escalates to {' and '.join(people) or 'the next step'}"


def file_report(slack: LocalSlack) -> str:
    """rita files a report through `/incident new` and its form; return the ref the bot's confirmation names."""
    slack.slash_command(REPORTER, "new", channel_id="C0TRIAGE")
    # Bolt acks before its listener opens the form, so the modal appears a moment after the command returns.
    view = slack.wait_for(lambda: slack.open_views(REPORTER), timeout=DEMO_WAIT_SECONDS)[-1]
    slack.submit_view(
        REPORTER,
        view.id,
        {
            "title": {"value": "Model solved CTF challenges it had not seen before"},
            "description": {"value": "During red-teaming the model chained two bugs without being asked to."},
            # A watch-level cyber signal: the policy routes it to #safety-triage, where the demo shows it.
            "category": {"value": "cyber"},
            "severity": {"value": "sev3"},
            "model": {"value": "frontier-x"},
            "checkpoint": {"value": "ckpt-0412"},
        },
    )
    confirmation = slack.open_views(REPORTER)
    found = _FILED_REF.search(json.dumps(confirmation[-1].blocks)) if confirmation else None
    if found is None:
        raise DemoError("the report form did not turn into the bot's confirmation")
    slack.close_view(REPORTER, confirmation[-1].id)
    return found[1]


def run_demo(dev: DevWorkspace, out: TextIO | None = None) -> None:
    """Replay a short scenario through the real edges and tell the person watching what to look at."""
    slack, bot = dev.slack, dev.tripwire
    tag = demo_tag()

    def say(line: str) -> None:
        print(line, file=out or sys.stdout, flush=True)

    windows = (
        f"ack windows shortened to {dev.ack_minutes} minutes for the demo"
        if dev.ack_minutes is not None
        else "ack windows as your policy sets them"
    )
    say(f"demo: this run's models are frontier-{tag} and atlas-{tag} ({windows}).")

    report = file_report(slack)
    slack.slash_command(TRIAGER, "list", channel_id="C0TRIAGE")
    slack.slash_command(TRIAGER, f"ack {report}", channel_id="C0TRIAGE")
    say(f"demo: 1. rita reported a CTF surprise as {report} with /incident new; tom acknowledged it (#safety-triage).")

    # One result per request: the answer lists incidents by number, not in the order the results were sent.
    paged, restricted = (_one_incident(post_results(dev, [result])) for result in crossing_results(tag))
    dm = slack.workspace.dms.get
    delivered = _wait_until(slack, lambda: _mentions(slack, dm(TRIAGER), paged))
    escalates = next_escalation(bot, paged)
    say(
        f"demo: 2. frontier-{tag} scored 0.56 on cyber_ctf_pro, over the alert line (0.50): {paged} in "
        f"#safety-oncall; {'tom is paged' if delivered else 'a page is on its way to tom'} in his DM with Tripwire. "
        f"Nobody acknowledges it: {escalates}, unless you press Acknowledge as tom first."
    )
    say(
        f"demo: 3. frontier-{tag} scored 0.57 on bio_uplift_qa (cbrn.bio, a restricted category): {restricted}'s "
        "details are only in the private #safety-restricted; #safety-triage gets a redacted card."
    )

    trend = _one_incident(post_results(dev, trend_results(tag, bot.incidents.now())))
    say(
        f"demo: 4. atlas-{tag}'s ai_rd_kernel_opt score rose from {TREND_VALUES[0]} to {TREND_VALUES[-1]} over two "
        f"weeks, under every line: the trend rule projects a crossing, {trend} in #safety-triage."
    )

    period = bot.digests.last_complete("weekly")
    drafted = bot.digests.draft(period)
    zone = ZoneInfo(period.timezone)
    span = f"{period.start.astimezone(zone):%a %d %b} to {period.end.astimezone(zone):%a %d %b}"
    review = bot.policies.current.digest.review_channel
    say(
        f"demo: 5. the weekly digest for {span} {'is drafted into' if drafted else 'is already in'} {review} "
        "for review: Publish, Edit or Discard it as lee."
    )
    say("demo: done. Open the page above and switch between rita, tom and lee.")


def play_demo(dev: DevWorkspace) -> None:
    """Run the demo; if the bot refuses a step, say so and leave the workspace running."""
    try:
        run_demo(dev)
    except (DemoError, TimeoutError, httpx.HTTPError) as exc:
        print(f"tripwire dev: the demo stopped: {exc}", file=sys.stderr, flush=True)
