"""Repository functions for the triage queue (stored results waiting for triage) and trend state (never commit)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, or_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from db.models import EvalResult, TrendState


def claim_untriaged(
    *, session: Session, now: datetime, limit: int, ids: Sequence[int] | None = None
) -> Sequence[EvalResult]:
    """Lock the oldest rows waiting for triage until the transaction ends.

    Without `ids`: rows nobody holds (no live lease), skipping rows another replica has locked (PostgreSQL; SQLite
    runs one writer at a time). With `ids`: exactly those rows if still untriaged, lease or not (their owner asks),
    waiting for a transaction that holds them, so a row triaged meanwhile is not returned.
    """
    statement = select(EvalResult).where(col(EvalResult.triaged_at).is_(None))
    if ids is None:
        statement = statement.where(
            or_(col(EvalResult.claimed_until).is_(None), col(EvalResult.claimed_until) <= now)
        ).with_for_update(skip_locked=True)
    else:
        statement = statement.where(col(EvalResult.id).in_(ids)).with_for_update()
    statement = statement.order_by(col(EvalResult.id)).limit(limit).execution_options(populate_existing=True)
    return session.exec(statement).all()


# What triage needs of every waiting result it claims (claim_untriaged_rows): a point for the metric's trend.
QUEUE_COLUMNS = ("id", "model_family", "observed_at", "checkpoint", "value")
# What it reads of a result it judges again (list_result_rows): the result as it was sent, and when it came.
RESULT_COLUMNS = (
    "id",
    "source",
    "run_id",
    "task",
    "scorer",
    "metric",
    "model",
    "checkpoint",
    "value",
    "stderr",
    "samples",
    "observed_at",
    "received_at",
    "url",
    "labels",
)


def claim_untriaged_rows(
    *, session: Session, now: datetime, limit: int, ids: Sequence[int] | None = None
) -> Sequence[Row[Any]]:
    """`claim_untriaged` as plain rows of QUEUE_COLUMNS, not ORM objects, locked the same way; without `ids`, taken
    in turns across model families rather than strictly oldest first.

    The triage worker reads a batch once and writes it back with `mark_triaged`; ORM objects for hundreds of rows
    (identity map, instance state, change tracking) cost more than the rest of triaging them, and most rows need
    no more than these columns (`list_result_rows` reads the rest for the ones that do).
    """
    table = EvalResult.__table__  # type: ignore[attr-defined]
    columns = [table.c[name] for name in QUEUE_COLUMNS]
    if ids is not None:
        statement = select(*columns).where(table.c.triaged_at.is_(None), table.c.id.in_(ids)).with_for_update()
        return session.execute(statement.order_by(table.c.id).limit(limit)).all()
    # Taken in turns across model families (each family's oldest first, then each one's second...), not strictly
    # oldest first: a storm of one family's results waiting in the queue does not hold back another family's crossing
    # behind it (its card comes with the next batch). A family's own results keep their order: its trend sees them
    # as they came.
    unleased = or_(table.c.claimed_until.is_(None), table.c.claimed_until <= now)
    waiting = (
        select(
            table.c.id.label("id"),
            func.row_number().over(partition_by=table.c.model_family, order_by=table.c.id).label("turn"),
        )
        .where(table.c.triaged_at.is_(None), unleased)
        .subquery("waiting")
    )
    statement = (
        select(*columns)
        .join(waiting, waiting.c.id == table.c.id)
        .order_by(waiting.c.turn, table.c.id)
        .limit(limit)
        .with_for_update(of=table, skip_locked=True)
    )
    return session.execute(statement).all()


def list_result_rows(*, session: Session, ids: Sequence[int]) -> Sequence[Row[Any]]:
    """These results as plain rows of RESULT_COLUMNS, by id (triage reads the ones it claimed and must judge)."""
    table = EvalResult.__table__  # type: ignore[attr-defined]
    found: list[Row[Any]] = []
    for start in range(0, len(ids), 1000):
        statement = select(*(table.c[name] for name in RESULT_COLUMNS)).where(table.c.id.in_(ids[start : start + 1000]))
        found.extend(session.execute(statement.order_by(table.c.id)).all())
    return found


def mark_triaged(*, session: Session, result_ids: Sequence[int], now: datetime) -> None:
    """Record that these results have been triaged (their lease, if any, is over)."""
    for start in range(0, len(result_ids), 1000):
        session.execute(
            update(EvalResult)
            .where(col(EvalResult.id).in_(result_ids[start : start + 1000]))
            .values(triaged_at=now, claimed_until=None)
            # Loaded EvalResult objects are not looked for: the worker reads plain rows (claim_untriaged_rows).
            .execution_options(synchronize_session=False)
        )


def list_untriaged_alert_ids(*, session: Session, fingerprints: Sequence[str]) -> list[int]:
    """Untriaged results of Alertmanager firings with these fingerprints (their run_id starts "fingerprint:")."""
    found: list[int] = []
    for fingerprint in sorted(set(fingerprints)):
        prefix = fingerprint + ":"
        statement = select(EvalResult.id).where(
            col(EvalResult.triaged_at).is_(None),
            EvalResult.source == "alertmanager",
            func.substr(EvalResult.run_id, 1, len(prefix)) == prefix,
        )
        found.extend(rid for rid in session.exec(statement).all() if rid is not None)
    return sorted(found)


def lock_trend_state(
    *, session: Session, policy_metric: str, model_family: str, now: datetime
) -> tuple[TrendState, bool]:
    """The series' state row, created if missing and locked until the transaction ends; True if created here."""
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = TrendState.__table__  # type: ignore[attr-defined]
    # DO NOTHING (as claim_dedup_key): a second inserter waits for the first to commit, then finds its row below.
    created = session.execute(
        insert(table)
        .values(policy_metric=policy_metric, model_family=model_family, points=[], updated_at=now)
        .on_conflict_do_nothing(index_elements=["policy_metric", "model_family"])
        .returning(table.c.policy_metric)
    ).first()
    statement = (
        select(TrendState)
        .where(TrendState.policy_metric == policy_metric, TrendState.model_family == model_family)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(statement).one(), created is not None


def list_triaged_series(
    *, session: Session, policy_metric: str, model_family: str, since: datetime | None, limit: int
) -> Sequence[tuple[datetime, str, float]]:
    """A series' already-triaged history, newest last (seeds a new trend state; untriaged rows arrive by batch)."""
    statement = select(EvalResult.observed_at, EvalResult.checkpoint, EvalResult.value).where(
        EvalResult.policy_metric == policy_metric,
        EvalResult.model_family == model_family,
        col(EvalResult.triaged_at).is_not(None),
    )
    if since is not None:
        statement = statement.where(col(EvalResult.observed_at) >= since)
    rows = session.exec(statement.order_by(col(EvalResult.observed_at).desc()).limit(limit)).all()
    return [(row[0], row[1], row[2]) for row in reversed(rows)]


def count_untriaged(*, session: Session) -> int:
    """How many stored results wait for the triage worker (the partial index on untriaged rows counts them)."""
    statement = select(func.count()).select_from(EvalResult).where(col(EvalResult.triaged_at).is_(None))
    return int(session.exec(statement).one())
