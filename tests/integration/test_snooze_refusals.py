"""Snooze refusals end to end, on SQLite and PostgreSQL: the form shows them (no direct message, nothing stored), the
card offers Snooze only where the policy in force allows it, and a form sent again is not acted on twice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from bot.app.asgi import Tripwire
from bot.common.clock import ManualClock
from bot.incidents.lifecycle import Draft, validate_draft
from bot.slack.ids import INPUT_ACTION
from db.models import Incident, TimelineEntry, Timer
from handlers.views import SUBMITTED_BEFORE
from localslack import BackgroundServer, LocalSlack
from localslack.delivery import FORM, sign_request
from tests.conftest import ONCALL, REPORTER, SIGNING_SECRET, TRIAGE_CHANNEL, TRIAGER, open_bot
from tests.integration.test_incident_lifecycle import file_incident
from tests.integration.test_policy_triage import dms_to, policy_copy
from tests.support.inprocess_slack import SlackUser

DENIAL = "You can't snooze INC-1: policy it-1 gives that to triager, safety_lead, admin. Nothing was changed"
SNOOZE_VALUES = {"duration": {"value": "2h"}, "reason": {"value": "waiting for the eval rerun"}}


@pytest.fixture
def reloadable(
    slack: LocalSlack, database_url: str, clock: ManualClock, tmp_path: Path
) -> Iterator[tuple[Tripwire, Path]]:
    """The bot on a real HTTP port under a copy of the test policy that the test may rewrite and reload."""
    path = policy_copy(tmp_path)
    with open_bot(database_url, slack_url=slack.api_url, clock=clock, TRIPWIRE_POLICY=str(path)) as tripwire:
        server = BackgroundServer(tripwire.asgi)
        server.start()
        slack.request_url = server.url + "/slack/events"
        yield tripwire, path
        server.stop()


def reload_with(bot: Tripwire, path: Path, old: str, new: str) -> None:
    """Rewrite one line of the policy file and load it."""
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    assert bot.policies.reload().outcome == "loaded"


def open_snooze_form(slack: LocalSlack, user: str, channel: str, ts: str) -> str:
    """Click the card's Snooze button as `user`; the id of the form it opened."""
    assert slack.click_button(user, channel, ts, "incident_snooze").status_code == 200
    view = slack.open_views(user)[-1]
    assert view.callback_id == "incident_snooze"
    return view.id


def answer(response: httpx.Response) -> dict[str, Any]:
    """The bot's answer to a view submission ({} when it closed the form)."""
    assert response.status_code == 200, response.text
    return response.json() if response.content else {}


def snooze_rows(bot: Tripwire) -> tuple[Incident, list[Timer], list[str]]:
    """INC-1, its snooze_end timers and its timeline actions."""
    with Session(bot.engine) as session:
        incident = session.get(Incident, 1)
        assert incident is not None
        timers = session.exec(select(Timer).where(Timer.incident_id == 1, Timer.kind == "snooze_end")).all()
        actions = session.exec(select(TimelineEntry.action).where(TimelineEntry.incident_id == 1)).all()
        return incident, list(timers), list(actions)


def button_ids(slack: LocalSlack, channel: str, ts: str) -> list[str]:
    blocks = slack.message(channel, ts).blocks
    return [element["action_id"] for block in blocks if block["type"] == "actions" for element in block["elements"]]


def test_snooze_refused_by_role_stays_on_the_form_and_sends_nothing(slack: LocalSlack, bot: Tripwire) -> None:
    card = file_incident(slack, bot)
    view_id = open_snooze_form(slack, REPORTER, TRIAGE_CHANNEL, card.ts)

    first = answer(slack.submit_view(REPORTER, view_id, SNOOZE_VALUES))
    again = answer(slack.submit_view(REPORTER, view_id, SNOOZE_VALUES))

    assert first == {"response_action": "errors", "errors": {"duration": DENIAL + "; the attempt is on the timeline."}}
    assert again == {"response_action": "errors", "errors": {"duration": DENIAL + "."}}
    # The strict fake applied the errors to the form's input block: it is still open, showing the refusal.
    [form] = slack.open_views(REPORTER)
    assert (form.id, form.errors, form.delivery_error) == (view_id, again["errors"], None)
    incident, timers, actions = snooze_rows(bot)
    assert (incident.snoozed_until, timers) == (None, [])
    assert "snooze" not in actions and actions.count("refused") == 1
    bot.outbox.drain()
    assert dms_to(slack, REPORTER) == [] and slack.ephemerals(REPORTER) == []


