"""The safety policy: a validated, versioned YAML file that decides what counts, how bad it is and who hears."""

from __future__ import annotations

import difflib
import hashlib
import itertools
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.errors import TripwireError
from bot.lifecycle import Severity

# ---------------------------------------------------------------------------------------------------------------
# Problems


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a policy file, at a line (0 when it concerns the file as a whole)."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


class PolicyError(TripwireError):
    """The policy file cannot be used; `problems` lists every reason with its line."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: (p.line, p.message)))
        super().__init__("\n".join(str(p) for p in self.problems))


# ---------------------------------------------------------------------------------------------------------------
# Small value types: durations, comparisons, time zones, times of day


_DURATION = re.compile(r"(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?")
_UNIT = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
_UNIT["s"] = timedelta(seconds=1)


def parse_duration(text: str) -> timedelta:
    """Parse '15m', '24h', '30d', '2w' or a compound such as '1h30m' into a timedelta."""
    cleaned = text.strip().replace(" ", "")
    found = _DURATION.fullmatch(cleaned)
    if not cleaned or found is None:
        raise ValueError(
            f"bad duration {text!r}: write whole numbers with units w, d, h, m or s, largest first "
            "(15m, 24h, 30d, 1h30m)"
        )
    return sum((int(n) * _UNIT[unit] for unit, n in found.groupdict().items() if n is not None), timedelta())


def format_duration(span: timedelta) -> str:
    """Write a timedelta the way the policy file does: '15m', '1h30m', '30d'."""
    seconds = int(span.total_seconds())
    if seconds == 0:
        return "0m"
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)


def is_calendar_duration(text: str) -> bool:
    """True when a duration is written in whole days or weeks, so it is counted on the local calendar."""
    return bool(re.fullmatch(r"(\d+w)?(\d+d)?", text.strip().replace(" ", ""))) and bool(text.strip())


Op = Literal[">=", ">", "<=", "<"]
_COMPARISON = re.compile(r"\s*(>=|>|<=|<)\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*")
_OP_TYPOS = {"=>": ">=", "=<": "<=", "≥": ">=", "≤": "<="}


@dataclass(frozen=True)
class Comparison:
    """A cut-off such as '>=0.55': an operator and a number."""

    op: Op
    value: float

    def holds(self, value: float) -> bool:
        """Whether `value` is on the crossed side of this cut-off."""
        if self.op == ">=":
            return value >= self.value
        if self.op == ">":
            return value > self.value
        if self.op == "<=":
            return value <= self.value
        return value < self.value

    @property
    def higher_is_worse(self) -> bool:
        """Whether crossing means going up."""
        return self.op in (">=", ">")

    def gap(self, value: float) -> float:
        """How far `value` still is from crossing (0 when it sits exactly on a strict cut-off, negative past it)."""
        return self.value - value if self.higher_is_worse else value - self.value

    def __str__(self) -> str:
        return f"{self.op}{self.value:g}"


def parse_comparison(text: str) -> Comparison:
    """Parse '>=0.55', '>0.7', '<=0.2' or '<0.1' into a Comparison."""
    found = _COMPARISON.fullmatch(text)
    if found is not None:
        value = float(found.group(2))
        op = typing.cast(Op, found.group(1))
        return Comparison(op=op, value=value)
    stripped = text.strip()
    for typo, right in _OP_TYPOS.items():
        if stripped.startswith(typo):
            raise ValueError(f"bad comparison {text!r}: did you mean {right + stripped[len(typo) :].strip()!r}?")
    if stripped.startswith("=="):
        raise ValueError(f"bad comparison {text!r}: equality is not a cut-off; use one of >=, >, <=, <")
    op_found = re.match(r"\s*(>=|>|<=|<)", text)
    if op_found is not None:
        raise ValueError(f"bad comparison {text!r}: {op_found.group(1)!r} must be followed by a number, e.g. '>=0.55'")
    raise ValueError(f"bad comparison {text!r}: write an operator (>=, >, <=, <) and a number, e.g. '>=0.55'")


@cache
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name (cached; raises ValueError naming close matches)."""
    try:
        if name != name.strip() or not name or name.startswith("/") or ".." in name:
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(name, sorted(available_timezones()), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else "use an IANA name such as 'Europe/London'"
        raise ValueError(f"unknown time zone {name!r}; {hint}") from None


# ---------------------------------------------------------------------------------------------------------------
# Field types with friendly validation messages


def _as_text(value: object, what: str, example: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected {what} such as {example}, got {value!r}")
    return str(value)


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"duration {value!r} has no unit; write e.g. '{value}m', '{value}h' or '{value}d'")
    return parse_duration(_as_text(value, "a duration", "'15m', '24h' or '30d'"))


def _window(value: object) -> int | timedelta:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return _duration(value)


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


def _comparison(value: object) -> Comparison:
    if isinstance(value, Comparison):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            f"cut-off {value!r} has no operator; write e.g. '>={value}' (quoted, since YAML reads '>' itself)"
        )
    return parse_comparison(_as_text(value, "a comparison", "'>=0.55'"))


