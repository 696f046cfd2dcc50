"""What a digest is made from: plain data read from the database, handed to the pure digest functions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

DigestKind = Literal["weekly", "risk-report"]


@dataclass(frozen=True, slots=True)
class Period:
    """A reporting period [start, end) in UTC, labelled in the policy's time zone."""

    kind: DigestKind
    start: datetime
    end: datetime
    timezone: str


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """An incident as the digest sees it (restricted ones are shown without title or model)."""

    ref: str
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
    actions: tuple[str, ...] = ()
    explanation: str = ""


@dataclass(frozen=True, slots=True)
class DeadlineRow:
    """A deadline clock: running, overdue, met or cancelled."""

    incident_ref: str
    name: str
    started_at: datetime
    due_at: datetime
    status: str
    closed_at: datetime | None
    restricted: bool


@dataclass(frozen=True, slots=True)
class ResultRow:
    """A stored eval result that crossed a level or fell in a near-miss band."""

    metric_id: str
    category: str
    model: str
    model_family: str
    checkpoint: str
    value: float
    observed_at: datetime
    level: str | None
    near_miss: str | None
    incident_ref: str | None


@dataclass(frozen=True, slots=True)
class Confirmation:
    """Someone's word on an incident's timeline: a mitigation is in place (mitigate), or it is dealt with (resolve)."""

    incident_ref: str
    action: str
    actor: str
    at: datetime
    note: str


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One value of a tracked metric."""

    observed_at: datetime
    model_family: str
    checkpoint: str
    value: float


@dataclass(frozen=True, slots=True)
class DailyPoint:
    """One model family's results of a metric over one day of a chart's history: how many, their range and mean."""

    day_start: datetime  # aware UTC; the day is [day_start, day_start + 24 h), counted back from the period end
    model_family: str
    count: int
    low: float
    high: float
    mean: float


# A chart shows this many weeks up to the period end (or the whole period when it is longer).
HISTORY_WEEKS = 12


def history_start(period: Period) -> datetime:
    """Where a chart's history begins: HISTORY_WEEKS before the period end, never after the period start."""
    return min(period.start, period.end - timedelta(weeks=HISTORY_WEEKS))


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """A tracked metric: its results in the period, its daily history up to the period end, and its lines.

    `points` are the period's results (evidence, latest values); `history` is what the chart draws. A series built
    without history (tests, older callers) is charted from its points."""

    metric_id: str
    description: str
    category: str
    direction: Literal["higher_is_worse", "lower_is_worse"]
    lines: dict[str, float]
    comparisons: dict[str, str]
    points: tuple[SeriesPoint, ...]
    history: tuple[DailyPoint, ...] = ()


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """A policy version first loaded in the period."""

    version: str
    content_hash: str
    loaded_at: datetime


@dataclass(frozen=True, slots=True)
class CategoryInfo:
    """A policy category with its crosswalk, for the risk report's threat models."""

    id: str
    name: str
    description: str
    restricted: bool
    crosswalk: dict[str, tuple[str, ...]]
    levels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UnmatchedInput:
    """Results of one source/task/scorer/metric that no policy metric matched, with the closest metric as a hint."""

    source: str
    task: str
    scorer: str
    metric: str
    count: int
    closest: str = ""


@dataclass(frozen=True, slots=True)
class DigestInput:
    """Everything one digest (weekly or risk report) is rendered from; all datetimes are aware UTC."""

    period: Period
    previous: Period
    generated_at: datetime
    policy_version: str
    policy_name: str
    new_incidents: tuple[IncidentRow, ...]
    open_incidents: tuple[IncidentRow, ...]
    previous_incidents: tuple[IncidentRow, ...]
    deadlines: tuple[DeadlineRow, ...]
    crossings: tuple[ResultRow, ...]
    near_misses: tuple[ResultRow, ...]
    series: tuple[MetricSeries, ...]
    policy_changes: tuple[PolicyChange, ...]
    categories: tuple[CategoryInfo, ...] = ()
    last_report_end: datetime | None = None
    notes: dict[str, str] = field(default_factory=dict)
    unmatched: tuple[UnmatchedInput, ...] = ()
    # Read for the risk report only (the weekly digest does not show them).
    confirmations: tuple[Confirmation, ...] = ()
