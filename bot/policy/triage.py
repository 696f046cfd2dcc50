"""Triage as pure functions: hold a result or a human report against the policy and decide what happens."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import NamedTuple

from bot.common.clock import require_aware
from bot.common.errors import InvalidInput
from bot.common.vocabulary import LevelName, Severity, severity_rank
from bot.policy.document import Policy
from bot.policy.judging import BAND_EPSILON as BAND_EPSILON
from bot.policy.judging import Hit, judge
from bot.policy.model import Category, Metric
from bot.policy.noise import measured


@dataclass(frozen=True)
class Result:
    """One evaluation number, as ingested from Inspect, lm-eval, Alertmanager or the generic JSON hook."""

    source: str
    model: str
    task: str
    metric: str
    value: float
    run_id: str
    observed_at: datetime
    checkpoint: str | None = None
    scorer: str | None = None
    stderr: float | None = None
    # How many samples the value is a mean over (Inspect's completed samples, lm-eval's n-samples), when known.
    samples: int | None = None
    # Left out of the hash so results stay usable as dict keys and set members.
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    # Where a person can look at the run (an Inspect viewer, a CI job, Alertmanager's generator link).
    url: str | None = None

    def __post_init__(self) -> None:
        if self.observed_at.tzinfo is None:
            raise ValueError("Result.observed_at must be timezone-aware")
        if not math.isfinite(self.value):
            raise ValueError(f"Result.value must be a finite number, got {self.value!r}")
        if self.samples is not None and self.samples < 1:
            raise ValueError(f"Result.samples must be a positive count, got {self.samples!r}")


@dataclass(frozen=True)
class Report:
    """A human-filed incident; category None means the reporter did not choose one."""

    category: str | None
    severity: Severity
    title: str
    reporter: str
    description: str = ""
    model: str | None = None
    checkpoint: str | None = None


@dataclass(frozen=True)
class DedupKey:
    """Alerts sharing this key inside the metric's dedup window group onto one incident."""

    category: str
    family: str
    metric: str
    level: str

    def __str__(self) -> str:
        return f"{self.category}|{self.family}|{self.metric}|{self.level}"


class StartedDeadline(NamedTuple):
    """A deadline clock a decision starts: its id and when it falls (UTC)."""

    deadline_id: str
    due: datetime


@dataclass(frozen=True)
class Decision:
    """What the policy says about one result or report; `level` None means it is recorded and counted only."""

    matched: tuple[str, ...]
    metric: str | None
    category: str | None
    level: LevelName | None
    near_miss: LevelName | None
    severity: Severity | None
    route: str | None
    channel: str | None
    restricted: bool
    actions: tuple[str, ...]
    deadlines: tuple[StartedDeadline, ...]
    ack_due: datetime | None
    dedup_key: DedupKey | None
    dedup_window: timedelta | None
    policy_version: str
    policy_hash: str
    explanation: str
    # The evidence behind a metric decision, for cards: the point value, its noise, and (when the deciding metric
    # asks for confidence and the result has a stderr) the confidence level and the one-sided bound judged.
    value: float | None = None
    stderr: float | None = None
    samples: int | None = None
    confidence: float | None = None
    bound: float | None = None

    @property
    def measured(self) -> str | None:
        """The value with its noise, '0.625 ± 0.18 (n=8)'; None for a decision without a value (a human report)."""
        return None if self.value is None else measured(self.value, self.stderr, self.samples)

    @property
    def opens_incident(self) -> bool:
        """Whether this decision should open (or update) an incident."""
        return self.level is not None


# Trailing parts of a model name that identify one checkpoint of a family rather than the family itself.
_CHECKPOINT_SUFFIX = re.compile(
    r"[-_@:/.](?:"
    r"\d{8}(?:t?\d{4,6}z?)?"  # 20250514, 20250514T1200
    r"|\d{4}-\d{2}-\d{2}"  # 2024-08-06
    r"|(?:ckpt|checkpoint|step|iter|rev|epoch)[-_]?\d+"  # ckpt-1200, checkpoint_5, step3000
    r"|\d{5,}"  # a bare step count such as 120000
    r"|latest|final"
    r")$"
)


# Pure, and every result of a run names the same model: remembered rather than re-matched for each.
@lru_cache(maxsize=4096)
def model_family(model: str) -> str:
    """The model name without its checkpoint or date suffixes, lower-cased: 'claude-x-20250514' -> 'claude-x'."""
    family = model.strip().lower()
    while True:
        stripped = _CHECKPOINT_SUFFIX.sub("", family)
        if stripped == family or not stripped:
            return family
        family = stripped


def matches(metric: Metric, result: Result) -> bool:
    """Whether a result is one the metric counts."""
    rule = metric.match
    if rule.source != result.source or rule.metric != result.metric or not fnmatchcase(result.task, rule.task):
        return False
    if rule.scorer is not None and (result.scorer is None or not fnmatchcase(result.scorer, rule.scorer)):
        return False
    return all(result.labels.get(key) == value for key, value in rule.labels.items())


