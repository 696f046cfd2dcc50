"""Time comes in from outside: the domain never calls datetime.now() itself."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self.now = start

    def __call__(self) -> datetime:
        """The current manual time."""
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        """Move forward by a timedelta given as keyword arguments."""
        self.now = self.now + timedelta(**kwargs)
        return self.now


def require_aware(moment: datetime, name: str = "now") -> None:
    """Refuse a naive datetime: every time in Tripwire carries its zone."""
    if moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
