"""Leadership digests as pure functions: what the weekly digest and the risk-report draft say, and their renders.

Everything here is computed from a `DigestInput` (read from the database elsewhere) and the period's time zone:
no database, no Slack calls, no clock reads. Restricted incidents are redacted while the content is built, so no
render and no frozen snapshot can carry their title, model or explanation.

Rules the reports apply (also shown to readers where it helps):

- Open at period end: created before the end and not resolved (or dismissed) before it.
- Overdue acknowledgement: an incident open at period end whose ack deadline passed before the end with no
  acknowledgement (or resolution) by then, or one first answered inside the period after its ack deadline.
- Deadline clocks: overdue when due before the period end and not closed by then (cancelled clocks never are);
  due soon when still open and due within 7 days after the period end; met late when closed as met inside the
  period after it was due.
- Median times: over the incidents opened in a period, the time from opening to acknowledgement (or to
  resolution) for those acknowledged (resolved) before that period ended, dismissals not counting as resolutions;
  compared with the same figure for the previous period.
- What needs a decision, in this order: open threshold-level incidents (a capability decision is pending);
  deadline clocks overdue at period end; sev1/sev2 incidents not acknowledged at period end; open trend incidents
  (a crossing is projected within the trend rule's horizon). Anything closed since the period ended is left out.
- Remaining risk per threat model, the first that applies: "at threshold — decision pending" (an open incident at
  threshold level); "elevated" (an open alert-level incident, an open trend incident, or a model family's latest
  result at or past the alert or threshold line); "watch" (an open watch-level incident, a near miss in the period,
  or a latest result at or past the watch line); "within thresholds" otherwise.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.charts import Chart, render_chart
from bot.digest_model import (
    DeadlineRow,
    DigestInput,
    DigestKind,
    IncidentRow,
    MetricSeries,
    Period,
    PolicyChange,
    ResultRow,
)
from bot.policy import parse_comparison
from bot.render import render, slack_escape, truncate
from bot.slack_ids import ActionId, BlockId

SEVERITIES = ("sev1", "sev2", "sev3", "sev4")
LEVELS = ("watch", "alert", "threshold")
CLOSED_STATUSES = frozenset({"resolved", "dismissed"})
DUE_SOON = timedelta(days=7)
MESSAGE_BLOCKS_MAX = 50
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
LABEL_MAX = 80
SLACK_LIST_MAX = 10

EN_DASH, MINUS = "\u2013", "\u2212"
RISK_THRESHOLD = "at threshold — decision pending"
RISK_ELEVATED = "elevated"
RISK_WATCH = "watch"
RISK_WITHIN = "within thresholds"
RISK_GRADES = (RISK_THRESHOLD, RISK_ELEVATED, RISK_WATCH, RISK_WITHIN)

Format = Literal["slack", "md", "html"]
DraftState = Literal["draft", "published", "discarded"]


# ---------------------------------------------------------------------------------------------------------------
# What a digest is made of


@dataclass(frozen=True)
class IncidentView:
    """An incident as the reports show it; restricted ones carry no title, model or explanation."""

    ref: str
    severity: str
    status: str
    level: str
    category: str
    restricted: bool
    label: str
    model: str
    source: str
    opened: str
    explanation: str


@dataclass(frozen=True)
class CountRow:
    """One severity's counts, one per category column."""

    severity: str
    counts: tuple[int, ...]
    total: int


@dataclass(frozen=True)
class CountTable:
    """Incidents counted by severity (rows) and category (columns)."""

    categories: tuple[str, ...]
    rows: tuple[CountRow, ...]
    column_totals: tuple[int, ...]
    total: int


@dataclass(frozen=True)
class MedianChange:
    """A median duration in this period against the previous one, with the sentence fragment readers see."""

    seconds: float | None
    previous_seconds: float | None
    count: int
    previous_count: int
    text: str


@dataclass(frozen=True)
class AckMiss:
    """An acknowledgement that did not happen in time."""

    incident: IncidentView
    kind: Literal["unacknowledged", "late"]
    due: str
    detail: str
    escalation_level: int


@dataclass(frozen=True)
class DeadlineView:
    """A deadline clock as a row of the report."""

    ref: str
    name: str
    label: str
    restricted: bool
    status: str
    due: str
    detail: str


@dataclass(frozen=True)
class ResultGroup:
    """Threshold crossings or near misses of one metric, model family and level, in the period."""

    metric_id: str
    category: str
    model_family: str
    restricted: bool
    band: str
    count: int
    low: float
    high: float
    first: str
    last: str
    incidents: tuple[str, ...]


@dataclass(frozen=True)
class PolicyChangeView:
    """A policy version that was loaded."""

    version: str
    content_hash: str
    loaded: str


@dataclass(frozen=True)
class Evidence:
    """The latest result of one metric for one model family, held against the metric's lines."""

    metric_id: str
    description: str
    model_family: str
    checkpoint: str
    value: float
    observed: str
    standing: str
    against_lines: str
    lines: str


@dataclass(frozen=True)
class Mitigation:
    """An incident in a threat model with the actions the policy requires and its deadline clocks."""

    incident: IncidentView
    actions: tuple[str, ...]
    deadlines: tuple[str, ...]


@dataclass(frozen=True)
class Threat:
    """One policy category read as a threat model, with its evidence, mitigations and remaining risk."""

    id: str
    name: str
    description: str
    restricted: bool
    crosswalk: tuple[tuple[str, tuple[str, ...]], ...]
    levels: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    mitigations: tuple[Mitigation, ...]
    remaining_risk: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Deviation:
    """Where practice departed from the policy: a missed acknowledgement, a late deadline, a snooze."""

    kind: str
    ref: str
    label: str
    detail: str


