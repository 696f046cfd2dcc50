"""Evaluation noise: a result's standard error and sample count, and the one-sided bound a confident crossing uses.

A metric with `confidence: 0.95` is judged not at the point value but at the bound the true value is 95% sure to
be past: value - z*stderr for a higher_is_worse metric (value + z*stderr for lower_is_worse), z the standard
normal quantile of the confidence. A result without a stderr cannot be bounded; it is judged at its point value
(so a crossing still opens an incident: nothing silent) and the explanation says that no stderr was given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist


def z_score(confidence: float) -> float:
    """The one-sided standard normal quantile: 1.645 for 0.95, 2.326 for 0.99."""
    return NormalDist().inv_cdf(confidence)


def one_sided_bound(value: float, stderr: float, *, confidence: float, higher_is_worse: bool) -> float:
    """The value the true metric is `confidence` sure to be at least as bad as."""
    margin = z_score(confidence) * stderr
    return value - margin if higher_is_worse else value + margin


def measured(value: float, stderr: float | None, samples: int | None) -> str:
    """A value with its noise as a card shows it: '0.625 ± 0.18 (n=8)', '0.625 (n=8)' or '0.625'."""
    text = f"{value:g}"
    if stderr is not None:
        text += f" ± {stderr:.2g}"
    if samples is not None:
        text += f" (n={samples})"
    return text


def confidence_text(confidence: float) -> str:
    """0.95 as '95%', 0.975 as '97.5%'."""
    return f"{confidence * 100:.4g}%"


@dataclass(frozen=True)
class Judged:
    """The number a metric's cut-offs are held against, and why."""

    # The point value, or the one-sided bound when the metric asks for confidence and the result has a stderr.
    value: float
    bound: float | None
    # Set when the metric asks for confidence but the result carries no stderr: judged at the point value.
    unbounded: bool


def judged_value(value: float, stderr: float | None, *, confidence: float | None, higher_is_worse: bool) -> Judged:
    """What to compare with the cut-offs: the bound when confidence is asked for and a stderr is known."""
    if confidence is None:
        return Judged(value, None, unbounded=False)
    if stderr is None or not math.isfinite(stderr):
        return Judged(value, None, unbounded=True)
    bound = one_sided_bound(value, stderr, confidence=confidence, higher_is_worse=higher_is_worse)
    return Judged(bound, bound, unbounded=False)
