"""Digest charts: a tracked metric's history per model family, against its watch, alert and threshold lines.

A chart covers HISTORY_WEEKS up to the period end (or the whole period when longer) with the period shaded: each
family is drawn as its daily mean, with a light bar from the day's lowest to its highest result, so a single result
past a line still shows on a day whose mean stays below it.

Headless and deterministic: the object API (Figure + the Agg canvas) needs no global backend, and the PNG carries
no software version or date, so the same series always gives the same bytes."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.digest.inputs import DailyPoint, MetricSeries, Period, SeriesPoint, history_start

WIDTH_PX, HEIGHT_PX, DPI = 900, 450, 100
LINE_ORDER = ("watch", "alert", "threshold")
LINE_COLOURS = {"watch": "#e6a700", "alert": "#f26b00", "threshold": "#d62728"}
# Family colours keep clear of the amber/orange/red used by the lines.
FAMILY_COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#393b79")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LINE_WIDTH = 3 * 72 / DPI  # three pixels: the row a line sits on is always fully painted
PERIOD_SHADE = "#dde7f3"  # the period's band: pale blue, clear of the line colours and of white
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Chart:
    """A rendered chart and the data drawn in it (tests and the frozen digest read the data, Slack gets the PNG)."""

    metric_id: str
    title: str
    png: bytes
    lines: dict[str, float]
    series: dict[str, list[tuple[str, float]]]  # per family: (local midday of the day, the day's mean), as drawn
    line_rows: dict[str, int]
    line_colours: dict[str, str]
    ranges: dict[str, list[tuple[str, float, float]]] = field(default_factory=dict)  # per family: (day, low, high)
    window: tuple[str, str] = ("", "")  # the x axis, local ISO times
    highlight: tuple[str, str] = ("", "")  # the shaded period, local ISO times
    weeks: int = 0  # how many weeks the x axis spans
    width: int = WIDTH_PX
    height: int = HEIGHT_PX


def render_chart(series: MetricSeries, *, period: Period) -> Chart:
    """Draw one metric: each family's daily means over the history window, the period shaded, the lines dashed."""
    tz = ZoneInfo(period.timezone)
    days = series.history or daily(series.points, end=period.end)
    families: dict[str, list[DailyPoint]] = {}
    for day in sorted(days, key=lambda d: (d.model_family, d.day_start)):
        families.setdefault(day.model_family, []).append(day)
    lines = {name: float(series.lines[name]) for name in _ordered_lines(series.lines)}

    title = f"{series.metric_id} — {series.description}" if series.description else series.metric_id
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(figure)  # attaches the headless canvas; no global backend is touched
    axes = figure.add_axes((0.08, 0.13, 0.64, 0.77))
    start, end = history_start(period).astimezone(tz), period.end.astimezone(tz)
    axes.axvspan(_days(period.start), _days(period.end), color=PERIOD_SHADE, linewidth=0, zorder=0, label="this period")
    for index, (family, points) in enumerate(families.items()):
        colour = FAMILY_COLOURS[index % len(FAMILY_COLOURS)]
        x = [_days(_midday(p)) for p in points]
        axes.vlines(
            x, [p.low for p in points], [p.high for p in points], color=colour, alpha=0.35, linewidth=2, zorder=2
        )
        axes.plot(
            x,
            [p.mean for p in points],
            color=colour,
            marker="o",
            markersize=3,
            linewidth=1.5,
            label=family,
            zorder=3,  # results stay visible where they touch a line
        )
    for name, value in lines.items():
        comparison = series.comparisons.get(name, "")
        axes.axhline(
            value,
            color=LINE_COLOURS.get(name, "#555555"),
            linestyle=(0, (6, 3)),
            linewidth=LINE_WIDTH,
            label=f"{name} {comparison}".strip(),
        )

    axes.set_xlim(_days(start), _days(end))
    values = [v for points in families.values() for p in points for v in (p.low, p.high)]
    low, high = _y_limits(values, list(lines.values()))
    axes.set_ylim(low, high)
    ticks = _ticks(start, end, tz)
    axes.set_xticks([_days(t) for t in ticks], [_tick_label(t, end - start) for t in ticks])
    axes.set_xlabel(f"date ({period.timezone})")
    axes.set_ylabel(series.metric_id)
    axes.grid(True, color="#e5e5e5", linewidth=0.8)
    axes.set_title(_fit(title, 90), fontsize=11, loc="left")
    for name, value in lines.items():
        axes.annotate(
            name,
            xy=(1.0, value),
            xycoords=("axes fraction", "data"),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            color=LINE_COLOURS.get(name, "#555555"),
        )
    if not families:
        axes.text(0.5, 0.5, "no results in these weeks", transform=axes.transAxes, ha="center", color="#777777")
    axes.legend(loc="upper left", bbox_to_anchor=(1.17, 1.0), fontsize=8, frameon=False)

    # Limits and the axes box are fixed, so the data-to-pixel transform is final before drawing.
    line_rows = {}
    for name, value in lines.items():
        _, y = axes.transData.transform((_days(start), value))
        line_rows[name] = min(HEIGHT_PX - 1, max(0, round(HEIGHT_PX - y)))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return Chart(
        metric_id=series.metric_id,
        title=title,
        png=buffer.getvalue(),
        lines=lines,
        series={family: [(_midday(p, tz).isoformat(), p.mean) for p in points] for family, points in families.items()},
        line_rows=line_rows,
        line_colours={name: LINE_COLOURS.get(name, "#555555") for name in lines},
        ranges={
            family: [(_midday(p, tz).isoformat(), p.low, p.high) for p in points] for family, points in families.items()
        },
        window=(start.isoformat(), end.isoformat()),
        highlight=(period.start.astimezone(tz).isoformat(), period.end.astimezone(tz).isoformat()),
        weeks=round((end - start) / timedelta(weeks=1)),
    )


