"""The policy model, part two: deadline clocks, rotations, roles, snooze, digest schedule."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    Field,
    model_validator,
)

from bot.common.vocabulary import LevelName, Severity
from bot.policy.values import (
    Channel,
    Day,
    Loc,
    PositiveDuration,
    Slug,
    StrictModel,
    TimeOfDay,
    TimeZoneName,
    UserId,
    format_duration,
    is_calendar_duration,
    raise_if_any,
    zone,
)


class Deadline(StrictModel):
    """A clock a level starts, such as a capability decision or an external report."""

    name: str
    due: PositiveDuration
    # calendar: days on the policy's local calendar (same wall-clock time); elapsed: exact hours.
    clock: Literal["calendar", "elapsed"]
    description: str = ""
    refs: Mapping[Slug, str] = Field(default_factory=dict)
    reminders: tuple[PositiveDuration, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _default_clock(cls, data: Any) -> Any:
        if isinstance(data, dict) and "clock" not in data:
            due = data.get("due")
            return {**data, "clock": "calendar" if isinstance(due, str) and is_calendar_duration(due) else "elapsed"}
        return data

    @model_validator(mode="after")
    def _reminders_before_due(self) -> Deadline:
        raise_if_any(
            "Deadline",
            [
                (
                    ("reminders", i),
                    f"a reminder {format_duration(r)} before the deadline is not shorter than the deadline "
                    f"itself ({format_duration(self.due)})",
                )
                for i, r in enumerate(self.reminders)
                if r >= self.due
            ],
        )
        return self

    def due_at(self, *, start: datetime, tz: tzinfo) -> datetime:
        """When the deadline falls for a clock started at `start`, in UTC."""
        return _add(start, self.due, calendar=self.clock == "calendar", tz=tz)

    def reminder_times(self, *, start: datetime, tz: tzinfo) -> tuple[datetime, ...]:
        """When to remind, in UTC, earliest first."""
        due = self.due_at(start=start, tz=tz)
        return tuple(sorted(_add(due, -r, calendar=self.clock == "calendar", tz=tz) for r in self.reminders))


def _add(start: datetime, span: timedelta, *, calendar: bool, tz: tzinfo) -> datetime:
    if start.tzinfo is None:
        raise ValueError("deadlines need an aware start time")
    if calendar:
        # Arithmetic on an aware datetime is wall-clock arithmetic in its zone, so '30d' keeps the local time of day.
        return (start.astimezone(tz) + span).astimezone(UTC)
    return start.astimezone(UTC) + span


class Shift(StrictModel):
    """An explicit shift; naive times are read in the rotation's time zone."""

    user: UserId
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> Shift:
        if (self.end.tzinfo is None) != (self.start.tzinfo is None):
            raise_if_any("Shift", [(("end",), "give both start and end with an offset, or neither")])
        if self.end <= self.start:
            raise_if_any("Shift", [(("end",), "a shift must end after it starts")])
        return self


