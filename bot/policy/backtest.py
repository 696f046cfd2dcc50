"""Replay stored eval history against a candidate policy and the active one: what would each have fired?

Incidents are counted the way live grouping counts them: a crossing opens an incident unless one with the same
dedup key was last seen within the metric's dedup window, measured on the receive time (the clock triage ran
on), not the observed time: a week of results ingested in one batch joins one incident live, so it does here.
What the replay cannot know is left out and said so: incidents resolved by hand in between (live would open a
new one for the next crossing) and trend-watch incidents, which depend on the series as it stood then.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.policy.document import Policy
from bot.policy.triage import Decision, Result, evaluate_result

# Live grouping's window for a decision without one (IngestService/TriageWorker use the same default).
DEFAULT_DEDUP_WINDOW = timedelta(hours=6)


@dataclass(frozen=True)
class Arrival:
    """A stored result and when it was received: the time live triage grouped it on."""

    result: Result
    received_at: datetime


@dataclass(frozen=True)
class Outcome:
    """What one policy made of one result: the deciding metric, level, severity and route (None: no level)."""

    metric: str | None
    level: str | None
    severity: str | None
    route: str | None
    near_miss: str | None

    @classmethod
    def of(cls, decision: Decision) -> Outcome:
        """The parts of a decision a backtest compares."""
        return cls(
            metric=decision.metric,
            level=decision.level.value if decision.level else None,
            severity=decision.severity.value if decision.severity else None,
            route=decision.route,
            near_miss=decision.near_miss.value if decision.near_miss else None,
        )

    def __str__(self) -> str:
        if self.level is None:
            return f"near miss ({self.near_miss})" if self.near_miss else "no level"
        return f"{self.level} {self.severity} -> {self.route}"


@dataclass(frozen=True)
class Change:
    """A result whose level, severity or route differs between the active policy and the candidate."""

    result: Result
    before: Outcome
    after: Outcome

    @property
    def what(self) -> tuple[str, ...]:
        """Which of level, severity, route changed."""
        return tuple(
            name for name in ("level", "severity", "route") if getattr(self.before, name) != getattr(self.after, name)
        )

    @property
    def metric(self) -> str:
        """The metric that decided under the candidate (else under the active policy, else the result's own)."""
        return self.after.metric or self.before.metric or self.result.metric


@dataclass
class Grouping:
    """Live grouping's rule without the database: a key joins its incident if last seen within the window."""

    last_seen: dict[str, datetime] = field(default_factory=dict)

    def opens(self, key: str, *, window: timedelta | None, at: datetime) -> bool:
        """Record a crossing under `key` at `at`; True when it opens a new incident rather than joining one."""
        previous = self.last_seen.get(key)
        self.last_seen[key] = at
        # find_grouping_incident joins when last_seen_at >= now - window.
        return previous is None or at - previous > (window or DEFAULT_DEDUP_WINDOW)


@dataclass
class Side:
    """What one policy makes of the history."""

    policy: Policy
    by_level: Counter[tuple[str, str]] = field(default_factory=Counter)
    near_misses: int = 0
    incidents: int = 0
    grouping: Grouping = field(default_factory=Grouping)

    def add(self, arrival: Arrival) -> Outcome:
        """Evaluate one arrival as live triage did when it came in, and count what it opens."""
        result, now = arrival.result, arrival.received_at
        decision = evaluate_result(result, policy=self.policy, now=now)
        self.near_misses += decision.near_miss is not None
        if decision.level is not None:
            self.by_level[(decision.metric or result.metric, decision.level.value)] += 1
            self.incidents += self.grouping.opens(str(decision.dedup_key), window=decision.dedup_window, at=now)
        return Outcome.of(decision)


@dataclass
class Backtest:
    """The two sides and the results whose level, severity or route would change."""

    active: Side
    candidate: Side
    results: int = 0
    changes: list[Change] = field(default_factory=list)

    @property
    def only_candidate(self) -> list[Change]:
        """Results that fire only under the candidate."""
        return [c for c in self.changes if c.before.level is None]

    @property
    def only_active(self) -> list[Change]:
        """Results that fire now but would not under the candidate."""
        return [c for c in self.changes if c.after.level is None]

    @property
    def changed(self) -> list[Change]:
        """Results that fire under both, at a different level, severity or route."""
        return [c for c in self.changes if c.before.level is not None and c.after.level is not None]


def backtest(arrivals: Iterable[Arrival], *, active: Policy, candidate: Policy) -> Backtest:
    """Evaluate each stored result in arrival order under both policies, as live triage did when it came in."""
    report = Backtest(Side(active), Side(candidate))
    # Stable: results received together keep their stored (id) order, as one batch does live.
    for arrival in sorted(arrivals, key=lambda a: a.received_at):
        report.results += 1
        before = report.active.add(arrival)
        after = report.candidate.add(arrival)
        change = Change(arrival.result, before, after)
        if change.what:
            report.changes.append(change)
    return report
