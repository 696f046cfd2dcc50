"""Typed, keyword-only data access. Nothing here commits: the unit of work owns the transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Text, TextClause, and_, bindparam, cast, func, or_, text
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from bot.common import audit_chain
from db.models import (
    OPEN_STATUSES,
    OPEN_WHERE,
    DedupClaim,
    Digest,
    DigestChart,
    EvalResult,
    Incident,
    IncidentDeadline,
    PolicyVersion,
    TimelineEntry,
)


def is_open() -> TextClause:
    """The open-status condition written as the open indexes' own (db/models.py), so the planner can use them."""
    return text(OPEN_WHERE)


def add_incident(*, session: Session, incident: Incident) -> Incident:
    """Insert an incident and give it its id."""
    session.add(incident)
    session.flush()
    return incident


# Statements every click and card edit runs, built once with bind parameters (as db/queues.py DUE_HEADS): building
# one and its cache key costs more than SQLite takes to run it. Parameters are named after the functions' arguments.
_INCIDENT = select(Incident).where(col(Incident.id) == bindparam("incident_id"))
INCIDENT_BY_ID = {False: _INCIDENT, True: _INCIDENT.with_for_update()}
# Locks the incident's row: appends to its timeline's hash chain take turns.
LOCK_INCIDENT = select(Incident.id).where(col(Incident.id) == bindparam("incident_id")).with_for_update()
LAST_ENTRY = (
    select(TimelineEntry.seq, TimelineEntry.hash)
    .where(col(TimelineEntry.incident_id) == bindparam("incident_id"))
    .order_by(col(TimelineEntry.seq).desc())
    .limit(1)
)
TIMELINE = (
    select(TimelineEntry)
    .where(col(TimelineEntry.incident_id) == bindparam("incident_id"))
    .order_by(col(TimelineEntry.id))
)
ENTRY_BY_ID = select(TimelineEntry).where(col(TimelineEntry.id) == bindparam("entry_id"))
DEADLINES = (
    select(IncidentDeadline)
    .where(col(IncidentDeadline.incident_id) == bindparam("incident_id"))
    .order_by(col(IncidentDeadline.due_at), col(IncidentDeadline.id))
)


def get_incident(*, session: Session, incident_id: int, for_update: bool = False) -> Incident | None:
    """One incident by id; `for_update` locks the row until the transaction ends (PostgreSQL)."""
    return session.exec(INCIDENT_BY_ID[for_update], params={"incident_id": incident_id}).first()


def list_incidents(*, session: Session, scope: str, user: str | None = None, limit: int = 50) -> Sequence[Incident]:
    """The newest `limit` incidents for `/incident list`: open, mine (reported by or assigned to `user`, open) or all.

    Open and mine may use the partial indexes of open incidents (db/models.py), which stay small however many
    incidents were ever closed; all reads the primary key backwards. Each stops at `limit`.
    """
    statement = select(Incident)
    if scope in ("open", "mine"):
        statement = statement.where(is_open())
    if scope == "mine":
        statement = statement.where(or_(col(Incident.reporter) == user, col(Incident.assignee) == user))
    statement = statement.order_by(col(Incident.id).desc()).limit(limit)
    return session.exec(statement).all()


def list_open_for_user(*, session: Session, user: str, role: str) -> Sequence[Incident]:
    """Open incidents a user reported (`role="reporter"`) or is assigned (`role="assignee"`)."""
    column = Incident.reporter if role == "reporter" else Incident.assignee
    statement = select(Incident).where(column == user, is_open()).order_by(col(Incident.id).desc()).limit(20)
    return session.exec(statement).all()


def list_waiting_on_user(*, session: Session, user: str) -> Sequence[Incident]:
    """Incidents a user is paged for that nobody has acknowledged yet (App Home's "Waiting on you")."""
    # `paged` is a JSON list of user ids (letters and digits): its text holds `"U123"` exactly when the user is in it.
    paged = cast(col(Incident.paged), Text).like(f'%"{user}"%')
    statement = select(Incident).where(is_open(), Incident.status == "triggered", paged)
    return session.exec(statement.order_by(col(Incident.id).desc()).limit(20)).all()


