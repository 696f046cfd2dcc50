"""Page DMs you can act on (Acknowledge / Escalate, a link to the card), edited when someone acts, and App Home's
"Waiting on you": golden renders, the outbox's edit lane for page edits, and the rows a change queues (SQLite and
PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.app.wiring import request_keys
from bot.common.messages import IncidentBrief, PageDM, PageUpdate, ReminderDM
from bot.common.vocabulary import Action
from bot.incidents.records import record, snapshot
from bot.slack.blocks import card_link, page_dm
from bot.slack.calls import CALLS, Outgoing, Skip
from bot.slack.modals import home_view
from db import queues
from db import repositories as repo
from db.engine import make_engine
from db.migrate import upgrade
from db.models import Incident, OutboxMessage
from tests.unit.digest.golden import check_golden
from tests.unit.slack.test_golden_cards import GOLDEN, OPENED, threshold_incident

BRIEF = IncidentBrief(
    ref="INC-7",
    title="Agent gave a <synthesis> route",
    severity="sev1",
    level="threshold",
    category="cyber",
    restricted=False,
    channel_id="C0ONCALL",
    ack_due_at=OPENED + timedelta(minutes=15),
)
ACKED = PageUpdate(
    incident_id=7,
    user="U0TRIAGER",
    page_id=3,
    action="acknowledge",
    actor="U0TOM",
    at=OPENED + timedelta(minutes=4),
    status="acknowledged",
    step=0,
)


# The card's channel as a page links to it before the card is posted (or while the workspace's URL is unknown).
CHANNEL_LINK = "https://slack.com/app_redirect?channel=C0ONCALL"
WORKSPACE = "https://acme.slack.com/"


def as_json(message: dict[str, Any]) -> str:
    return json.dumps(message, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def buttons(message: dict[str, Any]) -> list[str]:
    """The action ids of a DM's buttons, in order."""
    actions = [block for block in message["blocks"] if block["type"] == "actions"]
    return [element["action_id"] for block in actions for element in block["elements"]]


# -- renders


def test_page_dm_with_its_buttons_matches_golden() -> None:
    message = page_dm(BRIEF, incident_id=7, card_url=CHANNEL_LINK)
    check_golden("dm_page_blocks.json", as_json(message), folder=GOLDEN)
    assert buttons(message) == ["incident_acknowledge", "incident_escalate", "page_open_card"]
    [link] = [e for e in message["blocks"][-1]["elements"] if e["action_id"] == "page_open_card"]
    assert link["url"] == "https://slack.com/app_redirect?channel=C0ONCALL"
    # Every button acts on the incident by id, as the card's do: one listener serves both.
    assert {e["value"] for e in message["blocks"][-1]["elements"]} == {"7"}


def test_page_dm_after_it_was_acknowledged_matches_golden() -> None:
    message = page_dm(BRIEF, incident_id=7, card_url=CHANNEL_LINK, acted=ACKED)
    check_golden("dm_page_acknowledged.json", as_json(message), folder=GOLDEN)
    when = int(ACKED.at.timestamp())
    assert f":white_check_mark: Acknowledged by <@U0TOM> <!date^{when}^" in message["text"]
    assert "Acknowledge on the card" not in message["text"]  # nothing left to ask of the person
    assert buttons(message) == ["incident_escalate", "page_open_card"]


@pytest.mark.parametrize(
    ("action", "status", "step", "words", "expected"),
    [
        pytest.param(
            "escalate", "triggered", 1, "Escalated to step 2 by <@U0TOM>",
            ["incident_acknowledge", "incident_escalate", "page_open_card"], id="escalated-still-triggered",
        ),
        pytest.param(
            "page", "triggered", 1, "Nobody acknowledged in time: escalated to step 2 by tripwire",
            ["incident_acknowledge", "incident_escalate", "page_open_card"], id="auto-escalated",
        ),
        pytest.param("resolve", "resolved", 0, "Resolved by <@U0TOM>", ["page_open_card"], id="resolved"),
        pytest.param("dismiss", "dismissed", 0, "Dismissed by <@U0TOM>", ["page_open_card"], id="dismissed"),
        pytest.param(
            "reopen", "triggered", 0, "Reopened by <@U0TOM>",
            ["incident_acknowledge", "incident_escalate", "page_open_card"], id="reopened",
        ),
    ],
)  # fmt: skip
def test_an_edited_page_says_what_was_done_and_offers_what_is_left(
    action: str, status: str, step: int, words: str, expected: list[str]
) -> None:
    actor = "tripwire" if action == "page" else "U0TOM"
    acted = replace(ACKED, action=action, actor=actor, status=status, step=step)
    message = page_dm(BRIEF, incident_id=7, card_url=CHANNEL_LINK, acted=acted)
    assert words in message["text"] and buttons(message) == expected
    # Still waiting: the person is asked again, without the ack deadline of the first page (it may have moved).
    assert ("Still to acknowledge" in message["text"]) == (status == "triggered")
    assert "<!date^1795446900^" not in message["text"]


