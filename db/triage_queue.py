"""Repository functions for the triage queue (stored results waiting for triage) and trend state (never commit)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, update
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


def mark_triaged(*, session: Session, result_ids: Sequence[int], now: datetime) -> None:
    """Record that these results have been triaged (their lease, if any, is over)."""
    for start in range(0, len(result_ids), 1000):
        session.execute(
            update(EvalResult)
            .where(col(EvalResult.id).in_(result_ids[start : start + 1000]))
            .values(triaged_at=now, claimed_until=None)
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