def _timezone(value: object) -> str:
    name = _as_text(value, "an IANA time zone", "'Europe/London'")
    zone(name)
    return name


def _time_of_day(value: object) -> time:
    if isinstance(value, time):
        return value
    text = _as_text(value, "a time of day", "'09:00'")
    found = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text.strip())
    if found is None:
        raise ValueError(f"bad time of day {text!r}: write 24-hour HH:MM, e.g. '09:00'")
    return time(int(found.group(1)), int(found.group(2)))


def _channel(value: object) -> str:
    if value is None:
        raise ValueError("no channel given; quote '#name' in YAML, where an unquoted '#' starts a comment")
    text = _as_text(value, "a Slack channel", "'#safety-triage' or 'C0123ABCD'")
    if not re.fullmatch(r"#[a-z0-9][a-z0-9._-]{0,79}|[CG][A-Z0-9]{6,}", text):
        raise ValueError(f"bad channel {text!r}: use a '#name' (lowercase) or a channel id such as 'C0123ABCD'")
    return text


def _slug(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_.-]*", value):
        raise ValueError(f"bad id {value!r}: use lowercase letters, digits, '.', '_' and '-', starting with a letter")
    return value


def _user(value: str) -> str:
    if not re.fullmatch(r"[UW][A-Z0-9]{2,}", value):
        raise ValueError(f"bad Slack user id {value!r}: user ids look like 'U0123ABCD'")
    return value


def _url(value: str) -> str:
    if not re.fullmatch(r"https?://\S+", value):
        raise ValueError(f"bad source {value!r}: give the http(s) address of the published document")
    return value


Duration = Annotated[timedelta, PlainValidator(_duration)]
PositiveDuration = Annotated[timedelta, PlainValidator(_duration), AfterValidator(_positive)]
Cutoff = Annotated[Comparison, PlainValidator(_comparison)]
TimeZoneName = Annotated[str, PlainValidator(_timezone)]
TimeOfDay = Annotated[time, PlainValidator(_time_of_day)]
Channel = Annotated[str, PlainValidator(_channel)]
Slug = Annotated[str, AfterValidator(_slug)]
UserId = Annotated[str, AfterValidator(_user)]
Url = Annotated[str, AfterValidator(_url)]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class LevelName(StrEnum):
    """How far a category has gone: watch < alert < threshold."""

    WATCH = "watch"
    ALERT = "alert"
    THRESHOLD = "threshold"

    @property
    def rank(self) -> int:
        """0 for watch, 1 for alert, 2 for threshold."""
        return LEVELS.index(self)


LEVELS: tuple[LevelName, ...] = (LevelName.WATCH, LevelName.ALERT, LevelName.THRESHOLD)


def severity_rank(severity: Severity) -> int:
    """1 for sev1 (the worst) up to 4 for sev4."""
    return int(severity.value.removeprefix("sev"))