def test_a_restricted_page_keeps_its_details_out_of_the_blocks() -> None:
    brief = replace(BRIEF, restricted=True, channel_id="C0RESTRICTED")
    link = card_link(brief.channel_id)
    for message in (
        page_dm(brief, incident_id=7, card_url=link),
        page_dm(brief, incident_id=7, card_url=link, acted=ACKED),
    ):
        assert "synthesis" not in json.dumps(message) and "<#C0RESTRICTED>" in message["text"]


def test_a_page_to_a_channel_without_an_id_has_no_link() -> None:
    assert card_link("#triage", ts="1795446000.000100", workspace_url=WORKSPACE) is None
    message = page_dm(replace(BRIEF, channel_id="#triage"), incident_id=7, card_url=None)
    assert buttons(message) == ["incident_acknowledge", "incident_escalate"]


@pytest.mark.parametrize(
    ("ts", "workspace_url", "expected"),
    [
        pytest.param(
            "1795446000.000100", WORKSPACE, "https://acme.slack.com/archives/C0ONCALL/p1795446000000100", id="posted"
        ),
        pytest.param(
            "1795446000.000100", "https://acme.slack.com", "https://acme.slack.com/archives/C0ONCALL/p1795446000000100",
            id="url-without-slash",
        ),
        pytest.param(None, WORKSPACE, CHANNEL_LINK, id="card-not-posted"),
        pytest.param("1795446000.000100", None, CHANNEL_LINK, id="workspace-unknown"),
        pytest.param("not-a-ts", WORKSPACE, CHANNEL_LINK, id="malformed-ts"),
    ],
)  # fmt: skip
def test_card_link_is_the_message_permalink_when_known_else_the_channel(
    ts: str | None, workspace_url: str | None, expected: str
) -> None:
    assert card_link("C0ONCALL", ts=ts, workspace_url=workspace_url) == expected


def test_app_home_starts_with_what_waits_on_you_matches_golden() -> None:
    now = OPENED + timedelta(minutes=20)
    waiting = [
        threshold_incident(id=9, title="Overdue one", ack_due_at=OPENED + timedelta(minutes=15)),
        threshold_incident(id=8, title="Fresh one", ack_due_at=OPENED + timedelta(minutes=30)),
    ]
    assigned = [threshold_incident(id=5, title="Mine now", status="acknowledged", assignee="U0TRIAGER")]
    view = home_view(
        waiting=waiting, assigned=assigned, reported=[], now=now, on_call="*On call*\n• oncall: <@U0TRIAGER>"
    )
    check_golden("home.json", json.dumps(view, indent=2, ensure_ascii=False, sort_keys=True) + "\n", folder=GOLDEN)
    texts = [block.get("text", {}).get("text", "") for block in view["blocks"]]
    assert texts[1] == "*Waiting on you*"
    assert texts.index("*Waiting on you*") < texts.index("*Assigned to you*")
    assert "🚨 ack overdue" in texts[2] and "Overdue one" in texts[2]
    assert "ack due <!date^" in texts[3] and "overdue" not in texts[3]


def test_app_home_says_when_nothing_waits() -> None:
    view = home_view(waiting=[], assigned=[], reported=[])
    assert view["blocks"][2]["elements"][0]["text"] == "Nothing waits on you."


# -- the database: what a change queues, and the outbox's edit lane


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    upgrade(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


def add_incident(session: Session, **changes: Any) -> Incident:
    values = {"id": None, "paged": ["U0TRIAGER", "U0LEAD"], "created_at": OPENED, "updated_at": OPENED} | changes
    incident = repo.add_incident(session=session, incident=threshold_incident(**values))
    session.flush()
    return incident


def enqueue(session: Session, message: Any, **row: Any) -> OutboxMessage:
    stored = queues.enqueue_message(session=session, message=message, now=OPENED)
    for name, value in row.items():
        setattr(stored, name, value)
    session.flush()
    return stored


def page_row(session: Session, incident: Incident, user: str, **row: Any) -> OutboxMessage:
    assert incident.id is not None
    return enqueue(session, PageDM(incident_id=incident.id, user=user, incident=BRIEF), **row)


def rows(session: Session, kind: str) -> list[OutboxMessage]:
    statement = select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)  # type: ignore[arg-type]
    return list(session.exec(statement).all())


