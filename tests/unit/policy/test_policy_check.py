"""`policy check`: each broken file yields `file:line: message` at the offending line, sorted by line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.policy.check import check_policy, main_check
from bot.policy.loader import load_policy, parse_policy
from bot.policy.values import PolicyError
from tests.unit.policy.helpers import BROKEN, DEFAULT_POLICY, MINIMAL_POLICY

# (file, line, phrase): the phrase must appear in a problem reported at exactly that line.
CASES = [
    pytest.param(
        "unknown_route.yaml",
        15,
        "unknown route 'oncal' (did you mean 'oncall'?); routes are: oncall, triage",
        id="unknown-route",
    ),
    pytest.param(
        "unknown_category.yaml", 24, "unknown category 'cyberr' (did you mean 'cyber'?)", id="unknown-category"
    ),
    pytest.param(
        "bad_comparison_operator.yaml",
        28,
        "bad comparison '=>0.40': did you mean '>=0.40'?",
        id="comparison-operator-typo",
    ),
    pytest.param("bad_comparison_number.yaml", 29, "'>=' must be followed by a number", id="comparison-not-a-number"),
    pytest.param(
        "bad_timezone.yaml", 4, "unknown time zone 'Europe/Londn'; did you mean 'Europe/London'?", id="bad-time-zone"
    ),
    pytest.param(
        "overlapping_levels.yaml", 29, "levels overlap or are out of order: alert (>=0.35)", id="levels-out-of-order"
    ),
    pytest.param(
        "equal_levels.yaml", 29, "must be strictly harder to reach than watch (>=0.55)", id="levels-identical"
    ),
    pytest.param(
        "wrong_direction.yaml",
        27,
        "watch uses '>=' but the metric is lower_is_worse; use <= or <",
        id="direction-mismatch",
    ),
    pytest.param("rotation_no_members.yaml", 53, "gap: the rotation has no members and no shifts", id="rotation-empty"),
    pytest.param(
        "rotation_shift_gap.yaml",
        53,
        "gap: nobody is on call from 2026-03-03 09:00 GMT to 2026-03-03 12:00",
        id="rotation-shift-gap",
    ),
    pytest.param(
        "rotation_shift_overlap.yaml", 56, "shift overlaps the one for U0TRIAGE1", id="rotation-shift-overlap"
    ),
    pytest.param("typo_key.yaml", 15, "unknown key 'severty' (did you mean 'severity'?)", id="typo-key"),
    pytest.param("bad_yaml_unquoted_gt.yaml", 29, "a value starting with '>' must be quoted", id="yaml-unquoted-gt"),
    pytest.param(
        "bad_yaml_unclosed.yaml", 53, "YAML syntax error: while parsing a flow sequence", id="yaml-unclosed-bracket"
    ),
    pytest.param(
        "unknown_deadline.yaml", 16, "unknown deadline 'decison' (did you mean 'decision'?)", id="unknown-deadline"
    ),
    pytest.param(
        "decreasing_severity.yaml", 15, "severity decreases as the level rises: alert is sev4", id="decreasing-severity"
    ),
    pytest.param("bad_duration.yaml", 39, "bad duration '15 mins'", id="bad-duration"),
    pytest.param(
        "unknown_escalation_target.yaml",
        42,
        "unknown role or rotation 'safety_led' (did you mean 'safety_lead'?)",
        id="unknown-escalation-target",
    ),
    pytest.param(
        "unknown_permission_role.yaml",
        62,
        "unknown role 'admins' (did you mean 'admin'?)",
        id="unknown-permission-role",
    ),
    pytest.param(
        "duplicate_metric.yaml", 31, "duplicate metric id 'cyber.ctf' (also metrics[0])", id="duplicate-metric"
    ),
    pytest.param("duplicate_key.yaml", 44, "duplicate key 'triage'; it is already set on line 32", id="duplicate-key"),
    pytest.param(
        "restricted_public_route.yaml",
        15,
        "category 'cyber' is restricted but route 'triage' is not private",
        id="restricted-on-public-route",
    ),
    pytest.param("unquoted_channel.yaml", 33, "quote '#name' in YAML", id="unquoted-channel"),
    pytest.param("missing_required_role.yaml", 55, "missing required role 'leadership'", id="missing-role"),
    pytest.param("bad_time_of_day.yaml", 51, "bad time of day '25:00'", id="bad-time-of-day"),
]


@pytest.mark.parametrize(("name", "line", "phrase"), CASES)
def test_check_reports_problem_at_offending_line(name: str, line: int, phrase: str) -> None:
    path = BROKEN / name
    problems = check_policy(path)
    rendered = [str(p) for p in problems]
    assert any(r.startswith(f"{path}:{line}: ") and phrase in r for r in rendered), rendered


@pytest.mark.parametrize(("name", "line", "phrase"), CASES)
def test_fixture_marks_the_line_the_table_expects(name: str, line: int, phrase: str) -> None:
    marked = [n for n, text in enumerate((BROKEN / name).read_text().splitlines(), start=1) if "BROKEN" in text]
    assert marked[-1] == line


@pytest.mark.parametrize(("name", "line", "phrase"), CASES)
def test_load_raises_the_same_problems(name: str, line: int, phrase: str) -> None:
    with pytest.raises(PolicyError) as raised:
        load_policy(BROKEN / name)
    assert raised.value.problems == tuple(check_policy(BROKEN / name))
    assert phrase in str(raised.value)


def test_every_broken_fixture_is_in_the_table() -> None:
    listed = {case.values[0] for case in CASES}
    assert {p.name for p in BROKEN.glob("*.yaml")} == listed


def test_problems_are_sorted_by_line() -> None:
    problems = check_policy(BROKEN / "restricted_public_route.yaml")
    assert [p.line for p in problems] == [15, 16, 17]


def test_bundled_and_minimal_policies_have_no_problems() -> None:
    assert check_policy(DEFAULT_POLICY) == []
    assert check_policy(MINIMAL_POLICY) == []


def test_main_check_exit_codes_and_output() -> None:
    out = io.StringIO()
    assert main_check(DEFAULT_POLICY, out=out) == 0
    assert "ok: Tripwire default policy version 2026.11-1" in out.getvalue()
    out = io.StringIO()
    assert main_check(BROKEN / "unknown_route.yaml", out=out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"{BROKEN / 'unknown_route.yaml'}:15: categories.cyber.levels.alert.route: ")
    assert lines[-1].endswith("1 problem")


def test_missing_file_is_one_problem_without_a_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    (problem,) = check_policy(missing)
    assert (problem.line, str(problem)) == (0, f"{missing}: cannot read the policy file: No such file or directory")


@pytest.mark.parametrize(
    ("text", "line", "phrase"),
    [
        pytest.param("", 1, "the policy file is empty", id="empty"),
        pytest.param("# only a comment\n", 1, "the policy file is empty", id="comment-only"),
        pytest.param("- a\n- b\n", 1, "must be a YAML mapping", id="top-level-list"),
        pytest.param("version: '1'\n---\nname: x\n", 2, "expected a single document", id="two-documents"),
        pytest.param("version: '1'\nname: [\n", 3, "YAML syntax error", id="truncated"),
        pytest.param("a: !!python/object:os.system x\n", 1, "could not determine a constructor", id="unsafe-tag"),
        pytest.param("version: '1'\nnme: x\n", 2, "unknown key 'nme' (did you mean 'name'?)", id="top-level-typo"),
    ],
)
def test_structural_problems(text: str, line: int, phrase: str) -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy(text, filename="p.yaml")
    assert any(p.line == line and phrase in p.message for p in raised.value.problems), raised.value.problems


def test_non_utf8_file_reports_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"version: '1'\nname: caf\xe9\n")
    (problem,) = check_policy(path)
    assert (problem.line, problem.message) == (2, "the policy file is not valid UTF-8")
