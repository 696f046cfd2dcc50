"""Group commit: requests hand their rows to one writer thread, which stores whatever queued in one transaction.

While one commit (one fsync) runs, the next requests queue; the writer then takes all of them together, so the
cost of a commit is shared by every request that waited for it. Each request gets a future: per row, its new id if
it was newly stored, None if already stored (by an earlier request, or by an earlier row of this group).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from sqlalchemy.exc import SQLAlchemyError

from bot.common.group import GroupWriter, Pending
from db import repositories as repo
from db.engine import UnitOfWork

log = logging.getLogger(__name__)

Row = dict[str, object]
# Rows per INSERT statement (a group is still one transaction). psycopg converts a statement's placeholders on each
# execution and, measured here, pays about a third more per row once a statement holds more than ~100 rows.
STATEMENT_ROWS = 100


class StoreFailed(Exception):
    """The database refused or could not take a batch; nothing of it was stored (the sender should retry)."""


def identity(row: Row) -> tuple[str, ...]:
    """What makes a stored result the same result (the unique index)."""
    return tuple(str(row[name]) for name in repo.IDENTITY)


class GroupCommitter:
    """One writer thread storing queued rows in shared transactions; it starts on demand and stops when idle."""

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        on_commit: Callable[[], None] = lambda: None,
        max_rows: int = 5000,
        idle_seconds: float = 1.0,
    ) -> None:
        self._uow = uow
        self._on_commit = on_commit
        # Whole requests only (a request's answer needs all its rows), up to max_rows a turn.
        self._writer: GroupWriter[Sequence[Row], list[int | None]] = GroupWriter(
            write=self._commit, name="group-commit", size=len, max_size=max_rows, idle_seconds=idle_seconds
        )

    def submit(self, rows: Sequence[Row]) -> Future[list[int | None]]:
        """Queue rows for the next group; the future holds, per row, its new id (None: stored before)."""
        if not rows:
            future: Future[list[int | None]] = Future()
            future.set_result([])
            return future
        return self._writer.submit(rows)

    def stop(self) -> None:
        """Wait until everything queued so far is committed and the writer has exited."""
        self._writer.stop()

    def _commit(self, group: list[Pending[Sequence[Row], list[int | None]]]) -> None:
        # A request whose caller went away (cancelled) is stored all the same, but not answered.
        for request in group:
            request.future.set_running_or_notify_cancel()
        # Each row's identity, worked out once: it both picks the first of each and finds that row's new id.
        keys = [[identity(row) for row in request.item] for request in group]
        first: dict[tuple[str, ...], Row] = {}
        for request, request_keys in zip(group, keys, strict=True):
            for key, row in zip(request_keys, request.item, strict=True):
                first.setdefault(key, row)
        try:
            with self._uow() as session:
                # Identity order: two transactions sharing results take the unique-index locks in the same order.
                rows = [first[key] for key in sorted(first)]
                inserted: dict[tuple[str, ...], int] = {}
                for start in range(0, len(rows), STATEMENT_ROWS):
                    chunk = rows[start : start + STATEMENT_ROWS]
                    inserted.update(repo.insert_eval_results(session=session, rows=chunk))
        except Exception as exc:  # every waiting request must hear of it, and the writer must go on
            log.exception("storing a group of %d results failed", len(first))
            failure = (
                StoreFailed(f"database unavailable: {type(exc).__name__}") if isinstance(exc, SQLAlchemyError) else exc
            )
            for request in group:
                if not request.future.done():
                    request.future.set_exception(failure)
            return
        stored_any = bool(inserted)
        for request, request_keys in zip(group, keys, strict=True):
            if request.future.done():
                continue
            # The first row with an identity takes its id; a repeat (in this request or a later one) is a duplicate.
            request.future.set_result([inserted.pop(key, None) for key in request_keys])
        if stored_any:
            self._on_commit()
