"""The policy model: value parsers, the bundled policy's shape, deadlines across DST, permissions."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.common.vocabulary import Action, LevelName, Severity
from bot.policy.loader import parse_policy
from bot.policy.values import Comparison, PolicyError, format_duration, parse_comparison, parse_duration, zone
from tests.unit.policy.helpers import DEFAULT_POLICY, build, default_policy, minimal_data

LA = ZoneInfo("America/Los_Angeles")
LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("15m", timedelta(minutes=15), id="minutes"),
        pytest.param("24h", timedelta(hours=24), id="hours"),
        pytest.param("30d", timedelta(days=30), id="days"),
        pytest.param("2w", timedelta(weeks=2), id="weeks"),
        pytest.param("1h30m", timedelta(minutes=90), id="compound"),
        pytest.param(" 45s ", timedelta(seconds=45), id="seconds-padded"),
        pytest.param("0m", timedelta(0), id="zero"),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("15", id="no-unit"),
        pytest.param("15 mins", id="word-unit"),
        pytest.param("1.5h", id="fraction"),
        pytest.param("30m1h", id="smallest-first"),
        pytest.param("-5m", id="negative"),
        pytest.param("1y", id="years"),
    ],
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(text)


@given(st.integers(0, 9), st.integers(0, 40), st.integers(0, 48), st.integers(0, 90))
def test_parse_duration_round_trips_compounds(weeks: int, days: int, hours: int, minutes: int) -> None:
    parts = [(weeks, "w"), (days, "d"), (hours, "h"), (minutes, "m")]
    text = "".join(f"{n}{unit}" for n, unit in parts if n) or "0m"
    assert parse_duration(text) == timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes)


@pytest.mark.parametrize(
    ("text", "value", "holds"),
    [
        pytest.param(">=0.55", 0.55, True, id="ge-at-cutoff"),
        pytest.param(">0.55", 0.55, False, id="gt-at-cutoff"),
        pytest.param(">0.55", 0.5500001, True, id="gt-just-above"),
        pytest.param(">= 0.55", 0.549, False, id="ge-below-spaced"),
        pytest.param("<=0.9", 0.9, True, id="le-at-cutoff"),
        pytest.param("<0.9", 0.9, False, id="lt-at-cutoff"),
        pytest.param("<.5", -1, True, id="lt-bare-decimal"),
        pytest.param(">=1e-2", 0.01, True, id="exponent"),
    ],
)
def test_comparison_holds(text: str, value: float, holds: bool) -> None:
    assert parse_comparison(text).holds(value) is holds


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        pytest.param("=>0.5", "did you mean '>=0.5'?", id="reversed-ge"),
        pytest.param("=<0.5", "did you mean '<=0.5'?", id="reversed-le"),
        pytest.param(">= abc", "'>=' must be followed by a number", id="not-a-number"),
        pytest.param(">=", "'>=' must be followed by a number", id="no-number"),
        pytest.param("==0.5", "equality is not a cut-off", id="equality"),
        pytest.param("0.5", "write an operator", id="no-operator"),
        pytest.param(">=0.5x", "must be followed by a number", id="trailing-junk"),
    ],
)
def test_parse_comparison_explains_what_is_wrong(text: str, hint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(hint)):
        parse_comparison(text)


@given(st.sampled_from([">=", ">", "<=", "<"]), st.floats(-10, 10), st.floats(-10, 10))
def test_comparison_gap_agrees_with_holds(op: Any, cut: float, value: float) -> None:
    comparison = Comparison(op=op, value=cut)
    gap = comparison.gap(value)
    expected = gap <= 0 if op in (">=", "<=") else gap < 0
    assert comparison.holds(value) is expected


@pytest.mark.parametrize(
    ("span", "text"),
    [
        pytest.param(timedelta(minutes=15), "15m", id="minutes"),
        pytest.param(timedelta(minutes=90), "1h30m", id="compound"),
        pytest.param(timedelta(days=30), "30d", id="days"),
        pytest.param(timedelta(0), "0m", id="zero"),
        pytest.param(timedelta(seconds=-60), "-1m", id="negative"),
    ],
)
def test_format_duration(span: timedelta, text: str) -> None:
    assert format_duration(span) == text


def test_comparison_renders_compactly() -> None:
    assert str(parse_comparison(">= 0.70")) == ">=0.7"


def test_zone_suggests_the_nearest_name() -> None:
    with pytest.raises(ValueError, match="did you mean 'America/Los_Angeles'"):
        zone("America/Los_Angeles ")
    assert zone("Europe/London") is zone("Europe/London")


# ---------------------------------------------------------------------------------------------------------------
# The bundled policy


def test_bundled_policy_hash_is_sha256_of_the_file() -> None:
    assert default_policy().content_hash == hashlib.sha256(DEFAULT_POLICY.read_bytes()).hexdigest()


def test_content_hash_changes_with_the_text() -> None:
    text = DEFAULT_POLICY.read_text()
    assert parse_policy(text).content_hash == default_policy().content_hash
    assert parse_policy(text + "\n# a comment\n").content_hash != default_policy().content_hash


def test_bundled_policy_marks_every_cutoff_organisation_defined() -> None:
    policy = default_policy()
    assert policy.metrics and all(m.organisation_defined for m in policy.metrics)
    cutoff_lines = [
        line
        for line in DEFAULT_POLICY.read_text().splitlines()
        if re.match(r"\s+(watch|alert|threshold): \"[<>]", line)
    ]
    assert cutoff_lines and all("# organisation-defined" in line for line in cutoff_lines)


def test_bundled_policy_mirrors_the_frameworks() -> None:
    policy = default_policy()
    assert {f.id for f in policy.frameworks} >= {"anthropic-rsp", "openai-preparedness", "gdm-fsf"}
    assert {"cbrn.bio", "cbrn.chem", "cyber", "ai-rd.automation", "misalignment", "misuse", "data-exposure"} <= set(
        policy.categories
    )
    bio = policy.categories["cbrn.bio"]
    assert {"CBRN-3", "CBRN-4", "ASL-3", "ASL-4"} <= set(bio.crosswalk["anthropic-rsp"])
    assert "Biological & Chemical: High" in bio.crosswalk["openai-preparedness"]
    assert "CBRN uplift 1 CCL" in bio.crosswalk["gdm-fsf"]
    assert {"AI R&D-4", "AI R&D-5"} <= set(policy.categories["ai-rd.automation"].crosswalk["anthropic-rsp"])
    assert "Harmful manipulation 1 CCL" in policy.categories["misuse"].crosswalk["gdm-fsf"]


def test_bundled_policy_keeps_restricted_categories_private() -> None:
    policy = default_policy()
    for category_id in ("cbrn.bio", "cbrn.chem"):
        category = policy.categories[category_id]
        assert category.restricted
        assert {level.route for level in category.levels.values()} == {"safety-restricted"}
    assert policy.routes["safety-restricted"].private
    assert policy.routes["safety-restricted"].channel == "#safety-restricted"
    assert policy.routes["triage"].channel == "#safety-triage"


@pytest.mark.parametrize(
    ("deadline_id", "due", "clock"),
    [
        pytest.param("capability-decision", timedelta(days=30), "calendar", id="rsp-about-a-month"),
        pytest.param("external-report", timedelta(days=15), "calendar", id="sb53-15-days"),
        pytest.param("external-report-imminent", timedelta(hours=24), "elapsed", id="sb53-24-hours"),
    ],
)
def test_bundled_policy_deadlines(deadline_id: str, due: timedelta, clock: str) -> None:
    deadline = default_policy().deadlines[deadline_id]
    assert (deadline.due, deadline.clock) == (due, clock)


def test_bundled_digest_is_monday_morning_in_los_angeles() -> None:
    weekly = default_policy().digest.weekly
    assert (weekly.day, weekly.time.isoformat(), weekly.timezone) == ("mon", "09:00:00", "America/Los_Angeles")


def test_bundled_rotations_use_both_zones_and_real_looking_ids() -> None:
    rotations = default_policy().rotations
    assert {r.timezone for r in rotations.values()} == {"Europe/London", "America/Los_Angeles"}
    assert all(re.fullmatch(r"U0[A-Z0-9]+", m) for r in rotations.values() for m in r.members)


def test_bundled_levels_never_get_less_severe() -> None:
    for category in default_policy().categories.values():
        ranks = [int(category.levels[name].severity.value[-1]) for name in category.defined_levels()]
        assert ranks == sorted(ranks, reverse=True)


# ---------------------------------------------------------------------------------------------------------------
# Parsing details


def test_unquoted_clock_time_is_not_read_as_base_60() -> None:
    text = DEFAULT_POLICY.read_text().replace(
        'handoff: "09:00"\n    members: [U0TRIAGE1', "handoff: 10:30\n    members: [U0TRIAGE1"
    )
    policy = parse_policy(text)
    assert policy.rotations["triage-emea"].handoff.isoformat() == "10:30:00"


def test_rotation_and_digest_inherit_the_policy_time_zone() -> None:
    data = minimal_data()
    assert "timezone" not in data["rotations"]["triage-london"]
    policy = build(data)
    assert policy.rotations["triage-london"].timezone == "Europe/London"
    assert policy.digest.weekly.timezone == "Europe/London"


def test_deadline_clock_defaults_from_the_unit() -> None:
    data = minimal_data()
    data["deadlines"]["in-days"] = {"name": "a", "due": "1d"}
    data["deadlines"]["in-hours"] = {"name": "b", "due": "24h"}
    data["deadlines"]["forced"] = {"name": "c", "due": "1d", "clock": "elapsed"}
    deadlines = build(data).deadlines
    assert [deadlines[d].clock for d in ("in-days", "in-hours", "forced")] == ["calendar", "elapsed", "elapsed"]


def test_policy_models_are_frozen() -> None:
    policy = default_policy()
    with pytest.raises(ValueError, match="frozen"):
        policy.version = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("mutate", "phrase"),
    [
        pytest.param(
            lambda d: d["metrics"][0].update(levels={"watch": "<=0.4"}), "use >= or >", id="ops-against-direction"
        ),
        pytest.param(
            lambda d: d["metrics"][0].update(trend={"kind": "slope", "window": "14d"}),
            "a slope trend needs a horizon",
            id="slope-without-horizon",
        ),
        pytest.param(
            lambda d: d["metrics"][0].update(trend={"kind": "drift", "window": 2, "rise": 0.1}),
            "a window of 2 checkpoints is below min_points",
            id="drift-window-too-short",
        ),
        pytest.param(
            lambda d: d["metrics"][0].update(trend={"kind": "drift", "window": 5}),
            "a drift trend needs a rise",
            id="drift-without-rise",
        ),
        pytest.param(
            lambda d: d["routes"]["oncall"].update(repeat={"times": 2, "every": "10m"}),
            "repeats every 10m would restart the chain before its last step at 15m",
            id="repeat-overlaps-chain",
        ),
        pytest.param(
            lambda d: d["routes"]["oncall"].update(reminders=["20m"]),
            "a reminder at 20m falls after the ack window (15m) has closed",
            id="reminder-after-ack-window",
        ),
        pytest.param(
            lambda d: d["routes"]["oncall"]["escalation"].reverse(),
            "earliest first",
            id="escalation-out-of-order",
        ),
        pytest.param(
            lambda d: d["rotations"]["triage-london"].update(period="weekly"),
            "a weekly rotation needs a handoff_day",
            id="weekly-without-day",
        ),
        pytest.param(
            lambda d: d["rotations"]["triage-london"].pop("start"), "needs a start date", id="rotation-without-start"
        ),
        pytest.param(
            lambda d: d["rotations"]["triage-london"].update(members=["alice"]),
            "bad Slack user id 'alice'",
            id="bad-user-id",
        ),
        pytest.param(lambda d: d["routes"]["triage"].update(ack_window="0m"), "longer than zero", id="zero-ack-window"),
        pytest.param(lambda d: d["routes"]["triage"].update(ack_window=15), "has no unit", id="bare-number-duration"),
        pytest.param(
            lambda d: d["categories"]["cyber"]["levels"].update(severe={"severity": "sev1", "route": "triage"}),
            "bad key 'severe'",
            id="unknown-level-name",
        ),
        pytest.param(
            lambda d: d["categories"].update({"Cyber Ops": d["categories"]["unclassified"]}),
            "bad id 'Cyber Ops'",
            id="bad-category-id",
        ),
        pytest.param(
            lambda d: d["metrics"][0]["levels"].update(watch=0.4),
            "has no operator; write e.g. '>=0.4'",
            id="bare-cutoff",
        ),
        pytest.param(
            lambda d: (
                d["reports"].update(default_category="other")
                if "reports" in d
                else d.update(reports={"default_category": "other"})
            ),
            "unknown category 'other'",
            id="unknown-default-category",
        ),
        pytest.param(
            lambda d: d["metrics"][0].update(
                levels={"watch": ">=0.4", "alert": ">=0.5", "threshold": ">=0.6"}, category="unclassified"
            ),
            "category 'unclassified' has no alert level",
            id="metric-level-missing-in-category",
        ),
        pytest.param(
            lambda d: d["metrics"][0].pop("organisation_defined"),
            "missing required key 'organisation_defined'",
            id="cutoff-provenance-required",
        ),
    ],
)
def test_semantic_problems(mutate: Any, phrase: str) -> None:
    data = minimal_data()
    mutate(data)
    with pytest.raises(PolicyError) as raised:
        build(data)
    assert phrase in str(raised.value)


def test_yaml_merge_keys_are_understood_and_mapped_to_lines() -> None:
    text = (DEFAULT_POLICY.parent.parent / "tests/unit/policy/minimal.yaml").read_text()
    text = text.replace(
        "routes:\n  triage:\n",
        "x-base: &base {ack_window: 1h, escalation: [{notify: [triager]}]}\nroutes:\n  triage:\n    <<: *base\n",
    )
    with pytest.raises(PolicyError) as raised:
        parse_policy(text, filename="m.yaml")
    # The merge itself works; only the helper key at the top level is unknown.
    assert [(p.line, "unknown key 'x-base'" in p.message) for p in raised.value.problems] == [(31, True)]


# ---------------------------------------------------------------------------------------------------------------
# Deadlines across daylight-saving changes: calendar clocks keep the local time, elapsed clocks keep the hours


@pytest.mark.parametrize(
    ("deadline_id", "start", "due"),
    [
        pytest.param(
            "capability-decision",
            datetime(2026, 3, 1, 10, 0, tzinfo=LA),
            datetime(2026, 3, 31, 10, 0, tzinfo=LA),
            id="30d-across-us-spring-forward",
        ),
        pytest.param(
            "external-report",
            datetime(2026, 10, 20, 9, 0, tzinfo=LA),
            datetime(2026, 11, 4, 9, 0, tzinfo=LA),
            id="15d-across-us-fall-back",
        ),
        pytest.param(
            "external-report-imminent",
            datetime(2026, 3, 7, 12, 0, tzinfo=LA),
            datetime(2026, 3, 8, 13, 0, tzinfo=LA),
            id="24h-across-us-spring-forward-is-24-real-hours",
        ),
        pytest.param(
            "external-report-imminent",
            datetime(2026, 10, 31, 12, 0, tzinfo=LA),
            datetime(2026, 11, 1, 11, 0, tzinfo=LA),
            id="24h-across-us-fall-back-is-24-real-hours",
        ),
        pytest.param(
            "external-report",
            datetime(2026, 3, 20, 12, 0, tzinfo=UTC),
            datetime(2026, 4, 4, 5, 0, tzinfo=LA),
            id="15d-counted-in-the-policy-zone",
        ),
    ],
)
def test_deadline_due_times(deadline_id: str, start: datetime, due: datetime) -> None:
    policy = default_policy()
    got = policy.deadlines[deadline_id].due_at(start=start, tz=policy.tz)
    assert got == due
    assert got.tzinfo is UTC


def test_elapsed_deadline_is_exactly_24_hours() -> None:
    policy = default_policy()
    start = datetime(2026, 3, 7, 12, 0, tzinfo=LA)
    assert policy.deadlines["external-report-imminent"].due_at(start=start, tz=policy.tz) - start == timedelta(hours=24)


def test_calendar_deadline_across_dst_is_not_a_multiple_of_24_hours() -> None:
    policy = default_policy()
    start = datetime(2026, 3, 1, 10, 0, tzinfo=LA)
    due = policy.deadlines["capability-decision"].due_at(start=start, tz=policy.tz)
    assert due - start == timedelta(days=30) - timedelta(hours=1)


def test_deadline_reminders_fall_before_due_in_local_time() -> None:
    policy = default_policy()
    start = datetime(2026, 10, 20, 9, 0, tzinfo=LA)
    reminders = policy.deadlines["external-report"].reminder_times(start=start, tz=policy.tz)
    local = [r.astimezone(LA).strftime("%m-%d %H:%M") for r in reminders]
    assert local == ["10-28 09:00", "11-02 09:00", "11-03 09:00"]


def test_deadline_rejects_naive_start() -> None:
    policy = default_policy()
    with pytest.raises(ValueError, match="aware"):
        policy.deadlines["external-report"].due_at(start=datetime(2026, 1, 1), tz=policy.tz)


# ---------------------------------------------------------------------------------------------------------------
# Roles and permissions


@pytest.mark.parametrize(
    ("user", "action", "allowed"),
    [
        pytest.param("U0TRIAGE1", Action.ACKNOWLEDGE, True, id="triager-in-rotation-off-shift-may-ack"),
        pytest.param("U0TRIAGE1", Action.DISMISS, False, id="triager-may-not-dismiss"),
        pytest.param("U0SAFETY2", Action.DISMISS, True, id="safety-lead-rotation-may-dismiss"),
        pytest.param("U0RSO0001", Action.SNOOZE, True, id="named-safety-lead-may-snooze"),
        pytest.param("U0RANDOM1", Action.NOTE, True, id="everyone-may-note"),
        pytest.param("U0RANDOM1", Action.ACKNOWLEDGE, False, id="stranger-may-not-ack"),
        pytest.param("U0CEO0001", Action.PUBLISH_DIGEST, True, id="leadership-may-publish"),
    ],
)
def test_permissions(user: str, action: Action, allowed: bool) -> None:
    assert default_policy().permits(action=action, user=user) is allowed


def test_unlisted_action_is_open_to_everyone() -> None:
    policy = build(minimal_data())
    assert policy.permits(action=Action.RESOLVE, user="U0ANYONE1")
    assert not policy.permits(action=Action.DISMISS, user="U0ANYONE1")


def test_roles_of_combines_members_and_rotations() -> None:
    assert default_policy().roles_of("U0SAFETY1") == {"safety_lead"}
    assert default_policy().roles_of("U0BIOSEC1") == {"restricted_reviewer"}


def test_snooze_forbids_threshold_by_default() -> None:
    assert default_policy().snooze.forbidden_levels == (LevelName.THRESHOLD,)
    assert default_policy().snooze.max == timedelta(hours=24)


def test_reports_default_severity_mapping() -> None:
    mapping = default_policy().reports.levels_by_severity
    assert mapping[Severity.SEV1] is LevelName.THRESHOLD
    assert mapping[Severity.SEV4] is LevelName.WATCH


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(sorted(default_policy().routes)))
def test_every_bundled_route_escalates_in_time_order(route_id: str) -> None:
    route = default_policy().routes[route_id]
    afters = [step.after for step in route.escalation]
    assert afters == sorted(afters) and afters[0] == timedelta(0)
    assert route.ack_window > timedelta(0)
