"""Signed Slack requests dispatched straight to the Bolt app (bolt-python's scenario-test style), Web API in-process."""

from __future__ import annotations

import time

import pytest

from bot.app.asgi import Tripwire
from bot.common.vocabulary import Status
from bot.incidents.lifecycle import Draft
from bot.slack.ids import INPUT_ACTION, ActionId, BlockId, CallbackId
from localslack import LocalSlack, View
from tests.conftest import REPORTER, SIGNING_SECRET, TRIAGE_CHANNEL, TRIAGER
from tests.support.inprocess_slack import SlackUser, dispatch_signed, json_body, signed_request

# Bolt refuses requests whose timestamp is more than five minutes from its own clock.
FIVE_MINUTES = 5 * 60


def now() -> int:
    """Bolt checks the timestamp against the real clock, so requests carry the real time."""
    return int(time.time())


def open_report_form(tripwire: Tripwire, slack: LocalSlack, text: str = "new") -> View:
    """Run `/incident <text>` and return the modal it opened (as the workspace holds it)."""
    body = SlackUser(slack, REPORTER).slash_command(text, channel_id=TRIAGE_CHANNEL)
    response = dispatch_signed(tripwire.bolt, body, SIGNING_SECRET, timestamp=now())
    assert response.status == 200, response.body
    views = slack.open_views(REPORTER)
    assert len(views) == 1, "no modal was opened"
    return views[0]


def test_help_command_answers_ephemerally_with_usage(tripwire: Tripwire, fake_slack: LocalSlack) -> None:
    body = SlackUser(fake_slack, REPORTER).slash_command("help", channel_id=TRIAGE_CHANNEL)

    response = dispatch_signed(tripwire.bolt, body, SIGNING_SECRET, timestamp=now())

    assert response.status == 200
    posts = fake_slack.response_posts
    assert [(post.ok, post.args.get("response_type")) for post in posts] == [(True, "ephemeral")]
    shown = fake_slack.ephemerals(REPORTER, TRIAGE_CHANNEL)
    assert len(shown) == 1
    assert "`/incident new [title]` open the report form" in shown[0].text
    assert fake_slack.calls_to("views.open") == [] and fake_slack.calls_to("chat.postMessage") == []


def test_new_command_opens_the_report_form(tripwire: Tripwire, fake_slack: LocalSlack) -> None:
    view = open_report_form(tripwire, fake_slack, "new Model leaked a key")

    [opened] = fake_slack.calls_to("views.open")
    assert opened.ok, opened.error
    assert opened.args["view"]["callback_id"] == CallbackId.NEW_INCIDENT
    assert view.callback_id == CallbackId.NEW_INCIDENT
    title = next(block for block in view.blocks if block.get("block_id") == BlockId.TITLE)
    assert title["element"]["initial_value"] == "Model leaked a key"


@pytest.mark.parametrize(
    "title",
    [pytest.param(None, id="missing"), pytest.param("   ", id="blank")],
)
def test_report_without_title_is_refused_next_to_the_title(
    tripwire: Tripwire, fake_slack: LocalSlack, title: str | None
) -> None:
    view = open_report_form(tripwire, fake_slack)
    body = SlackUser(fake_slack, REPORTER).submit_view(view, {BlockId.TITLE: {INPUT_ACTION: title}})

    response = dispatch_signed(tripwire.bolt, body, SIGNING_SECRET, timestamp=now())

    assert response.status == 200
    answer = json_body(response)
    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == [BlockId.TITLE]
    assert answer["errors"][BlockId.TITLE]
    # Slack only shows errors on input blocks of the submitted view.
    assert any(b["type"] == "input" and b["block_id"] == BlockId.TITLE for b in view.blocks)
    assert tripwire.incidents.list(scope="all", user=REPORTER) == []


def test_acknowledge_button_acknowledges_the_incident(tripwire: Tripwire, fake_slack: LocalSlack) -> None:
    incident = tripwire.incidents.report(draft=Draft(title="Model leaked a key", category="cyber"), reporter=REPORTER)
    assert incident.id is not None and incident.status == Status.TRIGGERED
    assert tripwire.outbox.drain().sent == 1
    [card] = fake_slack.messages(TRIAGE_CHANNEL)
    body = SlackUser(fake_slack, TRIAGER).click_button(TRIAGE_CHANNEL, card.ts, ActionId.ACKNOWLEDGE)

    response = dispatch_signed(tripwire.bolt, body, SIGNING_SECRET, timestamp=now())

    assert response.status == 200
    acknowledged = tripwire.incidents.get(incident_id=incident.id)
    assert acknowledged.incident.status == Status.ACKNOWLEDGED
    assert [(entry.action, entry.actor) for entry in acknowledged.timeline][-1] == ("acknowledge", TRIAGER)


def test_acknowledge_by_someone_the_policy_does_not_allow_changes_nothing(
    tripwire: Tripwire, fake_slack: LocalSlack
) -> None:
    incident = tripwire.incidents.report(draft=Draft(title="Model leaked a key", category="cyber"), reporter=REPORTER)
    assert incident.id is not None
    tripwire.outbox.drain()
    [card] = fake_slack.messages(TRIAGE_CHANNEL)
    body = SlackUser(fake_slack, REPORTER).click_button(TRIAGE_CHANNEL, card.ts, ActionId.ACKNOWLEDGE)

    response = dispatch_signed(tripwire.bolt, body, SIGNING_SECRET, timestamp=now())

    # The domain error is answered to the person (ephemerally), so the request itself succeeded.
    assert response.status == 200
    assert tripwire.incidents.get(incident_id=incident.id).incident.status == Status.TRIGGERED
    [shown] = fake_slack.ephemerals(REPORTER, TRIAGE_CHANNEL)
    assert "You can't acknowledge INC-1" in shown.text


def test_request_with_a_bad_signature_is_refused(tripwire: Tripwire, fake_slack: LocalSlack) -> None:
    body = SlackUser(fake_slack, REPORTER).slash_command("help", channel_id=TRIAGE_CHANNEL)
    forged = "v0=" + "0" * 64

    response = tripwire.bolt.dispatch(signed_request(body, SIGNING_SECRET, timestamp=now(), signature=forged))

    assert response.status == 401
    assert fake_slack.response_posts == [] and fake_slack.calls == []


def test_request_signed_too_long_ago_is_refused(tripwire: Tripwire, fake_slack: LocalSlack) -> None:
    body = SlackUser(fake_slack, REPORTER).slash_command("help", channel_id=TRIAGE_CHANNEL)

    # Correctly signed, but for a timestamp just past the five-minute replay window.
    response = dispatch_signed(tripwire.bolt, body, SIGNING_SECRET, timestamp=now() - FIVE_MINUTES - 1)

    assert response.status == 401
    assert fake_slack.response_posts == [] and fake_slack.calls == []
