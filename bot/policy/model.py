"""The policy model, part one: frameworks, categories and levels, metrics, routes."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import (
    Field,
    PlainValidator,
    model_validator,
)

from bot.common.vocabulary import LEVELS, LevelName, Severity, severity_rank
from bot.policy.values import (
    Channel,
    Comparison,
    Cutoff,
    Duration,
    Loc,
    PositiveDuration,
    Slug,
    StrictModel,
    Url,
    format_duration,
    raise_if_any,
    window_value,
)


class Framework(StrictModel):
    """A published framework the policy maps its categories onto."""

    id: Slug
    name: str
    version: str
    source: Url


class Level(StrictModel):
    """What happens when a category reaches watch, alert or threshold."""

    severity: Severity
    route: Slug
    actions: tuple[str, ...] = ()
    deadlines: tuple[Slug, ...] = ()
    crosswalk: Mapping[Slug, tuple[str, ...]] = Field(default_factory=dict)
    note: str = ""


class Category(StrictModel):
    """A kind of hazard, its crosswalk to each framework's names, and its levels."""

    name: str
    description: str = ""
    restricted: bool = False
    crosswalk: Mapping[Slug, tuple[str, ...]] = Field(default_factory=dict)
    levels: Mapping[LevelName, Level]

    @model_validator(mode="after")
    def _levels_escalate(self) -> Category:
        issues: list[tuple[Loc, str]] = []
        if not self.levels:
            issues.append((("levels",), "a category needs at least one of watch, alert, threshold"))
        previous: tuple[LevelName, Level] | None = None
        for name in self.defined_levels():
            level = self.levels[name]
            if previous is not None and severity_rank(level.severity) > severity_rank(previous[1].severity):
                issues.append(
                    (
                        ("levels", name.value, "severity"),
                        f"severity decreases as the level rises: {name.value} is {level.severity.value} but "
                        f"{previous[0].value} is already {previous[1].severity.value}; use "
                        f"{previous[1].severity.value} or worse",
                    )
                )
            previous = (name, level)
        raise_if_any("Category", issues)
        return self

    def defined_levels(self) -> tuple[LevelName, ...]:
        """The levels this category defines, lowest first."""
        return tuple(name for name in LEVELS if name in self.levels)


class Match(StrictModel):
    """Which results a metric counts: the source, globs on task and scorer, the metric name and exact labels."""

    source: Literal["inspect", "lm-eval", "alertmanager", "json"]
    task: str
    scorer: str | None = None
    metric: str
    labels: Mapping[str, str] = Field(default_factory=dict)


class NearMiss(StrictModel):
    """A value this close to a cut-off, without crossing it, is a near miss of that level."""

    within: float = Field(gt=0)


class Trend(StrictModel):
    """A rule that watches a metric creep toward a level no single result has crossed yet."""

    kind: Literal["slope", "drift"]
    # A duration looks back in time; a whole number counts the most recent checkpoints.
    window: Annotated[int | timedelta, PlainValidator(window_value)]
    projects_to: LevelName = LevelName.THRESHOLD
    horizon: PositiveDuration | None = None
    rise: float | None = Field(default=None, gt=0)
    min_points: int = Field(default=3, ge=2)

    @model_validator(mode="after")
    def _complete(self) -> Trend:
        issues: list[tuple[Loc, str]] = []
        if isinstance(self.window, int):
            if self.window < self.min_points:
                issues.append((("window",), f"a window of {self.window} checkpoints is below min_points"))
        elif self.window <= timedelta(0):
            issues.append((("window",), "must be longer than zero"))
        if self.kind == "slope" and self.horizon is None:
            issues.append((("horizon",), "a slope trend needs a horizon, e.g. '30d': how far ahead a crossing counts"))
        if self.kind == "drift" and self.rise is None:
            issues.append((("rise",), "a drift trend needs a rise, e.g. 0.10: the worsening across the window"))
        raise_if_any("Trend", issues)
        return self


def _confidence_value(raw: object) -> float | None:
    if raw is None:
        return None
    # A percentage (95) or a two-sided habit (0.05) is the usual slip; 0.5 would be the point value itself.
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"must be a number between 0.5 and 1, e.g. 0.95; got {raw!r}")
    if not 0.5 < raw < 1:
        hint = f" (a fraction, not a percentage: use {raw / 100:g})" if 50 < raw < 100 else ""
        raise ValueError(f"must be above 0.5 and below 1, e.g. 0.9, 0.95 or 0.99; got {raw!r}{hint}")
    return float(raw)


