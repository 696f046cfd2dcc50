"""Confident crossings: with `confidence` a metric's level fires on the one-sided bound, not the point value."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bot.common.vocabulary import LevelName
from bot.policy.document import Policy
from bot.policy.loader import parse_policy
from bot.policy.noise import measured, one_sided_bound, z_score
from bot.policy.triage import evaluate_result
from bot.policy.values import PolicyError
from tests.unit.policy.helpers import NOW, build, minimal_data, result

W, A, T = LevelName.WATCH, LevelName.ALERT, LevelName.THRESHOLD


def policy_with(confidence: Any, **metric: Any) -> Policy:
    """The minimal policy (cyber.ctf: watch >=0.40, alert >=0.55, threshold >=0.70) asking for `confidence`."""
    data = minimal_data()
    data["metrics"][0].update(metric)
    if confidence is not None:
        data["metrics"][0]["confidence"] = confidence
    return build(data)


# (value, stderr, n, confidence, level, near miss): z is 1.2816 at 0.90, 1.6449 at 0.95, 2.3263 at 0.99.
TABLE = [
    pytest.param(0.625, 0.18, 8, 0.95, None, A, id="small-n-point-alert-bound-0.33-nothing"),
    pytest.param(0.625, 0.18, 8, 0.90, None, A, id="small-n-at-90-still-bound-0.39-nothing"),
    pytest.param(0.625, 0.18, 8, None, A, None, id="small-n-without-confidence-fires-on-point"),
    pytest.param(0.625, 0.024, 400, 0.95, A, None, id="large-n-bound-0.585-alert"),
    pytest.param(0.625, 0.024, 400, 0.99, A, None, id="large-n-at-99-bound-0.569-still-alert"),
    pytest.param(0.625, 0.05, 100, 0.99, W, A, id="mid-n-at-99-bound-0.509-watch-alert-near"),
    pytest.param(0.72, 0.05, 100, 0.95, A, T, id="threshold-point-alert-bound"),
    pytest.param(0.75, 0.01, 2000, 0.99, T, None, id="threshold-confident"),
    pytest.param(0.625, 0.0, 50, 0.95, A, None, id="zero-stderr-bound-is-point"),
    pytest.param(0.45, 0.18, 8, 0.95, None, W, id="watch-point-only"),
    pytest.param(0.30, 0.01, 2000, 0.95, None, None, id="nothing-crossed-at-all"),
    pytest.param(0.625, None, 8, 0.95, A, None, id="no-stderr-judged-at-point"),
]


@pytest.mark.parametrize(("value", "stderr", "n", "confidence", "level", "near"), TABLE)
def test_confident_crossing_table(
    value: float,
    stderr: float | None,
    n: int,
    confidence: float | None,
    level: LevelName | None,
    near: LevelName | None,
) -> None:
    res = replace(result(value=value), stderr=stderr, samples=n)
    decision = evaluate_result(res, policy=policy_with(confidence), now=NOW)
    assert (decision.level, decision.near_miss) == (level, near)
    assert decision.opens_incident is (level is not None)
    # What a card needs rides on the decision.
    assert (decision.value, decision.stderr, decision.samples, decision.confidence) == (value, stderr, n, confidence)
    if confidence is not None and stderr is not None:
        assert decision.bound == pytest.approx(value - z_score(confidence) * stderr)
    else:
        assert decision.bound is None


def test_point_crossing_without_confidence_is_a_near_miss_that_says_so() -> None:
    res = replace(result(value=0.625), stderr=0.18, samples=8)
    decision = evaluate_result(res, policy=policy_with(0.95), now=NOW)
    assert decision.measured == "0.625 ± 0.18 (n=8)"
    assert decision.explanation.startswith("cyber.ctf = 0.625 ± 0.18 (n=8) on frontier-2 crossed the alert cut-off")
    assert "at the point value but not at 95% confidence (0.625 ± 0.18, n=8; bound 0.329)" in decision.explanation
    assert decision.explanation.endswith("a near miss recorded for the digest, so no incident is opened.")


def test_confident_crossing_names_the_bound_and_the_missed_level() -> None:
    res = replace(result(value=0.72), stderr=0.05, samples=100)
    decision = evaluate_result(res, policy=policy_with(0.95), now=NOW)
    assert "meets the alert cut-off >=0.55 at 95% confidence (bound 0.638)" in decision.explanation
    assert "crossed the threshold cut-off >=0.7 at the point value but not at 95% confidence" in decision.explanation
    assert decision.dedup_key is not None and decision.dedup_key.level == "alert"


def test_confidence_without_stderr_fires_on_the_point_value_and_says_why() -> None:
    res = replace(result(value=0.625), stderr=None, samples=8)
    decision = evaluate_result(res, policy=policy_with(0.95), now=NOW)
    assert decision.level == A
    assert "at the point value (no stderr given, so 95% confidence is not checked)" in decision.explanation
    assert decision.measured == "0.625 (n=8)"


@pytest.mark.parametrize(
    ("value", "stderr", "level", "near"),
    [
        pytest.param(0.15, 0.05, None, A, id="point-below-but-bound-0.232-above"),
        pytest.param(0.10, 0.05, A, None, id="bound-0.182-below"),
    ],
)
def test_lower_is_worse_bound_is_above_the_value(
    value: float, stderr: float, level: LevelName | None, near: LevelName | None
) -> None:
    policy = policy_with(0.95, direction="lower_is_worse", levels={"alert": "<=0.20"}, near_miss=None)
    decision = evaluate_result(replace(result(value=value), stderr=stderr), policy=policy, now=NOW)
    assert (decision.level, decision.near_miss) == (level, near)
    assert decision.bound == pytest.approx(value + 1.6448536 * stderr)


_POLICIES = {confidence: policy_with(confidence) for confidence in (None, 0.9, 0.95, 0.99)}


def rank(level: LevelName | None) -> int:
    """A level's rank, -1 for none."""
    return level.rank if level is not None else -1


