"""The snooze form: refusals shown on the form (never as a direct message), and cards that offer Snooze only where
the policy allows it. Signed requests dispatched to the Bolt app, Web API answered in-process (see conftest)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlmodel import Session, select

from bot.app.asgi import Tripwire
from bot.common.vocabulary import Action, Severity
from bot.incidents.lifecycle import Draft
from bot.slack.blocks import incident_card
from bot.slack.ids import INPUT_ACTION, ActionId, BlockId, CallbackId
from bot.slack.modals import snooze_modal
from db.models import Incident, Timer
from localslack import LocalSlack, View
from tests.conftest import BOT_TOKEN, ONCALL, REPORTER, SIGNING_SECRET, TRIAGE_CHANNEL, TRIAGER
from tests.support.inprocess_slack import SlackUser, api_url, dispatch_signed, json_body


def now() -> int:
    """Bolt checks the timestamp against the real clock, so requests carry the real time."""
    return int(time.time())


def file_incident(tripwire: Tripwire, slack: LocalSlack, *, severity: str = "sev3") -> tuple[int, str, str]:
    """Report an incident (sev1 is the threshold level, routed to on-call), post its card; its id, channel and ts."""
    slack.add_channel(ONCALL, name="safety-oncall", is_private=False)
    incident = tripwire.incidents.report(
        draft=Draft(title="Model leaked a key", category="cyber", severity=Severity(severity)), reporter=REPORTER
    )
    assert incident.id is not None
    assert tripwire.outbox.drain().sent == 1
    channel = ONCALL if severity == "sev1" else TRIAGE_CHANNEL
    [card] = slack.messages(channel)
    return incident.id, channel, card.ts


def card_action_ids(slack: LocalSlack, channel: str, ts: str) -> list[str]:
    """The action ids of the buttons on a posted card, as the workspace holds it."""
    blocks = slack.message(channel, ts).blocks
    return [element["action_id"] for block in blocks if block["type"] == "actions" for element in block["elements"]]


def open_form_from_card(tripwire: Tripwire, slack: LocalSlack, user: str, channel: str, ts: str) -> View:
    """Click the card's Snooze button and return the form it opened."""
    body = SlackUser(slack, user).click_button(channel, ts, ActionId.SNOOZE)
    assert dispatch_signed(tripwire.bolt, body, SIGNING_SECRET, timestamp=now()).status == 200
    [view] = slack.open_views(user)
    assert view.callback_id == CallbackId.SNOOZE
    return view


def submit(tripwire: Tripwire, slack: LocalSlack, user: str, view: View, reason: str = "waiting for the rerun") -> Any:
    """Submit the snooze form for two hours; the bot's answer to Slack, decoded ({} for an empty ack)."""
    values: dict[str, dict[str, str]] = {BlockId.DURATION: {INPUT_ACTION: "2h"}, BlockId.REASON: {INPUT_ACTION: reason}}
    response = dispatch_signed(
        tripwire.bolt, SlackUser(slack, user).submit_view(view, values), SIGNING_SECRET, timestamp=now()
    )
    assert response.status == 200, response.body
    return json_body(response) if response.body else {}


def stored_snooze(tripwire: Tripwire, incident_id: int) -> tuple[Incident, list[Timer]]:
    """The incident row and its snooze_end timers."""
    with Session(tripwire.engine) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        timers = session.exec(select(Timer).where(Timer.incident_id == incident_id, Timer.kind == "snooze_end")).all()
        return incident, list(timers)


def direct_messages_to(slack: LocalSlack, user: str) -> list[str]:
    """What the bot posted to a person's DM (chat.postMessage with the user as the channel)."""
    return [
        str(call.args.get("text")) for call in slack.calls_to("chat.postMessage") if call.args.get("channel") == user
    ]


def test_snooze_refused_by_role_is_the_forms_error_and_changes_nothing(
    tripwire: Tripwire, fake_slack: LocalSlack
) -> None:
    incident_id, channel, ts = file_incident(tripwire, fake_slack)
    # The reporter holds no role that may snooze, yet sees the same card as everyone: the refusal comes at submission.
    view = open_form_from_card(tripwire, fake_slack, REPORTER, channel, ts)

    # Submitted twice (the form stays open, so a person tries again): refused on the form each time.
    answers = [submit(tripwire, fake_slack, REPORTER, view) for _ in range(2)]

    denial = "You can't snooze INC-1: policy it-1 gives that to triager, safety_lead, admin. Nothing was changed"
    for answer in answers:
        assert answer["response_action"] == "errors"
        assert list(answer["errors"]) == [BlockId.DURATION]
        assert answer["errors"][BlockId.DURATION].startswith(denial)
    # The repeat is answered from a read of the policy (the first refusal is what went on the timeline).
    assert [answer["errors"][BlockId.DURATION] for answer in answers] == [
        denial + "; the attempt is on the timeline.",
        denial + ".",
    ]
    # Slack shows errors only on the submitted view's input blocks.
    assert any(b["type"] == "input" and b["block_id"] == BlockId.DURATION for b in view.blocks)
    incident, timers = stored_snooze(tripwire, incident_id)
    assert (incident.snoozed_until, incident.snooze_reason, timers) == (None, "", [])
    actions = [entry.action for entry in tripwire.incidents.get(incident_id=incident_id).timeline]
    # The attempt is audited once: the same form again is the same request (its claim was taken by the refusal).
    assert Action.SNOOZE not in actions and actions.count(Action.REFUSED) == 1
    tripwire.outbox.drain()
    assert direct_messages_to(fake_slack, REPORTER) == []
    assert fake_slack.ephemerals(REPORTER) == []


