"""What the policy makes of a result, as far as storing it needs: the columns and counts, not the explanation.

`evaluate_result` builds a whole Decision (sentences, deadlines, the evidence) that only a result opening an
incident uses; most results cross nothing, so ingest and the triage worker ask for the verdict and build the
Decision only when it opens or updates an incident.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from bot.common.clock import require_aware
from bot.common.vocabulary import LevelName
from bot.policy.document import Policy
from bot.policy.judging import Hit
from bot.policy.triage import Decision, Result, evaluate_result, judge_result, matching_metrics


class Verdict(NamedTuple):
    """The fields of `evaluate_result`'s Decision a stored row keeps; `decision` when it had to be built anyway."""

    matched: bool
    metric: str | None
    level: LevelName | None
    near_miss: LevelName | None
    decision: Decision | None = None


def verdict_of(result: Result, *, policy: Policy, now: datetime) -> Verdict:
    """The same metric, level and near miss as `evaluate_result`, without composing the Decision around them."""
    require_aware(now)
    indexes = matching_metrics(result, policy)
    if not indexes:
        if result.source != "alertmanager":
            return Verdict(matched=False, metric=None, level=None, near_miss=None)
        # An alert no metric matches takes the default alert route: a level, decided by evaluate_result alone.
        decision = evaluate_result(result, policy=policy, now=now)
        return Verdict(False, decision.metric, decision.level, decision.near_miss, decision)
    hits = judge_result(result, policy, indexes)
    # The same choice evaluate_result makes (tests/unit/ingest/test_verdict.py holds the two together).
    best = max(hits, key=Hit.weight)
    return Verdict(matched=True, metric=best.metric.id, level=best.level, near_miss=best.near_miss)
