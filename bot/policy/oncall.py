"""Who is on call, computed in each rotation's own time zone so handoffs keep their local time across DST."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot.policy.document import Policy
from bot.policy.model import EscalationStep, Route
from bot.policy.schedules import Rotation
from bot.policy.values import DAYS


@dataclass(frozen=True)
class OnCall:
    """One person's stretch on call; both bounds are aware UTC datetimes, end exclusive."""

    user: str
    shift_start: datetime
    shift_end: datetime


@dataclass(frozen=True)
class Page:
    """One planned page of an escalation chain: when, which step, and which pass through the chain (0 first)."""

    at: datetime
    step: int
    round: int


def _check_aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("on-call questions need an aware datetime")
    return at.astimezone(UTC)


def _period_days(rotation: Rotation) -> int:
    return 7 if rotation.period == "weekly" else 1


def _first_handoff_date(rotation: Rotation, start: date) -> date:
    if rotation.period == "daily" or rotation.handoff_day is None:
        return start
    return start + timedelta(days=(DAYS.index(rotation.handoff_day) - start.weekday()) % 7)


def _handoff(rotation: Rotation, start: date, index: int) -> datetime:
    # Built from the local calendar date and wall-clock time, then converted: this is what keeps 09:00 at 09:00
    # and makes the shift that spans a DST change 23 or 25 hours long.
    day = _first_handoff_date(rotation, start) + timedelta(days=index * _period_days(rotation))
    return datetime.combine(day, rotation.handoff, tzinfo=rotation.tz).astimezone(UTC)


def _base_shift(rotation: Rotation, at: datetime) -> OnCall | None:
    start = rotation.start
    if not rotation.members or start is None:
        return None
    local_day = at.astimezone(rotation.tz).date()
    index = (local_day - _first_handoff_date(rotation, start)).days // _period_days(rotation)
    if _handoff(rotation, start, index) > at:
        index -= 1
    if index < 0:
        return None
    return OnCall(
        user=rotation.members[index % len(rotation.members)],
        shift_start=_handoff(rotation, start, index),
        shift_end=_handoff(rotation, start, index + 1),
    )


def _overrides(rotation: Rotation) -> list[OnCall]:
    return sorted(
        (
            OnCall(user=s.user, shift_start=rotation.localise(s.start), shift_end=rotation.localise(s.end))
            for s in rotation.shifts
        ),
        key=lambda shift: shift.shift_start,
    )


def who_is_on_call(rotation: Rotation, *, at: datetime) -> OnCall | None:
    """Who holds the rotation at `at`, with the bounds of that stretch; None before it starts or in a gap."""
    at = _check_aware(at)
    overrides = _overrides(rotation)
    for shift in overrides:
        if shift.shift_start <= at < shift.shift_end:
            return shift
    base = _base_shift(rotation, at)
    if base is None:
        return None
    start, end = base.shift_start, base.shift_end
    # An override carves its time out of the regular shift, so the stretch reported ends where the override begins.
    for shift in overrides:
        if start < shift.shift_end <= at:
            start = shift.shift_end
        if at < shift.shift_start < end:
            end = shift.shift_start
    return OnCall(user=base.user, shift_start=start, shift_end=end)


def next_on_call(rotation: Rotation, *, at: datetime) -> OnCall | None:
    """The stretch that follows the one at `at` (or the first to start after `at`); None when nothing is scheduled."""
    at = _check_aware(at)
    current = who_is_on_call(rotation, at=at)
    if current is not None:
        return who_is_on_call(rotation, at=current.shift_end)
    starts = [shift.shift_start for shift in _overrides(rotation) if shift.shift_start > at]
    if rotation.members and rotation.start is not None and _handoff(rotation, rotation.start, 0) > at:
        starts.append(_handoff(rotation, rotation.start, 0))
    return who_is_on_call(rotation, at=min(starts)) if starts else None


def resolve_targets(step: EscalationStep, *, policy: Policy, at: datetime) -> list[str]:
    """The user ids a step pages at `at`: role members, whoever is on shift in named rotations, and plain user ids."""
    # A role pages its named members plus the person on shift in each of its rotations, not the whole rotation;
    # the order follows the step so the first-named target is paged first.
    users: list[str] = []
    for target in step.notify:
        if target in policy.roles:
            role = policy.roles[target]
            found = list(role.members)
            for rotation_id in role.rotations:
                on_call = who_is_on_call(policy.rotations[rotation_id], at=at)
                if on_call is not None:
                    found.append(on_call.user)
        elif target in policy.rotations:
            on_call = who_is_on_call(policy.rotations[target], at=at)
            found = [on_call.user] if on_call is not None else []
        else:
            found = [target]
        users.extend(user for user in found if user not in users)
    return users


def escalation_pages(route: Route, *, triggered_at: datetime) -> tuple[Page, ...]:
    """Every page the route's chain would send if nobody acknowledged, in time order, repeats included."""
    start = _check_aware(triggered_at)
    rounds = 1 + (route.repeat.times if route.repeat is not None else 0)
    every = route.repeat.every if route.repeat is not None else timedelta(0)
    return tuple(
        Page(at=start + every * round_ + step.after, step=index, round=round_)
        for round_ in range(rounds)
        for index, step in enumerate(route.escalation)
    )


@dataclass(frozen=True)
class RosterLine:
    """One rotation for `/incident oncall`: the roles it serves, who is on now and who is next."""

    rotation: str
    roles: tuple[str, ...]
    now: OnCall | None
    next: OnCall | None


def roster(policy: Policy, *, at: datetime) -> tuple[RosterLine, ...]:
    """Every rotation in the policy with the person on call at `at` and the next one."""
    return tuple(
        RosterLine(
            rotation=rotation_id,
            roles=tuple(role_id for role_id, role in policy.roles.items() if rotation_id in role.rotations),
            now=who_is_on_call(rotation, at=at),
            next=next_on_call(rotation, at=at),
        )
        for rotation_id, rotation in policy.rotations.items()
    )
