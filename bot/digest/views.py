"""What a digest says, as frozen dataclasses (the content every render is made from)."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from bot.digest.charts import Chart
from bot.digest.inputs import (
    DigestKind,
    Period,
    UnmatchedInput,
)

DUE_SOON = timedelta(days=7)
RISK_THRESHOLD = "at threshold — decision pending"
RISK_ELEVATED = "elevated"
RISK_WATCH = "watch"
RISK_WITHIN = "within thresholds"
RISK_GRADES = (RISK_THRESHOLD, RISK_ELEVATED, RISK_WATCH, RISK_WITHIN)

Format = Literal["slack", "md", "html"]
DraftState = Literal["draft", "published", "discarded"]


# ---------------------------------------------------------------------------------------------------------------
# What a digest is made of


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class CountRow:
    """One severity's counts, one per category column."""

    severity: str
    counts: tuple[int, ...]
    total: int


@dataclass(frozen=True, slots=True)
class CountTable:
    """Incidents counted by severity (rows) and category (columns)."""

    categories: tuple[str, ...]
    rows: tuple[CountRow, ...]
    column_totals: tuple[int, ...]
    total: int


@dataclass(frozen=True, slots=True)
class MedianChange:
    """A median duration in this period against the previous one, with the sentence fragment readers see."""

    seconds: float | None
    previous_seconds: float | None
    count: int
    previous_count: int
    text: str


@dataclass(frozen=True, slots=True)
class AckMiss:
    """An acknowledgement that did not happen in time."""

    incident: IncidentView
    kind: Literal["unacknowledged", "late"]
    due: str
    detail: str
    escalation_level: int


@dataclass(frozen=True, slots=True)
class DeadlineView:
    """A deadline clock as a row of the report."""

    ref: str
    name: str
    label: str
    restricted: bool
    status: str
    due: str
    detail: str


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class PolicyChangeView:
    """A policy version that was loaded."""

    version: str
    content_hash: str
    loaded: str


@dataclass(frozen=True, slots=True)
class Evidence:
    """One metric for one model family: its latest result held against the lines, and its history in the period."""

    metric_id: str
    description: str
    model_family: str
    checkpoint: str
    value: float
    observed: str
    standing: str
    against_lines: str
    lines: str
    # The period's results oldest first as compact text ("0.7 → 0.72 → … → 0.82"), and how many there were.
    history: str = ""
    results: int = 0


@dataclass(frozen=True, slots=True)
class Mitigation:
    """An incident in a threat model: what the policy requires, what people confirmed in place, and its clocks."""

    incident: IncidentView
    actions: tuple[str, ...]
    deadlines: tuple[str, ...]
    # "mitigation in place: <note> — confirmed by <actor>, <when>", oldest first; notes withheld when restricted.
    confirmed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class Deviation:
    """Where practice departed from the policy: a missed acknowledgement, a late deadline, a snooze."""

    kind: str
    ref: str
    label: str
    detail: str


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed since the last report (or the period start)."""

    since: str
    policy_changes: tuple[PolicyChangeView, ...]
    opened: tuple[IncidentView, ...]
    closed: tuple[IncidentView, ...]


@dataclass(frozen=True, slots=True)
class DigestContent:
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
    # Inputs no policy metric matched in the period; the section is shown only when there are some.
    unmatched: tuple[UnmatchedInput, ...] = ()
    # Tracked metrics without a result in the period (a chart is drawn only where the history window has some).
    no_data: tuple[str, ...] = ()

    @property
    def quiet(self) -> bool:
        """Nothing to report: no incident opened or open, no flagged result, trend, clock, decision or change."""
        return not (
            self.new_counts.total
            or self.open_counts.total
            or self.decisions
            or self.ack_misses
            or self.deadlines_overdue
            or self.deadlines_due_soon
            or self.deadlines_met_late
            or self.crossings
            or self.near_misses
            or self.trends
            or self.policy_changes
            or self.unmatched
        )

    def as_data(self) -> dict[str, Any]:
        """A JSON-able snapshot of everything the text was made from (chart images by their SHA-256)."""
        data = _plain(self)
        assert isinstance(data, dict)
        return data


# ---------------------------------------------------------------------------------------------------------------
# Snapshot


def _plain(value: Any) -> Any:
    """JSON-able copy: dataclasses as dicts, times as ISO strings, chart images by hash."""
    # Dispatch on the exact type first: a large digest's snapshot has hundreds of thousands of values, and the
    # generic checks below (is_dataclass, fields) cost more than the copy itself.
    kind = type(value)
    if kind in _SCALARS:
        return value
    names = _FIELDS.get(kind)
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if kind is tuple or kind is list:
        return [_plain(v) for v in value]
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
        _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(value))
        return _plain(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return hashlib.sha256(value).hexdigest()
    return value


# Types copied as they are, and each dataclass's field names (filled in as dataclasses are met).
_SCALARS: frozenset[type] = frozenset({str, int, float, bool, type(None)})
_FIELDS: dict[type, tuple[str, ...]] = {}
