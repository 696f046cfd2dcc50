"""Policy coverage as pure functions: which incoming source/task/scorer/metric tuples no metric matches."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase

from bot.policy.document import Policy
from bot.policy.model import Metric
from bot.policy.triage import Result, matches


@dataclass(frozen=True, order=True)
class InputKey:
    """What identifies a kind of incoming result: where it came from and what it measures."""

    source: str
    task: str
    scorer: str
    metric: str

    def __str__(self) -> str:
        scorer = f" scorer {self.scorer!r}" if self.scorer else ""
        return f"{self.source} task {self.task!r}{scorer} metric {self.metric!r}"


@dataclass(frozen=True)
class Hint:
    """The policy metric closest to an unmatched input, and the match fields that differ."""

    metric_id: str
    differs: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.metric_id} ({'; '.join(self.differs)})" if self.differs else self.metric_id


@dataclass(frozen=True)
class Uncovered:
    """An input tuple no metric matches: how often it came, when, and the closest metric as a hint."""

    key: InputKey
    count: int
    first_seen: datetime
    last_seen: datetime
    hint: Hint | None


def differences(metric: Metric, key: InputKey, labels: Mapping[str, str]) -> tuple[str, ...]:
    """The match fields of `metric` that the input does not meet, each as 'field: got vs wanted'."""
    rule = metric.match
    out = []
    if rule.source != key.source:
        out.append(f"source {key.source!r} vs {rule.source!r}")
    if not fnmatchcase(key.task, rule.task):
        out.append(f"task {key.task!r} vs {rule.task!r}")
    if rule.scorer is not None and not fnmatchcase(key.scorer, rule.scorer):
        out.append(f"scorer {key.scorer or 'none'!r} vs {rule.scorer!r}")
    if rule.metric != key.metric:
        out.append(f"metric {key.metric!r} vs {rule.metric!r}")
    missing = {k: v for k, v in rule.labels.items() if labels.get(k) != v}
    if missing:
        out.append("labels " + ", ".join(f"{k}={v}" for k, v in sorted(missing.items())) + " wanted")
    return tuple(out)


def closest_metric(policy: Policy, key: InputKey, labels: Mapping[str, str] | None = None) -> Hint | None:
    """The metric the input most nearly matches (fewest differing fields, then the most similar text), if any."""
    if not policy.metrics:
        return None
    text = f"{key.source} {key.task} {key.scorer} {key.metric}"

    def rank(metric: Metric) -> tuple[int, float]:
        rule = metric.match
        pattern = f"{rule.source} {rule.task} {rule.scorer or ''} {rule.metric}"
        similarity = difflib.SequenceMatcher(None, text, pattern).ratio()
        return len(differences(metric, key, labels or {})), -similarity

    best = min(policy.metrics, key=rank)
    differs = differences(best, key, labels or {})
    # A hint only when one field is off (a scorer, a label, a task name): further away it is noise.
    if len(differs) > 1:
        return None
    return Hint(best.id, differs)


def uncovered(results: Iterable[Result], *, policy: Policy) -> list[Uncovered]:
    """Every input tuple among `results` that no metric of `policy` matches, most frequent first."""
    seen: dict[InputKey, list[Result]] = {}
    for result in results:
        if any(matches(metric, result) for metric in policy.metrics):
            continue
        key = InputKey(result.source, result.task, result.scorer or "", result.metric)
        seen.setdefault(key, []).append(result)
    out = []
    for key, group in seen.items():
        times = [r.observed_at for r in group]
        out.append(Uncovered(key, len(group), min(times), max(times), closest_metric(policy, key, group[0].labels)))
    return sorted(out, key=lambda u: (-u.count, u.key))
