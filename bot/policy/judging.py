"""Holding one value against one metric: the level it reaches, the near miss, and the confident bound if asked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.common.vocabulary import LevelName, Severity, severity_rank
from bot.policy.model import Category, Metric
from bot.policy.noise import Judged, confidence_text, judged_value
from bot.policy.values import Comparison

# Floating-point slack for the near-miss band only, so that 0.70 - 0.65 counts as "within 0.05".
BAND_EPSILON = 1e-9


Ladder = tuple[tuple[LevelName, Comparison], ...]
# A metric's defined levels with their cut-offs, by metric identity (metrics are frozen; a reload makes new ones).
_ladders: dict[int, tuple[Metric, Ladder]] = {}
# Bound: a few policies' worth of metrics (the live one, a backtest's, the ones reloads replaced).
_LADDERS = 1024


def ladder(metric: Metric) -> Ladder:
    """The metric's (level, cut-off) pairs, lowest first: `defined_levels`, remembered (judging asks four times)."""
    found = _ladders.get(id(metric))
    if found is None or found[0] is not metric:
        if len(_ladders) >= _LADDERS:
            _ladders.clear()
        found = _ladders[id(metric)] = (metric, tuple((name, metric.levels[name]) for name in metric.defined_levels()))
    return found[1]


def level_of(metric: Metric, value: float) -> LevelName | None:
    """The highest level whose cut-off the value crosses, or None."""
    reached = [name for name, cut in ladder(metric) if cut.holds(value)]
    return reached[-1] if reached else None


def near_miss_of(metric: Metric, value: float) -> LevelName | None:
    """The highest level above the value's own whose cut-off is within the near-miss band of it, or None."""
    if metric.near_miss is None:
        return None
    reached = level_of(metric, value)
    floor = reached.rank if reached is not None else -1
    missed = [
        name
        for name, cut in ladder(metric)
        if name.rank > floor and 0 <= cut.gap(value) <= metric.near_miss.within + BAND_EPSILON
    ]
    return missed[-1] if missed else None


@dataclass(frozen=True)
class Hit:
    """One matching metric's verdict on a value: level, near miss, severity, and what was judged."""

    index: int
    metric: Metric
    level: LevelName | None
    near_miss: LevelName | None
    severity: Severity | None
    judged: Judged
    # The level the point value reaches but the confident bound does not (the near miss it makes), or None.
    unconfident: LevelName | None
    value: float
    stderr: float | None
    samples: int | None

    def weight(self) -> tuple[int, int, int, int]:
        """Sort key: the most severe level, then the worse severity, then a near miss, then policy order."""
        level = self.level.rank if self.level is not None else -1
        sev = -severity_rank(self.severity) if self.severity is not None else -9
        miss = self.near_miss.rank if self.near_miss is not None else -1
        return (level, sev, miss, -self.index)

    def confidence_clause(self) -> str:
        """' at 95% confidence (bound 0.33)' after a cut-off, or why the point value was used; '' without."""
        confidence = self.metric.confidence
        if confidence is None:
            return ""
        if self.judged.unbounded:
            return f" at the point value (no stderr given, so {confidence_text(confidence)} confidence is not checked)"
        return f" at {confidence_text(confidence)} confidence (bound {self.judged.value:.3g})"

    def unconfident_text(self) -> str:
        """'crossed the alert cut-off >=0.5 at the point value but not at 95% confidence (0.625 ± 0.18, n=8; ...)'."""
        assert self.unconfident is not None and self.metric.confidence is not None and self.stderr is not None
        noise = f"{self.value:g} ± {self.stderr:.2g}" + (f", n={self.samples}" if self.samples else "")
        return (
            f"crossed the {self.unconfident.value} cut-off {self.metric.levels[self.unconfident]} at the point value "
            f"but not at {confidence_text(self.metric.confidence)} confidence ({noise}; bound {self.judged.value:.3g})"
        )


def judge(
    index: int,
    metric: Metric,
    *,
    value: float,
    stderr: float | None,
    samples: int | None,
    categories: Mapping[str, Category],
) -> Hit:
    """The metric's verdict on a value; with `confidence` the cut-offs are held against the one-sided bound."""
    judged = judged_value(
        value, stderr, confidence=metric.confidence, higher_is_worse=metric.direction == "higher_is_worse"
    )
    level = level_of(metric, judged.value)
    point = level_of(metric, value)
    # A level the point value reaches beyond the bound's is a near miss that says so, never silently dropped.
    unconfident = point if point is not None and (level is None or point.rank > level.rank) else None
    near = unconfident or near_miss_of(metric, value)
    severity = categories[metric.category].levels[level].severity if level is not None else None
    return Hit(index, metric, level, near, severity, judged, unconfident, value, stderr, samples)