def append_timeline(
    *,
    session: Session,
    incident_id: int,
    at: datetime,
    actor: str,
    action: str,
    before: dict[str, Any],
    after: dict[str, Any],
    note: str = "",
) -> TimelineEntry:
    """Add one timeline entry, chained to the incident's previous entry by its hash; entries are never edited."""
    # The incident's row lock serialises appends to one chain across replicas (SQLite's BEGIN IMMEDIATE already
    # does); callers that change the incident hold it already, so this takes no lock they did not have.
    session.exec(LOCK_INCIDENT, params={"incident_id": incident_id}).first()
    last = session.exec(LAST_ENTRY, params={"incident_id": incident_id}).first()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, audit_chain.GENESIS)
    fields = audit_chain.entry_fields(
        incident_id=incident_id, seq=seq, at=at, actor=actor, action=action, before=before, after=after, note=note
    )
    entry = TimelineEntry(
        incident_id=incident_id,
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        before=fields["before"],
        after=fields["after"],
        note=note,
        prev_hash=prev_hash,
        hash=audit_chain.entry_hash(fields, prev_hash),
    )
    session.add(entry)
    return entry


def list_audit_entries(
    *, session: Session, since: datetime | None, after: tuple[int, int], limit: int
) -> Sequence[TimelineEntry]:
    """Timeline entries by incident and seq after the key `after`; `since` keeps incidents with an entry since."""
    incident_id, seq = after
    statement = select(TimelineEntry).where(
        or_(
            col(TimelineEntry.incident_id) > incident_id,
            and_(col(TimelineEntry.incident_id) == incident_id, col(TimelineEntry.seq) > seq),
        )
    )
    if since is not None:
        touched = select(TimelineEntry.incident_id).where(col(TimelineEntry.at) >= since)
        statement = statement.where(col(TimelineEntry.incident_id).in_(touched))
    statement = statement.order_by(col(TimelineEntry.incident_id), col(TimelineEntry.seq)).limit(limit)
    return session.exec(statement).all()


def list_timeline(*, session: Session, incident_id: int) -> Sequence[TimelineEntry]:
    """An incident's timeline, oldest first."""
    return session.exec(TIMELINE, params={"incident_id": incident_id}).all()


def get_timeline_entry(*, session: Session, entry_id: int) -> TimelineEntry | None:
    """One timeline entry by id."""
    return session.exec(ENTRY_BY_ID, params={"entry_id": entry_id}).first()


def add_deadline(*, session: Session, deadline: IncidentDeadline) -> IncidentDeadline:
    """Start a deadline clock."""
    session.add(deadline)
    return deadline


def list_deadlines(*, session: Session, incident_id: int) -> Sequence[IncidentDeadline]:
    """An incident's deadline clocks, soonest first."""
    return session.exec(DEADLINES, params={"incident_id": incident_id}).all()


def list_running_deadlines(*, session: Session, limit: int = 20) -> Sequence[IncidentDeadline]:
    """Running (or overdue) clocks across all incidents, soonest first."""
    statement = (
        select(IncidentDeadline)
        .where(col(IncidentDeadline.status).in_(("running", "overdue")))
        .order_by(col(IncidentDeadline.due_at))
        .limit(limit)
    )
    return session.exec(statement).all()


def get_policy_version(*, session: Session, content_hash: str) -> PolicyVersion | None:
    """A stored policy version by content hash."""
    return session.exec(select(PolicyVersion).where(PolicyVersion.content_hash == content_hash)).first()


def add_policy_version(*, session: Session, policy_version: PolicyVersion) -> PolicyVersion:
    """Remember a policy file the bot ran with."""
    session.add(policy_version)
    return policy_version


def count_incidents_by_status(*, session: Session) -> dict[str, int]:
    """Incident counts per status."""
    rows = session.exec(select(Incident.status, func.count()).group_by(Incident.status)).all()
    return {status: count for status, count in rows}


