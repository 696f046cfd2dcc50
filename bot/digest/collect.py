"""A period's facts from the database, as the plain data the pure digest functions are built from."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session

from bot.common.vocabulary import Action
from bot.digest.inputs import (
    CategoryInfo,
    Confirmation,
    DailyPoint,
    DeadlineRow,
    DigestInput,
    IncidentRow,
    MetricSeries,
    Period,
    PolicyChange,
    ResultRow,
    SeriesPoint,
    UnmatchedInput,
    history_start,
)
from bot.digest.schedule import previous_period
from bot.policy.coverage import InputKey, closest_metric
from bot.policy.document import Policy
from db import digest_queries as queries
from db import repositories as repo
from db.digest_queries import IncidentFacts

# A metric keeps at most this many of the period's results (the evidence and latest values are read from them);
# longer series are sampled evenly (seeded, so repeatable). Charts draw the daily history instead.
CHART_POINTS = 2_000


def incident_row(incident: IncidentFacts) -> IncidentRow:
    """An incident as the digest sees it."""
    # Unpacked at once rather than read field by field: tens of thousands of rows pass through here.
    (
        id_,
        title,
        severity,
        status,
        level,
        category,
        restricted,
        source,
        model,
        checkpoint,
        created_at,
        acknowledged_at,
        resolved_at,
        ack_due_at,
        snoozed_until,
        snooze_reason,
        escalation_level,
        policy_version,
        explanation,
        actions,
    ) = incident
    return IncidentRow(
        ref=f"INC-{id_}",
        title=title,
        severity=severity,
        status=status,
        level=level,
        category=category,
        restricted=restricted,
        source=source,
        model=model,
        checkpoint=checkpoint,
        created_at=created_at,
        acknowledged_at=acknowledged_at,
        resolved_at=resolved_at,
        ack_due_at=ack_due_at,
        snoozed_until=snoozed_until,
        snooze_reason=snooze_reason,
        escalation_level=escalation_level,
        policy_version=policy_version,
        actions=actions,
        explanation=explanation,
    )


def collect(*, session: Session, period: Period, policy: Policy, generated_at: datetime) -> DigestInput:
    """Everything the digest of `period` is made from, read in one (read-only) unit of work."""
    previous = previous_period(period)
    # Incidents read by more than one query (opened in the period and still open) become one row.
    rows: dict[int, IncidentRow] = {}

    def incidents(facts: list[IncidentFacts]) -> tuple[IncidentRow, ...]:
        return tuple(rows[f.id] if f.id in rows else rows.setdefault(f.id, incident_row(f)) for f in facts)

    still_open = incidents(queries.list_incidents_open_at(session=session, end=period.end))
    created = incidents(queries.list_incidents_created(session=session, start=period.start, end=period.end))
    before = incidents(queries.list_incidents_created(session=session, start=previous.start, end=previous.end))
    clocks = queries.list_deadlines_for_period(session=session, start=period.start, end=period.end)
    restricted = queries.restricted_by_id(session=session, incident_ids=[c.incident_id for c in clocks])
    flagged = queries.list_flagged_results(session=session, start=period.start, end=period.end)
    linked = {r.incident_id for r in flagged if r.incident_id is not None}
    existing = queries.restricted_by_id(session=session, incident_ids=sorted(linked))
    metrics = {metric.id: metric for metric in policy.metrics}
    # Results no metric matched (alerts on the default route) are listed as unmatched inputs, not as crossings.
    results = [
        ResultRow(
            metric_id=row.policy_metric or row.metric,
            category=metrics[row.policy_metric].category if row.policy_metric in metrics else "",
            model=row.model,
            model_family=row.model_family,
            checkpoint=row.checkpoint,
            value=row.value,
            observed_at=row.observed_at,
            level=row.level,
            near_miss=row.near_miss,
            incident_ref=f"INC-{row.incident_id}" if row.incident_id in existing else None,
        )
        for row in flagged
        if row.policy_metric is not None
    ]
    last_report = repo.last_digest(session=session, kind="risk-report")
    confirmations: tuple[Confirmation, ...] = ()
    if period.kind == "risk-report":
        # One query per 1,000 incidents the report can show, not one per incident.
        confirmations = tuple(
            Confirmation(f"INC-{c.incident_id}", c.action, c.actor, c.at, c.note)
            for c in queries.list_confirmations(
                session=session, incident_ids=list(rows), actions=(Action.MITIGATE, Action.RESOLVE), end=period.end
            )
        )
    return DigestInput(
        period=period,
        previous=previous,
        generated_at=generated_at,
        policy_version=policy.version,
        policy_name=policy.name,
        new_incidents=created,
        open_incidents=still_open,
        previous_incidents=before,
        deadlines=tuple(
            DeadlineRow(
                incident_ref=f"INC-{c.incident_id}",
                name=c.name,
                started_at=c.started_at,
                due_at=c.due_at,
                status=c.status,
                closed_at=c.closed_at,
                restricted=restricted[c.incident_id],
            )
            for c in clocks
            if c.incident_id in restricted
        ),
        crossings=tuple(r for r in results if r.level is not None),
        near_misses=tuple(r for r in results if r.near_miss is not None),
        series=_series(session, policy, period),
        policy_changes=tuple(
            PolicyChange(version=v.version, content_hash=v.content_hash, loaded_at=v.loaded_at)
            for v in queries.list_policy_versions(session=session, start=period.start, end=period.end)
        ),
        categories=tuple(
            CategoryInfo(
                id=key,
                name=category.name,
                description=category.description,
                restricted=category.restricted,
                crosswalk={k: tuple(v) for k, v in category.crosswalk.items()},
                levels=tuple(level.value for level in category.defined_levels()),
            )
            for key, category in policy.categories.items()
        ),
        last_report_end=last_report.period_end if last_report is not None else None,
        unmatched=_unmatched(session, policy, period),
        confirmations=confirmations,
    )


def _unmatched(session: Session, policy: Policy, period: Period) -> tuple[UnmatchedInput, ...]:
    rows = repo.count_unmatched_results(session=session, start=period.start, end=period.end)
    out = []
    for source, task, scorer, metric, count in rows:
        hint = closest_metric(policy, InputKey(source, task, scorer, metric))
        out.append(UnmatchedInput(source, task, scorer, metric, count, str(hint) if hint else ""))
    return tuple(out)


def _series(session: Session, policy: Policy, period: Period) -> tuple[MetricSeries, ...]:
    """Every tracked metric with its period's results and its daily history: two queries whatever the policy."""
    metric_ids = [metric.id for metric in policy.metrics]
    in_period = queries.list_metric_points(
        session=session, policy_metrics=metric_ids, start=period.start, end=period.end
    )
    history: dict[str, list[DailyPoint]] = {metric_id: [] for metric_id in metric_ids}
    for row in queries.list_daily_metric_history(
        session=session, policy_metrics=metric_ids, start=history_start(period), end=period.end
    ):
        day_start = period.end - timedelta(days=row.day + 1)
        history[row.policy_metric].append(
            DailyPoint(day_start, row.model_family, row.results, row.low, row.high, row.mean)
        )
    out = []
    for metric_id in metric_ids:
        metric = policy.metric(metric_id)
        points: Sequence[tuple[datetime, str, str, float]] = in_period[metric_id]
        if len(points) > CHART_POINTS:
            keep = sorted(random.Random(metric_id).sample(range(len(points)), CHART_POINTS))
            points = [points[i] for i in keep]
        out.append(
            MetricSeries(
                metric_id=metric_id,
                description=metric.description,
                category=metric.category,
                direction=metric.direction,
                lines={level.value: cutoff.value for level, cutoff in metric.levels.items()},
                comparisons={level.value: str(cutoff) for level, cutoff in metric.levels.items()},
                points=tuple(
                    SeriesPoint(observed_at=p[0], model_family=p[1], checkpoint=p[2], value=p[3]) for p in points
                ),
                history=tuple(sorted(history[metric_id], key=lambda d: (d.model_family, d.day_start))),
            )
        )
    return tuple(out)