@dataclass(frozen=True)
class Changes:
    """What changed since the last report (or the period start)."""

    since: str
    policy_changes: tuple[PolicyChangeView, ...]
    opened: tuple[IncidentView, ...]
    closed: tuple[IncidentView, ...]


@dataclass(frozen=True)
class Digest:
    """The computed content of a digest; every render is made from this alone."""

    kind: DigestKind
    period: Period
    previous: Period
    title: str
    period_label: str
    period_span: str
    generated: str
    policy_name: str
    policy_version: str
    summary: str
    decisions: tuple[str, ...]
    key_numbers: tuple[tuple[str, str], ...]
    new_counts: CountTable
    open_counts: CountTable
    time_to_ack: MedianChange
    time_to_resolve: MedianChange
    ack_misses: tuple[AckMiss, ...]
    deadlines_overdue: tuple[DeadlineView, ...]
    deadlines_due_soon: tuple[DeadlineView, ...]
    deadlines_met_late: tuple[DeadlineView, ...]
    crossings: tuple[ResultGroup, ...]
    near_misses: tuple[ResultGroup, ...]
    trends: tuple[IncidentView, ...]
    policy_changes: tuple[PolicyChangeView, ...]
    charts: tuple[Chart, ...]
    notes: tuple[tuple[str, str], ...] = ()
    threats: tuple[Threat, ...] = ()
    deviations: tuple[Deviation, ...] = ()
    changes: Changes | None = None

    def as_data(self) -> dict[str, Any]:
        """A JSON-able snapshot of everything the text was made from (chart images by their SHA-256)."""
        data = _plain(self)
        assert isinstance(data, dict)
        return data


# ---------------------------------------------------------------------------------------------------------------
# Building


def build_weekly(data: DigestInput) -> Digest:
    """The weekly digest: decisions first, incidents, response times, misses, crossings, trends, charts."""
    ctx = _Context(data)
    base = ctx.common()
    return dataclasses.replace(
        base,
        kind="weekly",
        title=f"Weekly risk digest · {base.period_label}",
        summary=_weekly_summary(base),
        key_numbers=_weekly_numbers(base),
    )


def build_risk_report(data: DigestInput) -> Digest:
    """The risk-report draft: threat models, evidence per model, mitigations, remaining risk, deviations, changes."""
    ctx = _Context(data)
    base = ctx.common()
    threats = ctx.threats(base)
    deviations = ctx.deviations(base)
    changes = ctx.changes()
    return dataclasses.replace(
        base,
        kind="risk-report",
        title=f"Risk report draft · {base.period_label}",
        summary=_risk_summary(base, threats, deviations, changes),
        key_numbers=_risk_numbers(threats, deviations, changes),
        threats=threats,
        deviations=deviations,
        changes=changes,
    )