class Rotation(StrictModel):
    """An on-call rotation: members take turns, handing off at a local time; explicit shifts override."""

    timezone: TimeZoneName
    period: Literal["daily", "weekly"]
    handoff: TimeOfDay = time(9, 0)
    handoff_day: Day | None = None
    members: tuple[UserId, ...] = ()
    # The first handoff is on this date (weekly: the first handoff_day on or after it); only members need one.
    start: date | None = None
    shifts: tuple[Shift, ...] = ()

    @model_validator(mode="after")
    def _covered(self) -> Rotation:
        issues: list[tuple[Loc, str]] = []
        if self.period == "weekly" and self.handoff_day is None:
            issues.append((("handoff_day",), "a weekly rotation needs a handoff_day (mon..sun)"))
        if self.period == "daily" and self.handoff_day is not None:
            issues.append((("handoff_day",), "handoff_day only applies to weekly rotations"))
        if self.members and self.start is None:
            issues.append((("start",), "a rotation with members needs a start date, e.g. 2026-01-05"))
        if not self.members and not self.shifts:
            issues.append((("members",), "gap: the rotation has no members and no shifts, so nobody is ever on call"))
        ordered = sorted(enumerate(self.shifts), key=lambda pair: self.localise(pair[1].start))
        for (_, earlier), (index, later) in itertools.pairwise(ordered):
            end, start = self.localise(earlier.end), self.localise(later.start)
            if start < end:
                issues.append(
                    (
                        ("shifts", index),
                        f"shift overlaps the one for {earlier.user} ending {_local(end, self.timezone)}",
                    )
                )
            elif start > end and not self.members:
                issues.append(
                    (
                        ("shifts", index),
                        f"gap: nobody is on call from {_local(end, self.timezone)} to {_local(start, self.timezone)}; "
                        "add a shift or members to cover it",
                    )
                )
        raise_if_any("Rotation", issues)
        return self

    @property
    def tz(self) -> ZoneInfo:
        """The rotation's time zone."""
        return zone(self.timezone)

    def localise(self, moment: datetime) -> datetime:
        """An aware UTC datetime for a shift bound (naive values are wall-clock in the rotation's zone)."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.tz)
        return moment.astimezone(UTC)


def _local(moment: datetime, tz_name: str) -> str:
    return moment.astimezone(zone(tz_name)).strftime("%Y-%m-%d %H:%M %Z")


class Role(StrictModel):
    """A role: named people plus whoever is in its rotations."""

    members: tuple[UserId, ...] = ()
    rotations: tuple[Slug, ...] = ()

    @model_validator(mode="after")
    def _someone(self) -> Role:
        if not self.members and not self.rotations:
            raise_if_any("Role", [(("members",), "a role needs members or rotations")])
        return self


class Snooze(StrictModel):
    """How long an incident may be snoozed, and at which levels never."""

    max: PositiveDuration = timedelta(hours=24)
    forbidden_levels: tuple[LevelName, ...] = (LevelName.THRESHOLD,)


class WeeklyDigest(StrictModel):
    """When the weekly digest is drafted."""

    day: Day
    time: TimeOfDay
    timezone: TimeZoneName


class RiskReportSchedule(StrictModel):
    """How often the risk-report draft is due, and at what local day and time it is drafted."""

    every: PositiveDuration
    day: Day
    time: TimeOfDay
    timezone: TimeZoneName


class DigestPolicy(StrictModel):
    """The digest schedule and where drafts are reviewed and published."""

    weekly: WeeklyDigest
    risk_report: RiskReportSchedule | None = None
    review_channel: Channel
    publish_channel: Channel


def _default_report_levels() -> dict[Severity, LevelName]:
    return {
        Severity.SEV1: LevelName.THRESHOLD,
        Severity.SEV2: LevelName.ALERT,
        Severity.SEV3: LevelName.WATCH,
        Severity.SEV4: LevelName.WATCH,
    }


def _default_alert_levels() -> dict[str, LevelName]:
    return {"critical": LevelName.THRESHOLD, "warning": LevelName.ALERT, "info": LevelName.WATCH}


class AlertDefault(StrictModel):
    """Where an Alertmanager alert that matches no metric goes; its `severity` label picks the level."""

    # Used when the alert has no `category` label naming a policy category; unset: reports.default_category.
    category: Slug | None = None
    # Unset: the route the category names for the level. A restricted category always keeps its own (private) route.
    route: Slug | None = None
    # Alertmanager `severity` label (compared in lower case) -> level.
    levels: Mapping[str, LevelName] = Field(default_factory=_default_alert_levels)
    # A missing or unlisted severity label still opens an incident, at this level: nothing is silently dropped.
    otherwise: LevelName = LevelName.ALERT
    dedup_window: PositiveDuration = timedelta(hours=6)

    @model_validator(mode="after")
    def _lower_case_keys(self) -> AlertDefault:
        raise_if_any(
            "AlertDefault",
            [
                (("levels", key), f"severity {key!r} must be written in lower case ({key.lower()!r})")
                for key in self.levels
                if key != key.lower()
            ],
        )
        return self


class Alerts(StrictModel):
    """How alerts that no metric matches are handled."""

    default: AlertDefault = AlertDefault()


class Reports(StrictModel):
    """How human reports are triaged: the category when none is chosen and the level each severity asks for."""

    default_category: Slug = "unclassified"
    levels_by_severity: Mapping[Severity, LevelName] = Field(default_factory=_default_report_levels)

    @model_validator(mode="after")
    def _every_severity(self) -> Reports:
        missing = [s.value for s in Severity if s not in self.levels_by_severity]
        if missing:
            raise_if_any("Reports", [(("levels_by_severity",), "no level given for " + ", ".join(missing))])
        return self
