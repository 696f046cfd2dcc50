"""What every digest is built from: the period's incidents, clocks and results, seen by its readers."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.common.limits import truncate
from bot.common.vocabulary import CLOSED
from bot.digest.charts import Chart, render_chart
from bot.digest.inputs import (
    DeadlineRow,
    DigestInput,
    IncidentRow,
    MetricSeries,
    PolicyChange,
    ResultRow,
)
from bot.digest.measures import (
    by_time,
    closed_by,
    count_table,
    durations,
    first_answer,
    format_seconds,
    incident_view,
    loaded,
    local_time,
    median_change,
    named,
    order,
    period_label,
    period_span,
    ref_key,
)
from bot.digest.views import (
    DUE_SOON,
    AckMiss,
    DeadlineView,
    DigestContent,
    IncidentView,
    PolicyChangeView,
    ResultGroup,
)

# ---------------------------------------------------------------------------------------------------------------
# Building


class DigestContext:
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
                hidden.update(d.model_family for d in series.history)
        for result in (*data.crossings, *data.near_misses):
            if self._result_restricted(result):
                hidden.add(result.model_family)
        # Restricted families get stable stand-in names so a chart, a crossing and the evidence still line up.
        self.aliases = {family: f"restricted model {n}" for n, family in enumerate(sorted(hidden), start=1)}
        self._views: dict[int, IncidentView] = {}
        self._decisions: dict[str, list[DeadlineRow]] | None = None

    # -- small helpers

    def when(self, value: datetime | None) -> str:
        return local_time(value, self.tz)

    def view(self, row: IncidentRow) -> IncidentView:
        # Sections view the same rows again and again (tens of thousands open on a large database): build each once.
        # Keyed by identity, as `data` keeps every row alive for the context's lifetime.
        view = self._views.get(id(row))
        if view is None:
            view = self._views[id(row)] = incident_view(row, self.tz)
        return view

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
        return row.created_at < self.end and not closed_by(row, self.end)

    # -- sections shared by both kinds

    def common(self) -> DigestContent:
        """Every section both kinds share; title and summary are filled in by the builder."""
        data = self.data
        overdue, due_soon, met_late = self.deadline_views()
        previous = [i for i in data.previous_incidents if data.previous.start <= i.created_at < data.previous.end]
        return DigestContent(
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
            new_counts=count_table(data.new_incidents),
            open_counts=count_table(data.open_incidents),
            time_to_ack=median_change(
                durations(data.new_incidents, self.period, "ack"), durations(previous, data.previous, "ack")
            ),
            time_to_resolve=median_change(
                durations(data.new_incidents, self.period, "resolve"), durations(previous, data.previous, "resolve")
            ),
            ack_misses=self.ack_misses(),
            deadlines_overdue=overdue,
            deadlines_due_soon=due_soon,
            deadlines_met_late=met_late,
            crossings=self.result_groups([r for r in data.crossings if r.level == "threshold"], near=False),
            near_misses=self.result_groups(list(data.near_misses), near=True),
            trends=tuple(self.view(i) for i in sorted(data.new_incidents, key=order) if i.source == "trend"),
            policy_changes=tuple(self.policy_view(c) for c in sorted(data.policy_changes, key=loaded)),
            charts=self.charts(),
            no_data=tuple(sorted(s.metric_id for s in data.series if not s.points)),
            notes=tuple(sorted(data.notes.items())),
            unmatched=tuple(sorted(data.unmatched, key=lambda u: (-u.count, u.source, u.task, u.scorer, u.metric))),
        )

    def policy_view(self, change: PolicyChange) -> PolicyChangeView:
        return PolicyChangeView(change.version, change.content_hash[:12], self.when(change.loaded_at))

    def ack_misses(self) -> tuple[AckMiss, ...]:
        misses: list[AckMiss] = []
        for row in self.pool:
            due = row.ack_due_at
            if due is None:
                continue
            answered = first_answer(row)
            if self.open_at_end(row) and due < self.end and (answered is None or answered >= self.end):
                detail = f"not acknowledged, {format_seconds((self.end - due).total_seconds())} past due at period end"
                misses.append(AckMiss(self.view(row), "unacknowledged", self.when(due), detail, row.escalation_level))
            elif answered is not None and self.start <= answered < self.end and answered > due:
                verb = "acknowledged" if row.acknowledged_at == answered else "closed without acknowledgement"
                detail = f"{verb} {format_seconds((answered - due).total_seconds())} late"
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
                span = format_seconds((self.end - row.due_at).total_seconds())
                overdue.append((row.due_at, self.deadline_view(row, f"overdue by {span} at period end")))
            elif open_at_end and row.due_at < self.end + DUE_SOON:
                span = format_seconds((row.due_at - self.end).total_seconds())
                soon.append((row.due_at, self.deadline_view(row, f"due {span} after period end")))
            elif (
                row.status == "met"
                and row.closed_at is not None
                and self.start <= row.closed_at < self.end
                and row.closed_at > row.due_at
            ):
                span = format_seconds((row.closed_at - row.due_at).total_seconds())
                late.append((row.due_at, self.deadline_view(row, f"met {span} late")))
        return tuple(by_time(overdue)), tuple(by_time(soon)), tuple(by_time(late))

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
                    incidents=tuple(sorted({r.incident_ref for r in members if r.incident_ref}, key=ref_key)),
                )
            )
        return tuple(sorted(out, key=lambda g: (g.metric_id, g.model_family, g.band)))

    def charts(self) -> tuple[Chart, ...]:
        # A metric with no result in the whole history window is listed (no_data), not drawn as an empty frame.
        return tuple(
            render_chart(self.redacted_series(s), period=self.period)
            for s in sorted(self.data.series, key=lambda s: s.metric_id)
            if s.points or s.history
        )

    def redacted_series(self, series: MetricSeries) -> MetricSeries:
        if series.category not in self.restricted_categories:
            return series
        points = tuple(
            dataclasses.replace(p, model_family=self.family(p.model_family, restricted=True), checkpoint="")
            for p in series.points
        )
        history = tuple(
            dataclasses.replace(d, model_family=self.family(d.model_family, restricted=True)) for d in series.history
        )
        return dataclasses.replace(series, points=points, history=history)

    # -- what needs a decision

    def decisions(self) -> tuple[str, ...]:
        still_open = [i for i in self.pool if self.open_at_end(i) and i.status not in CLOSED]
        return (
            *self._threshold_decisions(still_open),
            *self._deadline_decisions(),
            *self._unacknowledged_decisions(still_open),
            *self._trend_decisions(still_open),
        )

    def _threshold_decisions(self, still_open: Sequence[IncidentRow]) -> list[str]:
        items = []
        for row in sorted((i for i in still_open if i.level == "threshold"), key=order):
            if self._decision_taken(row.ref):
                continue
            # Name the clock that asks, so a reader can tell a capability decision from, say, an SB 53 report.
            clock = self._decision_clock(row.ref)
            what = f"{clock.name} clock due {self.when(clock.due_at)}" if clock else "no decision clock is running"
            items.append(f"{named(row.ref, self.view(row).label)}: threshold level reached ({row.severity}); {what}")
        return items

    def _deadline_decisions(self) -> list[str]:
        items = []
        for clock in sorted(self.data.deadlines, key=lambda d: (d.due_at, d.incident_ref)):
            if clock.status in ("met", "cancelled") or clock.closed_at is not None or clock.due_at >= self.end:
                continue
            label, _ = self.label(clock.incident_ref)
            span = format_seconds((self.end - clock.due_at).total_seconds())
            items.append(
                f"{named(clock.incident_ref, label)}: {clock.name} overdue by {span} at period end "
                f"(was due {self.when(clock.due_at)})"
            )
        return items

    def _unacknowledged_decisions(self, still_open: Sequence[IncidentRow]) -> list[str]:
        items = []
        # Still "triggered" now: an acknowledgement since the period ended takes it off the list. Filtered before
        # sorting: on a large database most open incidents are not sev1/sev2.
        pending = (row for row in still_open if row.severity in ("sev1", "sev2") and row.status == "triggered")
        for row in sorted(pending, key=order):
            answered = first_answer(row)
            if answered is not None and answered < self.end:
                continue
            view = self.view(row)
            if row.ack_due_at is None:
                due = f"opened {view.opened}"
            else:
                # An incident opened just before the period end may not be due yet: no "was due" in the future.
                tense = "was due" if row.ack_due_at < self.end else "due"
                due = f"ack {tense} {self.when(row.ack_due_at)}"
            items.append(f"{named(row.ref, view.label)}: {row.severity} not acknowledged at period end ({due})")
        return items

    def _trend_decisions(self, still_open: Sequence[IncidentRow]) -> list[str]:
        items = []
        for row in sorted((i for i in still_open if i.source == "trend"), key=order):
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
        return any(d.status == "met" for d in self._decision_clocks().get(ref, ()))

    def _decision_clock(self, ref: str) -> DeadlineRow | None:
        for row in self._decision_clocks().get(ref, ()):
            if row.closed_at is None and row.status != "cancelled":
                return row
        return None

    def _decision_clocks(self) -> dict[str, list[DeadlineRow]]:
        # Grouped once by incident, in their order: asked per open threshold incident, a scan each would be quadratic.
        if self._decisions is None:
            self._decisions = {}
            for row in self.data.deadlines:
                # Policy clocks are named by people ("Capability decision"); a report clock never says "decision".
                if "decision" in row.name.lower():
                    self._decisions.setdefault(row.incident_ref, []).append(row)
        return self._decisions

    # -- risk report sections
