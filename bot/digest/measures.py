"""Small pure measures the digest is built from: counts, medians, labels, times."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from bot.common.limits import LABEL_MAX, truncate
from bot.common.vocabulary import CLOSED, LEVELS, SEVERITIES
from bot.digest.inputs import (
    IncidentRow,
    MetricSeries,
    Period,
    PolicyChange,
)
from bot.digest.views import CountRow, CountTable, DeadlineView, IncidentView, MedianChange
from bot.policy.values import parse_comparison

EN_DASH, MINUS = "\u2013", "\u2212"


def incident_view(row: IncidentRow, tz: ZoneInfo) -> IncidentView:
    """The reader's view of an incident: redacted to its ref and category when restricted."""
    model = row.model + (f" @ {row.checkpoint}" if row.checkpoint else "") if row.model else ""
    return IncidentView(
        ref=row.ref,
        severity=row.severity,
        status=row.status,
        level=row.level or "",
        category=row.category,
        restricted=row.restricted,
        label=f"restricted incident ({row.category})" if row.restricted else truncate(one_line(row.title), LABEL_MAX),
        model="" if row.restricted else one_line(model),
        source=row.source,
        opened=local_time(row.created_at, tz),
        explanation="" if row.restricted else one_line(row.explanation),
    )


def count_table(rows: Iterable[IncidentRow]) -> CountTable:
    """Incidents by severity by category (every severity row is present; only categories that occur get a column)."""
    # One pass (the open incidents alone can be tens of thousands), then the table from the counts.
    pairs = Counter((r.severity, r.category) for r in rows)
    categories = tuple(sorted({c for _, c in pairs}))
    severities = list(SEVERITIES) + sorted({s for s, _ in pairs} - set(SEVERITIES))
    table = []
    for severity in severities:
        counts = tuple(pairs[(severity, c)] for c in categories)
        table.append(CountRow(severity, counts, sum(counts)))
    totals = tuple(sum(n for (_, c), n in pairs.items() if c == category) for category in categories)
    return CountTable(categories, tuple(table), totals, sum(pairs.values()))


def median_change(current: Sequence[float], previous: Sequence[float]) -> MedianChange:
    """The median of `current` seconds against `previous`: '12m (was 20m, -40%)', with a true minus sign."""
    now = statistics.median(current) if current else None
    before = statistics.median(previous) if previous else None
    if now is None and before is None:
        text = "n/a"
    elif now is None:
        assert before is not None
        text = f"n/a (was {format_seconds(before)})"
    elif before is None:
        text = f"{format_seconds(now)} (was n/a)"
    elif before == 0:
        text = f"{format_seconds(now)} (was {format_seconds(before)})"
    else:
        percent = round((now - before) / before * 100)
        change = "±0%" if percent == 0 else (f"+{percent}%" if percent > 0 else f"{MINUS}{-percent}%")
        text = f"{format_seconds(now)} (was {format_seconds(before)}, {change})"
    return MedianChange(now, before, len(current), len(previous), text)


def format_seconds(seconds: float) -> str:
    """A short duration: '45s', '12m', '3h 5m', '2d 4h' (whole units, rounded down below the second)."""
    total = round(seconds)
    if total < 60:
        return f"{total}s"
    minutes = total // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def local_time(value: datetime | None, tz: ZoneInfo) -> str:
    """'2026-10-27 09:15 PDT': a time in the period's zone, never the server's."""
    if value is None:
        return "—"
    # The same text as strftime("%Y-%m-%d %H:%M %Z"), several times faster: digests format tens of thousands.
    local = value.astimezone(tz)
    return f"{local.year}-{local.month:02d}-{local.day:02d} {local.hour:02d}:{local.minute:02d} {local.tzname() or ''}"


def period_label(period: Period) -> str:
    """The local dates a period covers (end exclusive), joined by an en dash: '26 Oct - 1 Nov 2026', '2-8 Nov 2026'."""
    tz = ZoneInfo(period.timezone)
    first = period.start.astimezone(tz).date()
    last = (period.end - timedelta(microseconds=1)).astimezone(tz).date()
    if first == last:
        return f"{first.day} {first:%b %Y}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}{EN_DASH}{last.day} {last:%b %Y}"
    if first.year == last.year:
        return f"{first.day} {first:%b} {EN_DASH} {last.day} {last:%b %Y}"
    return f"{first.day} {first:%b %Y} {EN_DASH} {last.day} {last:%b %Y}"