class _Context:
    """The input with the lookups every section needs (time zone, incident pool, redaction aliases)."""

    def __init__(self, data: DigestInput) -> None:
        self.data = data
        self.period = data.period
        self.tz = ZoneInfo(data.period.timezone)
        self.start, self.end = data.period.start, data.period.end
        self.period_label = period_label(data.period)
        pool: dict[str, IncidentRow] = {}
        for row in (*data.open_incidents, *data.new_incidents, *data.previous_incidents):
            pool.setdefault(row.ref, row)
        self.pool = sorted(pool.values(), key=lambda i: (i.created_at, i.ref))
        self.by_ref = pool
        self.restricted_categories = {c.id for c in data.categories if c.restricted} | {
            i.category for i in self.pool if i.restricted
        }
        self.restricted_refs = {i.ref for i in self.pool if i.restricted} | {
            d.incident_ref for d in data.deadlines if d.restricted
        }
        hidden: set[str] = set()
        for series in data.series:
            if series.category in self.restricted_categories:
                hidden.update(p.model_family for p in series.points)
        for result in (*data.crossings, *data.near_misses):
            if self._result_restricted(result):
                hidden.add(result.model_family)
        # Restricted families get stable stand-in names so a chart, a crossing and the evidence still line up.
        self.aliases = {family: f"restricted model {n}" for n, family in enumerate(sorted(hidden), start=1)}

    # -- small helpers

    def when(self, value: datetime | None) -> str:
        return local_time(value, self.tz)

    def view(self, row: IncidentRow) -> IncidentView:
        return incident_view(row, self.tz)

    def label(self, ref: str) -> tuple[str, bool]:
        row = self.by_ref.get(ref)
        restricted = ref in self.restricted_refs
        if row is None:
            return ("restricted incident" if restricted else ""), restricted
        view = self.view(row)
        return view.label, view.restricted or restricted

    def _result_restricted(self, result: ResultRow) -> bool:
        return result.category in self.restricted_categories or (result.incident_ref or "") in self.restricted_refs

    def family(self, family: str, *, restricted: bool) -> str:
        return self.aliases.get(family, "restricted model") if restricted else family

    def open_at_end(self, row: IncidentRow) -> bool:
        return row.created_at < self.end and not _closed_by(row, self.end)

    # -- sections shared by both kinds

    def common(self) -> Digest:
        """Every section both kinds share; title, summary and key numbers are filled in by the builder."""
        data = self.data
        overdue, due_soon, met_late = self.deadline_views()
        previous = [i for i in data.previous_incidents if data.previous.start <= i.created_at < data.previous.end]
        return Digest(
            kind=data.period.kind,
            period=data.period,
            previous=data.previous,
            title="",
            period_label=self.period_label,
            period_span=period_span(data.period),
            generated=self.when(data.generated_at),
            policy_name=data.policy_name,
            policy_version=data.policy_version,
            summary="",
            decisions=self.decisions(),
            key_numbers=(),
            new_counts=count_table(data.new_incidents),
            open_counts=count_table(data.open_incidents),
            time_to_ack=median_change(
                _durations(data.new_incidents, self.period, "ack"), _durations(previous, data.previous, "ack")
            ),
            time_to_resolve=median_change(
                _durations(data.new_incidents, self.period, "resolve"), _durations(previous, data.previous, "resolve")
            ),
            ack_misses=self.ack_misses(),
            deadlines_overdue=overdue,
            deadlines_due_soon=due_soon,
            deadlines_met_late=met_late,
            crossings=self.result_groups([r for r in data.crossings if r.level == "threshold"], near=False),
            near_misses=self.result_groups(list(data.near_misses), near=True),
            trends=tuple(self.view(i) for i in sorted(data.new_incidents, key=_order) if i.source == "trend"),
            policy_changes=tuple(self.policy_view(c) for c in sorted(data.policy_changes, key=_loaded)),
            charts=self.charts(),
            notes=tuple(sorted(data.notes.items())),
        )

    def policy_view(self, change: PolicyChange) -> PolicyChangeView:
        return PolicyChangeView(change.version, change.content_hash[:12], self.when(change.loaded_at))

    def ack_misses(self) -> tuple[AckMiss, ...]:
        misses: list[AckMiss] = []
        for row in self.pool:
            due = row.ack_due_at
            if due is None:
                continue
            answered = _first_answer(row)
            if self.open_at_end(row) and due < self.end and (answered is None or answered >= self.end):
                detail = f"not acknowledged, {format_duration((self.end - due).total_seconds())} past due at period end"
                misses.append(AckMiss(self.view(row), "unacknowledged", self.when(due), detail, row.escalation_level))
            elif answered is not None and self.start <= answered < self.end and answered > due:
                verb = "acknowledged" if row.acknowledged_at == answered else "closed without acknowledgement"
                detail = f"{verb} {format_duration((answered - due).total_seconds())} late"
                misses.append(AckMiss(self.view(row), "late", self.when(due), detail, row.escalation_level))
        order = {"unacknowledged": 0, "late": 1}
        return tuple(sorted(misses, key=lambda m: (order[m.kind], m.incident.severity, m.incident.ref)))

    def deadline_views(self) -> tuple[tuple[DeadlineView, ...], tuple[DeadlineView, ...], tuple[DeadlineView, ...]]:
        overdue: list[tuple[datetime, DeadlineView]] = []
        soon: list[tuple[datetime, DeadlineView]] = []
        late: list[tuple[datetime, DeadlineView]] = []
        for row in self.data.deadlines:
            if row.status == "cancelled" or row.started_at >= self.end:
                continue
            open_at_end = row.closed_at is None or row.closed_at >= self.end
            if open_at_end and row.due_at < self.end:
                span = format_duration((self.end - row.due_at).total_seconds())
                overdue.append((row.due_at, self.deadline_view(row, f"overdue by {span} at period end")))
            elif open_at_end and row.due_at < self.end + DUE_SOON:
                span = format_duration((row.due_at - self.end).total_seconds())
                soon.append((row.due_at, self.deadline_view(row, f"due {span} after period end")))
            elif (
                row.status == "met"
                and row.closed_at is not None
                and self.start <= row.closed_at < self.end
                and row.closed_at > row.due_at
            ):
                span = format_duration((row.closed_at - row.due_at).total_seconds())
                late.append((row.due_at, self.deadline_view(row, f"met {span} late")))
        return tuple(_by_time(overdue)), tuple(_by_time(soon)), tuple(_by_time(late))

    def deadline_view(self, row: DeadlineRow, detail: str) -> DeadlineView:
        label, restricted = self.label(row.incident_ref)
        return DeadlineView(
            ref=row.incident_ref,
            name=row.name,
            label=label,
            restricted=restricted or row.restricted,
            status=row.status,
            due=self.when(row.due_at),
            detail=detail,
        )

    def result_groups(self, rows: Sequence[ResultRow], *, near: bool) -> tuple[ResultGroup, ...]:
        groups: dict[tuple[str, str, str], list[ResultRow]] = {}
        for row in rows:
            band = (row.near_miss or "") if near else (row.level or "")
            groups.setdefault((row.metric_id, row.model_family, band), []).append(row)
        out = []
        for (metric_id, family, band), members in groups.items():
            members.sort(key=lambda r: r.observed_at)
            restricted = any(self._result_restricted(r) for r in members)
            values = [r.value for r in members]
            out.append(
                ResultGroup(
                    metric_id=metric_id,
                    category=members[0].category,
                    model_family=self.family(family, restricted=restricted),
                    restricted=restricted,
                    band=band,
                    count=len(members),
                    low=min(values),
                    high=max(values),
                    first=self.when(members[0].observed_at),
                    last=self.when(members[-1].observed_at),
                    incidents=tuple(sorted({r.incident_ref for r in members if r.incident_ref}, key=_ref_key)),
                )
            )
        return tuple(sorted(out, key=lambda g: (g.metric_id, g.model_family, g.band)))

    def charts(self) -> tuple[Chart, ...]:
        return tuple(
            render_chart(self.redacted_series(s), period=self.period)
            for s in sorted(self.data.series, key=lambda s: s.metric_id)
        )

    def redacted_series(self, series: MetricSeries) -> MetricSeries:
        if series.category not in self.restricted_categories:
            return series
        points = tuple(
            dataclasses.replace(p, model_family=self.family(p.model_family, restricted=True), checkpoint="")
            for p in series.points
        )
        return dataclasses.replace(series, points=points)

    # -- what needs a decision

    def decisions(self) -> tuple[str, ...]:
        still_open = [i for i in self.pool if self.open_at_end(i) and i.status not in CLOSED_STATUSES]
        return (
            *self._threshold_decisions(still_open),
            *self._deadline_decisions(),
            *self._unacknowledged_decisions(still_open),
            *self._trend_decisions(still_open),
        )

    def _threshold_decisions(self, still_open: Sequence[IncidentRow]) -> list[str]:
        items = []
        for row in sorted((i for i in still_open if i.level == "threshold"), key=_order):
            if self._decision_taken(row.ref):
                continue
            due = self._decision_due(row.ref)
            what = f"capability decision due {due}" if due else "capability decision needed"
            items.append(f"{_named(row.ref, self.view(row).label)}: threshold level reached ({row.severity}); {what}")
        return items

    def _deadline_decisions(self) -> list[str]:
        items = []
        for clock in sorted(self.data.deadlines, key=lambda d: (d.due_at, d.incident_ref)):
            if clock.status in ("met", "cancelled") or clock.closed_at is not None or clock.due_at >= self.end:
                continue
            label, _ = self.label(clock.incident_ref)
            span = format_duration((self.end - clock.due_at).total_seconds())
            items.append(
                f"{_named(clock.incident_ref, label)}: {clock.name} deadline overdue by {span} at period end "
                f"(was due {self.when(clock.due_at)})"
            )
        return items

    def _unacknowledged_decisions(self, still_open: Sequence[IncidentRow]) -> list[str]:
        items = []
        for row in sorted(still_open, key=_order):
            answered = _first_answer(row)
            # Still "triggered" now: an acknowledgement since the period ended takes it off the list.
            if row.severity not in ("sev1", "sev2") or row.status != "triggered":
                continue
            if answered is not None and answered < self.end:
                continue
            view = self.view(row)
            due = f"ack was due {self.when(row.ack_due_at)}" if row.ack_due_at else f"opened {view.opened}"
            items.append(f"{_named(row.ref, view.label)}: {row.severity} not acknowledged at period end ({due})")
        return items

    def _trend_decisions(self, still_open: Sequence[IncidentRow]) -> list[str]:
        items = []
        for row in sorted((i for i in still_open if i.source == "trend"), key=_order):
            view = self.view(row)
            if view.restricted:
                items.append(
                    f"{row.ref} · {view.label}: a trend projects a crossing; details in the restricted channel"
                )
            else:
                why = truncate(view.explanation, 240) if view.explanation else "a trend projects a crossing"
                items.append(f"{row.ref} · trend in {row.category} ({view.model or 'no model'}): {why}")
        return items

    def _decision_taken(self, ref: str) -> bool:
        return any(d.incident_ref == ref and "decision" in d.name and d.status == "met" for d in self.data.deadlines)

    def _decision_due(self, ref: str) -> str:
        for row in self.data.deadlines:
            if row.incident_ref == ref and "decision" in row.name and row.closed_at is None:
                return self.when(row.due_at)
        return ""

    # -- risk report sections

    def threats(self, base: Digest) -> tuple[Threat, ...]:
        infos = {c.id: c for c in self.data.categories}
        seen = {i.category for i in self.pool} | {s.category for s in self.data.series}
        seen |= {r.category for r in (*self.data.crossings, *self.data.near_misses)}
        ids = list(infos) + sorted(seen - set(infos))
        near = base.near_misses
        threats = []
        for cid in ids:
            info = infos.get(cid)
            evidence = self.evidence(cid)
            in_category = [i for i in self.pool if i.category == cid]
            involved = [i for i in in_category if self.open_at_end(i) or self.start <= i.created_at < self.end]
            mitigations = tuple(self.mitigation(i) for i in sorted(involved, key=_order))
            grade, reasons = self.remaining_risk(cid, in_category, evidence, [g for g in near if g.category == cid])
            threats.append(
                Threat(
                    id=cid,
                    name=info.name if info else cid,
                    description=info.description if info else "",
                    restricted=cid in self.restricted_categories,
                    crosswalk=tuple((k, tuple(v)) for k, v in sorted(info.crosswalk.items())) if info else (),
                    levels=tuple(info.levels) if info else (),
                    evidence=evidence,
                    mitigations=mitigations,
                    remaining_risk=grade,
                    reasons=reasons,
                )
            )
        return tuple(threats)

    def evidence(self, category: str) -> tuple[Evidence, ...]:
        rows = []
        restricted = category in self.restricted_categories
        for series in sorted((s for s in self.data.series if s.category == category), key=lambda s: s.metric_id):
            latest: dict[str, Any] = {}
            for point in series.points:
                current = latest.get(point.model_family)
                if current is None or point.observed_at >= current.observed_at:
                    latest[point.model_family] = point
            lines_text = " · ".join(f"{n} {_comparison_text(series, n)}" for n in _line_names(series))
            for family in sorted(latest):
                point = latest[family]
                standing, against = standing_against_lines(series, point.value)
                rows.append(
                    Evidence(
                        metric_id=series.metric_id,
                        description=series.description,
                        model_family=self.family(family, restricted=restricted),
                        checkpoint="" if restricted else point.checkpoint,
                        value=point.value,
                        observed=self.when(point.observed_at),
                        standing=standing,
                        against_lines=against,
                        lines=lines_text,
                    )
                )
        return tuple(rows)

    def mitigation(self, row: IncidentRow) -> Mitigation:
        clocks = []
        for d in sorted(self.data.deadlines, key=lambda d: (d.due_at, d.name)):
            if d.incident_ref != row.ref:
                continue
            if d.status == "met" and d.closed_at is not None:
                clocks.append(f"{d.name}: met {self.when(d.closed_at)} (due {self.when(d.due_at)})")
            elif d.status == "cancelled":
                clocks.append(f"{d.name}: cancelled")
            else:
                clocks.append(f"{d.name}: {d.status}, due {self.when(d.due_at)}")
        return Mitigation(self.view(row), tuple(row.actions), tuple(clocks))

    def remaining_risk(
        self,
        category: str,
        incidents: Sequence[IncidentRow],
        evidence: Sequence[Evidence],
        near: Sequence[ResultGroup],
    ) -> tuple[str, tuple[str, ...]]:
        open_rows = [i for i in sorted(incidents, key=_order) if self.open_at_end(i)]
        threshold = [f"{i.ref} is open at threshold level" for i in open_rows if i.level == "threshold"]
        elevated = [f"{i.ref} is open at alert level" for i in open_rows if i.level == "alert" and i.source != "trend"]
        elevated += [f"{i.ref} is an open trend toward a threshold" for i in open_rows if i.source == "trend"]
        elevated += [
            f"{e.metric_id}: {e.model_family}'s latest result {e.value:.4g} is at {e.standing} level"
            for e in evidence
            if e.standing in ("alert", "threshold")
        ]
        watch = [f"{i.ref} is open at watch level" for i in open_rows if i.level == "watch" and i.source != "trend"]
        watch += [f"{g.count} near {_plural(g.count, 'miss', 'misses', bare=True)} on {g.metric_id}" for g in near]
        watch += [
            f"{e.metric_id}: {e.model_family}'s latest result {e.value:.4g} is at watch level"
            for e in evidence
            if e.standing == "watch"
        ]
        for grade, reasons in ((RISK_THRESHOLD, threshold), (RISK_ELEVATED, elevated), (RISK_WATCH, watch)):
            if reasons:
                return grade, tuple(reasons)
        return RISK_WITHIN, ()

    def deviations(self, base: Digest) -> tuple[Deviation, ...]:
        out: list[Deviation] = []
        for miss in base.ack_misses:
            kind = "acknowledgement missed" if miss.kind == "unacknowledged" else "acknowledged late"
            detail = f"{miss.detail} (due {miss.due})"
            if miss.escalation_level:
                detail += f"; escalated to step {miss.escalation_level + 1}"
            out.append(Deviation(kind, miss.incident.ref, miss.incident.label, detail))
        for views, kind in (
            (base.deadlines_overdue, "deadline overdue"),
            (base.deadlines_met_late, "deadline met late"),
        ):
            for clock in views:
                out.append(Deviation(kind, clock.ref, clock.label, f"{clock.name}: {clock.detail} (due {clock.due})"))
        for row in self.pool:
            if row.snoozed_until is None or row.snoozed_until <= self.start or row.created_at >= self.end:
                continue
            view = self.view(row)
            reason = (
                "reason withheld (restricted)" if view.restricted else (_one_line(row.snooze_reason) or "no reason")
            )
            out.append(Deviation("snoozed", row.ref, view.label, f"until {self.when(row.snoozed_until)}: {reason}"))
        return tuple(out)

    def changes(self) -> Changes:
        since = self.data.last_report_end or self.start
        policy = tuple(
            self.policy_view(c)
            for c in sorted(self.data.policy_changes, key=_loaded)
            if since <= c.loaded_at < self.end
        )
        opened = tuple(self.view(i) for i in self.pool if since <= i.created_at < self.end)
        closed = tuple(
            self.view(i)
            for i in sorted(self.pool, key=lambda i: (i.resolved_at or i.created_at, i.ref))
            if i.resolved_at is not None and since <= i.resolved_at < self.end
        )
        return Changes(self.when(since), policy, opened, closed)


