"""Idempotency keys: a request a sender may repeat is claimed in the same transaction as the effect it causes.

A handler never passes keys down: whoever reads the request (the Bolt middleware in bot/app/wiring.py) declares its
keys with `once(...)`, and the first writing unit of work opened in that context claims them as its transaction
begins (db/engine.py calls `claim_pending`). So the claim commits with the effect or not at all: a crash between the
two loses neither, and a repeat raises AlreadyDone before it changes anything. A read-only unit of work
(`uow.read()`) claims nothing: it must never wait on a writer, and a read has no effect to repeat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, bindparam, delete
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import ReturningInsert
from sqlmodel import Session, col

from bot.common.errors import AlreadyDone
from db.models import IdempotencyKey

KEY_MAX = 200


@dataclass
class Pending:
    """Keys declared for the current request and not yet claimed."""

    keys: tuple[str, ...]
    now: datetime
    expires_at: datetime
    claimed: bool = False


_pending: ContextVar[Pending | None] = ContextVar("tripwire_idempotency_pending", default=None)


@contextmanager
def once(keys: Sequence[str], *, now: datetime, ttl: timedelta) -> Iterator[Pending]:
    """Declare the request's keys: the next writing unit of work in this context claims them, or raises AlreadyDone."""
    pending = Pending(keys=tuple(key[:KEY_MAX] for key in keys), now=now, expires_at=now + ttl)
    token = _pending.set(pending)
    try:
        yield pending
    finally:
        _pending.reset(token)


def claim_pending(session: Session) -> None:
    """Claim the keys declared in this context (once per request), or raise AlreadyDone if any was claimed before."""
    pending = _pending.get()
    if pending is None or pending.claimed or not pending.keys:
        return
    # Marked before the insert: if this transaction rolls back, the request did nothing, and a later unit of work in
    # the same request must not claim on its behalf.
    pending.claimed = True
    for key in pending.keys:
        if not claim(session=session, key=key, now=pending.now, expires_at=pending.expires_at):
            raise AlreadyDone("Already done: Tripwire had this request already and acted on it once.")


def _claim_statement(insert: Callable[[Any], PgInsert | SqliteInsert]) -> ReturningInsert[tuple[str]]:
    """Insert the key, or take it over once its window has passed, returning it when claimed.

    Built once per dialect (see CLAIMS): composing it costs more than running it. Parameters: `claim_key`,
    `claim_now`, `claim_expires` (not the columns' own names, which SQLAlchemy keeps for its own VALUES parameters).
    """
    now: BindParameter[datetime] = bindparam("claim_now")
    expires_at: BindParameter[datetime] = bindparam("claim_expires")
    # One statement decides, on both engines: a held key stays held (no row returned); an expired one is claimed
    # afresh, so expiry needs no purge on the request path (the scheduler purges, see bot/app/jobs.py).
    return (
        insert(IdempotencyKey)
        .values(key=bindparam("claim_key"), created_at=now, expires_at=expires_at)
        .on_conflict_do_update(
            index_elements=["key"],
            set_={"created_at": now, "expires_at": expires_at},
            where=col(IdempotencyKey.expires_at) <= now,
        )
        .returning(col(IdempotencyKey.key))
    )


CLAIMS = {"postgresql": _claim_statement(postgresql_insert), "sqlite": _claim_statement(sqlite_insert)}


def claim(*, session: Session, key: str, now: datetime, expires_at: datetime) -> bool:
    """Insert the key, or take it over once its window has passed; True if this call claimed it."""
    statement = CLAIMS["postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"]
    params = {"claim_key": key, "claim_now": now, "claim_expires": expires_at}
    # RETURNING says whether the row went in; rowcount is not reliable across drivers for ON CONFLICT.
    return session.connection().execute(statement, params).first() is not None


def purge_expired(*, session: Session, now: datetime) -> int:
    """Delete the keys whose window has passed (housekeeping: an expired key is claimable anyway); how many."""
    statement = delete(IdempotencyKey).where(col(IdempotencyKey.expires_at) <= now)
    return int(session.connection().execute(statement).rowcount or 0)