class Metric(StrictModel):
    """An evaluation metric the policy watches, with a cut-off per level."""

    id: Slug
    category: Slug
    description: str = ""
    match: Match
    direction: Literal["higher_is_worse", "lower_is_worse"]
    levels: Mapping[LevelName, Cutoff]
    near_miss: NearMiss | None = None
    # A level fires when the one-sided bound at this confidence crosses, not the point value (bot/policy/noise.py).
    confidence: Annotated[float | None, PlainValidator(_confidence_value)] = None
    trend: Trend | None = None
    dedup_window: PositiveDuration = timedelta(hours=6)
    # Frameworks publish levels, not numbers: the author must say where each cut-off comes from.
    organisation_defined: bool

    @model_validator(mode="after")
    def _levels_ordered(self) -> Metric:
        issues: list[tuple[Loc, str]] = []
        if not self.levels:
            issues.append((("levels",), "a metric needs a cut-off for at least one of watch, alert, threshold"))
        higher = self.direction == "higher_is_worse"
        right_ops = ">= or >" if higher else "<= or <"
        for name in self.defined_levels():
            if self.levels[name].higher_is_worse != higher:
                issues.append(
                    (
                        ("levels", name.value),
                        f"{name.value} uses {self.levels[name].op!r} but the metric is "
                        f"{self.direction}; use {right_ops}",
                    )
                )
        if issues:
            raise_if_any("Metric", issues)
        names = self.defined_levels()
        for lower, upper in itertools.pairwise(names):
            if not _stricter(self.levels[upper], self.levels[lower]):
                issues.append(
                    (
                        ("levels", upper.value),
                        f"levels overlap or are out of order: {upper.value} ({self.levels[upper]}) must be "
                        f"strictly harder to reach than {lower.value} ({self.levels[lower]}) for a "
                        f"{self.direction} metric",
                    )
                )
        if self.trend is not None and self.trend.projects_to not in self.levels:
            issues.append(
                (("trend", "projects_to"), f"the metric has no {self.trend.projects_to.value} cut-off to project to")
            )
        raise_if_any("Metric", issues)
        return self

    def defined_levels(self) -> tuple[LevelName, ...]:
        """The levels this metric has cut-offs for, lowest first."""
        return tuple(name for name in LEVELS if name in self.levels)


def _stricter(upper: Comparison, lower: Comparison) -> bool:
    # Every value that reaches `upper` must also reach `lower`, and some value must reach `lower` only.
    if upper.higher_is_worse:
        return upper.value > lower.value or (upper.value == lower.value and lower.op == ">=" and upper.op == ">")
    return upper.value < lower.value or (upper.value == lower.value and lower.op == "<=" and upper.op == "<")


class EscalationStep(StrictModel):
    """Who is paged, counted from when the incident was triggered."""

    notify: tuple[str, ...] = Field(min_length=1)
    after: Duration = timedelta(0)


class Repeat(StrictModel):
    """Run the whole escalation chain again, at most `times` more, every `every`."""

    times: int = Field(ge=0, le=10)
    every: PositiveDuration


class Route(StrictModel):
    """Where an incident goes, how fast it must be acknowledged and who is paged if it is not."""

    channel: Channel
    private: bool = False
    ack_window: PositiveDuration
    escalation: tuple[EscalationStep, ...] = Field(min_length=1)
    repeat: Repeat | None = None
    # Offsets after the page at which an unacknowledged incident is announced again.
    reminders: tuple[PositiveDuration, ...] = ()

    @model_validator(mode="after")
    def _timeline(self) -> Route:
        issues: list[tuple[Loc, str]] = []
        for index, (earlier, later) in enumerate(itertools.pairwise(self.escalation), start=1):
            if later.after < earlier.after:
                issues.append(
                    (("escalation", index, "after"), "escalation steps must be in order of `after`, earliest first")
                )
        last = self.escalation[-1].after if self.escalation else timedelta(0)
        if self.repeat is not None and self.repeat.times and self.repeat.every <= last:
            issues.append(
                (
                    ("repeat", "every"),
                    f"repeats every {format_duration(self.repeat.every)} would restart the chain before its last "
                    f"step at {format_duration(last)}; make `every` longer than {format_duration(last)}",
                )
            )
        for index, reminder in enumerate(self.reminders):
            if reminder >= self.ack_window:
                issues.append(
                    (
                        ("reminders", index),
                        f"a reminder at {format_duration(reminder)} falls after the ack window "
                        f"({format_duration(self.ack_window)}) has closed",
                    )
                )
        raise_if_any("Route", issues)
        return self