def act(session: Session, incident: Incident, action: Action, **changes: Any) -> None:
    before = snapshot(incident)
    for name, value in changes.items():
        setattr(incident, name, value)
    record(session, incident, now=OPENED + timedelta(minutes=4), actor="U0TOM", action=action, before=before)
    session.flush()


def test_a_status_change_queues_an_edit_of_each_page_not_parked(session: Session) -> None:
    incident = add_incident(session)
    sent = page_row(session, incident, "U0TRIAGER", status="sent", slack_channel="D0TRIAGER", slack_ts="1.000001")
    pending = page_row(session, incident, "U0LEAD")
    page_row(session, incident, "U0OTHER", status="failed")
    other = add_incident(session)
    page_row(session, other, "U0TRIAGER", status="sent", slack_channel="D0TRIAGER", slack_ts="1.000002")

    act(session, incident, Action.ACKNOWLEDGE, status="acknowledged", assignee="U0TOM")
    updates = [PageUpdate.from_row(row) for row in rows(session, PageUpdate.kind)]
    assert [(u.page_id, u.user) for u in updates] == [(sent.id, "U0TRIAGER"), (pending.id, "U0LEAD")]
    assert {(u.action, u.actor, u.status) for u in updates} == {("acknowledge", "U0TOM", "acknowledged")}

    act(session, incident, Action.NOTE)  # nothing a paged person must know: the DMs stay as they are
    act(session, incident, Action.SEVERITY, severity="sev2")
    assert len(rows(session, PageUpdate.kind)) == 2


def test_a_page_edit_waits_for_its_page_and_for_nothing_else(session: Session) -> None:
    incident = add_incident(session)
    assert incident.id is not None
    page = page_row(session, incident, "U0TRIAGER")
    reminder = enqueue(session, ReminderDM(incident_id=incident.id, user="U0TRIAGER", incident=BRIEF))
    act(session, incident, Action.ACKNOWLEDGE, status="acknowledged")
    [edit] = [row for row in rows(session, PageUpdate.kind) if row.channel == "U0TRIAGER"]
    due = OPENED + timedelta(minutes=5)

    def claimed() -> set[int | None]:
        return {row.id for row in queues.due_outbox_heads(session=session, now=due, limit=50)}

    assert page.id in claimed() and edit.id not in claimed()  # its page is not posted yet
    page.status, page.slack_channel, page.slack_ts = "sent", "D0TRIAGER", "1.000001"
    session.flush()
    # Posted: the edit goes at once, ahead of the reminder still queued to the same person.
    assert {edit.id, reminder.id} <= claimed()


def outgoing(session: Session, row: OutboxMessage, *, workspace_url: str | None = None) -> Any:
    return CALLS[row.kind].build(Outgoing(session=session, row=row, now=OPENED, workspace_url=workspace_url))


def link_of(call: Any) -> str | None:
    """The url of the page's "Open the card" button, if it has one."""
    found = [e.get("url") for b in call.args["blocks"] if b["type"] == "actions" for e in b["elements"]]
    return next((url for url in found if url), None)


def test_a_page_links_to_the_card_message_once_the_card_is_posted(session: Session) -> None:
    incident = add_incident(session, card_ts="1795446000.000100")
    page = page_row(session, incident, "U0TRIAGER")
    assert link_of(outgoing(session, page, workspace_url=WORKSPACE)) == (
        "https://acme.slack.com/archives/C0ONCALL/p1795446000000100"
    )
    # auth.test did not answer: the page still goes, linking to the channel.
    assert link_of(outgoing(session, page)) == CHANNEL_LINK


def test_a_page_sent_before_its_card_links_to_the_channel_and_its_edit_to_the_card(session: Session) -> None:
    # Queued with the card: the incident's channel is still the configured name, the brief says so too.
    incident = add_incident(session, channel_id="#safety-oncall", card_ts=None)
    page = page_row(session, incident, "U0TRIAGER")
    assert link_of(outgoing(session, page, workspace_url=WORKSPACE)) is None
    page.status, page.slack_channel, page.slack_ts = "sent", "D0TRIAGER", "1.000001"
    incident.channel_id, incident.card_ts = "C0ONCALL", "1795446000.000100"  # the card was posted meanwhile
    act(session, incident, Action.ACKNOWLEDGE, status="acknowledged")
    [edit] = rows(session, PageUpdate.kind)
    assert link_of(outgoing(session, edit, workspace_url=WORKSPACE)) == (
        "https://acme.slack.com/archives/C0ONCALL/p1795446000000100"
    )


