"""The digest's reads: only the columns a digest shows, as plain tuples, never ORM objects.

A weekly digest on a year of history reads tens of thousands of incidents (everything still open at the period
end) and thousands of results; building an ORM object per row (identity map, change tracking, every JSON column
decoded) cost more than the rest of the digest together, and held far more memory than the rows themselves. So the
statements run on the session's connection (Core), and rows skip the ORM's loading machinery too.
Nothing here commits: the unit of work owns the transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, ColumnElement, Integer, Text, cast, func, literal, or_, type_coerce
from sqlalchemy import select as sa_select
from sqlalchemy.types import NullType
from sqlmodel import Session, col, select

from db.models import Digest, EvalResult, Incident, IncidentDeadline, PolicyVersion, TimelineEntry


class IncidentFacts(NamedTuple):
    """What a digest shows of an incident (its ref is INC-<id>)."""

    id: int
    title: str
    severity: str
    status: str
    level: str | None
    category: str
    restricted: bool
    source: str
    model: str
    checkpoint: str
    created_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    ack_due_at: datetime | None
    snoozed_until: datetime | None
    snooze_reason: str
    escalation_level: int
    policy_version: str
    explanation: str
    actions: tuple[str, ...]  # last: read as JSON text and decoded here (see _incidents)


class FlaggedResult(NamedTuple):
    """What a digest shows of a result that crossed a level or fell in a near-miss band."""

    policy_metric: str | None
    metric: str
    model: str
    model_family: str
    checkpoint: str
    value: float
    observed_at: datetime
    level: str | None
    near_miss: str | None
    incident_id: int | None


class ClockFacts(NamedTuple):
    """A deadline clock as the digest shows it."""

    incident_id: int
    name: str
    started_at: datetime
    due_at: datetime
    status: str
    closed_at: datetime | None


def utc_datetime(value: str | datetime) -> datetime:
    """A datetime column's raw value as an aware UTC datetime (what UTCDateTime gives, without its per-value cost).

    SQLite gives text (naive UTC as UTCDateTime stores it), PostgreSQL an aware datetime."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    try:
        # Naive UTC text, parsed as UTC at once: several times faster than parsing, then replace(tzinfo=UTC).
        return datetime.fromisoformat(value + "+00:00")
    except ValueError:  # text that carries its own offset (or "Z")
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _utc_or_none(value: str | datetime | None) -> datetime | None:
    return None if value is None else utc_datetime(value)


def _raw(column: Any) -> Any:
    """A column selected as the driver gives it: no type's result processing (for utc_datetime to read)."""
    return type_coerce(column, NullType())


# Column order is IncidentFacts' field order. The times come raw, for utc_datetime. The actions come as text: the
# JSON type's own decoding ran the full json.loads machinery for every row, where nearly every incident has no
# actions at all ("[]").
_INCIDENT_TIMES = frozenset({"created_at", "acknowledged_at", "resolved_at", "ack_due_at", "snoozed_until"})
_INCIDENT_COLUMNS = (
    *(
        _raw(getattr(Incident, name)) if name in _INCIDENT_TIMES else getattr(Incident, name)
        for name in IncidentFacts._fields[:-1]
    ),
    cast(col(Incident.actions), Text),
)
_FLAGGED_COLUMNS = tuple(
    _raw(EvalResult.observed_at) if name == "observed_at" else getattr(EvalResult, name)
    for name in FlaggedResult._fields
)
_FLAGGED_TIME = FlaggedResult._fields.index("observed_at")
_CLOCK_COLUMNS = tuple(getattr(IncidentDeadline, name) for name in ClockFacts._fields)


def _incidents(session: Session, *where: ColumnElement[bool] | Any) -> list[IncidentFacts]:
    statement = sa_select(*_INCIDENT_COLUMNS).where(*where).order_by(col(Incident.id))
    return [_incident(row) for row in session.connection().execute(statement).all()]


_TIME_AT = tuple(IncidentFacts._fields.index(name) for name in sorted(_INCIDENT_TIMES))
_ACTIONS_AT = IncidentFacts._fields.index("actions")


def _incident(row: Sequence[Any]) -> IncidentFacts:
    """A row of _INCIDENT_COLUMNS as facts: its times (raw text on SQLite) made UTC, its actions a tuple."""
    values = list(row)
    for index in _TIME_AT:
        values[index] = _utc_or_none(values[index])
    values[_ACTIONS_AT] = _strings(values[_ACTIONS_AT])
    return IncidentFacts._make(values)


