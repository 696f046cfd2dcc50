"""When digests fall due: weekly slots on a named day at a local time in an IANA zone, right across DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.digest.inputs import Period
from bot.policy.schedules import RiskReportSchedule, WeeklyDigest
from bot.policy.values import DAYS


def cron_trigger(schedule: WeeklyDigest | RiskReportSchedule) -> CronTrigger:
    """An APScheduler 3.x trigger for the slot; the day is given by name (`from_crontab` digits are off by one)."""
    return CronTrigger(
        day_of_week=schedule.day,
        hour=schedule.time.hour,
        minute=schedule.time.minute,
        timezone=ZoneInfo(schedule.timezone),
    )


def _slot(day: date, at: time, zone: ZoneInfo) -> datetime:
    # Wall-clock time on that local date, then UTC: 09:00 stays 09:00 on both sides of a DST change.
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def last_slot(schedule: WeeklyDigest | RiskReportSchedule, *, now: datetime) -> datetime:
    """The most recent weekly slot at or before `now` (UTC)."""
    zone = ZoneInfo(schedule.timezone)
    local = now.astimezone(zone).date()
    back = (local.weekday() - DAYS.index(schedule.day)) % 7
    candidate = _slot(local - timedelta(days=back), schedule.time, zone)
    if candidate > now:
        candidate = _slot(local - timedelta(days=back + 7), schedule.time, zone)
    return candidate


def next_slot(schedule: WeeklyDigest | RiskReportSchedule, *, after: datetime) -> datetime:
    """The first weekly slot strictly after `after` (UTC)."""
    zone = ZoneInfo(schedule.timezone)
    slot = last_slot(schedule, now=after)
    local = slot.astimezone(zone).date()
    return _slot(local + timedelta(days=7), schedule.time, zone)


def weekly_period(schedule: WeeklyDigest, *, end: datetime) -> Period:
    """The week a digest drafted at slot `end` covers: from the previous slot up to `end` (168 h ± 1 at DST)."""
    zone = ZoneInfo(schedule.timezone)
    start = _slot(end.astimezone(zone).date() - timedelta(days=7), schedule.time, zone)
    return Period(kind="weekly", start=start, end=end, timezone=schedule.timezone)


def previous_period(period: Period) -> Period:
    """The period of the same length just before (for the 'how did it move' comparisons)."""
    zone = ZoneInfo(period.timezone)
    length = period.end.astimezone(zone).date() - period.start.astimezone(zone).date()
    start_local = period.start.astimezone(zone)
    start = datetime.combine(start_local.date() - length, start_local.time(), tzinfo=zone).astimezone(UTC)
    return Period(kind=period.kind, start=start, end=period.start, timezone=period.timezone)


def risk_report_period(schedule: RiskReportSchedule, *, end: datetime, last_end: datetime | None) -> Period:
    """A risk report covers everything since the last one (or `every` back when there was none)."""
    start = last_end if last_end is not None else end - schedule.every
    return Period(kind="risk-report", start=start, end=end, timezone=schedule.timezone)
