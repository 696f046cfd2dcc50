"""Replay stored eval history against a candidate policy and the active one: what would each have fired?"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from bot.policy.document import Policy
from bot.policy.triage import Result, evaluate_result


@dataclass(frozen=True)
class Firing:
    """One result that opens (or joins) an incident under a policy."""

    result: Result
    metric: str
    level: str


@dataclass
class Side:
    """What one policy makes of the history."""

    policy: Policy
    by_level: Counter[tuple[str, str]] = field(default_factory=Counter)
    near_misses: int = 0
    incidents: int = 0
    _last_seen: dict[str, datetime] = field(default_factory=dict)

    def add(self, result: Result, now: datetime) -> Firing | None:
        decision = evaluate_result(result, policy=self.policy, now=now)
        if decision.level is None:
            self.near_misses += decision.near_miss is not None
            return None
        metric = decision.metric or result.metric
        self.by_level[(metric, decision.level.value)] += 1
        # Count incidents the way ingestion groups them: a dedup key seen again inside its window joins.
        key, window = str(decision.dedup_key), decision.dedup_window
        previous = self._last_seen.get(key)
        if previous is None or window is None or result.observed_at - previous > window:
            self.incidents += 1
        self._last_seen[key] = result.observed_at
        return Firing(result, metric, decision.level.value)


@dataclass
class Backtest:
    """The two sides and the results on which they disagree."""

    active: Side
    candidate: Side
    results: int = 0
    only_candidate: list[Firing] = field(default_factory=list)
    only_active: list[Firing] = field(default_factory=list)


def backtest(results: Iterable[Result], *, active: Policy, candidate: Policy) -> Backtest:
    """Evaluate each result (in time order) as of when it was observed, under both policies."""
    report = Backtest(Side(active), Side(candidate))
    for result in sorted(results, key=lambda r: r.observed_at):
        report.results += 1
        now = result.observed_at
        under_active = report.active.add(result, now)
        under_candidate = report.candidate.add(result, now)
        if under_candidate is not None and under_active is None:
            report.only_candidate.append(under_candidate)
        elif under_active is not None and under_candidate is None:
            report.only_active.append(under_active)
    return report