def test_a_page_edit_updates_the_posted_dm_where_slack_put_it(session: Session) -> None:
    incident = add_incident(session)
    page = page_row(session, incident, "U0TRIAGER", status="sent", slack_channel="D0TRIAGER", slack_ts="1.000001")
    act(session, incident, Action.ACKNOWLEDGE, status="acknowledged")
    [edit] = rows(session, PageUpdate.kind)
    call = outgoing(session, edit)
    assert (call.method, call.args["channel"], call.args["ts"]) == ("chat.update", "D0TRIAGER", "1.000001")
    assert "Acknowledged by <@U0TOM>" in call.args["text"] and "incident_acknowledge" not in json.dumps(call.args)
    assert page.id == PageUpdate.from_row(edit).page_id


def test_an_older_edit_of_the_same_page_is_skipped_but_not_another_pages(session: Session) -> None:
    incident = add_incident(session)
    first = page_row(session, incident, "U0TRIAGER", status="sent", slack_channel="D0TRIAGER", slack_ts="1.000001")
    page_row(session, incident, "U0TRIAGER", status="sent", slack_channel="D0TRIAGER", slack_ts="1.000009")
    act(session, incident, Action.ACKNOWLEDGE, status="acknowledged")
    act(session, incident, Action.RESOLVE, status="resolved")
    edits = rows(session, PageUpdate.kind)
    assert len(edits) == 4
    for older in edits[:2]:
        with pytest.raises(Skip):
            outgoing(session, older)
    newest = [outgoing(session, row) for row in edits[2:]]
    assert [call.args["ts"] for call in newest] == ["1.000001", "1.000009"]
    assert all("Resolved by" in call.args["text"] for call in newest)
    assert first.status == "sent"


def test_an_edit_of_a_parked_page_is_skipped(session: Session) -> None:
    incident = add_incident(session)
    page = page_row(session, incident, "U0TRIAGER", status="sending")
    act(session, incident, Action.ACKNOWLEDGE, status="acknowledged")
    page.status = "failed"  # parked after the edit was queued
    session.flush()
    [edit] = rows(session, PageUpdate.kind)
    with pytest.raises(Skip, match="never posted"):
        outgoing(session, edit)


def test_waiting_on_you_lists_unacknowledged_incidents_you_are_paged_for(session: Session) -> None:
    older = add_incident(session, paged=["U0LEAD", "U0TRIAGER"])
    waiting = add_incident(session, paged=["U0TRIAGER", "U0LEAD"])
    add_incident(session, paged=["U0TRIAGER1"])  # another person whose id starts with the same letters
    add_incident(session, paged=["U0TRIAGER"], status="acknowledged")
    add_incident(session, paged=["U0TRIAGER"], status="resolved")
    add_incident(session, paged=["U0LEAD"])
    assert [incident.id for incident in repo.list_waiting_on_user(session=session, user="U0TRIAGER")] == [
        waiting.id,
        older.id,
    ]


# -- a click in a page DM is keyed like a click on the card


def dm_click(*, ts: str, blocks: list[dict[str, Any]], user: str = "U0TRIAGER", channel: str = "D0TRIAGER") -> Any:
    """A block_actions body as Slack sends it for a button in a DM message."""
    return {
        "type": "block_actions",
        "user": {"id": user},
        "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False},
        "channel": {"id": channel},
        "message": {"ts": ts, "blocks": blocks},
        "actions": [{"action_id": "incident_acknowledge", "value": "7"}],
    }


def test_a_dm_click_is_keyed_by_the_dm_and_what_it_showed() -> None:
    shown = page_dm(BRIEF, incident_id=7, card_url=CHANNEL_LINK)["blocks"]
    edited = page_dm(
        BRIEF, incident_id=7, card_url=CHANNEL_LINK, acted=replace(ACKED, status="triggered", action="reopen")
    )["blocks"]
    key = request_keys(dm_click(ts="1.000001", blocks=shown), signature="")
    assert len(key) == 1 and key[0].startswith("action:")
    # The same click on the same DM as it was: a repeat, whatever its signature.
    assert request_keys(dm_click(ts="1.000001", blocks=shown), signature="v0=other")[1:] == key
    # Another DM, another person, or the DM after it was edited: a new click.
    assert request_keys(dm_click(ts="1.000002", blocks=shown), signature="") != key
    assert request_keys(dm_click(ts="1.000001", blocks=shown, user="U0LEAD"), signature="") != key
    assert request_keys(dm_click(ts="1.000001", blocks=edited), signature="") != key
