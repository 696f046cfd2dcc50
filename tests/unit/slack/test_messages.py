"""Typed outbox messages: each is stored and read back unchanged, in the payload shapes queued rows already have."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.common.messages import (
    CardPost,
    CardUpdate,
    DigestCharts,
    DigestPublish,
    DigestRefresh,
    DigestReview,
    IncidentBrief,
    PageDM,
    PageUpdate,
    PolicyRefusedNotice,
    ReminderDM,
    ThreadLine,
)
from bot.slack.calls import CALLS
from db.models import OutboxMessage

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BRIEF = IncidentBrief(
    ref="INC-7",
    title="Model <!channel> wrote exploit",
    severity="sev2",
    level="alert",
    category="cyber",
    restricted=False,
    channel_id="C0TRIAGE",
    ack_due_at=datetime(2026, 11, 23, 12, 15, tzinfo=UTC),
)
MESSAGES = [
    pytest.param(CardPost(incident_id=7, channel="C0TRIAGE"), {}, id="card-post"),
    pytest.param(CardPost(incident_id=7, channel="C0TRIAGE", redacted=True), {"redacted": True}, id="card-redacted"),
    pytest.param(CardUpdate(incident_id=7, channel="C0TRIAGE"), {}, id="card-update"),
    pytest.param(
        CardUpdate(incident_id=7, channel="C0TRIAGE", by_person=True), {"by_person": True}, id="card-update-by-person"
    ),
    pytest.param(
        ThreadLine(incident_id=7, channel="C0TRIAGE", timeline_entry_id=3), {"timeline_entry_id": 3}, id="thread"
    ),
    pytest.param(DigestReview(digest_id=2, channel="C0REVIEW"), {"id": 2}, id="digest-review"),
    pytest.param(DigestRefresh(digest_id=2, channel="C0REVIEW"), {"id": 2}, id="digest-refresh"),
    pytest.param(DigestPublish(digest_id=2, channel="C0LEADS"), {"id": 2}, id="digest-publish"),
    pytest.param(
        DigestCharts(digest_id=2, channel="C0LEADS", target="publish"), {"id": 2, "target": "publish"}, id="charts"
    ),
    pytest.param(PageDM(incident_id=7, user="U0TRIAGER", incident=BRIEF), None, id="page"),
    pytest.param(ReminderDM(incident_id=7, user="U0TRIAGER", incident=BRIEF), None, id="reminder"),
    pytest.param(
        PageUpdate(
            incident_id=7,
            user="U0TRIAGER",
            page_id=3,
            action="acknowledge",
            actor="U0TOM",
            at=NOW,
            status="acknowledged",
            step=1,
        ),
        {
            "page": 3,
            "action": "acknowledge",
            "actor": "U0TOM",
            "at": "2026-11-23T12:00:00+00:00",
            "status": "acknowledged",
            "step": 1,
        },
        id="page-update",
    ),
    pytest.param(
        PolicyRefusedNotice(admin="U0ADMIN", path="/etc/p.yaml", version="it-1", problems=("p.yaml:3: bad",)),
        None,
        id="policy-refused",
    ),
]


def stored(message: Any) -> OutboxMessage:
    """The row the outbox would hold, after a JSON round trip like the database's."""
    payload = json.loads(json.dumps(message.payload()))
    return OutboxMessage(
        kind=message.kind,
        channel=message.channel,
        incident_id=message.incident_id,
        payload=payload,
        created_at=NOW,
        next_attempt_at=NOW,
    )


@pytest.mark.parametrize(("message", "payload"), MESSAGES)
def test_message_reads_back_from_its_row(message: Any, payload: dict[str, Any] | None) -> None:
    row = stored(message)
    assert type(message).from_row(row) == message
    if payload is not None:  # the shapes rows queued before typed messages have
        assert row.payload == payload


@pytest.mark.parametrize(("message", "payload"), MESSAGES)
def test_every_message_kind_has_a_slack_call(message: Any, payload: object) -> None:
    assert message.kind in CALLS
