"""Nothing silent: unmatched inputs are counted and routed, parked messages show, and the Slack set-up is checked."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from sqlmodel import Session, select

from bot.app.asgi import Tripwire
from bot.app.cli import main
from bot.app.doctor import check_slack, print_findings, report_at_start
from bot.common.clock import ManualClock
from bot.digest.compose import build_weekly
from bot.digest.inputs import Period, UnmatchedInput
from bot.digest.render import render_digest
from bot.policy.loader import load_policy
from bot.slack.digest_messages import digest_mrkdwn
from db.models import EvalResult, Incident, OutboxMessage
from localslack import BackgroundServer, LocalSlack
from tests.conftest import (
    ADMIN,
    BOT_TOKEN,
    LEAD,
    LEADERSHIP,
    ONCALL,
    RESTRICTED,
    REVIEW,
    TEST_POLICY,
    TRIAGE_CHANNEL,
    TRIAGER,
    open_bot,
)
from tests.integration.test_ingest import post_signed
from tests.support.inspect_logs import write_inspect_log
from tests.support.payloads import alert, alertmanager_webhook
from tests.unit.digest.fixture import weekly_input
from tests.unit.digest.golden import check_golden
from tests.unit.digest.test_golden import CHART_URLS

SECRET = "webhook-secret-for-tests"
AM_TOKEN = "am-token-for-tests"
# The integration policy plus a metric that wants Inspect's `choice` scorer and a default route for alerts.
BIO_METRIC = """metrics:
  - id: bio.uplift
    category: cbrn.bio
    match: {source: inspect, task: "bio_uplift*", scorer: choice, metric: accuracy}
    direction: higher_is_worse
    levels: {alert: ">=0.50", threshold: ">=0.70"}
    organisation_defined: true
"""
ALERTS_BLOCK = """
alerts:
  default:
    route: oncall
    levels: {critical: threshold, warning: alert, info: watch}
    otherwise: alert