# Per policy (by identity; a policy is frozen and a reload makes a new one): the label keys any rule names, and
# the metrics matching each (source, task, scorer, metric, those labels' values) seen so far.
_MatchCache = tuple[Policy, tuple[str, ...], dict[tuple[str | None, ...], tuple[int, ...]]]
_match_caches: dict[int, _MatchCache] = {}
# Bounds: a few policies (the live one, a backtest's, a reload's), and the distinct tasks/metrics senders invent.
_MATCH_POLICIES = 4
_MATCH_KEYS = 4096


def matching_metrics(result: Result, policy: Policy) -> tuple[int, ...]:
    """The indexes of the policy's metrics that count this result, in policy order (`matches`, remembered)."""
    # Matching is pure and the same few (task, metric) pairs arrive again and again; fnmatch per metric is not free.
    cache = _match_caches.get(id(policy))
    if cache is None or cache[0] is not policy:
        if len(_match_caches) >= _MATCH_POLICIES:
            _match_caches.clear()
        label_keys = tuple(sorted({key for metric in policy.metrics for key in metric.match.labels}))
        cache = _match_caches[id(policy)] = (policy, label_keys, {})
    _, label_keys, found = cache
    key = (result.source, result.task, result.scorer, result.metric, *(result.labels.get(k) for k in label_keys))
    indexes = found.get(key)
    if indexes is None:
        if len(found) >= _MATCH_KEYS:
            found.clear()
        indexes = found[key] = tuple(i for i, metric in enumerate(policy.metrics) if matches(metric, result))
    return indexes


def judge_result(result: Result, policy: Policy, indexes: Iterable[int]) -> list[Hit]:
    """The result judged against each of the policy's metrics at `indexes` (those `matching_metrics` found)."""
    return [
        judge(
            index,
            policy.metrics[index],
            value=result.value,
            stderr=result.stderr,
            samples=result.samples,
            categories=policy.categories,
        )
        for index in indexes
    ]


def evaluate_result(result: Result, *, policy: Policy, now: datetime) -> Decision:
    """Decide what one evaluation result means under the policy; the most severe matching metric decides."""
    require_aware(now)
    hits = judge_result(result, policy, matching_metrics(result, policy))
    if not hits:
        if result.source == "alertmanager":
            return _unmatched_alert(result, policy=policy, now=now)
        return _empty(
            policy,
            f"no metric in policy {policy.version} matches {result.source} task {result.task!r} metric "
            f"{result.metric!r}, so the result is stored and counted only.",
        )
    best = max(hits, key=Hit.weight)
    metric, category = best.metric, policy.categories[best.metric.category]
    matched = tuple(hit.metric.id for hit in hits)
    family = model_family(result.model)
    others = [hit for hit in hits if hit is not best]
    tail = ""
    if others:
        tail = f"; {metric.id} decided over " + ", ".join(
            f"{hit.metric.id} ({hit.level.value if hit.level else 'no level'})" for hit in others
        )
    shown = measured(result.value, result.stderr, result.samples)
    if best.level is None:
        if best.unconfident is not None:
            what = best.unconfident_text() + ", a near miss recorded for the digest"
        elif best.near_miss is not None:
            cut = metric.levels[best.near_miss]
            what = f"is within {metric.near_miss.within if metric.near_miss else 0:g} of the {best.near_miss.value} "
            what += f"cut-off {cut}, a near miss recorded for the digest"
        else:
            what = "crosses no cut-off" + best.confidence_clause()
        sentence = f"{metric.id} = {shown} on {family} {what}, so no incident is opened{tail}."
        empty = _empty(policy, sentence, matched=matched, metric=metric, near_miss=best.near_miss)
        return _with_evidence(empty, best)
    cut = metric.levels[best.level]
    near = ""
    if best.unconfident is not None:
        near = ", and " + best.unconfident_text()
    elif best.near_miss is not None:
        near = f", within reach of the {best.near_miss.value} cut-off {metric.levels[best.near_miss]}"
    reached = category.levels[best.level]
    sentence = (
        f"{metric.id} = {shown} on {family} meets the {best.level.value} cut-off {cut}{best.confidence_clause()} "
        f"for {metric.category}{near}, so it is {reached.severity.value} for route {reached.route}{tail}."
    )
    crossing = decide(
        policy=policy,
        now=now,
        category_id=metric.category,
        category=category,
        level_name=best.level,
        severity=reached.severity,
        matched=matched,
        metric_id=metric.id,
        near_miss=best.near_miss,
        dedup=DedupKey(metric.category, family, metric.id, best.level.value),
        dedup_window=metric.dedup_window,
        explanation=sentence,
    )
    return _with_evidence(crossing, best)