def test_snooze_refused_at_a_forbidden_level_is_the_forms_error(tripwire: Tripwire, fake_slack: LocalSlack) -> None:
    incident_id, _, _ = file_incident(tripwire, fake_slack, severity="sev1")
    incident = tripwire.incidents.get(incident_id=incident_id).incident
    # A form opened before the incident could not be snoozed (an older card, a policy reloaded since) is still answered.
    trigger = fake_slack.workspace.issue_trigger(TRIAGER).id
    client = WebClient(token=BOT_TOKEN, base_url=api_url(fake_slack))
    client.views_open(trigger_id=trigger, view=snooze_modal(incident, max_duration="1d"))
    [view] = fake_slack.open_views(TRIAGER)

    answer = submit(tripwire, fake_slack, TRIAGER, view)

    assert answer["response_action"] == "errors"
    assert answer["errors"] == {BlockId.DURATION: "INC-1 is at threshold level; the policy does not allow snoozing it."}
    incident, timers = stored_snooze(tripwire, incident_id)
    assert (incident.snoozed_until, timers) == (None, [])
    tripwire.outbox.drain()
    assert direct_messages_to(fake_slack, TRIAGER) == []


def test_snooze_of_a_resolved_incident_is_the_forms_error(tripwire: Tripwire, fake_slack: LocalSlack) -> None:
    incident_id, channel, ts = file_incident(tripwire, fake_slack)
    view = open_form_from_card(tripwire, fake_slack, TRIAGER, channel, ts)
    tripwire.incidents.resolve(incident_id=incident_id, actor=TRIAGER)  # someone else resolves it meanwhile

    answer = submit(tripwire, fake_slack, TRIAGER, view)

    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == [BlockId.DURATION] and "INC-1 is resolved" in answer["errors"][BlockId.DURATION]
    assert stored_snooze(tripwire, incident_id)[1] == []
    tripwire.outbox.drain()
    assert direct_messages_to(fake_slack, TRIAGER) == []


def test_snooze_by_a_permitted_role_closes_the_form_and_snoozes(tripwire: Tripwire, fake_slack: LocalSlack) -> None:
    incident_id, channel, ts = file_incident(tripwire, fake_slack)
    view = open_form_from_card(tripwire, fake_slack, TRIAGER, channel, ts)

    assert submit(tripwire, fake_slack, TRIAGER, view, reason="known flake") == {}

    incident, timers = stored_snooze(tripwire, incident_id)
    assert incident.snooze_reason == "known flake" and len(timers) == 1


def test_snooze_command_refused_by_role_stays_ephemeral(tripwire: Tripwire, fake_slack: LocalSlack) -> None:
    incident_id, _, _ = file_incident(tripwire, fake_slack)
    body = SlackUser(fake_slack, REPORTER).slash_command("snooze INC-1 2h rerun", channel_id=TRIAGE_CHANNEL)

    assert dispatch_signed(tripwire.bolt, body, SIGNING_SECRET, timestamp=now()).status == 200

    [shown] = fake_slack.ephemerals(REPORTER, TRIAGE_CHANNEL)
    assert "You can't snooze INC-1" in shown.text
    assert stored_snooze(tripwire, incident_id)[1] == []


@pytest.mark.parametrize(
    ("severity", "offered"),
    [
        pytest.param("sev1", False, id="threshold-forbidden"),
        pytest.param("sev2", True, id="alert-allowed"),
        pytest.param("sev3", True, id="watch-allowed"),
    ],
)
def test_card_offers_snooze_only_where_the_policy_allows_it(
    tripwire: Tripwire, fake_slack: LocalSlack, severity: str, offered: bool
) -> None:
    incident_id, channel, ts = file_incident(tripwire, fake_slack, severity=severity)
    assert (ActionId.SNOOZE in card_action_ids(fake_slack, channel, ts)) is offered

    # Edited cards too (acknowledging re-renders the card through the outbox).
    tripwire.incidents.acknowledge(incident_id=incident_id, actor=TRIAGER)
    tripwire.outbox.drain()
    ids = card_action_ids(fake_slack, channel, ts)
    assert ActionId.ESCALATE in ids and (ActionId.SNOOZE in ids) is offered


def test_card_buttons_leave_out_snooze_when_not_snoozable() -> None:
    opened = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    incident = Incident(
        id=3, title="t", category="cyber", severity="sev1", status="acknowledged", reporter=REPORTER,
        created_at=opened, updated_at=opened,
    )  # fmt: skip
    ids = [e["action_id"] for e in incident_card(incident, snoozable=False)[-1]["elements"]]
    assert ids == [ActionId.ESCALATE, ActionId.RESOLVE]


@pytest.mark.parametrize(
    ("max_duration", "choices"),
    [
        pytest.param("1d", ["30m", "1h", "2h", "4h", "8h", "24h"], id="a-day-written-1d"),
        pytest.param("3h", ["30m", "1h", "2h", "3h"], id="limit-between-choices"),
        pytest.param("20m", ["20m"], id="below-every-choice"),
        pytest.param("2d", ["30m", "1h", "2h", "4h", "8h", "24h", "2d"], id="above-every-choice"),
    ],
)
def test_snooze_form_offers_only_durations_within_the_policys_limit(max_duration: str, choices: list[str]) -> None:
    opened = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    incident = Incident(id=3, title="t", category="cyber", reporter=REPORTER, created_at=opened, updated_at=opened)
    view = snooze_modal(incident, max_duration=max_duration)
    [select] = [b["element"] for b in view["blocks"] if b.get("block_id") == BlockId.DURATION]
    assert [option["value"] for option in select["options"]] == choices
    assert select["initial_option"]["value"] == choices[min(1, len(choices) - 1)]
