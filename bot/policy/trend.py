"""Trends as pure functions: the slow ramp that no single result flags (frog-boiling)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from bot.common.clock import require_aware
from bot.common.vocabulary import LevelName
from bot.policy.document import Policy
from bot.policy.model import Metric
from bot.policy.triage import BAND_EPSILON, Decision, DedupKey, decide, model_family
from bot.policy.values import Comparison

# ---------------------------------------------------------------------------------------------------------------
# Trends: the slow ramp that no single result flags

# A slope counts only when it is at least this many standard errors above zero: noise must not project a crossing.
_MIN_SLOPE_T = 2.0


class TrendPoint(NamedTuple):
    """One observation in a metric's history."""

    observed_at: datetime
    checkpoint: str | None
    value: float


@dataclass(frozen=True)
class TrendFinding:
    """A metric heading for a level it has not crossed yet; raised at watch level."""

    metric: str
    category: str
    kind: Literal["slope", "drift"]
    level: LevelName
    projects_to: LevelName
    cutoff: Comparison
    points: int
    latest_value: float
    rise: float
    slope_per_day: float | None
    projected_crossing: datetime | None
    explanation: str


def evaluate_trend(
    points: Sequence[tuple[datetime, str | None, float]], *, metric: Metric, policy: Policy, now: datetime
) -> TrendFinding | None:
    """Apply the metric's trend rule to its history (one model family); None when there is nothing to raise."""
    require_aware(now)
    rule = metric.trend
    if rule is None:
        return None
    if metric.category not in policy.categories:
        raise KeyError(f"metric {metric.id!r} is not part of this policy")
    history = sorted((TrendPoint(*p) for p in points if p[0] <= now), key=lambda p: p.observed_at)
    if isinstance(rule.window, int):
        window = history[-rule.window :]
    else:
        window = [p for p in history if p.observed_at > now - rule.window]
    if len(window) < rule.min_points:
        return None
    cutoff = metric.levels[rule.projects_to]
    # Once any point has crossed, the level rule has already spoken; a trend would only repeat it.
    if any(cutoff.holds(p.value) for p in window):
        return None
    sign = 1.0 if metric.direction == "higher_is_worse" else -1.0
    worse = [sign * p.value for p in window]
    target = sign * cutoff.value
    rise = worse[-1] - worse[0]
    if rule.kind == "slope":
        assert rule.horizon is not None
        fit = _least_squares([(p.observed_at - window[0].observed_at) / timedelta(days=1) for p in window], worse)
        if fit is None:
            return None
        slope, intercept, stderr = fit
        if slope <= 0 or (stderr > 0 and slope / stderr < _MIN_SLOPE_T):
            return None
        crossing = max(window[0].observed_at + timedelta(days=(target - intercept) / slope), now)
        if crossing - now > rule.horizon:
            return None
        detail = f"worsens by {slope:.4g} a day and projects to cross"
        per_day: float | None = slope
    else:
        assert rule.rise is not None
        if rise < rule.rise - BAND_EPSILON:
            return None
        steps = len(window) - 1
        spacing = (window[-1].observed_at - window[0].observed_at) / steps
        needed = math.ceil((target - worse[-1]) / (rise / steps))
        crossing = max(window[-1].observed_at + spacing * needed, now)
        if rule.horizon is not None and crossing - now > rule.horizon:
            return None
        detail = f"worsened by {rise:.4g} over the last {len(window)} checkpoints and at that pace would cross"
        per_day = None
    sentence = (
        f"{metric.id} {detail} the {rule.projects_to.value} cut-off {cutoff} around "
        f"{crossing.astimezone(policy.tz):%Y-%m-%d} although no result has crossed it yet."
    )
    return TrendFinding(
        metric=metric.id,
        category=metric.category,
        kind=rule.kind,
        level=LevelName.WATCH,
        projects_to=rule.projects_to,
        cutoff=cutoff,
        points=len(window),
        latest_value=window[-1].value,
        rise=rise,
        slope_per_day=per_day,
        projected_crossing=crossing,
        explanation=sentence,
    )


def decide_trend(finding: TrendFinding, *, model: str, policy: Policy, now: datetime) -> Decision:
    """Route a trend finding like a watch-level result (the category's lowest level if it has no watch)."""
    require_aware(now)
    category = policy.categories[finding.category]
    level_name = LevelName.WATCH if LevelName.WATCH in category.levels else category.defined_levels()[0]
    family = model_family(model)
    return decide(
        policy=policy,
        now=now,
        category_id=finding.category,
        category=category,
        level_name=level_name,
        severity=category.levels[level_name].severity,
        matched=(finding.metric,),
        metric_id=finding.metric,
        near_miss=None,
        dedup=DedupKey(finding.category, family, finding.metric, f"trend-{finding.projects_to.value}"),
        dedup_window=policy.metric(finding.metric).dedup_window,
        explanation=finding.explanation,
    )


def _least_squares(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float] | None:
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = mean_y - slope * mean_x
    residual = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    stderr = math.sqrt(residual / (n - 2) / sxx) if n > 2 else 0.0
    return slope, intercept, stderr
