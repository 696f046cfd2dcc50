"""Which way a card edit goes: through the click's response_url while Slack still takes it (unpaced), else by
chat.update (Tier 3); how the click's response_url is stored on the outbox row, and read back from old rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.common.messages import CardUpdate, ResponseUrl
from bot.slack.calls import CALLS, RESPONSE_URL_LIFETIME, card_edit_method
from bot.slack.pacing import METHOD_LIMITS, RESPOND, Pacer
from bot.slack.respond import answer_ok
from db.models import OutboxMessage
from handlers.actions import clicked_message

CLICKED = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
URL = "https://hooks.slack.com/actions/T0/1/abc"


def card(**fields: Any) -> CardUpdate:
    return CardUpdate(incident_id=7, channel="C0TRIAGE", by_person=True, **fields)


@pytest.mark.parametrize(
    ("edit", "age", "method"),
    [
        pytest.param(card(), timedelta(0), "chat.update", id="no-response-url"),
        pytest.param(card(response_url=URL), timedelta(0), "chat.update", id="url-without-click-time"),
        pytest.param(card(response_url=URL, clicked_at=CLICKED), timedelta(0), RESPOND, id="fresh"),
        pytest.param(card(response_url=URL, clicked_at=CLICKED), timedelta(minutes=28), RESPOND, id="28-minutes"),
        pytest.param(card(response_url=URL, clicked_at=CLICKED), RESPONSE_URL_LIFETIME, "chat.update", id="29-minutes"),
        pytest.param(card(response_url=URL, clicked_at=CLICKED), timedelta(hours=2), "chat.update", id="expired"),
        # Another replica's clock a little behind the one that stamped the click.
        pytest.param(card(response_url=URL, clicked_at=CLICKED), timedelta(seconds=-2), RESPOND, id="clock-behind"),
    ],
)
def test_card_edit_method_by_response_url_and_age(edit: CardUpdate, age: timedelta, method: str) -> None:
    assert card_edit_method(edit, CLICKED + age) == method


def row_of(edit: CardUpdate) -> OutboxMessage:
    return OutboxMessage(
        kind=edit.kind,
        channel=edit.channel,
        incident_id=edit.incident_id,
        payload=edit.payload(),
        created_at=CLICKED,
        next_attempt_at=CLICKED,
    )


def test_card_update_keeps_its_response_url_through_the_row() -> None:
    edit = card(response_url=URL, clicked_at=CLICKED)
    assert CardUpdate.from_row(row_of(edit)) == edit


def test_card_update_row_from_before_response_urls_still_loads() -> None:
    old = row_of(card())
    old.payload = {"by_person": True}
    assert CardUpdate.from_row(old) == card()
    assert card().payload() == {"by_person": True}  # rows without a click are written as before


def test_outbox_paces_a_row_by_the_method_it_will_go_by() -> None:
    plan = CALLS[CardUpdate.kind]
    fresh = row_of(card(response_url=URL, clicked_at=CLICKED))
    assert plan.method_for(fresh, CLICKED) == RESPOND
    assert plan.method_for(fresh, CLICKED + timedelta(hours=1)) == "chat.update"
    assert plan.method_for(row_of(card()), CLICKED) == "chat.update"


def test_response_url_lane_is_unpaced_and_leaves_chat_update_its_tokens() -> None:
    pacer = Pacer(clock=lambda: 1000.0)
    assert [pacer.acquire(RESPOND, "C0TRIAGE") for _ in range(500)] == [0.0] * 500
    burst = int(METHOD_LIMITS["chat.update"].burst)
    assert [pacer.acquire("chat.update", "C0TRIAGE") for _ in range(burst)] == [0.0] * burst
    assert pacer.acquire("chat.update", "C0TRIAGE") > 0


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        pytest.param("ok", True, id="plain-ok"),
        pytest.param('{"ok": true}', True, id="json-ok"),
        pytest.param('{"ok":false,"error":"invalid_blocks"}', False, id="json-refusal"),
    ],
)
def test_response_url_answer_read_as_taken_or_refused(body: str, ok: bool) -> None:
    assert answer_ok(body) is ok


def click(container: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"user": {"id": "U0TRIAGER"}, "container": container, "response_url": URL, **extra}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            click({"type": "message", "channel_id": "C0TRIAGE", "message_ts": "1.000001", "is_ephemeral": False}),
            ResponseUrl(url=URL, channel="C0TRIAGE", ts="1.000001"),
            id="message",
        ),
        pytest.param(
            click({"type": "message", "channel_id": "C0TRIAGE", "message_ts": "1.000001", "is_ephemeral": True}),
            None,
            id="ephemeral",
        ),
        pytest.param(click({"type": "view", "view_id": "V1"}), None, id="modal"),
        pytest.param({"container": {"type": "message", "channel_id": "C0T", "message_ts": "1.1"}}, None, id="no-url"),
    ],
)
def test_clicked_message_from_a_block_actions_body(body: dict[str, Any], expected: ResponseUrl | None) -> None:
    assert clicked_message(body) == expected
