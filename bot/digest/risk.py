"""The risk report's own sections: threats, evidence per model, mitigations, remaining risk, deviations, changes."""

from __future__ import annotations

from collections.abc import Sequence

from bot.common.vocabulary import Action

# ---------------------------------------------------------------------------------------------------------------
# Building
from bot.digest.context import DigestContext
from bot.digest.inputs import (
    Confirmation,
    DigestInput,
    IncidentRow,
    SeriesPoint,
)
from bot.digest.measures import (
    comparison_text,
    history_text,
    line_names,
    loaded,
    one_line,
    order,
    plural,
    standing_against_lines,
)
from bot.digest.views import (
    RISK_ELEVATED,
    RISK_THRESHOLD,
    RISK_WATCH,
    RISK_WITHIN,
    Changes,
    Deviation,
    DigestContent,
    Evidence,
    Mitigation,
    ResultGroup,
    Threat,
)


class RiskContext(DigestContext):
    """The digest context with the risk report's sections."""

    def __init__(self, data: DigestInput) -> None:
        super().__init__(data)
        self._confirmed: dict[str, list[Confirmation]] | None = None

    def threats(self, base: DigestContent) -> tuple[Threat, ...]:
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
            mitigations = tuple(self.mitigation(i) for i in sorted(involved, key=order))
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
            history: dict[str, list[SeriesPoint]] = {}
            for point in series.points:
                history.setdefault(point.model_family, []).append(point)
            lines_text = " · ".join(f"{n} {comparison_text(series, n)}" for n in line_names(series))
            for family in sorted(history):
                # Stable sort: points at the same time keep the order they were stored in, the last being the latest.
                points = sorted(history[family], key=lambda p: p.observed_at)
                point = points[-1]
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
                        history=history_text([p.value for p in points]),
                        results=len(points),
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
        return Mitigation(self.view(row), tuple(row.actions), tuple(clocks), self.confirmed(row))

    def confirmed(self, row: IncidentRow) -> tuple[str, ...]:
        """What people confirmed on the timeline, by whom and when (notes withheld for restricted incidents)."""
        out = []
        for c in self._confirmations().get(row.ref, ()):
            what = "mitigation in place" if c.action == Action.MITIGATE else "resolved"
            note = "details withheld (restricted)" if row.restricted else (one_line(c.note) or "no note given")
            out.append(f"{what}: {note} — confirmed by {c.actor}, {self.when(c.at)}")
        return tuple(out)

    def _confirmations(self) -> dict[str, list[Confirmation]]:
        # Grouped once: asked for every incident the report shows.
        if self._confirmed is None:
            self._confirmed = {}
            for c in self.data.confirmations:
                self._confirmed.setdefault(c.incident_ref, []).append(c)
        return self._confirmed

    def remaining_risk(
        self,
        category: str,
        incidents: Sequence[IncidentRow],
        evidence: Sequence[Evidence],
        near: Sequence[ResultGroup],
    ) -> tuple[str, tuple[str, ...]]:
        open_rows = [i for i in sorted(incidents, key=order) if self.open_at_end(i)]
        threshold = [f"{i.ref} is open at threshold level" for i in open_rows if i.level == "threshold"]
        elevated = [f"{i.ref} is open at alert level" for i in open_rows if i.level == "alert" and i.source != "trend"]
        elevated += [f"{i.ref} is an open trend toward a threshold" for i in open_rows if i.source == "trend"]
        elevated += [
            f"{e.metric_id}: {e.model_family}'s latest result {e.value:.4g} is at {e.standing} level"
            for e in evidence
            if e.standing in ("alert", "threshold")
        ]
        watch = [f"{i.ref} is open at watch level" for i in open_rows if i.level == "watch" and i.source != "trend"]
        watch += [f"{g.count} near {plural(g.count, 'miss', 'misses', bare=True)} on {g.metric_id}" for g in near]
        watch += [
            f"{e.metric_id}: {e.model_family}'s latest result {e.value:.4g} is at watch level"
            for e in evidence
            if e.standing == "watch"
        ]
        for grade, reasons in ((RISK_THRESHOLD, threshold), (RISK_ELEVATED, elevated), (RISK_WATCH, watch)):
            if reasons:
                return grade, tuple(reasons)
        return RISK_WITHIN, ()

    def deviations(self, base: DigestContent) -> tuple[Deviation, ...]:
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
            reason = "reason withheld (restricted)" if view.restricted else (one_line(row.snooze_reason) or "no reason")
            out.append(Deviation("snoozed", row.ref, view.label, f"until {self.when(row.snoozed_until)}: {reason}"))
        return tuple(out)

    def changes(self) -> Changes:
        since = self.data.last_report_end or self.start
        policy = tuple(
            self.policy_view(c) for c in sorted(self.data.policy_changes, key=loaded) if since <= c.loaded_at < self.end
        )
        opened = tuple(self.view(i) for i in self.pool if since <= i.created_at < self.end)
        closed = tuple(
            self.view(i)
            for i in sorted(self.pool, key=lambda i: (i.resolved_at or i.created_at, i.ref))
            if i.resolved_at is not None and since <= i.resolved_at < self.end
        )
        return Changes(self.when(since), policy, opened, closed)