def period_span(period: Period) -> str:
    """Both ends in local time with the zone and the length in hours (169 across a DST change)."""
    tz = ZoneInfo(period.timezone)

    def end(value: datetime) -> str:
        local = value.astimezone(tz)
        return f"{local:%a} {local.day} {local:%b %Y %H:%M %Z}"

    hours = (period.end - period.start).total_seconds() / 3600
    length = f"{hours:.0f}" if hours == int(hours) else f"{hours:.1f}"
    return f"{end(period.start)} {EN_DASH} {end(period.end)} ({period.timezone}, {length} hours)"


def standing_against_lines(series: MetricSeries, value: float) -> tuple[str, str]:
    """The highest level `value` has reached ('below', 'watch', 'alert', 'threshold') and how far the next line is."""
    reached = "below"
    names = line_names(series)
    for name in names:
        if crossed(series, name, value):
            reached = name
    pending = [n for n in names if not crossed(series, n, value)]
    if reached == "below" and not names:
        return reached, "no lines defined"
    head = f"at {reached} level" if reached != "below" else f"below {names[0]}"
    if not pending:
        return reached, head
    nxt = pending[0]
    gap = abs(series.lines[nxt] - value)
    return reached, f"{head}; {gap:.4g} from {nxt} ({comparison_text(series, nxt)})"


def line_names(series: MetricSeries) -> list[str]:
    known = [n for n in LEVELS if n in series.lines]
    return known + sorted(n for n in series.lines if n not in LEVELS)


def comparison_text(series: MetricSeries, name: str) -> str:
    text = series.comparisons.get(name)
    if text:
        return text
    op = ">=" if series.direction == "higher_is_worse" else "<="
    return f"{op}{series.lines[name]:g}"


def crossed(series: MetricSeries, name: str, value: float) -> bool:
    try:
        return parse_comparison(comparison_text(series, name)).holds(value)
    except ValueError:
        line = series.lines[name]
        return value >= line if series.direction == "higher_is_worse" else value <= line


def durations(rows: Iterable[IncidentRow], period: Period, what: Literal["ack", "resolve"]) -> list[float]:
    out = []
    for row in rows:
        if not period.start <= row.created_at < period.end:
            continue
        if what == "resolve" and row.status == "dismissed":
            continue  # a false positive closed is not a resolution
        done = row.acknowledged_at if what == "ack" else row.resolved_at
        if done is not None and done < period.end:
            out.append(max(0.0, (done - row.created_at).total_seconds()))
    return out


def first_answer(row: IncidentRow) -> datetime | None:
    """When someone first answered the page: the acknowledgement, or closing it outright."""
    acknowledged, resolved = row.acknowledged_at, row.resolved_at
    if acknowledged is None or resolved is None:
        return resolved if acknowledged is None else acknowledged
    return min(acknowledged, resolved)


def closed_by(row: IncidentRow, when: datetime) -> bool:
    if row.resolved_at is not None:
        return row.resolved_at < when
    # Closed without a recorded time (e.g. dismissed): treat as closed.
    return row.status in CLOSED


def order(row: IncidentRow) -> tuple[str, datetime, tuple[str, int]]:
    return (row.severity, row.created_at, ref_key(row.ref))


# Compiled once: sorting tens of thousands of refs through re's pattern cache cost a tenth of a large digest.
_REF = re.compile(r"(.*?)(\d+)")


def ref_key(ref: str) -> tuple[str, int]:
    found = _REF.fullmatch(ref)
    return (found.group(1), int(found.group(2))) if found else (ref, 0)


def loaded(change: PolicyChange) -> datetime:
    return change.loaded_at


def by_time(items: list[tuple[datetime, DeadlineView]]) -> list[DeadlineView]:
    return [view for _, view in sorted(items, key=lambda pair: (pair[0], pair[1].ref, pair[1].name))]


def named(ref: str, label: str) -> str:
    return f"{ref} · {label}" if label else ref


def one_line(text: str) -> str:
    return " ".join(text.split())


def plural(n: int, one: str, many: str, *, bare: bool = False) -> str:
    word = one if n == 1 else many
    return word if bare else f"{n} {word}"


# A model's history shows at most this many values in full; longer ones keep the first and the latest few.
HISTORY_SHOWN = 8


def history_text(values: Sequence[float]) -> str:
    """Values oldest first as '0.7 → 0.72 → 0.74'; a long run as its first two, '…', its last five, low and high."""
    shown = [f"{v:.4g}" for v in values]
    if len(shown) <= HISTORY_SHOWN:
        return " → ".join(shown)
    head, tail = shown[:2], shown[-(HISTORY_SHOWN - 3) :]
    return " → ".join([*head, "…", *tail]) + f" (low {min(values):.4g}, high {max(values):.4g})"