def incident_view(row: IncidentRow, tz: ZoneInfo) -> IncidentView:
    """The reader's view of an incident: redacted to its ref and category when restricted."""
    model = row.model + (f" @ {row.checkpoint}" if row.checkpoint else "") if row.model else ""
    return IncidentView(
        ref=row.ref,
        severity=row.severity,
        status=row.status,
        level=row.level or "",
        category=row.category,
        restricted=row.restricted,
        label=f"restricted incident ({row.category})" if row.restricted else truncate(_one_line(row.title), LABEL_MAX),
        model="" if row.restricted else _one_line(model),
        source=row.source,
        opened=local_time(row.created_at, tz),
        explanation="" if row.restricted else _one_line(row.explanation),
    )


def count_table(rows: Iterable[IncidentRow]) -> CountTable:
    """Incidents by severity by category (every severity row is present; only categories that occur get a column)."""
    rows = list(rows)
    categories = tuple(sorted({r.category for r in rows}))
    severities = list(SEVERITIES) + sorted({r.severity for r in rows} - set(SEVERITIES))
    table = []
    for severity in severities:
        counts = tuple(sum(1 for r in rows if r.severity == severity and r.category == c) for c in categories)
        table.append(CountRow(severity, counts, sum(counts)))
    totals = tuple(sum(1 for r in rows if r.category == c) for c in categories)
    return CountTable(categories, tuple(table), totals, len(rows))


