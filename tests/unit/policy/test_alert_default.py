"""The default alert route: an Alertmanager alert no metric matches still opens an incident and pages someone."""

from __future__ import annotations

import pytest

from bot.common.vocabulary import LevelName, Severity
from bot.policy.coverage import InputKey, closest_metric, uncovered
from bot.policy.loader import parse_policy
from bot.policy.triage import Result, evaluate_result
from bot.policy.values import PolicyError
from tests.unit.policy.helpers import MINIMAL_POLICY, NOW, default_policy, result


def alert(labels: dict[str, str], *, fingerprint: str = "3f2a9c0d1e4b5a67", start: str = "2026-03-02T16:00") -> Result:
    every = {"alertname": "BioCanaryTripped", "model": "frontier-2", **labels}
    return Result(
        source="alertmanager",
        model=every["model"],
        task=every["alertname"],
        metric=every["alertname"],
        value=1,
        run_id=f"{fingerprint}:{start}",
        observed_at=NOW,
        labels=every,
    )


@pytest.mark.parametrize(
    ("labels", "category", "level", "severity", "route"),
    [
        pytest.param(
            {"severity": "critical", "category": "cbrn.bio"},
            "cbrn.bio",
            "threshold",
            "sev1",
            "safety-restricted",
            id="critical-restricted-category-keeps-its-private-route",
        ),
        pytest.param({"severity": "critical"}, "unclassified", "threshold", "sev1", "safety-oncall", id="critical"),
        pytest.param({"severity": "CRITICAL"}, "unclassified", "threshold", "sev1", "safety-oncall", id="upper-case"),
        pytest.param({"severity": "warning"}, "unclassified", "alert", "sev2", "safety-oncall", id="warning"),
        pytest.param({"severity": "info"}, "unclassified", "watch", "sev3", "safety-oncall", id="info"),
        pytest.param({}, "unclassified", "alert", "sev2", "safety-oncall", id="no-severity-still-pages"),
        pytest.param({"severity": "page"}, "unclassified", "alert", "sev2", "safety-oncall", id="unlisted-severity"),
        pytest.param(
            {"severity": "warning", "category": "cyber"}, "cyber", "alert", "sev2", "safety-oncall", id="category-label"
        ),
        pytest.param(
            {"severity": "critical", "category": "nonsense"},
            "unclassified",
            "threshold",
            "sev1",
            "safety-oncall",
            id="unknown-category-label",
        ),
    ],
)
def test_unmatched_alert_takes_the_default_route(
    labels: dict[str, str], category: str, level: str, severity: str, route: str
) -> None:
    policy = default_policy()
    decision = evaluate_result(alert(labels), policy=policy, now=NOW)
    assert decision.matched == () and decision.metric is None
    assert (decision.category, decision.level, decision.severity, decision.route) == (
        category,
        LevelName(level),
        Severity(severity),
        route,
    )
    assert decision.channel == policy.routes[route].channel
    assert decision.restricted is (category == "cbrn.bio")
    assert decision.opens_incident and decision.ack_due is not None
    assert "default alert route" in decision.explanation


def test_alert_a_metric_almost_matches_still_pages() -> None:
    # WeightsEgressAnomaly is watched only with team=security; without the label it is unmatched, not dropped.
    decision = evaluate_result(
        alert({"alertname": "WeightsEgressAnomaly", "severity": "critical"}), policy=default_policy(), now=NOW
    )
    assert decision.matched == () and decision.level == LevelName.THRESHOLD


def test_matched_alert_is_decided_by_its_metric() -> None:
    labels = {"alertname": "WeightsEgressAnomaly", "team": "security", "severity": "info"}
    decision = evaluate_result(alert(labels), policy=default_policy(), now=NOW)
    assert decision.matched == ("data-exposure.weights-egress",) and decision.level == LevelName.ALERT


def test_repeats_of_one_alert_share_a_dedup_key_and_other_alerts_do_not() -> None:
    policy = default_policy()

    def key(fingerprint: str, start: str) -> str:
        labels = {"severity": "critical"}
        return str(
            evaluate_result(alert(labels, fingerprint=fingerprint, start=start), policy=policy, now=NOW).dedup_key
        )

    assert key("aaaa", "t1") == key("aaaa", "t2")
    assert key("aaaa", "t1") != key("bbbb", "t1")
    assert "alert:aaaa" in key("aaaa", "t1")