def evaluate_report(report: Report, *, policy: Policy, now: datetime) -> Decision:
    """Decide where a human report goes: the category's lowest level, raised to the level the severity asks for."""
    require_aware(now)
    category_id = report.category or policy.reports.default_category
    category = policy.categories.get(category_id)
    if category is None:
        raise InvalidInput(
            f"Unknown category {category_id!r}; choose one of: " + ", ".join(sorted(policy.categories)),
            field="category",
        )
    wanted = policy.reports.levels_by_severity[report.severity]
    level_name = _closest_level(category, wanted)
    level = category.levels[level_name]
    # The policy's severity for the level is a floor; a reporter may only make it worse.
    severity = min(report.severity, level.severity, key=severity_rank)
    sentence = (
        f"A human report filed as {report.severity.value} in {category_id} asks for {wanted.value} and gets "
        f"{level_name.value}, so it is {severity.value} for route {level.route}."
    )
    return decide(
        policy=policy,
        now=now,
        category_id=category_id,
        category=category,
        level_name=level_name,
        severity=severity,
        matched=(),
        metric_id=None,
        near_miss=None,
        # Every human report is its own incident: people do not retry the way pipelines do.
        dedup=None,
        dedup_window=None,
        explanation=sentence,
    )


def _closest_level(category: Category, wanted: LevelName) -> LevelName:
    # The highest level the category defines at or below the one asked for, else its lowest.
    defined = category.defined_levels()
    at_or_below = [name for name in defined if name.rank <= wanted.rank]
    return at_or_below[-1] if at_or_below else defined[0]


def _unmatched_alert(result: Result, *, policy: Policy, now: datetime) -> Decision:
    # No metric matches, yet an alert was raised on purpose: the default route pages someone (PRODUCT: nothing silent).
    rule = policy.alerts.default
    named = result.labels.get("category", "")
    category_id = named if named in policy.categories else (rule.category or policy.reports.default_category)
    category = policy.categories[category_id]
    label = result.labels.get("severity", "").strip().lower()
    wanted = rule.levels.get(label, rule.otherwise)
    level_name = _closest_level(category, wanted)
    level = category.levels[level_name]
    # A restricted category keeps its own private route, whatever the default route is.
    route_id = level.route if category.restricted or rule.route is None else rule.route
    severity_text = f"severity {label!r}" if label else "no severity label"
    sentence = (
        f"No metric in policy {policy.version} matches alert {result.metric!r}; the default alert route takes it: "
        f"{severity_text} means {wanted.value}, so it is {level_name.value} in {category_id}, "
        f"{level.severity.value} for route {route_id}."
    )
    # Alertmanager's fingerprint (the run_id's first part) identifies the alert: repeats of it group together.
    fingerprint = result.run_id.split(":")[0]
    return decide(
        policy=policy,
        now=now,
        category_id=category_id,
        category=category,
        level_name=level_name,
        severity=level.severity,
        matched=(),
        metric_id=None,
        near_miss=None,
        dedup=DedupKey(category_id, model_family(result.model), f"alert:{fingerprint}", level_name.value),
        dedup_window=rule.dedup_window,
        explanation=sentence,
        route_id=route_id,
    )


def decide(
    *,
    policy: Policy,
    now: datetime,
    category_id: str,
    category: Category,
    level_name: LevelName,
    severity: Severity,
    matched: tuple[str, ...],
    metric_id: str | None,
    near_miss: LevelName | None,
    dedup: DedupKey | None,
    dedup_window: timedelta | None,
    explanation: str,
    route_id: str | None = None,
) -> Decision:
    """The decision that opens an incident at this level; `route_id` overrides the level's own route."""
    level = category.levels[level_name]
    route_id = route_id or level.route
    route = policy.routes[route_id]
    deadlines = tuple(
        StartedDeadline(did, policy.deadlines[did].due_at(start=now, tz=policy.tz)) for did in level.deadlines
    )
    return Decision(
        matched=matched,
        metric=metric_id,
        category=category_id,
        level=level_name,
        near_miss=near_miss,
        severity=severity,
        route=route_id,
        channel=route.channel,
        restricted=category.restricted,
        actions=level.actions,
        deadlines=deadlines,
        ack_due=now + route.ack_window,
        dedup_key=dedup,
        dedup_window=dedup_window,
        policy_version=policy.version,
        policy_hash=policy.content_hash,
        explanation=explanation,
    )


def _empty(
    policy: Policy,
    explanation: str,
    *,
    matched: tuple[str, ...] = (),
    metric: Metric | None = None,
    near_miss: LevelName | None = None,
) -> Decision:
    return Decision(
        matched=matched,
        metric=metric.id if metric else None,
        category=metric.category if metric else None,
        level=None,
        near_miss=near_miss,
        severity=None,
        route=None,
        channel=None,
        restricted=bool(metric and policy.categories[metric.category].restricted),
        actions=(),
        deadlines=(),
        ack_due=None,
        dedup_key=None,
        dedup_window=None,
        policy_version=policy.version,
        policy_hash=policy.content_hash,
        explanation=explanation,
    )


def _with_evidence(decision: Decision, hit: Hit) -> Decision:
    return replace(
        decision,
        value=hit.value,
        stderr=hit.stderr,
        samples=hit.samples,
        confidence=hit.metric.confidence,
        bound=hit.judged.bound,
    )