def _strings(raw: str | None) -> tuple[str, ...]:
    """A JSON list of strings stored as text (empty when NULL, "[]" or "null")."""
    if not raw or raw == "[]":
        return ()
    value = json.loads(raw)
    return tuple(value) if value else ()


def list_incidents_created(*, session: Session, start: datetime, end: datetime) -> list[IncidentFacts]:
    """Incidents opened in [start, end), by id."""
    return _incidents(session, col(Incident.created_at) >= start, col(Incident.created_at) < end)


def list_incidents_open_at(*, session: Session, end: datetime) -> list[IncidentFacts]:
    """Incidents opened before `end` and not resolved by then, by id (closed ones without a time are included)."""
    return _incidents(
        session,
        col(Incident.created_at) < end,
        or_(col(Incident.resolved_at).is_(None), col(Incident.resolved_at) >= end),
    )


def list_deadlines_for_period(*, session: Session, start: datetime, end: datetime) -> list[ClockFacts]:
    """Clocks running at `end`, or that fell due or closed in [start, end), soonest due first."""
    statement = (
        sa_select(*_CLOCK_COLUMNS)
        .where(
            col(IncidentDeadline.started_at) < end,
            or_(
                col(IncidentDeadline.status).in_(("running", "overdue")),
                col(IncidentDeadline.due_at).between(start, end),
                col(IncidentDeadline.closed_at).between(start, end),
            ),
        )
        .order_by(col(IncidentDeadline.due_at))
    )
    return [ClockFacts._make(row) for row in session.connection().execute(statement)]


def restricted_by_id(*, session: Session, incident_ids: Sequence[int]) -> dict[int, bool]:
    """Whether each existing incident is restricted, by id (missing ids are left out)."""
    wanted = sorted(set(incident_ids))
    out: dict[int, bool] = {}
    # In chunks: a long IN list hits SQLite's bound-parameter limit.
    for first in range(0, len(wanted), 1000):
        chunk = wanted[first : first + 1000]
        statement = select(Incident.id, Incident.restricted).where(col(Incident.id).in_(chunk))
        out.update({int(incident_id or 0): bool(restricted) for incident_id, restricted in session.exec(statement)})
    return out


def list_flagged_results(*, session: Session, start: datetime, end: datetime) -> list[FlaggedResult]:
    """Results in [start, end) that crossed a level or fell in a near-miss band, oldest first."""
    statement = (
        sa_select(*_FLAGGED_COLUMNS)
        .where(
            col(EvalResult.observed_at) >= start,
            col(EvalResult.observed_at) < end,
            or_(col(EvalResult.level).is_not(None), col(EvalResult.near_miss).is_not(None)),
        )
        .order_by(col(EvalResult.observed_at), col(EvalResult.id))
    )
    rows = session.connection().execute(statement).all()
    return [
        FlaggedResult._make((*row[:_FLAGGED_TIME], utc_datetime(row[_FLAGGED_TIME]), *row[_FLAGGED_TIME + 1 :]))
        for row in rows
    ]


def list_metric_points(
    *, session: Session, policy_metrics: Sequence[str], start: datetime, end: datetime
) -> dict[str, list[tuple[datetime, str, str, float]]]:
    """(observed_at, model_family, checkpoint, value) per metric in [start, end), oldest first; one query for all."""
    out: dict[str, list[tuple[datetime, str, str, float]]] = {metric: [] for metric in policy_metrics}
    if not out:
        return out
    statement = (
        sa_select(
            col(EvalResult.policy_metric),
            _raw(EvalResult.observed_at),
            col(EvalResult.model_family),
            col(EvalResult.checkpoint),
            col(EvalResult.value),
        )
        .where(
            col(EvalResult.policy_metric).in_(sorted(out)),
            col(EvalResult.observed_at) >= start,
            col(EvalResult.observed_at) < end,
        )
        # Ties in time keep arrival order, so the evenly sampled points are the same on every run.
        .order_by(col(EvalResult.policy_metric), col(EvalResult.observed_at), col(EvalResult.id))
    )
    for metric, observed_at, family, checkpoint, value in session.connection().execute(statement).all():
        out[metric].append((utc_datetime(observed_at), family, checkpoint, value))
    return out