class PermissionAction(StrEnum):
    """Things a person may be allowed to do to an incident or a digest."""

    ACKNOWLEDGE = "acknowledge"
    ESCALATE = "escalate"
    MITIGATE = "mitigate"
    RESOLVE = "resolve"
    DISMISS = "dismiss"
    REOPEN = "reopen"
    SEVERITY = "severity"
    ASSIGN = "assign"
    NOTE = "note"
    SNOOZE = "snooze"
    PUBLISH_DIGEST = "publish_digest"
    EXPORT_AUDIT = "export_audit"


EVERYONE = "everyone"
REQUIRED_ROLES = ("triager", "safety_lead", "leadership", "admin")


# ---------------------------------------------------------------------------------------------------------------
# Cross-field problems are raised as one ValidationError holding many located errors, so that every one of them
# reaches `policy check` with its own line instead of the first one hiding the rest.

Loc = tuple[str | int, ...]


def _raise_if_any(title: str, issues: Sequence[tuple[Loc, str]]) -> None:
    if issues:
        raise ValidationError.from_exception_data(
            title,
            [
                InitErrorDetails(type=PydanticCustomError("policy", "{message}", {"message": m}), loc=loc, input=None)
                for loc, m in issues
            ],
        )


def _unknown(kind: str, value: str, known: Iterable[str], *, plural: str = "") -> str:
    names = sorted(known)
    close = difflib.get_close_matches(value, names, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    listing = ", ".join(names) if names else "none are defined"
    return f"unknown {kind} {value!r}{hint}; {plural or kind + 's'} are: {listing}"


# ---------------------------------------------------------------------------------------------------------------
# The policy model


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Framework(_Model):
    """A published framework the policy maps its categories onto."""

    id: Slug
    name: str
    version: str
    source: Url


class Level(_Model):
    """What happens when a category reaches watch, alert or threshold."""

    severity: Severity
    route: Slug
    actions: tuple[str, ...] = ()
    deadlines: tuple[Slug, ...] = ()
    crosswalk: Mapping[Slug, tuple[str, ...]] = Field(default_factory=dict)
    note: str = ""


class Category(_Model):
    """A kind of hazard, its crosswalk to each framework's names, and its levels."""

    name: str
    description: str = ""
    restricted: bool = False
    crosswalk: Mapping[Slug, tuple[str, ...]] = Field(default_factory=dict)
    levels: Mapping[LevelName, Level]

    @model_validator(mode="after")
    def _levels_escalate(self) -> Category:
        issues: list[tuple[Loc, str]] = []
        if not self.levels:
            issues.append((("levels",), "a category needs at least one of watch, alert, threshold"))
        previous: tuple[LevelName, Level] | None = None
        for name in self.defined_levels():
            level = self.levels[name]
            if previous is not None and severity_rank(level.severity) > severity_rank(previous[1].severity):
                issues.append(
                    (
                        ("levels", name.value, "severity"),
                        f"severity decreases as the level rises: {name.value} is {level.severity.value} but "
                        f"{previous[0].value} is already {previous[1].severity.value}; use "
                        f"{previous[1].severity.value} or worse",
                    )
                )
            previous = (name, level)
        _raise_if_any("Category", issues)
        return self

    def defined_levels(self) -> tuple[LevelName, ...]:
        """The levels this category defines, lowest first."""
        return tuple(name for name in LEVELS if name in self.levels)


class Match(_Model):
    """Which results a metric counts: the source, globs on task and scorer, the metric name and exact labels."""

    source: Literal["inspect", "lm-eval", "alertmanager", "json"]
    task: str
    scorer: str | None = None
    metric: str
    labels: Mapping[str, str] = Field(default_factory=dict)


class NearMiss(_Model):
    """A value this close to a cut-off, without crossing it, is a near miss of that level."""

    within: float = Field(gt=0)


class Trend(_Model):
    """A rule that watches a metric creep toward a level no single result has crossed yet."""

    kind: Literal["slope", "drift"]
    # A duration looks back in time; a whole number counts the most recent checkpoints.
    window: Annotated[int | timedelta, PlainValidator(_window)]
    projects_to: LevelName = LevelName.THRESHOLD
    horizon: PositiveDuration | None = None
    rise: float | None = Field(default=None, gt=0)
    min_points: int = Field(default=3, ge=2)

    @model_validator(mode="after")
    def _complete(self) -> Trend:
        issues: list[tuple[Loc, str]] = []
        if isinstance(self.window, int):
            if self.window < self.min_points:
                issues.append((("window",), f"a window of {self.window} checkpoints is below min_points"))
        elif self.window <= timedelta(0):
            issues.append((("window",), "must be longer than zero"))
        if self.kind == "slope" and self.horizon is None:
            issues.append((("horizon",), "a slope trend needs a horizon, e.g. '30d': how far ahead a crossing counts"))
        if self.kind == "drift" and self.rise is None:
            issues.append((("rise",), "a drift trend needs a rise, e.g. 0.10: the worsening across the window"))
        _raise_if_any("Trend", issues)
        return self


class Metric(_Model):
    """An evaluation metric the policy watches, with a cut-off per level."""

    id: Slug
    category: Slug
    description: str = ""
    match: Match
    direction: Literal["higher_is_worse", "lower_is_worse"]
    levels: Mapping[LevelName, Cutoff]
    near_miss: NearMiss | None = None
    trend: Trend | None = None
    dedup_window: PositiveDuration = timedelta(hours=6)
    # Frameworks publish levels, not numbers: the author must say where each cut-off comes from.
    organisation_defined: bool

    @model_validator(mode="after")
    def _levels_ordered(self) -> Metric:
        issues: list[tuple[Loc, str]] = []
        if not self.levels:
            issues.append((("levels",), "a metric needs a cut-off for at least one of watch, alert, threshold"))
        higher = self.direction == "higher_is_worse"
        right_ops = ">= or >" if higher else "<= or <"
        for name in self.defined_levels():
            if self.levels[name].higher_is_worse != higher:
                issues.append(
                    (
                        ("levels", name.value),
                        f"{name.value} uses {self.levels[name].op!r} but the metric is "
                        f"{self.direction}; use {right_ops}",
                    )
                )
        if issues:
            _raise_if_any("Metric", issues)
        names = self.defined_levels()
        for lower, upper in itertools.pairwise(names):
            if not _stricter(self.levels[upper], self.levels[lower]):
                issues.append(
                    (
                        ("levels", upper.value),
                        f"levels overlap or are out of order: {upper.value} ({self.levels[upper]}) must be "
                        f"strictly harder to reach than {lower.value} ({self.levels[lower]}) for a "
                        f"{self.direction} metric",
                    )
                )
        if self.trend is not None and self.trend.projects_to not in self.levels:
            issues.append(
                (("trend", "projects_to"), f"the metric has no {self.trend.projects_to.value} cut-off to project to")
            )
        _raise_if_any("Metric", issues)
        return self

    def defined_levels(self) -> tuple[LevelName, ...]:
        """The levels this metric has cut-offs for, lowest first."""
        return tuple(name for name in LEVELS if name in self.levels)


def _stricter(upper: Comparison, lower: Comparison) -> bool:
    # Every value that reaches `upper` must also reach `lower`, and some value must reach `lower` only.
    if upper.higher_is_worse:
        return upper.value > lower.value or (upper.value == lower.value and lower.op == ">=" and upper.op == ">")
    return upper.value < lower.value or (upper.value == lower.value and lower.op == "<=" and upper.op == "<")


class EscalationStep(_Model):
    """Who is paged, counted from when the incident was triggered."""

    notify: tuple[str, ...] = Field(min_length=1)
    after: Duration = timedelta(0)


class Repeat(_Model):
    """Run the whole escalation chain again, at most `times` more, every `every`."""

    times: int = Field(ge=0, le=10)
    every: PositiveDuration


class Route(_Model):
    """Where an incident goes, how fast it must be acknowledged and who is paged if it is not."""

    channel: Channel
    private: bool = False
    ack_window: PositiveDuration
    escalation: tuple[EscalationStep, ...] = Field(min_length=1)
    repeat: Repeat | None = None
    # Offsets after the page at which an unacknowledged incident is announced again.
    reminders: tuple[PositiveDuration, ...] = ()

    @model_validator(mode="after")
    def _timeline(self) -> Route:
        issues: list[tuple[Loc, str]] = []
        for index, (earlier, later) in enumerate(itertools.pairwise(self.escalation), start=1):
            if later.after < earlier.after:
                issues.append(
                    (("escalation", index, "after"), "escalation steps must be in order of `after`, earliest first")
                )
        last = self.escalation[-1].after if self.escalation else timedelta(0)
        if self.repeat is not None and self.repeat.times and self.repeat.every <= last:
            issues.append(
                (
                    ("repeat", "every"),
                    f"repeats every {format_duration(self.repeat.every)} would restart the chain before its last "
                    f"step at {format_duration(last)}; make `every` longer than {format_duration(last)}",
                )
            )
        for index, reminder in enumerate(self.reminders):
            if reminder >= self.ack_window:
                issues.append(
                    (
                        ("reminders", index),
                        f"a reminder at {format_duration(reminder)} falls after the ack window "
                        f"({format_duration(self.ack_window)}) has closed",
                    )
                )
        _raise_if_any("Route", issues)
        return self


class Deadline(_Model):
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
        _raise_if_any(
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


class Shift(_Model):
    """An explicit shift; naive times are read in the rotation's time zone."""

    user: UserId
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> Shift:
        if (self.end.tzinfo is None) != (self.start.tzinfo is None):
            _raise_if_any("Shift", [(("end",), "give both start and end with an offset, or neither")])
        if self.end <= self.start:
            _raise_if_any("Shift", [(("end",), "a shift must end after it starts")])
        return self


class Rotation(_Model):
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
        _raise_if_any("Rotation", issues)
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


class Role(_Model):
    """A role: named people plus whoever is in its rotations."""

    members: tuple[UserId, ...] = ()
    rotations: tuple[Slug, ...] = ()

    @model_validator(mode="after")
    def _someone(self) -> Role:
        if not self.members and not self.rotations:
            _raise_if_any("Role", [(("members",), "a role needs members or rotations")])
        return self


class Snooze(_Model):
    """How long an incident may be snoozed, and at which levels never."""

    max: PositiveDuration = timedelta(hours=24)
    forbidden_levels: tuple[LevelName, ...] = (LevelName.THRESHOLD,)


class WeeklyDigest(_Model):
    """When the weekly digest is drafted."""

    day: Day
    time: TimeOfDay
    timezone: TimeZoneName


class RiskReportSchedule(_Model):
    """How often the risk-report draft is due, and at what local day and time it is drafted."""

    every: PositiveDuration
    day: Day
    time: TimeOfDay
    timezone: TimeZoneName


class Digest(_Model):
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


class Reports(_Model):
    """How human reports are triaged: the category when none is chosen and the level each severity asks for."""

    default_category: Slug = "unclassified"
    levels_by_severity: Mapping[Severity, LevelName] = Field(default_factory=_default_report_levels)

    @model_validator(mode="after")
    def _every_severity(self) -> Reports:
        missing = [s.value for s in Severity if s not in self.levels_by_severity]
        if missing:
            _raise_if_any("Reports", [(("levels_by_severity",), "no level given for " + ", ".join(missing))])
        return self


class Policy(_Model):
    """A whole safety policy; build it with load_policy or parse_policy."""

    version: str = Field(min_length=1)
    name: str
    description: str = ""
    timezone: TimeZoneName
    frameworks: tuple[Framework, ...] = ()
    categories: Mapping[Slug, Category]
    metrics: tuple[Metric, ...] = ()
    routes: Mapping[Slug, Route]
    deadlines: Mapping[Slug, Deadline] = Field(default_factory=dict)
    rotations: Mapping[Slug, Rotation] = Field(default_factory=dict)
    roles: Mapping[Slug, Role]
    permissions: Mapping[PermissionAction, tuple[str, ...]] = Field(default_factory=dict)
    snooze: Snooze = Snooze()
    digest: Digest
    reports: Reports = Reports()

    _content_hash: str = PrivateAttr(default="")

    @model_validator(mode="before")
    @classmethod
    def _default_zones(cls, data: Any) -> Any:
        # Rotations and digests without their own zone use the policy's; filled in before validation so that
        # who_is_on_call needs nothing but the rotation.
        if not isinstance(data, dict) or not isinstance(data.get("timezone"), str):
            return data
        data = dict(data)
        try:
            default = _timezone(data["timezone"])
        except ValueError:
            # The bad name is reported once, at `timezone:`; a stand-in keeps it from being repeated everywhere.
            default = "UTC"
        if isinstance(data.get("rotations"), dict):
            data["rotations"] = {
                key: ({"timezone": default, **value} if isinstance(value, dict) else value)
                for key, value in data["rotations"].items()
            }
        digest = data.get("digest")
        if isinstance(digest, dict):
            digest = dict(digest)
            for part in ("weekly", "risk_report"):
                if isinstance(digest.get(part), dict):
                    digest[part] = {"timezone": default, **digest[part]}
            data["digest"] = digest
        return data

    @model_validator(mode="after")
    def _references(self) -> Policy:
        _raise_if_any("Policy", list(self._reference_issues()))
        return self

    def _reference_issues(self) -> Iterable[tuple[Loc, str]]:
        frameworks = [f.id for f in self.frameworks]
        for index, fid in enumerate(frameworks):
            if fid in frameworks[:index]:
                yield ("frameworks", index, "id"), f"duplicate framework id {fid!r}"
        for cid, category in self.categories.items():
            for fid in category.crosswalk:
                if fid not in frameworks:
                    yield ("categories", cid, "crosswalk", fid), _unknown("framework", fid, frameworks)
            for name, level in category.levels.items():
                where: Loc = ("categories", cid, "levels", name.value)
                if level.route not in self.routes:
                    yield (*where, "route"), _unknown("route", level.route, self.routes)
                elif category.restricted and not self.routes[level.route].private:
                    yield (
                        (*where, "route"),
                        (
                            f"category {cid!r} is restricted but route {level.route!r} is not private; "
                            "restricted details may only go to a private route"
                        ),
                    )
                for index, did in enumerate(level.deadlines):
                    if did not in self.deadlines:
                        yield (*where, "deadlines", index), _unknown("deadline", did, self.deadlines)
                for fid in level.crosswalk:
                    if fid not in frameworks:
                        yield (*where, "crosswalk", fid), _unknown("framework", fid, frameworks)
        seen: dict[str, int] = {}
        for index, metric in enumerate(self.metrics):
            if metric.id in seen:
                yield ("metrics", index, "id"), f"duplicate metric id {metric.id!r} (also metrics[{seen[metric.id]}])"
            seen.setdefault(metric.id, index)
            owner = self.categories.get(metric.category)
            if owner is None:
                yield (
                    ("metrics", index, "category"),
                    _unknown("category", metric.category, self.categories, plural="categories"),
                )
                continue
            for name in metric.levels:
                if name not in owner.levels:
                    yield (
                        ("metrics", index, "levels", name.value),
                        (
                            f"category {metric.category!r} has no {name.value} level; it defines "
                            + ", ".join(n.value for n in category.defined_levels())
                        ),
                    )
        targets = {**{r: "role" for r in self.roles}, **{r: "rotation" for r in self.rotations}}
        for rid, route in self.routes.items():
            for step_index, step in enumerate(route.escalation):
                for index, target in enumerate(step.notify):
                    if target not in targets and not re.fullmatch(r"[UW][A-Z0-9]{2,}", target):
                        yield (
                            ("routes", rid, "escalation", step_index, "notify", index),
                            (
                                _unknown("role or rotation", target, targets, plural="roles and rotations")
                                + "; or give a user id such as U0123ABCD"
                            ),
                        )
        for required in REQUIRED_ROLES:
            if required not in self.roles:
                yield (
                    ("roles",),
                    f"missing required role {required!r}; the policy must define " + ", ".join(REQUIRED_ROLES),
                )
        for role_id, role in self.roles.items():
            for index, rotation in enumerate(role.rotations):
                if rotation not in self.rotations:
                    yield ("roles", role_id, "rotations", index), _unknown("rotation", rotation, self.rotations)
        for action, allowed in self.permissions.items():
            for index, role_id in enumerate(allowed):
                if role_id != EVERYONE and role_id not in self.roles:
                    yield (
                        ("permissions", action.value, index),
                        (_unknown("role", role_id, self.roles) + f"; or {EVERYONE!r}"),
                    )
        for did, deadline in self.deadlines.items():
            for fid in deadline.refs:
                if fid not in frameworks:
                    yield ("deadlines", did, "refs", fid), _unknown("framework", fid, frameworks)
        if self.reports.default_category not in self.categories:
            yield (
                ("reports", "default_category"),
                _unknown("category", self.reports.default_category, self.categories, plural="categories"),
            )

    @property
    def content_hash(self) -> str:
        """The sha256 of the file this policy was read from (hex), so incidents can pin the exact text."""
        return self._content_hash

    @property
    def tz(self) -> ZoneInfo:
        """The policy's default time zone."""
        return zone(self.timezone)

    def metric(self, metric_id: str) -> Metric:
        """The metric with this id (KeyError if none)."""
        for metric in self.metrics:
            if metric.id == metric_id:
                return metric
        raise KeyError(metric_id)

    def roles_of(self, user: str) -> frozenset[str]:
        """Every role the user holds, as a member or as a member of one of the role's rotations (on shift or not)."""
        return frozenset(
            role_id
            for role_id, role in self.roles.items()
            if user in role.members or any(user in self.rotations[r].members for r in role.rotations)
        )

    def permits(self, *, action: PermissionAction, user: str) -> bool:
        """Whether the user may take this action; an action not listed in `permissions` is open to everyone."""
        allowed = self.permissions.get(action)
        if allowed is None or EVERYONE in allowed:
            return True
        return bool(self.roles_of(user) & set(allowed))


# ---------------------------------------------------------------------------------------------------------------
# Reading YAML with line numbers


_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_MERGE = "tag:yaml.org,2002:merge"


class _Loader(yaml.SafeLoader):
    """A SafeLoader without YAML 1.1 base-60 numbers, so an unquoted 10:30 stays the text '10:30'."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _INT,
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?[0-9][0-9_]*(?:\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)|[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _key(loader: _Loader, node: Node) -> Any:
    if isinstance(node, ScalarNode):
        value = loader.construct_object(node)
        return value if isinstance(value, typing.Hashable) else node.value
    return f"<{type(node).__name__} at line {node.start_mark.line + 1}>"


def _walk(
    loader: _Loader, node: Node, path: Loc, lines: dict[Loc, int], problems: list[tuple[int, str]], depth: int = 0
) -> None:
    if depth > 64:
        return
    if isinstance(node, MappingNode):
        explicit: dict[Any, int] = {}
        merged: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.extend(value_node.value if isinstance(value_node, SequenceNode) else [value_node])
                continue
            key = _key(loader, key_node)
            line = key_node.start_mark.line + 1
            if key in explicit:
                problems.append(
                    (
                        line,
                        f"{_where((*path, key))}: duplicate key {key!r}; it is already set on line {explicit[key]} "
                        "and YAML would silently keep only the last one",
                    )
                )
                continue
            explicit[key] = line
            lines[(*path, key)] = line
            _walk(loader, value_node, (*path, key), lines, problems, depth + 1)
        for source in merged:
            if isinstance(source, MappingNode):
                for key_node, value_node in source.value:
                    key = _key(loader, key_node)
                    if key not in explicit:
                        explicit[key] = key_node.start_mark.line + 1
                        lines[(*path, key)] = explicit[key]
                        _walk(loader, value_node, (*path, key), lines, problems, depth + 1)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _walk(loader, item, (*path, index), lines, problems, depth + 1)


def _where(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "policy"


def _line_of(loc: Sequence[Any], lines: Mapping[Loc, int]) -> int:
    for end in range(len(loc), 0, -1):
        line = lines.get(tuple(loc[:end]))
        if line is not None:
            return line
    return 1


def _annotation_at(root: Any, loc: Sequence[Any]) -> Any:
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
            continue
        origin = typing.get_origin(current)
        args = typing.get_args(current)
        if origin in (tuple, list, Sequence) and args:
            current = args[0]
        elif origin in (dict, Mapping) and len(args) == 2:
            current = args[1]
        else:
            return None
    return _unwrap(current)


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation


def _message(error: Mapping[str, Any]) -> str:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    if loc and loc[-1] == "[key]":
        loc = loc[:-1]
        detail = error["ctx"]["error"] if kind == "value_error" else error["msg"]
        return f"{_where(loc)}: bad key {loc[-1]!r}: {detail}"
    where = _where(loc)
    if kind == "extra_forbidden":
        parent = _annotation_at(Policy, loc[:-1])
        allowed = sorted(parent.model_fields) if isinstance(parent, type) and issubclass(parent, BaseModel) else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{where}: unknown key {loc[-1]!r}{hint}; allowed here: {', '.join(allowed)}"
    if kind == "missing":
        return f"{_where(loc[:-1])}: missing required key {loc[-1]!r}"
    if kind == "value_error":
        return f"{where}: {error['ctx']['error']}"
    if kind == "policy":
        return f"{where}: {error['msg']}"
    shown = repr(error["input"])
    return f"{where}: {error['msg']} (got {shown if len(shown) <= 80 else shown[:77] + '...'})"


def _yaml_problem(filename: str, exc: yaml.YAMLError) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        begun, noticed = exc.context_mark, exc.problem_mark
        if begun is not None and noticed is not None and begun.line != noticed.line:
            what += f" (the construct began on line {begun.line + 1})"
        if exc.problem and "chomping or indentation" in exc.problem:
            what += "; a value starting with '>' must be quoted, e.g. '>=0.55'"
        return Problem(filename, line, f"YAML syntax error: {what}")
    return Problem(filename, 1, f"YAML syntax error: {exc}")


def _validate(text: str, *, filename: str) -> tuple[Policy | None, list[Problem]]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, [Problem(filename, 1, "the policy file is empty")]
        lines: dict[Loc, int] = {}
        found: list[tuple[int, str]] = []
        _walk(loader, node, (), lines, found)
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        return None, [_yaml_problem(filename, exc)]
    finally:
        loader.dispose()
    problems = [Problem(filename, line, message) for line, message in found]
    if not isinstance(data, dict):
        return None, [*problems, Problem(filename, 1, "the policy must be a YAML mapping (version:, name:, ...)")]
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems += [Problem(filename, _line_of(e["loc"], lines), _message(e)) for e in exc.errors()]
        return None, sorted(problems, key=lambda p: (p.line, p.message))
    return (None if problems else policy), sorted(problems, key=lambda p: (p.line, p.message))


def parse_policy(text: str, *, filename: str = "<policy>") -> Policy:
    """Validate policy YAML text; raises PolicyError listing every problem with its line."""
    return _finish(text.encode("utf-8"), text, filename=filename)


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; raises PolicyError listing every problem with its line."""
    raw = _read(path)
    return _finish(raw, _decode(raw, filename=str(path)), filename=str(path))


def validate_policy_file(path: str | Path) -> tuple[Policy | None, list[Problem]]:
    """The policy in a file and every problem found in it (the policy is None when there are problems)."""
    try:
        raw = _read(path)
        text = _decode(raw, filename=str(path))
    except PolicyError as exc:
        return None, list(exc.problems)
    policy, problems = _validate(text, filename=str(path))
    if policy is not None:
        policy._content_hash = hashlib.sha256(raw).hexdigest()
    return policy, problems


def _read(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise PolicyError([Problem(str(path), 0, f"cannot read the policy file: {exc.strerror or exc}")]) from exc


def _decode(raw: bytes, *, filename: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PolicyError([Problem(filename, line, "the policy file is not valid UTF-8")]) from exc


def _finish(raw: bytes, text: str, *, filename: str) -> Policy:
    policy, problems = _validate(text, filename=filename)
    if policy is None or problems:
        raise PolicyError(problems)
    policy._content_hash = hashlib.sha256(raw).hexdigest()
    return policy