def median_change(current: Sequence[float], previous: Sequence[float]) -> MedianChange:
    """The median of `current` seconds against `previous`: '12m (was 20m, -40%)', with a true minus sign."""
    now = statistics.median(current) if current else None
    before = statistics.median(previous) if previous else None
    if now is None and before is None:
        text = "n/a"
    elif now is None:
        assert before is not None
        text = f"n/a (was {format_duration(before)})"
    elif before is None:
        text = f"{format_duration(now)} (was n/a)"
    elif before == 0:
        text = f"{format_duration(now)} (was {format_duration(before)})"
    else:
        percent = round((now - before) / before * 100)
        change = "±0%" if percent == 0 else (f"+{percent}%" if percent > 0 else f"{MINUS}{-percent}%")
        text = f"{format_duration(now)} (was {format_duration(before)}, {change})"
    return MedianChange(now, before, len(current), len(previous), text)


def format_duration(seconds: float) -> str:
    """A short duration: '45s', '12m', '3h 5m', '2d 4h' (whole units, rounded down below the second)."""
    total = round(seconds)
    if total < 60:
        return f"{total}s"
    minutes = total // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def local_time(value: datetime | None, tz: ZoneInfo) -> str:
    """'2026-10-27 09:15 PDT': a time in the period's zone, never the server's."""
    if value is None:
        return "—"
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def period_label(period: Period) -> str:
    """The local dates a period covers (end exclusive), joined by an en dash: '26 Oct - 1 Nov 2026', '2-8 Nov 2026'."""
    tz = ZoneInfo(period.timezone)
    first = period.start.astimezone(tz).date()
    last = (period.end - timedelta(microseconds=1)).astimezone(tz).date()
    if first == last:
        return f"{first.day} {first:%b %Y}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}{EN_DASH}{last.day} {last:%b %Y}"
    if first.year == last.year:
        return f"{first.day} {first:%b} {EN_DASH} {last.day} {last:%b %Y}"
    return f"{first.day} {first:%b %Y} {EN_DASH} {last.day} {last:%b %Y}"


