"""On-call: handoffs stay at 09:00 local across the 2026 DST changes; overrides, targets and escalation timing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.policy.model import EscalationStep
from bot.policy.oncall import OnCall, Page, escalation_pages, next_on_call, resolve_targets, who_is_on_call
from bot.policy.schedules import Rotation
from tests.unit.policy.helpers import default_policy

LA = ZoneInfo("America/Los_Angeles")
LONDON = ZoneInfo("Europe/London")
ZONES = {"America/Los_Angeles": LA, "Europe/London": LONDON}


def rotation(**fields: Any) -> Rotation:
    """A rotation validated through the model, with daily 09:00 defaults."""
    values: dict[str, Any] = {
        "timezone": "Europe/London",
        "period": "daily",
        "handoff": "09:00",
        "members": ["U0AAAAAA1", "U0BBBBBB2", "U0CCCCCC3"],
        "start": date(2026, 1, 5),
    }
    values.update(fields)
    return Rotation.model_validate(values)


@pytest.mark.parametrize(
    ("tz", "shift_day", "hours"),
    [
        pytest.param("America/Los_Angeles", date(2026, 3, 7), 23, id="la-spring-forward-8-mar"),
        pytest.param("America/Los_Angeles", date(2026, 3, 8), 24, id="la-day-after-spring-forward"),
        pytest.param("America/Los_Angeles", date(2026, 10, 31), 25, id="la-fall-back-1-nov"),
        pytest.param("Europe/London", date(2026, 3, 28), 23, id="uk-spring-forward-29-mar"),
        pytest.param("Europe/London", date(2026, 10, 24), 25, id="uk-fall-back-25-oct"),
        pytest.param("Europe/London", date(2026, 10, 25), 24, id="uk-day-after-fall-back"),
    ],
)
def test_daily_shift_spanning_dst_is_23_or_25_hours(tz: str, shift_day: date, hours: int) -> None:
    zone = ZONES[tz]
    at = datetime(shift_day.year, shift_day.month, shift_day.day, 12, 0, tzinfo=zone)
    shift = who_is_on_call(rotation(timezone=tz), at=at)
    assert shift is not None
    assert shift.shift_end - shift.shift_start == timedelta(hours=hours)
    assert shift.shift_start.astimezone(zone).time().isoformat() == "09:00:00"
    assert shift.shift_end.astimezone(zone).time().isoformat() == "09:00:00"
    assert shift.shift_start.astimezone(zone).date() == shift_day


@pytest.mark.parametrize(
    ("tz", "monday", "hours"),
    [
        pytest.param("America/Los_Angeles", date(2026, 3, 2), 7 * 24 - 1, id="la-week-of-spring-forward"),
        pytest.param("America/Los_Angeles", date(2026, 10, 26), 7 * 24 + 1, id="la-week-of-fall-back"),
        pytest.param("Europe/London", date(2026, 3, 23), 7 * 24 - 1, id="uk-week-of-spring-forward"),
        pytest.param("Europe/London", date(2026, 10, 19), 7 * 24 + 1, id="uk-week-of-fall-back"),
    ],
)
def test_weekly_shift_spanning_dst(tz: str, monday: date, hours: int) -> None:
    weekly = rotation(timezone=tz, period="weekly", handoff_day="mon", start=date(2026, 1, 1))
    at = datetime(monday.year, monday.month, monday.day, 9, 0, tzinfo=ZONES[tz]) + timedelta(days=3)
    shift = who_is_on_call(weekly, at=at)
    assert shift is not None
    assert shift.shift_start == datetime(monday.year, monday.month, monday.day, 9, 0, tzinfo=ZONES[tz])
    assert shift.shift_end - shift.shift_start == timedelta(hours=hours)


@pytest.mark.parametrize(
    ("local", "user"),
    [
        pytest.param(datetime(2026, 1, 5, 9, 0), "U0AAAAAA1", id="first-handoff-inclusive"),
        pytest.param(datetime(2026, 1, 6, 8, 59), "U0AAAAAA1", id="a-minute-before-handoff"),
        pytest.param(datetime(2026, 1, 6, 9, 0), "U0BBBBBB2", id="at-handoff"),
        pytest.param(datetime(2026, 1, 8, 9, 0), "U0AAAAAA1", id="wraps-after-three"),
        # 29 March is day 83 after 5 January: 83 % 3 == 2. The handoff is 09:00 BST, 08:00 UTC.
        pytest.param(datetime(2026, 3, 29, 8, 30), "U0BBBBBB2", id="uk-dst-day-before-handoff"),
        pytest.param(datetime(2026, 3, 29, 9, 0), "U0CCCCCC3", id="uk-dst-day-at-handoff"),
    ],
)
def test_who_is_on_call_in_london(local: datetime, user: str) -> None:
    shift = who_is_on_call(rotation(), at=local.replace(tzinfo=LONDON))
    assert shift is not None and shift.user == user


def test_handoff_is_at_0800_utc_after_uk_spring_forward() -> None:
    rot = rotation()
    before = who_is_on_call(rot, at=datetime(2026, 3, 29, 7, 59, tzinfo=UTC))
    after = who_is_on_call(rot, at=datetime(2026, 3, 29, 8, 0, tzinfo=UTC))
    assert before is not None and after is not None and before.user != after.user
    assert after.shift_start == datetime(2026, 3, 29, 8, 0, tzinfo=UTC)


def test_before_the_rotation_starts_nobody_is_on_call() -> None:
    rot = rotation()
    assert who_is_on_call(rot, at=datetime(2026, 1, 5, 8, 59, tzinfo=LONDON)) is None
    first = next_on_call(rot, at=datetime(2026, 1, 1, tzinfo=UTC))
    assert first == OnCall("U0AAAAAA1", datetime(2026, 1, 5, 9, 0, tzinfo=UTC), datetime(2026, 1, 6, 9, 0, tzinfo=UTC))


def test_weekly_start_on_a_wednesday_begins_the_next_monday() -> None:
    weekly = rotation(period="weekly", handoff_day="mon", start=date(2026, 1, 7))
    assert who_is_on_call(weekly, at=datetime(2026, 1, 10, tzinfo=UTC)) is None
    shift = who_is_on_call(weekly, at=datetime(2026, 1, 12, 10, 0, tzinfo=LONDON))
    assert shift is not None and shift.user == "U0AAAAAA1"
    assert shift.shift_start == datetime(2026, 1, 12, 9, 0, tzinfo=UTC)


def test_next_on_call_starts_when_the_current_shift_ends() -> None:
    rot = rotation(timezone="America/Los_Angeles")
    at = datetime(2026, 3, 7, 12, 0, tzinfo=LA)
    now, following = who_is_on_call(rot, at=at), next_on_call(rot, at=at)
    assert now is not None and following is not None
    assert following.shift_start == now.shift_end == datetime(2026, 3, 8, 9, 0, tzinfo=LA)
    assert following.user != now.user


def test_override_carves_time_out_of_the_regular_shift() -> None:
    rot = rotation(
        shifts=[{"user": "U0COVER01", "start": "2026-03-10T12:00:00", "end": "2026-03-10T18:00:00"}],
    )
    regular = who_is_on_call(rot, at=datetime(2026, 3, 10, 10, 0, tzinfo=LONDON))
    cover = who_is_on_call(rot, at=datetime(2026, 3, 10, 12, 0, tzinfo=LONDON))
    back = who_is_on_call(rot, at=datetime(2026, 3, 10, 18, 0, tzinfo=LONDON))
    assert regular is not None and cover is not None and back is not None
    assert cover.user == "U0COVER01"
    assert regular.user == back.user != cover.user
    assert regular.shift_end == cover.shift_start == datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert back.shift_start == cover.shift_end and back.shift_end == datetime(2026, 3, 11, 9, 0, tzinfo=UTC)
    assert next_on_call(rot, at=datetime(2026, 3, 10, 10, 0, tzinfo=LONDON)) == cover


def test_override_times_with_an_offset_are_taken_as_given() -> None:
    rot = rotation(
        shifts=[{"user": "U0COVER01", "start": "2026-07-01T12:00:00+00:00", "end": "2026-07-01T13:00:00+00:00"}]
    )
    shift = who_is_on_call(rot, at=datetime(2026, 7, 1, 13, 30, tzinfo=LONDON))  # 12:30 UTC
    assert shift is not None and shift.user == "U0COVER01"


def test_explicit_only_rotation_ends_with_its_last_shift() -> None:
    rot = Rotation.model_validate(
        {
            "timezone": "America/Los_Angeles",
            "period": "daily",
            "shifts": [
                {"user": "U0AAAAAA1", "start": "2026-03-07T09:00:00", "end": "2026-03-08T09:00:00"},
                {"user": "U0BBBBBB2", "start": "2026-03-08T09:00:00", "end": "2026-03-09T09:00:00"},
            ],
        }
    )
    first = who_is_on_call(rot, at=datetime(2026, 3, 7, 20, 0, tzinfo=LA))
    assert first is not None and first.shift_end - first.shift_start == timedelta(hours=23)
    assert who_is_on_call(rot, at=datetime(2026, 3, 9, 9, 0, tzinfo=LA)) is None
    assert next_on_call(rot, at=datetime(2026, 3, 8, 10, 0, tzinfo=LA)) is None
    assert next_on_call(rot, at=datetime(2026, 3, 1, tzinfo=UTC)) == first


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        who_is_on_call(rotation(), at=datetime(2026, 3, 1, 12, 0))


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(ZONES)),
    st.sampled_from(["daily", "weekly"]),
    st.datetimes(min_value=datetime(2026, 1, 6), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
)
def test_shifts_tile_time_and_hand_off_at_0900_local(tz: str, period: str, at: datetime) -> None:
    rot = rotation(timezone=tz, period=period, handoff_day="mon" if period == "weekly" else None)
    shift = who_is_on_call(rot, at=at)
    assert shift is not None
    assert shift.shift_start <= at < shift.shift_end
    following = next_on_call(rot, at=at)
    assert following is not None and following.shift_start == shift.shift_end
    for bound in (shift.shift_start, shift.shift_end):
        assert bound.astimezone(ZONES[tz]).strftime("%H:%M") == "09:00"
    assert abs((shift.shift_end - shift.shift_start) - timedelta(days=7 if period == "weekly" else 1)) <= timedelta(
        hours=1
    )


# ---------------------------------------------------------------------------------------------------------------
# Escalation targets and timing


def test_resolve_targets_expands_roles_and_rotations() -> None:
    policy = default_policy()
    # Monday 2 March 2026, 10:00 in Los Angeles (18:00 in London): 56 days after 5 January.
    at = datetime(2026, 3, 2, 10, 0, tzinfo=LA)
    step = EscalationStep(notify=("triager", "safety_lead", "U0EXTRA01", "triage-emea"))
    assert resolve_targets(step, policy=policy, at=at) == [
        "U0TRIAGE3",  # triage-emea: 56 % 3 == 2
        "U0TRIAGE6",  # triage-amer: 56 % 3 == 2
        "U0RSO0001",  # safety_lead's named member
        "U0SAFETY1",  # safety-lead-weekly: week 8, 8 % 2 == 0
        "U0EXTRA01",
    ]


def test_resolve_targets_follows_local_handoffs() -> None:
    policy = default_policy()
    step = EscalationStep(notify=("triager",))
    # 08:30 UTC on 29 March: London has handed off at 08:00 UTC (09:00 BST); Los Angeles has not.
    at = datetime(2026, 3, 29, 8, 30, tzinfo=UTC)
    earlier = resolve_targets(step, policy=policy, at=at - timedelta(hours=1))
    later = resolve_targets(step, policy=policy, at=at)
    assert earlier[0] != later[0] and earlier[1] == later[1]


def test_restricted_route_pages_the_restricted_reviewer_on_call() -> None:
    policy = default_policy()
    first = policy.routes["safety-restricted"].escalation[0]
    targets = resolve_targets(first, policy=policy, at=datetime(2026, 3, 2, 10, 0, tzinfo=LONDON))
    assert targets[0] in ("U0BIOSEC1", "U0BIOSEC2") and "U0RSO0001" in targets


def test_escalation_pages_repeat_the_chain() -> None:
    route = default_policy().routes["safety-oncall"]
    start = datetime(2026, 3, 8, 9, 50, tzinfo=UTC)
    pages = escalation_pages(route, triggered_at=start)
    minutes = [(p.round, p.step, int((p.at - start).total_seconds() // 60)) for p in pages]
    assert minutes == [
        (0, 0, 0),
        (0, 1, 15),
        (0, 2, 45),
        (1, 0, 60),
        (1, 1, 75),
        (1, 2, 105),
        (2, 0, 120),
        (2, 1, 135),
        (2, 2, 165),
    ]
    assert all(isinstance(p, Page) and p.at.tzinfo is UTC for p in pages)


def test_escalation_without_repeat_runs_once() -> None:
    route = default_policy().routes["safety-oncall"].model_copy(update={"repeat": None})
    assert len(escalation_pages(route, triggered_at=datetime(2026, 1, 1, tzinfo=UTC))) == 3