IDENTITY = ("source", "run_id", "task", "scorer", "metric")


def insert_eval_results(*, session: Session, rows: Sequence[dict[str, Any]]) -> dict[tuple[str, ...], int]:
    """Insert results, skipping ones already stored (same identity); returns identity -> id for the new ones."""
    if not rows:
        return {}
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    table = EvalResult.__table__  # type: ignore[attr-defined]
    statement = (
        insert(table)
        .on_conflict_do_nothing(index_elements=list(IDENTITY))
        .returning(table.c.id, *(table.c[name] for name in IDENTITY))
    )
    inserted: dict[tuple[str, ...], int] = {}
    for start in range(0, len(rows), 1000):
        for row in session.execute(statement, list(rows[start : start + 1000])).all():
            inserted[tuple(row[1:])] = row[0]
    return inserted


def link_results(*, session: Session, result_ids: Sequence[int], incident_id: int) -> None:
    """Record which incident a set of results opened or joined."""
    table = EvalResult.__table__  # type: ignore[attr-defined]
    for start in range(0, len(result_ids), 1000):
        session.execute(
            table.update().where(table.c.id.in_(result_ids[start : start + 1000])).values(incident_id=incident_id)
        )


def list_incident_results(*, session: Session, incident_id: int, limit: int) -> tuple[Sequence[EvalResult], int]:
    """The first `limit` results that opened or joined an incident, earliest observed first, and how many there are."""
    linked = EvalResult.incident_id == incident_id
    total = session.exec(select(func.count()).select_from(EvalResult).where(linked)).one()
    statement = select(EvalResult).where(linked).order_by(col(EvalResult.observed_at), col(EvalResult.id)).limit(limit)
    return session.exec(statement).all(), int(total)


