"""The ingest verdict: the same metric, level and near miss as evaluate_result, and caches that follow the policy."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ingest.verdict import verdict_of
from bot.policy import judging, triage
from bot.policy.document import Policy
from bot.policy.judging import ladder
from bot.policy.triage import Result, evaluate_result, matching_metrics
from tests.unit.policy.helpers import NOW, build, default_policy, minimal_data, result


def confident_policy() -> Policy:
    """The minimal policy with cyber.ctf judged at 95% confidence (bound, not point, decides the level)."""
    data = minimal_data()
    data["metrics"][0]["confidence"] = 0.95
    return build(data)


def overlapping_policy() -> Policy:
    """Two metrics counting the same results with different cut-offs: the most severe hit must decide."""
    data = minimal_data()
    strict = {**data["metrics"][0], "id": "cyber.ctf-strict", "levels": {"watch": ">=0.30", "alert": ">=0.45"}}
    data["metrics"].append({**strict, "near_miss": {"within": 0.1}})
    return build(data)


POLICIES = {
    "default": default_policy(),
    "minimal": build(minimal_data()),
    "confident": confident_policy(),
    "overlapping": overlapping_policy(),
}


def names(policy: Policy) -> tuple[list[str], list[str], list[str]]:
    """Tasks (each rule's glob made concrete, and one no rule has), metric names and scorers the policy matches."""
    tasks = [metric.match.task.replace("*", "_x") for metric in policy.metrics] + ["no_such_task"]
    metrics = [*sorted({metric.match.metric for metric in policy.metrics}), "no_such_metric"]
    scorers = [*sorted({metric.match.scorer for metric in policy.metrics if metric.match.scorer}), "other"]
    return tasks, metrics, scorers


@st.composite
def results(draw: st.DrawFn, policy: Policy) -> Result:
    """Results mostly aimed at the policy's rules, with values on and around every cut-off."""
    tasks, metrics, scorers = names(policy)
    labels = draw(
        st.dictionaries(
            st.sampled_from(["team", "severity", "category"]),
            st.sampled_from(["security", "critical", "warning", "cyber", "nope"]),
            max_size=3,
        )
    )
    return Result(
        source=draw(st.sampled_from(["inspect", "lm-eval", "alertmanager", "json"])),
        model=draw(st.sampled_from(["frontier-2-20260301", "labx-modely-ckpt-100", "m"])),
        task=draw(st.sampled_from(tasks)),
        scorer=draw(st.none() | st.sampled_from(scorers)),
        metric=draw(st.sampled_from(metrics)),
        value=draw(st.sampled_from([0.0, 0.25, 0.35, 0.4, 0.45, 0.5, 0.55, 0.65, 0.7, 0.9, 1.0]) | st.floats(-1, 2)),
        stderr=draw(st.none() | st.floats(0, 0.3)),
        samples=draw(st.none() | st.integers(1, 5000)),
        run_id="fp1:run-1",
        observed_at=NOW,
        labels=labels,
    )


def fields(decision: Any) -> tuple[object, ...]:
    return (bool(decision.matched), decision.metric, decision.level, decision.near_miss)


@pytest.mark.parametrize("name", sorted(POLICIES))
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_verdict_is_what_evaluate_result_decides_for_any_result(name: str, data: st.DataObject) -> None:
    policy = POLICIES[name]
    found = data.draw(results(policy))
    verdict = verdict_of(found, policy=policy, now=NOW)
    assert fields(verdict) == fields(evaluate_result(found, policy=policy, now=NOW))


def test_verdict_of_an_unmatched_alert_carries_its_decision() -> None:
    alert = replace(result(value=1.0, source="alertmanager", task="Nothing", metric="Nothing"), run_id="fp9:1")
    verdict = verdict_of(alert, policy=default_policy(), now=NOW)
    decision = evaluate_result(alert, policy=default_policy(), now=NOW)
    # The default alert route gives it a level, so the worker needs the whole Decision: it is kept, not rebuilt.
    assert not verdict.matched and verdict.level is not None
    assert verdict.decision == decision


def test_verdict_of_a_matched_result_builds_no_decision() -> None:
    verdict = verdict_of(result(value=0.6), policy=build(minimal_data()), now=NOW)
    assert verdict.matched and verdict.level is not None and verdict.decision is None


def test_verdict_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verdict_of(result(value=0.6), policy=build(minimal_data()), now=NOW.replace(tzinfo=None))


def test_cached_match_follows_a_reloaded_policy() -> None:
    before = build(minimal_data())
    data = minimal_data()
    data["metrics"][0]["match"]["task"] = "pwn*"
    after = build(data)
    ctf = result(value=0.3, task="ctf_pro")
    assert matching_metrics(ctf, before) == (0,)
    # A reload builds a new Policy: its matches are its own, not the ones remembered for the old one.
    assert matching_metrics(ctf, after) == ()
    assert verdict_of(ctf, policy=after, now=NOW).metric is None
    assert matching_metrics(ctf, before) == (0,)


def test_cached_match_tells_results_apart_by_the_labels_rules_name() -> None:
    policy = default_policy()
    index = next(i for i, metric in enumerate(policy.metrics) if metric.match.labels)
    rule = policy.metrics[index].match
    labelled = result(value=1.0, source=rule.source, task="any", metric=rule.metric, labels=dict(rule.labels))
    other = replace(labelled, labels={key: value + "-not" for key, value in rule.labels.items()})
    assert index in matching_metrics(labelled, policy)
    assert index not in matching_metrics(other, policy)
    assert index in matching_metrics(labelled, policy)


def test_cached_match_stays_right_past_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(triage, "_MATCH_KEYS", 8)
    policy = build(minimal_data())
    for k in range(50):
        assert matching_metrics(result(value=0.3, task=f"ctf_{k}"), policy) == (0,)
        assert matching_metrics(result(value=0.3, task=f"web_{k}"), policy) == ()
    assert len(triage._match_caches[id(policy)][2]) <= 8


def test_ladder_belongs_to_its_metric_object() -> None:
    data = minimal_data()
    first = build(data).metrics[0]
    data["metrics"][0]["levels"] = {"alert": ">=0.9"}
    second = build(data).metrics[0]
    assert [name.value for name, _ in ladder(first)] == ["watch", "alert", "threshold"]
    assert [str(cut) for _, cut in ladder(second)] == [">=0.9"]
    assert judging.level_of(first, 0.6) is not None and judging.level_of(second, 0.6) is None