@given(
    value=st.floats(0, 1),
    stderr=st.floats(0, 0.5),
    confidence=st.sampled_from([0.9, 0.95, 0.99]),
)
def test_a_confident_level_never_exceeds_the_point_level(value: float, stderr: float, confidence: float) -> None:
    res = replace(result(value=value), stderr=stderr)
    confident = evaluate_result(res, policy=_POLICIES[confidence], now=NOW)
    point = evaluate_result(res, policy=_POLICIES[None], now=NOW)
    assert rank(confident.level) <= rank(point.level)
    # Whatever the point value crosses is never silent: it fires, or it is a near miss at that level or above.
    if point.level is not None:
        assert rank(confident.level) == rank(point.level) or rank(confident.near_miss) >= rank(point.level)


def test_more_samples_shrink_the_bound_until_the_level_fires() -> None:
    # A binomial stderr sqrt(p(1-p)/n): the same 0.625 alert-crossing is only confident once n is large enough.
    levels = []
    for n in (8, 32, 512):
        stderr = math.sqrt(0.625 * 0.375 / n)
        decision = evaluate_result(
            replace(result(value=0.625), stderr=stderr, samples=n), policy=policy_with(0.95), now=NOW
        )
        levels.append(decision.level)
    assert levels == [None, W, A]


def test_noise_formats_and_bounds() -> None:
    assert measured(0.625, 0.183, 8) == "0.625 ± 0.18 (n=8)"
    assert measured(0.625, None, None) == "0.625"
    assert one_sided_bound(0.5, 0.1, confidence=0.95, higher_is_worse=True) == pytest.approx(0.5 - 0.16448536)
    assert z_score(0.99) == pytest.approx(2.3263479)


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        pytest.param(95, "got 95 (a fraction, not a percentage: use 0.95)", id="percentage"),
        pytest.param(0.5, "must be above 0.5 and below 1", id="half-is-the-point-value"),
        pytest.param(1, "must be above 0.5 and below 1", id="one"),
        pytest.param(0.05, "must be above 0.5 and below 1", id="two-sided-alpha"),
        pytest.param("0.95", "must be a number between 0.5 and 1", id="quoted"),
        pytest.param(True, "must be a number between 0.5 and 1", id="boolean"),
    ],
)
def test_bad_confidence_is_reported_at_its_line(raw: Any, phrase: str) -> None:
    data = minimal_data()
    data["metrics"][0]["confidence"] = raw
    text = yaml.safe_dump(data, sort_keys=False)
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if row.strip().startswith("confidence:"))
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, filename="candidate.yaml")
    problems = [str(p) for p in caught.value.problems]
    assert problems == [f"candidate.yaml:{line}: metrics[0].confidence: {problems[0].split(': ', 2)[2]}"]
    assert phrase in problems[0]


@pytest.mark.parametrize("good", [0.9, 0.95, 0.99, 0.975])
def test_good_confidence_loads(good: float) -> None:
    assert policy_with(good).metrics[0].confidence == good
