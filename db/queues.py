"""Repository functions for the two work queues: the Slack outbox and the timers (they never commit)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

from sqlalchemy import ColumnElement, Update, and_, bindparam, case, exists, func, literal_column, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from bot.common.messages import CardPost, CardUpdate, PageDM, PageUpdate
from db.models import (
    OutboxMessage,
    Timer,
)

UNSENT = ("pending", "sending")
# Edits of a message already posted (a card, a page DM), and the posts and edits each waits for: its own message's.
EDITS = (CardUpdate.kind, PageUpdate.kind)
EDITED = (CardPost.kind, CardUpdate.kind, PageDM.kind, PageUpdate.kind)
# How long a claim on a message holds: longer than any one Slack call takes (the outbox's client times out sooner).
# A claim that runs out means its holder died mid-call; the message is then claimed again, its outcome unknown.
CLAIM_LEASE = timedelta(seconds=60)


class Queueable(Protocol):
    """A typed message for the chat tool (bot/common/messages.py): its kind, its address and its payload."""

    kind: ClassVar[str]

    @property
    def channel(self) -> str: ...

    @property
    def incident_id(self) -> int | None: ...

    def payload(self) -> dict[str, Any]: ...


def enqueue_message(*, session: Session, message: Queueable, now: datetime, claimed: bool = False) -> OutboxMessage:
    """Queue a typed message for Slack in the caller's transaction.

    `claimed`: the message is claimed for its first attempt by the transaction that queues it, for this process to
    send once it commits (Outbox.express); no outbox worker takes it unless the claim runs out (CLAIM_LEASE).
    """
    row = OutboxMessage(
        kind=message.kind,
        channel=message.channel,
        incident_id=message.incident_id,
        payload=message.payload(),
        created_at=now,
        next_attempt_at=now + CLAIM_LEASE if claimed else now,
    )
    if claimed:
        row.status, row.attempts, row.first_attempt_at = "sending", 1, now
    session.add(row)
    return row


def _written_in(column: str, values: tuple[str, ...]) -> ColumnElement[bool]:
    """`column IN (...)` with this module's constants written into the SQL, not bound: a partial index with this very
    condition (ix_outbox_unsent_channel, db/models.py) can serve it, and there is no list to expand at each execution.
    """
    assert "'" not in "".join(values)
    return col(column).in_([literal_column(f"'{value}'") for value in values])


def _due_heads_statement(*, by_id: bool) -> SelectOfScalar[OutboxMessage]:
    """The due head of each channel's posts and of each posted message's edits, edits first; by id, locked.

    Built once per variant (see DUE_HEADS): composing this statement and its cache key costs several times what
    SQLite takes to run it, and the outbox asks it on every pass. Parameters: `now`, `limit` and, by id, `ids`.
    """
    # Two lanes per channel. Posts (everything but edits) keep the channel's order: a backlog, or a post in flight,
    # holds back its own channel and no other. An edit changes a message already there, so it never waits behind
    # posts; it waits only for its own message's post and earlier edits (so an edit never overtakes either). A card's
    # channel is a channel and a page's a person, so keying by channel and incident keeps the two kinds apart.
    earlier = aliased(OutboxMessage)
    is_edit = _written_in(OutboxMessage.kind, EDITS)
    post_head = and_(
        ~is_edit,
        ~exists().where(
            col(earlier.channel) == col(OutboxMessage.channel),
            _written_in(earlier.status, UNSENT),
            col(earlier.id) < OutboxMessage.id,
            ~_written_in(earlier.kind, EDITS),
        ),
    )
    edit_head = and_(
        is_edit,
        ~exists().where(
            col(earlier.channel) == col(OutboxMessage.channel),
            col(earlier.incident_id) == col(OutboxMessage.incident_id),
            _written_in(earlier.status, UNSENT),
            col(earlier.id) < OutboxMessage.id,
            _written_in(earlier.kind, EDITED),
        ),
    )
    statement = select(OutboxMessage).where(
        _written_in(OutboxMessage.status, UNSENT),
        col(OutboxMessage.next_attempt_at) <= bindparam("now"),
        or_(post_head, edit_head),
    )
    # Card edits first, then page-DM edits, then posts: a card edit is what a person who clicked is watching, and a
    # look's page of paced heads (page-DM edits wait for chat.update's quota, posts for their channel) must not hide it.
    rank = case((col(OutboxMessage.kind) == literal_column(f"'{CardUpdate.kind}'"), 0), (is_edit, 1), else_=2)
    statement = statement.order_by(rank, col(OutboxMessage.id)).limit(bindparam("limit"))
    if not by_id:
        return statement  # a look, in a read-only transaction (where PostgreSQL allows no row locks)
    # The claim: what another replica holds is skipped, not waited for.
    return statement.where(col(OutboxMessage.id).in_(bindparam("ids", expanding=True))).with_for_update(
        skip_locked=True
    )


DUE_HEADS = {by_id: _due_heads_statement(by_id=by_id) for by_id in (False, True)}


def due_outbox_heads(
    *, session: Session, now: datetime, limit: int, ids: Sequence[int] | None = None
) -> Sequence[OutboxMessage]:
    """The due heads of the outbox's lanes (see `_due_heads_statement`), at most `limit`; or, with `ids`, those of
    them still due heads, locked, skipping rows another replica holds.

    Without ids: a look, in a read-only transaction, to choose what to send. With ids: the claim, in the writing
    transaction, where a row another replica took meanwhile, or one no longer due or no longer a head, is left out.
    """
    if ids is not None and not ids:
        return []
    params: dict[str, Any] = {"now": now, "limit": limit}
    if ids is not None:
        params["ids"] = list(ids)
    return session.exec(DUE_HEADS[ids is not None], params=params).all()


def count_outbox(*, session: Session, status: str) -> int:
    """How many outbox messages have a status (for /metrics and tests)."""
    statement = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == status)
    return session.exec(statement).one()


# The statements a click and its delivery run, built once like DUE_HEADS: building one costs more than running it.
# Parameters are named after the functions' arguments.
_LATER_UNSENT = and_(
    col(OutboxMessage.incident_id) == bindparam("incident_id"),
    col(OutboxMessage.channel) == bindparam("channel"),
    _written_in(OutboxMessage.status, UNSENT),
    col(OutboxMessage.id) > bindparam("after_id"),
)
LATER_CARD_UPDATE = select(OutboxMessage.id).where(_LATER_UNSENT, col(OutboxMessage.kind) == CardUpdate.kind).limit(1)
LATER_PAGE_UPDATES = select(OutboxMessage).where(_LATER_UNSENT, col(OutboxMessage.kind) == PageUpdate.kind)
PAGES = (
    select(OutboxMessage)
    .where(
        col(OutboxMessage.incident_id) == bindparam("incident_id"),
        col(OutboxMessage.kind) == PageDM.kind,
        col(OutboxMessage.status) != "failed",
    )
    .order_by(col(OutboxMessage.id))
)
OUTBOX_BY_ID = select(OutboxMessage).where(col(OutboxMessage.id) == bindparam("message_id"))
PENDING_TIMERS = select(Timer).where(
    col(Timer.incident_id) == bindparam("incident_id"),
    col(Timer.status) == "pending",
    col(Timer.kind).in_(bindparam("kinds", expanding=True)),
)


# Whether a message's post or an edit of it is still unsent (keyed like the edit lane of _due_heads_statement).
UNSENT_OF_MESSAGE = (
    select(OutboxMessage.id)
    .where(
        col(OutboxMessage.incident_id) == bindparam("incident_id"),
        col(OutboxMessage.channel) == bindparam("channel"),
        _written_in(OutboxMessage.status, UNSENT),
        _written_in(OutboxMessage.kind, EDITED),
    )
    .limit(1)
)


def edit_lane_clear(*, session: Session, incident_id: int, channel: str) -> bool:
    """Whether a new edit of the incident's message in `channel` would be its lane's head: nothing it must wait for
    (the message's post, an earlier edit) is still unsent."""
    params = {"incident_id": incident_id, "channel": channel}
    return session.exec(UNSENT_OF_MESSAGE, params=params).first() is None


def later_unsent_card_update(*, session: Session, incident_id: int, channel: str, after_id: int) -> bool:
    """Whether a newer update of the same card is queued (so this one can be skipped)."""
    params = {"incident_id": incident_id, "channel": channel, "after_id": after_id}
    return session.exec(LATER_CARD_UPDATE, params=params).first() is not None


def list_pages(*, session: Session, incident_id: int) -> Sequence[OutboxMessage]:
    """An incident's page DMs that are sent or still to be sent (a parked one will never be there to edit)."""
    return session.exec(PAGES, params={"incident_id": incident_id}).all()


def later_unsent_page_update(*, session: Session, incident_id: int, user: str, page_id: int, after_id: int) -> bool:
    """Whether a newer edit of the same page DM is queued (so this one can be skipped)."""
    params = {"incident_id": incident_id, "channel": user, "after_id": after_id}
    # A person paged twice for one incident has two page DMs: the page a row edits is in its payload.
    return any(
        int(row.payload.get("page", 0)) == page_id for row in session.exec(LATER_PAGE_UPDATES, params=params).all()
    )


def get_outbox(*, session: Session, message_id: int) -> OutboxMessage | None:
    """One outbox message by id."""
    return session.exec(OUTBOX_BY_ID, params={"message_id": message_id}).first()


# Marking a delivered message: one UPDATE, without loading the row into the session first.
MARK_SKIPPED = (
    update(OutboxMessage)
    .where(col(OutboxMessage.id) == bindparam("message_id"))
    .values(status="sent", sent_at=bindparam("at"), last_error=bindparam("error"))
)
MARK_SENT = MARK_SKIPPED.values(
    outcome_unknown=False, slack_channel=bindparam("slack_channel_id"), slack_ts=bindparam("ts")
)


def mark_sent(
    *, session: Session, message_id: int, at: datetime, slack_channel: str | None, slack_ts: str | None
) -> None:
    """Record that Slack took a claimed message: where it is (a post's channel and ts), and that nothing is unknown."""
    params = {"message_id": message_id, "at": at, "error": "", "slack_channel_id": slack_channel, "ts": slack_ts}
    _update_one(session, MARK_SENT, params)


def mark_skipped(*, session: Session, message_id: int, at: datetime, reason: str) -> None:
    """Record that a claimed message needed no call (a newer edit superseded it, say), and why."""
    _update_one(session, MARK_SKIPPED, {"message_id": message_id, "at": at, "error": reason})


def _update_one(session: Session, statement: Update, params: dict[str, Any]) -> None:
    # Through the connection: a plain UPDATE, not the ORM's bulk update, which would look for the row in the session.
    result = session.connection().execute(statement, params)
    assert result.rowcount == 1, f"outbox message {params['message_id']} is gone"


def add_timer(
    *, session: Session, kind: str, due_at: datetime, incident_id: int | None, payload: dict[str, Any] | None = None
) -> Timer:
    """Schedule something to happen at `due_at`."""
    timer = Timer(kind=kind, incident_id=incident_id, due_at=due_at, payload=payload or {})
    session.add(timer)
    return timer


def cancel_timers(*, session: Session, incident_id: int, kinds: Sequence[str]) -> int:
    """Cancel an incident's pending timers of these kinds; returns how many."""
    timers = session.exec(PENDING_TIMERS, params={"incident_id": incident_id, "kinds": list(kinds)}).all()
    for timer in timers:
        timer.status = "cancelled"
    return len(timers)


def claim_due_timer(*, session: Session, now: datetime) -> Timer | None:
    """The oldest due pending timer, locked so a second replica skips it (PostgreSQL SKIP LOCKED)."""
    statement = (
        select(Timer)
        .where(Timer.status == "pending", col(Timer.due_at) <= now)
        .order_by(col(Timer.due_at), col(Timer.id))
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return session.exec(statement).first()


def rekey_outbox(*, session: Session, incident_id: int, old: str, new: str) -> None:
    """Move an incident's unsent messages from one channel key to another."""
    if old == new:
        return
    for message in session.exec(
        select(OutboxMessage).where(
            OutboxMessage.incident_id == incident_id,
            OutboxMessage.channel == old,
            col(OutboxMessage.status).in_(UNSENT),
        )
    ).all():
        message.channel = new


def has_pending_timer(*, session: Session, incident_id: int, kind: str) -> bool:
    """Whether the incident already has a pending timer of this kind."""
    statement = select(Timer.id).where(Timer.incident_id == incident_id, Timer.kind == kind, Timer.status == "pending")
    return session.exec(statement.limit(1)).first() is not None


def oldest_outbox(*, session: Session, status: str) -> OutboxMessage | None:
    """The oldest outbox message with this status (the first parked one, say)."""
    statement = select(OutboxMessage).where(OutboxMessage.status == status)
    return session.exec(statement.order_by(col(OutboxMessage.id)).limit(1)).first()