def test_form_sent_again_after_a_reload_allows_it_is_not_acted_on_but_a_new_one_is(
    slack: LocalSlack, reloadable: tuple[Tripwire, Path]
) -> None:
    bot, path = reloadable
    card = file_incident(slack, bot)
    view_id = open_snooze_form(slack, REPORTER, TRIAGE_CHANNEL, card.ts)
    assert answer(slack.submit_view(REPORTER, view_id, SNOOZE_VALUES))["response_action"] == "errors"
    reload_with(bot, path, "snooze: [triager, safety_lead, admin]", "snooze: [everyone]")

    resent = answer(slack.submit_view(REPORTER, view_id, SNOOZE_VALUES))

    # The first submission was refused and audited; the same one again is not acted on, whatever the policy says now.
    assert resent == {"response_action": "errors", "errors": {"duration": SUBMITTED_BEFORE}}
    assert snooze_rows(bot)[1] == []
    slack.close_view(REPORTER, view_id)
    fresh = open_snooze_form(slack, REPORTER, TRIAGE_CHANNEL, card.ts)
    assert answer(slack.submit_view(REPORTER, fresh, SNOOZE_VALUES)) == {}
    incident, timers, _ = snooze_rows(bot)
    assert incident.snooze_reason == "waiting for the eval rerun" and len(timers) == 1


def test_one_form_submitted_twice_at_once_snoozes_once(slack: LocalSlack, bot: Tripwire) -> None:
    card = file_incident(slack, bot)
    view_id = open_snooze_form(slack, TRIAGER, TRIAGE_CHANNEL, card.ts)
    # Both bodies are built before either is sent (the first answer closes the form in the workspace).
    form = next(view for view in slack.open_views(TRIAGER) if view.id == view_id)
    values = {block: {INPUT_ACTION: field["value"]} for block, field in SNOOZE_VALUES.items()}
    bodies = [SlackUser(slack, TRIAGER).submit_view(form, values) for _ in range(2)]

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = [answer(response) for response in pool.map(lambda body: post_signed(slack, body), bodies)]

    # One acted (the form closes); the other is the same submission, not acted on twice.
    assert sorted(answers, key=len) == [{}, {"response_action": "errors", "errors": {"duration": SUBMITTED_BEFORE}}]
    incident, timers, actions = snooze_rows(bot)
    assert incident.snoozed_until is not None and len(timers) == 1 and actions.count("snooze") == 1


def post_signed(slack: LocalSlack, body: str) -> httpx.Response:
    """POST a body to the bot as Slack would, signed now."""
    headers = {"Content-Type": FORM, **sign_request(SIGNING_SECRET, body, int(time.time()))}
    return httpx.post(str(slack.request_url), content=body, headers=headers, timeout=30)


def test_threshold_card_offers_no_snooze_while_the_policy_forbids_it(
    slack: LocalSlack, reloadable: tuple[Tripwire, Path]
) -> None:
    bot, path = reloadable
    bot.incidents.report(draft=draft("sev1"), reporter=REPORTER)
    bot.outbox.drain()
    [card] = slack.messages(ONCALL)
    # The card is the same for everyone, so it hides Snooze for the level only; roles are checked on submission.
    assert button_ids(slack, ONCALL, card.ts) == ["incident_acknowledge", "incident_escalate", "incident_resolve"]

    # Each render asks the policy in force: once it allows snoozing the level, the next edit offers Snooze.
    reload_with(bot, path, "forbidden_levels: [threshold]", "forbidden_levels: []")
    bot.incidents.acknowledge(incident_id=1, actor=TRIAGER)
    bot.outbox.drain()
    assert button_ids(slack, ONCALL, card.ts) == ["incident_escalate", "incident_snooze", "incident_resolve"]


def draft(severity: str) -> Draft:
    """A report form's values as validated."""
    found, errors = validate_draft(title="Model leaked a key", category="cyber", severity=severity)
    assert found is not None, errors
    return found