def period_span(period: Period) -> str:
    """Both ends in local time with the zone and the length in hours (169 across a DST change)."""
    tz = ZoneInfo(period.timezone)

    def end(value: datetime) -> str:
        local = value.astimezone(tz)
        return f"{local:%a} {local.day} {local:%b %Y %H:%M %Z}"

    hours = (period.end - period.start).total_seconds() / 3600
    length = f"{hours:.0f}" if hours == int(hours) else f"{hours:.1f}"
    return f"{end(period.start)} {EN_DASH} {end(period.end)} ({period.timezone}, {length} hours)"


def standing_against_lines(series: MetricSeries, value: float) -> tuple[str, str]:
    """The highest level `value` has reached ('below', 'watch', 'alert', 'threshold') and how far the next line is."""
    reached = "below"
    names = _line_names(series)
    for name in names:
        if _crossed(series, name, value):
            reached = name
    pending = [n for n in names if not _crossed(series, n, value)]
    if reached == "below" and not names:
        return reached, "no lines defined"
    head = f"at {reached} level" if reached != "below" else f"below {names[0]}"
    if not pending:
        return reached, head
    nxt = pending[0]
    gap = abs(series.lines[nxt] - value)
    return reached, f"{head}; {gap:.4g} from {nxt} ({_comparison_text(series, nxt)})"


def _line_names(series: MetricSeries) -> list[str]:
    known = [n for n in LEVELS if n in series.lines]
    return known + sorted(n for n in series.lines if n not in LEVELS)


def _comparison_text(series: MetricSeries, name: str) -> str:
    text = series.comparisons.get(name)
    if text:
        return text
    op = ">=" if series.direction == "higher_is_worse" else "<="
    return f"{op}{series.lines[name]:g}"


def _crossed(series: MetricSeries, name: str, value: float) -> bool:
    try:
        return parse_comparison(_comparison_text(series, name)).holds(value)
    except ValueError:
        line = series.lines[name]
        return value >= line if series.direction == "higher_is_worse" else value <= line


def _durations(rows: Iterable[IncidentRow], period: Period, what: Literal["ack", "resolve"]) -> list[float]:
    out = []
    for row in rows:
        if not period.start <= row.created_at < period.end:
            continue
        if what == "resolve" and row.status == "dismissed":
            continue  # a false positive closed is not a resolution
        done = row.acknowledged_at if what == "ack" else row.resolved_at
        if done is not None and done < period.end:
            out.append(max(0.0, (done - row.created_at).total_seconds()))
    return out


def _first_answer(row: IncidentRow) -> datetime | None:
    """When someone first answered the page: the acknowledgement, or closing it outright."""
    times = [t for t in (row.acknowledged_at, row.resolved_at) if t is not None]
    return min(times) if times else None


def _closed_by(row: IncidentRow, when: datetime) -> bool:
    if row.resolved_at is not None:
        return row.resolved_at < when
    # Closed without a recorded time (e.g. dismissed): treat as closed.
    return row.status in CLOSED_STATUSES


def _order(row: IncidentRow) -> tuple[str, datetime, tuple[str, int]]:
    return (row.severity, row.created_at, _ref_key(row.ref))


def _ref_key(ref: str) -> tuple[str, int]:
    found = re.fullmatch(r"(.*?)(\d+)", ref)
    return (found.group(1), int(found.group(2))) if found else (ref, 0)


def _loaded(change: PolicyChange) -> datetime:
    return change.loaded_at


def _by_time(items: list[tuple[datetime, DeadlineView]]) -> list[DeadlineView]:
    return [view for _, view in sorted(items, key=lambda pair: (pair[0], pair[1].ref, pair[1].name))]


def _named(ref: str, label: str) -> str:
    return f"{ref} · {label}" if label else ref


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _plural(n: int, one: str, many: str, *, bare: bool = False) -> str:
    word = one if n == 1 else many
    return word if bare else f"{n} {word}"


# ---------------------------------------------------------------------------------------------------------------
# Summaries and key numbers