"""


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    text = TEST_POLICY.read_text().replace("metrics:\n", BIO_METRIC, 1) + ALERTS_BLOCK
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def silent_bot(slack: LocalSlack, database_url: str, clock: ManualClock, policy_path: Path) -> Iterator[Tripwire]:
    """The bot under the policy above, on a real HTTP port, with webhook secrets set."""
    with open_bot(database_url, slack_url=slack.api_url, clock=clock, TRIPWIRE_POLICY=str(policy_path)) as bot:
        bot.settings.webhook_secret = SECRET
        bot.settings.alertmanager_token = AM_TOKEN
        server = BackgroundServer(bot.asgi)
        server.start()
        bot.settings.public_url = server.url
        yield bot
        server.stop()


def post_alert(bot: Tripwire, labels: dict[str, str], *, fingerprint: str = "b10b10b10b10b10b") -> httpx.Response:
    body = alertmanager_webhook(alerts=[alert(labels["alertname"], labels=labels, fingerprint=fingerprint)])
    headers = {"Authorization": f"Bearer {AM_TOKEN}"}
    return httpx.post(bot.settings.public_url + "/hooks/alertmanager?wait=1", json=body, headers=headers, timeout=30)


def incidents(bot: Tripwire) -> list[Incident]:
    with Session(bot.engine) as session:
        return list(session.exec(select(Incident).order_by(Incident.id)).all())  # type: ignore[arg-type]


def dms_to(slack: LocalSlack, user: str) -> list[str]:
    channel = slack.dm_channel(user)
    return [
        str(call.args.get("text"))
        for call in slack.calls_to("chat.postMessage")
        if call.args.get("channel") in (user, channel)
    ]


def metric_line(bot: Tripwire, name: str) -> float:
    body = httpx.get(bot.settings.public_url + "/metrics", timeout=30).text
    line = next(line for line in body.splitlines() if line.startswith(name + " "))
    return float(line.split()[1])


BIO_ALERT = {"alertname": "BioCanaryTripped", "severity": "critical", "category": "cbrn.bio", "model": "frontier-x"}


def test_unmatched_critical_alert_opens_a_restricted_incident_and_pages(
    silent_bot: Tripwire, slack: LocalSlack
) -> None:
    response = post_alert(silent_bot, BIO_ALERT)
    assert response.status_code == 202
    assert response.json() | {"resolved": []} == {
        "accepted": 1,
        "duplicates": 0,
        "near_misses": 0,
        "unmatched": 1,
        "incidents": ["INC-1"],
        "resolved": [],
    }
    [incident] = incidents(silent_bot)
    assert (incident.category, incident.level, incident.severity, incident.restricted) == (
        "cbrn.bio",
        "threshold",
        "sev1",
        True,
    )
    silent_bot.timers.run_due()
    silent_bot.outbox.drain()
    # The restricted route pages the safety lead; the full card is only in the private channel.
    assert any("INC-1" in text for text in dms_to(slack, LEAD))
    assert slack.messages(RESTRICTED) and "BioCanaryTripped" not in str(slack.messages(TRIAGE_CHANNEL))
    # The same alert again is a duplicate, not a second incident or a second unmatched count.
    again = post_alert(silent_bot, BIO_ALERT).json()
    assert (again["duplicates"], again["unmatched"], again["incidents"]) == (1, 0, [])
    assert len(incidents(silent_bot)) == 1


def test_unmatched_alert_without_category_takes_the_default_route(silent_bot: Tripwire, slack: LocalSlack) -> None:
    labels = {"alertname": "GpuNodeLost", "severity": "warning", "model": "frontier-x"}
    assert post_alert(silent_bot, labels, fingerprint="0a0a0a0a0a0a0a0a").json()["unmatched"] == 1
    [incident] = incidents(silent_bot)
    # unclassified defines only watch, the closest level at or below the alert that `warning` asks for.
    assert (incident.category, incident.level, incident.channel_id or "") == ("unclassified", "watch", ONCALL)
    silent_bot.timers.run_due()
    silent_bot.outbox.drain()
    assert any("INC-1" in text for text in dms_to(slack, TRIAGER))


def test_concurrent_copies_of_one_unmatched_alert_open_one_incident(silent_bot: Tripwire) -> None:
    barrier = threading.Barrier(4)
    answers: list[dict[str, Any]] = []

    def send() -> None:
        barrier.wait()
        answers.append(post_alert(silent_bot, BIO_ALERT).json())

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(a["unmatched"] for a in answers) == [0, 0, 0, 1]
    assert sum(a["duplicates"] for a in answers) == 3
    assert len(incidents(silent_bot)) == 1


def test_unmatched_inspect_score_is_counted_everywhere(
    silent_bot: Tripwire, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Inspect's `match` scorer where the policy's metric wants `choice`: stored, answered and listed as unmatched.
    log = write_inspect_log(tmp_path, task_name="bio_uplift_demo", model_outputs_correct=3, samples=4, fmt="json")
    answer = post_signed(silent_bot.settings.public_url + "/hooks/inspect?wait=1", log.read_bytes()).json()
    assert (answer["accepted"], answer["unmatched"], answer["incidents"]) == (1, 1, [])
    assert metric_line(silent_bot, 'tripwire_results{outcome="unmatched"}') == 1
    assert metric_line(silent_bot, 'tripwire_results{outcome="matched"}') == 0
    replay = post_signed(silent_bot.settings.public_url + "/hooks/inspect?wait=1", log.read_bytes()).json()
    assert (replay["duplicates"], replay["unmatched"]) == (1, 0)
    assert metric_line(silent_bot, 'tripwire_results{outcome="unmatched"}') == 1

    monkeypatch.setenv("DATABASE_URL", silent_bot.settings.database_url)
    monkeypatch.setenv("TRIPWIRE_POLICY", silent_bot.settings.policy_path)
    capsys.readouterr()
    assert main(["policy", "coverage"]) == 0
    out = capsys.readouterr().out
    assert "1 of 1 stored results match no metric of policy it-1" in out
    assert "source=inspect task=bio_uplift_demo scorer=match metric=accuracy" in out
    assert "closest metric: bio.uplift (scorer 'match' vs 'choice')" in out
    assert main(["policy", "coverage", "--since", "2100-01-01"]) == 0
    assert "every one of 0 stored results since 2100-01-01" in capsys.readouterr().out

    # The weekly digest of the week it arrived in lists it, with the hint.
    with Session(silent_bot.engine) as session:
        received = session.exec(select(EvalResult)).one().received_at
    period = Period("weekly", received - timedelta(days=1), received + timedelta(days=6), "Europe/London")
    composed = silent_bot.digests.compose(period)
    assert composed.content.unmatched == (
        UnmatchedInput("inspect", "bio_uplift_demo", "match", "accuracy", 1, "bio.uplift (scorer 'match' vs 'choice')"),
    )
    assert "Results no metric matched (1)" in composed.text_md


UNMATCHED = (
    UnmatchedInput(
        "inspect", "bio_uplift_v3", "includes", "accuracy", 12, "bio.uplift-qa (scorer 'includes' vs 'choice')"
    ),
    UnmatchedInput("alertmanager", "GpuNodeLost", "", "GpuNodeLost", 2, ""),
)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        pytest.param("weekly_unmatched.md", "md", id="md"),
        pytest.param("weekly_unmatched.html", "html", id="html"),
        pytest.param("weekly_unmatched.slack.txt", "slack", id="slack"),
    ],
)
def test_digest_lists_unmatched_inputs(name: str, fmt: str) -> None:
    digest = build_weekly(weekly_input(unmatched=UNMATCHED))
    urls = CHART_URLS if fmt == "html" else None
    text = digest_mrkdwn(digest) if fmt == "slack" else render_digest(digest, fmt=fmt, chart_urls=urls)  # type: ignore[arg-type]
    check_golden(name, text)
    # Everything else is the quiet week's render: only the new section was added.
    quiet = build_weekly(weekly_input())
    quiet_text = digest_mrkdwn(quiet) if fmt == "slack" else render_digest(quiet, fmt=fmt)  # type: ignore[arg-type]
    assert "no metric matched" not in quiet_text and "no metric matched" in text


def test_readyz_and_metrics_show_parked_messages(silent_bot: Tripwire) -> None:
    base = silent_bot.settings.public_url
    assert httpx.get(base + "/readyz").json()["parked"] == 0
    now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    with Session(silent_bot.engine) as session:
        for error in ("chat.postMessage: not_in_channel", "chat.postMessage: channel_not_found"):
            session.add(
                OutboxMessage(
                    kind="card.post",
                    channel=RESTRICTED,
                    status="failed",
                    created_at=now,
                    next_attempt_at=now,
                    last_error=error,
                )
            )
        session.commit()
    ready = httpx.get(base + "/readyz")
    assert ready.status_code == 200 and ready.json()["ok"] is True
    body = ready.json()
    assert body["parked"] == 2 and body["oldest_parked"]["error"] == "chat.postMessage: not_in_channel"
    assert body["oldest_parked"]["channel"] == RESTRICTED
    assert metric_line(silent_bot, 'tripwire_outbox_messages{status="failed"}') == 2


# -- tripwire doctor


def doctor(slack: LocalSlack) -> tuple[int, str]:
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
    out = io.StringIO()
    code = print_findings(check_slack(client, load_policy(TEST_POLICY), triage_channel=TRIAGE_CHANNEL), out=out)
    return code, out.getvalue()


@pytest.fixture
def half_set_up() -> Iterator[LocalSlack]:
    """A workspace where the bot was never invited to the private restricted channel and files:write is missing."""
    with LocalSlack(bot_token=BOT_TOKEN) as server:
        server.add_user(ADMIN, name="ada")
        server.add_channel(TRIAGE_CHANNEL, name="safety-triage")
        server.add_channel(ONCALL, name="safety-oncall", bot_member=False)
        server.add_channel(RESTRICTED, name="safety-restricted", is_private=True, members=[LEAD], bot_member=False)
        server.add_channel(REVIEW, name="safety-digest-review")
        server.add_channel(LEADERSHIP, name="safety-leadership", is_private=True)
        server.workspace.scopes.discard("files:write")
        yield server


def test_doctor_names_every_fix(half_set_up: LocalSlack) -> None:
    code, out = doctor(half_set_up)
    assert code == 1
    assert "FIX  scopes: files:write not granted" in out
    assert "→ add scope files:write under OAuth & Permissions → Bot Token Scopes and reinstall the app" in out
    assert "FIX  <#C0RESTRICTED> (route restricted): not found" in out
    assert (
        "→ create the private channel <#C0RESTRICTED> (or fix the policy), then `/invite @tripwire in <#C0RESTRICTED>`"
        in out
    )
    assert "FIX  <#C0ONCALL> (route oncall): @tripwire is not a member" in out
    assert "→ `/invite @tripwire in <#C0ONCALL>`" in out
    assert "ok   <#C0REVIEW> (digest review (drafts and chart uploads)): exists, @tripwire is a member" in out
    assert out.rstrip().endswith("3 problems to fix")


def test_doctor_all_good_exits_zero(slack: LocalSlack) -> None:
    code, out = doctor(slack)
    assert (code, "FIX" in out) == (0, False), out
    assert out.rstrip().endswith("all good")


def test_doctor_rejects_a_bad_token(slack: LocalSlack) -> None:
    client = WebClient(token="xoxb-wrong", base_url=slack.api_url)
    findings = check_slack(client, load_policy(TEST_POLICY), triage_channel=TRIAGE_CHANNEL)
    assert [(f.ok, f.what) for f in findings] == [(False, "token: auth.test refused the bot token (invalid_auth)")]


def test_doctor_at_start_dms_the_admins_and_never_raises(half_set_up: LocalSlack) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=half_set_up.api_url)
    findings = report_at_start(client, load_policy(TEST_POLICY), triage_channel=TRIAGE_CHANNEL)
    assert sum(not f.ok for f in findings) == 3
    [dm] = [c for c in half_set_up.calls_to("chat.postMessage") if c.args.get("channel") == ADMIN]
    assert "add scope files:write" in str(dm.args["text"])
    half_set_up.fail("auth.test", status=500)
    assert report_at_start(client, load_policy(TEST_POLICY), triage_channel=TRIAGE_CHANNEL) == []