class DailyAggregate(NamedTuple):
    """A metric's results of one model family on one day: `day` counts whole days back from the end (0: the last)."""

    policy_metric: str
    model_family: str
    day: int
    results: int
    low: float
    high: float
    mean: float


def _epoch_seconds(session: Session) -> ColumnElement[int]:
    """EvalResult.observed_at as whole seconds since 1970 (UTC) in the engine's own SQL."""
    observed = col(EvalResult.observed_at)
    if session.connection().dialect.name == "sqlite":
        # Stored as naive UTC text; strftime('%s') reads it as UTC and drops the fraction of a second.
        return cast(func.strftime("%s", observed), Integer)
    return cast(func.floor(func.extract("epoch", observed)), BigInteger)


def list_daily_metric_history(
    *, session: Session, policy_metrics: Sequence[str], start: datetime, end: datetime
) -> list[DailyAggregate]:
    """Per metric, model family and 24-hour day counted back from `end`: count, min, max and mean of [start, end).

    One aggregate query for every metric of a digest: the covering index ix_eval_result_metric_time answers it
    without reading the table, and a week's or a quarter's results come back as at most a few thousand rows."""
    if not policy_metrics:
        return []
    # A result at t falls on day k when k days < end - t <= k+1 days; in whole seconds (the end is a whole second)
    # that is (end - 1 - floor(t)) // 86400, exact at every boundary, with integer division on both engines.
    last = int(end.timestamp()) - 1
    day = (literal(last, BigInteger) - _epoch_seconds(session)) // 86400
    statement = (
        sa_select(
            col(EvalResult.policy_metric),
            col(EvalResult.model_family),
            day.label("day"),
            func.count(),
            func.min(col(EvalResult.value)),
            func.max(col(EvalResult.value)),
            func.avg(col(EvalResult.value)),
        )
        .where(
            col(EvalResult.policy_metric).in_(sorted(set(policy_metrics))),
            col(EvalResult.observed_at) >= start,
            col(EvalResult.observed_at) < end,
        )
        # No ORDER BY: the caller orders each metric's days itself, so the engine sorts only once (for the grouping).
        .group_by(col(EvalResult.policy_metric), col(EvalResult.model_family), day)
    )
    return [
        DailyAggregate(metric, family, int(k), int(n), float(low), float(high), float(mean))
        for metric, family, k, n, low, high, mean in session.connection().execute(statement)
    ]


def list_policy_versions(*, session: Session, start: datetime, end: datetime) -> Sequence[PolicyVersion]:
    """Policy versions first loaded in [start, end) (a handful: whole rows are fine)."""
    statement = select(PolicyVersion).where(col(PolicyVersion.loaded_at) >= start, col(PolicyVersion.loaded_at) < end)
    return session.exec(statement.order_by(col(PolicyVersion.loaded_at))).all()


def has_digest(*, session: Session, kind: str, period_start: datetime) -> bool:
    """Whether the period of this kind starting at `period_start` has been drafted (the unique key of a digest)."""
    statement = select(Digest.id).where(Digest.kind == kind, Digest.period_start == period_start).limit(1)
    return session.exec(statement).first() is not None


class ConfirmationFacts(NamedTuple):
    """A person's word on an incident's timeline that a mitigation is in place (mitigate) or it is dealt with."""

    incident_id: int
    action: str
    actor: str
    at: datetime
    note: str


_CONFIRMATION_COLUMNS = tuple(getattr(TimelineEntry, name) for name in ConfirmationFacts._fields)


def list_confirmations(
    *, session: Session, incident_ids: Sequence[int], actions: Sequence[str], end: datetime
) -> list[ConfirmationFacts]:
    """Timeline entries of these actions before `end` for these incidents: one query per 1,000 ids, by incident."""
    wanted = sorted(set(incident_ids))
    out: list[ConfirmationFacts] = []
    # In chunks: a long IN list hits SQLite's bound-parameter limit.
    for first in range(0, len(wanted), 1000):
        statement = (
            sa_select(*_CONFIRMATION_COLUMNS)
            .where(
                col(TimelineEntry.incident_id).in_(wanted[first : first + 1000]),
                col(TimelineEntry.action).in_(tuple(actions)),
                col(TimelineEntry.at) < end,
            )
            .order_by(col(TimelineEntry.incident_id), col(TimelineEntry.seq))
        )
        out.extend(ConfirmationFacts._make(row) for row in session.connection().execute(statement))
    return out