def _weekly_summary(base: Digest) -> str:
    new, ack, resolve = base.new_counts, base.time_to_ack, base.time_to_resolve
    if new.total:
        spread = ", ".join(f"{r.total} {r.severity}" for r in new.rows if r.total)
        verb = "was" if new.total == 1 else "were"
        opened = f"{_plural(new.total, 'incident', 'incidents')} {verb} opened ({spread})"
    else:
        opened = "no incidents were opened"
    still = base.open_counts.total
    first = f"In the week of {base.period_label}, {opened} and {still} remained open at the end of the week."
    crossed = sum(g.count for g in base.crossings)
    missed = sum(g.count for g in base.near_misses)
    trends = len(base.trends)
    if crossed or missed or trends:
        found = (
            _plural(crossed, "threshold crossing", "threshold crossings"),
            _plural(missed, "near miss", "near misses"),
            _plural(trends, "trend toward a threshold", "trends toward a threshold"),
        )
        second = f"There {'was' if crossed == 1 else 'were'} {found[0]}, {found[1]} and {found[2]}."
    else:
        second = "No result crossed a threshold or came near one, and no trend projects a crossing."
    third = f"Median time to acknowledge was {ack.text} and to resolve {resolve.text}."
    return " ".join((first, second, third, _decision_sentence(base.decisions)))


def _decision_sentence(decisions: Sequence[str]) -> str:
    if not decisions:
        return "Nothing needs a decision."
    return f"{_plural(len(decisions), 'item needs', 'items need')} a decision."


def _weekly_numbers(base: Digest) -> tuple[tuple[str, str], ...]:
    new = base.new_counts
    spread = " · ".join(f"{r.severity} {r.total}" for r in new.rows if r.total)
    return (
        ("New incidents", f"{new.total}" + (f" ({spread})" if spread else "")),
        ("Open at period end", str(base.open_counts.total)),
        ("Median time to acknowledge", base.time_to_ack.text),
        ("Median time to resolve", base.time_to_resolve.text),
        ("Threshold crossings", str(sum(g.count for g in base.crossings))),
        ("Near misses", str(sum(g.count for g in base.near_misses))),
        ("Overdue acknowledgements", str(len(base.ack_misses))),
        (
            "Deadline clocks",
            f"{len(base.deadlines_overdue)} overdue · {len(base.deadlines_due_soon)} due within 7 days",
        ),
        ("Trends toward thresholds", str(len(base.trends))),
        ("Policy changes", str(len(base.policy_changes))),
    )


def _risk_summary(base: Digest, threats: Sequence[Threat], deviations: Sequence[Deviation], changes: Changes) -> str:
    first = f"This draft covers {base.period_label} under {base.policy_name} version {base.policy_version}."
    counted = [
        (sum(1 for t in threats if t.remaining_risk == grade), words)
        for grade, words in (
            (RISK_THRESHOLD, "at threshold with a decision pending"),
            (RISK_ELEVATED, "elevated"),
            (RISK_WATCH, "on watch"),
            (RISK_WITHIN, "within thresholds"),
        )
    ]
    listed = [f"{n} {words}" for n, words in counted if n]
    if not threats:
        second = "No threat models are defined."
    else:
        spread = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]
        second = f"Of {_plural(len(threats), 'threat model', 'threat models')}, {spread}."
    opened, closed = len(changes.opened), len(changes.closed)
    third = (
        f"Since {changes.since}, {_plural(opened, 'incident was', 'incidents were')} opened and {closed} closed; "
        f"{_plural(len(deviations), 'deviation', 'deviations')} (missed or late acknowledgements and deadlines, "
        f"snoozes) {'was' if len(deviations) == 1 else 'were'} recorded."
    )
    return " ".join((first, second, third, _decision_sentence(base.decisions)))


def _risk_numbers(
    threats: Sequence[Threat], deviations: Sequence[Deviation], changes: Changes
) -> tuple[tuple[str, str], ...]:
    def graded(grade: str) -> str:
        return str(sum(1 for t in threats if t.remaining_risk == grade))

    return (
        ("Threat models", str(len(threats))),
        ("At threshold", graded(RISK_THRESHOLD)),
        ("Elevated", graded(RISK_ELEVATED)),
        ("Watch", graded(RISK_WATCH)),
        ("Within thresholds", graded(RISK_WITHIN)),
        ("Deviations", str(len(deviations))),
        ("Opened since last report", str(len(changes.opened))),
        ("Closed since last report", str(len(changes.closed))),
        ("Policy changes", str(len(changes.policy_changes))),
    )


# ---------------------------------------------------------------------------------------------------------------
# Rendering


TEMPLATES: dict[tuple[str, str], str] = {
    ("weekly", "slack"): "digests/weekly.slack.j2",
    ("weekly", "md"): "digests/weekly.md.j2",
    ("weekly", "html"): "digests/weekly.html.j2",
    ("risk-report", "slack"): "digests/risk_report.slack.j2",
    ("risk-report", "md"): "digests/risk_report.md.j2",
    ("risk-report", "html"): "digests/risk_report.html.j2",
}


# Markdown and HTML list at most this many items per section (then "…and N more"): a digest is read, not searched.
DOCUMENT_LIST_MAX = 50