def test_a_policy_without_alerts_block_routes_by_the_report_category() -> None:
    policy = parse_policy(MINIMAL_POLICY.read_text())
    decision = evaluate_result(alert({"severity": "critical"}), policy=policy, now=NOW)
    # The minimal policy's unclassified category has only watch, on the triage route.
    assert (decision.category, decision.level, decision.route) == ("unclassified", LevelName.WATCH, "triage")


def test_non_alert_sources_stay_counted_only() -> None:
    decision = evaluate_result(result(value=0.9, task="unknown_task"), policy=default_policy(), now=NOW)
    assert decision.level is None and decision.route is None and decision.matched == ()


ALERTS = """
alerts:
  default:
    category: unclassified
    route: triage
    levels: {critical: watch}
"""


@pytest.mark.parametrize(
    ("old", "new", "line", "phrase"),
    [
        pytest.param("route: triage", "rout: triage", 72, "unknown key 'rout' (did you mean 'route'?)", id="typo-key"),
        pytest.param("route: triage", "route: triag", 72, "unknown route 'triag' (did you mean 'triage'?)", id="route"),
        pytest.param(
            "category: unclassified",
            "category: unclasified",
            71,
            "unknown category 'unclasified' (did you mean 'unclassified'?)",
            id="category",
        ),
        pytest.param("{critical: watch}", "{critical: threshhold}", 73, "alerts.default.levels.critical", id="level"),
        pytest.param("{critical: watch}", "{Critical: watch}", 73, "must be written in lower case", id="upper-key"),
    ],
)
def test_alerts_block_problems_have_file_and_line(old: str, new: str, line: int, phrase: str) -> None:
    text = MINIMAL_POLICY.read_text() + ALERTS.replace(old, new)
    assert parse_policy(MINIMAL_POLICY.read_text() + ALERTS).alerts.default.route == "triage"
    with pytest.raises(PolicyError) as raised:
        parse_policy(text, filename="p.yaml")
    problems = raised.value.problems
    assert any(p.line == line and phrase in p.message and str(p).startswith(f"p.yaml:{line}:") for p in problems), [
        str(p) for p in problems
    ]


def test_restricted_default_category_needs_a_private_route() -> None:
    text = default_policy_text().replace(
        "    category: unclassified\n    route: safety-oncall", "    category: cbrn.bio\n    route: triage"
    )
    with pytest.raises(PolicyError) as raised:
        parse_policy(text, filename="p.yaml")
    assert any(
        "the default category is restricted but route 'triage' is not private" in p.message
        for p in raised.value.problems
    )


def default_policy_text() -> str:
    from tests.unit.policy.helpers import DEFAULT_POLICY

    return DEFAULT_POLICY.read_text()


# -- coverage


def test_coverage_lists_unmatched_tuples_with_the_closest_metric() -> None:
    policy = default_policy()
    results = [
        result(value=0.6, task="bio_uplift_v2", scorer="includes"),
        result(value=0.7, task="bio_uplift_v2", scorer="includes"),
        result(value=0.7, task="bio_uplift_v2", scorer="choice"),  # matched: not listed
        result(value=0.1, task="totally_new_eval", metric="f1"),
    ]
    found = uncovered(results, policy=policy)
    assert [(u.key, u.count) for u in found] == [
        (InputKey("inspect", "bio_uplift_v2", "includes", "accuracy"), 2),
        (InputKey("inspect", "totally_new_eval", "", "f1"), 1),
    ]
    assert str(found[0].hint) == "bio.uplift-qa (scorer 'includes' vs 'choice')"
    assert found[1].hint is None


def test_closest_metric_names_a_missing_label() -> None:
    hint = closest_metric(
        default_policy(), InputKey("alertmanager", "WeightsEgressAnomaly", "", "WeightsEgressAnomaly"), {}
    )
    assert str(hint) == "data-exposure.weights-egress (labels team=security wanted)"
