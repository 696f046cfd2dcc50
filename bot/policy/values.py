"""Policy value types: durations, comparisons, time zones, ids, and the problems a check reports."""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import time, timedelta
from functools import cache
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    PlainValidator,
    ValidationError,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from bot.common.errors import TripwireError

# ---------------------------------------------------------------------------------------------------------------
# Problems

Op = Literal[">=", ">", "<=", "<"]


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
UNIT = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
UNIT["s"] = timedelta(seconds=1)


def parse_duration(text: str) -> timedelta:
    """Parse '15m', '24h', '30d', '2w' or a compound such as '1h30m' into a timedelta."""
    cleaned = text.strip().replace(" ", "")
    found = _DURATION.fullmatch(cleaned)
    if not cleaned or found is None:
        raise ValueError(
            f"bad duration {text!r}: write whole numbers with units w, d, h, m or s, largest first "
            "(15m, 24h, 30d, 1h30m)"
        )
    return sum((int(n) * UNIT[unit] for unit, n in found.groupdict().items() if n is not None), timedelta())


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


def window_value(value: object) -> int | timedelta:
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


def timezone_value(value: object) -> str:
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
TimeZoneName = Annotated[str, PlainValidator(timezone_value)]
TimeOfDay = Annotated[time, PlainValidator(_time_of_day)]
Channel = Annotated[str, PlainValidator(_channel)]
Slug = Annotated[str, AfterValidator(_slug)]
UserId = Annotated[str, AfterValidator(_user)]
Url = Annotated[str, AfterValidator(_url)]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


EVERYONE = "everyone"
REQUIRED_ROLES = ("triager", "safety_lead", "leadership", "admin")


# ---------------------------------------------------------------------------------------------------------------
# Cross-field problems are raised as one ValidationError holding many located errors, so that every one of them
# reaches `policy check` with its own line instead of the first one hiding the rest.

Loc = tuple[str | int, ...]


def raise_if_any(title: str, issues: Sequence[tuple[Loc, str]]) -> None:
    if issues:
        raise ValidationError.from_exception_data(
            title,
            [
                InitErrorDetails(type=PydanticCustomError("policy", "{message}", {"message": m}), loc=loc, input=None)
                for loc, m in issues
            ],
        )


def unknown_name(kind: str, value: str, known: Iterable[str], *, plural: str = "") -> str:
    names = sorted(known)
    close = difflib.get_close_matches(value, names, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    listing = ", ".join(names) if names else "none are defined"
    return f"unknown {kind} {value!r}{hint}; {plural or kind + 's'} are: {listing}"


# ---------------------------------------------------------------------------------------------------------------
# The policy model


class StrictModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