def find_grouping_incident(*, session: Session, claim: DedupClaim, since: datetime) -> Incident | None:
    """The incident results under a locked claim join: its holder, if open and seen within the dedup window."""
    if claim.incident_id is None:
        return None
    statement = (
        select(Incident)
        .where(
            Incident.id == claim.incident_id,
            col(Incident.status).in_(OPEN_STATUSES),
            col(Incident.last_seen_at) >= since,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(statement).first()


def list_open_by_alert_key(*, session: Session, alert_key: str) -> Sequence[Incident]:
    """Open incidents an Alertmanager alert (by fingerprint) opened."""
    statement = select(Incident).where(Incident.alert_key == alert_key, col(Incident.status).in_(OPEN_STATUSES))
    return session.exec(statement).all()


def list_series(
    *, session: Session, policy_metric: str, model_family: str, since: datetime | None, limit: int
) -> Sequence[tuple[datetime, str, float]]:
    """A metric's history for one model family, newest last (at most `limit` points)."""
    statement = select(EvalResult.observed_at, EvalResult.checkpoint, EvalResult.value).where(
        EvalResult.policy_metric == policy_metric, EvalResult.model_family == model_family
    )
    if since is not None:
        statement = statement.where(col(EvalResult.observed_at) >= since)
    rows = session.exec(statement.order_by(col(EvalResult.observed_at).desc()).limit(limit)).all()
    return [(row[0], row[1], row[2]) for row in reversed(rows)]


def iter_eval_results(*, session: Session, since: datetime | None, batch: int = 5000) -> Iterator[EvalResult]:
    """Stored results in arrival order, streamed in batches (for backtests)."""
    last_id = 0
    while True:
        statement = select(EvalResult).where(col(EvalResult.id) > last_id)
        if since is not None:
            statement = statement.where(col(EvalResult.observed_at) >= since)
        rows = session.exec(statement.order_by(col(EvalResult.id)).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id or last_id


def add_digest(*, session: Session, digest: Digest) -> Digest | None:
    """Insert a digest unless its kind and period already have one (then None): each period is drafted once."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    table = Digest.__table__  # type: ignore[attr-defined]
    values = digest.model_dump(exclude={"id"})
    statement = insert(table).values(**values).on_conflict_do_nothing(index_elements=["kind", "period_start"])
    new_id = session.execute(statement.returning(table.c.id)).scalar()
    return None if new_id is None else session.get(Digest, new_id)


def get_digest(*, session: Session, digest_id: int, for_update: bool = False) -> Digest | None:
    """One digest by id."""
    statement = select(Digest).where(Digest.id == digest_id)
    if for_update:
        statement = statement.with_for_update()
    return session.exec(statement).first()


def last_digest(*, session: Session, kind: str) -> Digest | None:
    """The newest digest of a kind."""
    return session.exec(select(Digest).where(Digest.kind == kind).order_by(col(Digest.period_end).desc())).first()


def list_charts(*, session: Session, digest_id: int) -> Sequence[DigestChart]:
    """A digest's charts."""
    return session.exec(
        select(DigestChart).where(DigestChart.digest_id == digest_id).order_by(col(DigestChart.id))
    ).all()


def replace_charts(*, session: Session, digest_id: int, charts: Sequence[tuple[str, str, bytes]]) -> None:
    """Store (metric_id, title, png) charts for a digest, replacing earlier ones."""
    for old in list_charts(session=session, digest_id=digest_id):
        session.delete(old)
    for metric_id, title, png in charts:
        session.add(DigestChart(digest_id=digest_id, metric_id=metric_id, title=title, png=png))


def claim_dedup_key(*, session: Session, dedup_key: str) -> DedupClaim:
    """The key's claim row, created if missing and locked until the transaction ends: one writer per key at a time."""
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = DedupClaim.__table__  # type: ignore[attr-defined]
    # DO NOTHING, not a caught IntegrityError, which would abort a PostgreSQL transaction. A second inserter waits
    # here until the first commits, then finds the row below; rows are never deleted, so the lookup always finds it.
    session.execute(
        insert(table).values(dedup_key=dedup_key, incident_id=None).on_conflict_do_nothing(index_elements=["dedup_key"])
    )
    statement = (
        select(DedupClaim)
        .where(DedupClaim.dedup_key == dedup_key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(statement).one()


def claim_of_incident(*, session: Session, incident_id: int) -> DedupClaim | None:
    """The locked claim row for an incident's dedup key (whoever holds it); None for an incident without a key."""
    dedup_key = session.exec(select(Incident.dedup_key).where(Incident.id == incident_id)).first()
    return None if dedup_key is None else claim_dedup_key(session=session, dedup_key=dedup_key)


# -- nothing silent: unmatched inputs and parked messages (coverage, /metrics, /readyz, digests)


def count_results_by_match(*, session: Session) -> dict[str, int]:
    """Stored results by whether a policy metric matched them on arrival: {"matched": n, "unmatched": m}."""
    matched = col(EvalResult.policy_metric).is_not(None)
    rows = session.exec(select(matched, func.count()).select_from(EvalResult).group_by(matched)).all()
    counts = {"matched": 0, "unmatched": 0}
    for is_matched, count in rows:
        counts["matched" if is_matched else "unmatched"] += count
    return counts


def count_unmatched_results(
    *, session: Session, start: datetime, end: datetime
) -> Sequence[tuple[str, str, str, str, int]]:
    """(source, task, scorer, metric, count) of results received in [start, end) that no policy metric matched."""
    key = (col(EvalResult.source), col(EvalResult.task), col(EvalResult.scorer), col(EvalResult.metric))
    # Five columns are more than sqlmodel's select() is typed for; SQLAlchemy's own takes any number.
    statement = (
        sa_select(*key, func.count())
        .where(
            col(EvalResult.policy_metric).is_(None),
            col(EvalResult.received_at) >= start,
            col(EvalResult.received_at) < end,
        )
        .group_by(*key)
        .order_by(*key)
    )
    return [
        (str(source), str(task), str(scorer), str(metric), int(count))
        for source, task, scorer, metric, count in session.execute(statement)
    ]