def daily(points: Sequence[SeriesPoint], *, end: datetime) -> tuple[DailyPoint, ...]:
    """Results folded into days counted back from `end`, as the history query does in SQL (same day boundaries)."""
    grouped: dict[tuple[str, int], list[float]] = {}
    for p in points:
        back = (end - p.observed_at - timedelta(microseconds=1)) // DAY  # day k holds k days < end - t <= k+1 days
        grouped.setdefault((p.model_family, back), []).append(p.value)
    return tuple(
        DailyPoint(end - (back + 1) * DAY, family, len(values), min(values), max(values), sum(values) / len(values))
        for (family, back), values in sorted(grouped.items())
    )


def _midday(day: DailyPoint, tz: ZoneInfo | None = None) -> datetime:
    """Where a day's values are drawn: the middle of its 24 hours."""
    middle = day.day_start + DAY / 2
    return middle.astimezone(tz) if tz is not None else middle


def _days(when: datetime) -> float:
    """Matplotlib's date unit (days since 1970-01-01 UTC), computed here so the axis never depends on local time."""
    return (when - EPOCH).total_seconds() / 86400


def _ticks(start: datetime, end: datetime, tz: ZoneInfo) -> list[datetime]:
    """Weekly for long spans, else local midnights (every 6 hours for short spans); at most 9 ticks; DST-aware."""
    span = end - start
    if span > timedelta(weeks=3):
        # Weekly, on the period end's local weekday and time, so the period's own start and end are ticks.
        wall = end.astimezone(tz).replace(tzinfo=None)
        weeks = [(wall - timedelta(weeks=k)).replace(tzinfo=tz) for k in range(int(span / timedelta(weeks=1)) + 1)]
        ticks = sorted(t for t in weeks if t >= start)
        step = max(1, -(-len(ticks) // 9))
        return ticks[::-1][::step][::-1]  # thinned from the end: the period end keeps its tick
    if span <= timedelta(days=2):
        first = start.replace(minute=0, second=0, microsecond=0)
        candidates = [first + timedelta(hours=h) for h in range(0, int(span / timedelta(hours=1)) + 2)]
        ticks = [t for t in candidates if start <= t <= end and t.astimezone(tz).hour % 6 == 0]
    else:
        day = start.astimezone(tz).date()
        ticks = []
        while True:
            midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
            if midnight > end:
                break
            if midnight >= start:
                ticks.append(midnight)
            day += timedelta(days=1)
    step = max(1, -(-len(ticks) // 9))
    return ticks[::step]


def _tick_label(when: datetime, span: timedelta) -> str:
    if span <= timedelta(days=2):
        return f"{when.day} {when:%b %H:%M}"
    return f"{when.day} {when:%b}"


def _ordered_lines(lines: dict[str, float]) -> list[str]:
    known = [name for name in LINE_ORDER if name in lines]
    return known + sorted(name for name in lines if name not in LINE_ORDER)


def _y_limits(values: list[float], lines: list[float]) -> tuple[float, float]:
    """Limits that show every point and every line, with a little room above and below."""
    everything = values + lines
    if not everything:
        return 0.0, 1.0
    low, high = min(everything), max(everything)
    span = high - low
    pad = span * 0.08 if span > 0 else max(abs(high) * 0.1, 0.05)
    return low - pad, high + pad


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