def render_digest(
    digest: Digest,
    *,
    fmt: Format,
    summary_override: str | None = None,
    chart_urls: Mapping[str, str] | None = None,
) -> str:
    """The digest as Slack mrkdwn, Markdown or a standalone HTML page (charts as data: URIs unless URLs are given)."""
    urls = dict(chart_urls or {})
    if fmt == "html":
        sources = {
            c.metric_id: urls.get(c.metric_id) or "data:image/png;base64," + base64.b64encode(c.png).decode("ascii")
            for c in digest.charts
        }
    else:
        sources = {c.metric_id: urls.get(c.metric_id) or f"charts/{c.metric_id}.png" for c in digest.charts}
    summary = summary_override.strip() if summary_override and summary_override.strip() else digest.summary
    return (
        render(
            TEMPLATES[(digest.kind, fmt)],
            d=digest,
            summary=summary,
            chart_src=sources,
            md=md_escape,
            cell=md_cell,
            esc=slack_escape,
            num=number,
            fixed=fixed_table,
            more=SLACK_LIST_MAX,
            limit=DOCUMENT_LIST_MAX,
        )
        + "\n"
    )


def md_escape(value: object) -> str:
    """Backslash-escape the characters Markdown would read as formatting, links or HTML."""
    return re.sub(r"([\\`*_\[\]<>|#~])", r"\\\1", _one_line(str(value)))


def md_cell(value: object) -> str:
    """Text safe in a Markdown table cell (empty cells show a dash)."""
    text = md_escape(value)
    return text if text else "—"


def number(value: float) -> str:
    """A result value with four significant digits."""
    return f"{value:.4g}"


def fixed_table(table: CountTable) -> str:
    """A severity by category table in fixed-width text (for a Slack code block)."""
    header = ["severity", *table.categories, "total"]
    body = [[row.severity, *map(str, row.counts), str(row.total)] for row in table.rows]
    body.append(["total", *map(str, table.column_totals), str(table.total)])
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join(line(cells).rstrip() for cells in [header, *body])


def content_hash(text: str, data: Mapping[str, Any]) -> str:
    """SHA-256 over the rendered text and the canonical JSON of the data it came from."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8") + b"\x00" + canonical.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# Block Kit for the review channel


def digest_blocks(
    digest: Digest, *, summary_override: str | None, digest_id: int, state: DraftState
) -> list[dict[str, Any]]:
    """The draft as the review channel sees it, with Publish / Edit / Discard while it is a draft."""
    summary = summary_override.strip() if summary_override and summary_override.strip() else digest.summary
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=truncate(digest.title, HEADER_TEXT_MAX), emoji=True)),
        _section("*Summary*" + (" _(edited)_" if summary != digest.summary else "") + "\n" + slack_escape(summary)),
        _section(_list_text("*Needs a decision*", [slack_escape(item) for item in digest.decisions], "Nothing.")),
        SectionBlock(
            fields=[
                MarkdownTextObject(text=truncate(f"*{name}*\n{slack_escape(value)}", FIELD_TEXT_MAX))
                for name, value in digest.key_numbers[:10]
            ]
        ),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=truncate(
                        slack_escape(
                            f"{digest.period_span} · policy {digest.policy_name} {digest.policy_version} · "
                            f"drafted {digest.generated}"
                        ),
                        FIELD_TEXT_MAX,
                    )
                )
            ]
        ),
    ]
    value = str(digest_id)
    if state == "draft":
        noun = "digest" if digest.kind == "weekly" else "risk report"
        blocks.append(
            ActionsBlock(
                block_id=BlockId.DIGEST_ACTIONS,
                elements=[
                    ButtonElement(
                        text="Publish",
                        action_id=ActionId.DIGEST_PUBLISH,
                        value=value,
                        style="primary",
                        confirm=ConfirmObject(
                            title=f"Publish this {noun}?",
                            text="It goes to the publish channel as shown here, and can be published only once.",
                            confirm="Publish",
                            deny="Cancel",
                        ),
                    ),
                    ButtonElement(text="Edit", action_id=ActionId.DIGEST_EDIT, value=value),
                    ButtonElement(
                        text="Discard",
                        action_id=ActionId.DIGEST_DISCARD,
                        value=value,
                        style="danger",
                        confirm=ConfirmObject(
                            title=f"Discard this {noun}?",
                            text="The draft is kept for the record but will not be published.",
                            confirm="Discard",
                            deny="Cancel",
                        ),
                    ),
                ],
            )
        )
    else:
        text = "✅ Published." if state == "published" else "🗑️ Discarded; not published."
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=text)]))
    if len(blocks) > MESSAGE_BLOCKS_MAX:
        raise ValueError(f"{len(blocks)} blocks, Slack allows {MESSAGE_BLOCKS_MAX}")
    return [block.to_dict() for block in blocks]


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=truncate(text, SECTION_TEXT_MAX)))


def _list_text(heading: str, items: Sequence[str], empty: str, limit: int = SECTION_TEXT_MAX) -> str:
    """A bulleted list within `limit` characters, ending with '…and N more' when not every item fits."""
    if not items:
        return f"{heading}\n{empty}"
    text = heading
    for index, item in enumerate(items):
        line = "\n• " + truncate(item, 500)
        # Room for the longest possible "…and N more" whenever something would still follow.
        reserve = len(f"\n…and {len(items)} more") if index < len(items) - 1 else 0
        if len(text) + len(line) + reserve > limit:
            return f"{text}\n…and {len(items) - index} more"
        text += line
    return text


# ---------------------------------------------------------------------------------------------------------------
# Snapshot


def _plain(value: Any) -> Any:
    """JSON-able copy: dataclasses as dicts, times as ISO strings, chart images by hash."""
    if isinstance(value, Chart):
        return {
            "metric_id": value.metric_id,
            "title": value.title,
            "png_sha256": hashlib.sha256(value.png).hexdigest(),
            "lines": dict(value.lines),
            "series": {k: [[t, v] for t, v in points] for k, points in value.series.items()},
            "line_rows": dict(value.line_rows),
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return hashlib.sha256(value).hexdigest()
    return value
