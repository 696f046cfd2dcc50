"""Digest charts: a tracked metric over time per model family, against its watch, alert and threshold lines.

Headless and deterministic: the object API (Figure + the Agg canvas) needs no global backend, and the PNG carries
no software version or date, so the same series always gives the same bytes."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.digest.inputs import MetricSeries, Period

WIDTH_PX, HEIGHT_PX, DPI = 900, 450, 100
LINE_ORDER = ("watch", "alert", "threshold")
LINE_COLOURS = {"watch": "#e6a700", "alert": "#f26b00", "threshold": "#d62728"}
# Family colours keep clear of the amber/orange/red used by the lines.
FAMILY_COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#393b79")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LINE_WIDTH = 3 * 72 / DPI  # three pixels: the row a line sits on is always fully painted


@dataclass(frozen=True)
class Chart:
    """A rendered chart and the data drawn in it (tests and the frozen digest read the data, Slack gets the PNG)."""

    metric_id: str
    title: str
    png: bytes
    lines: dict[str, float]
    series: dict[str, list[tuple[str, float]]]
    line_rows: dict[str, int]
    line_colours: dict[str, str]
    width: int = WIDTH_PX
    height: int = HEIGHT_PX


def render_chart(series: MetricSeries, *, period: Period) -> Chart:
    """Draw one metric: a line with markers per model family, dashed horizontal lines for its levels, local dates."""
    tz = ZoneInfo(period.timezone)
    families: dict[str, list[tuple[datetime, float]]] = {}
    for point in sorted(series.points, key=lambda p: (p.model_family, p.observed_at)):
        families.setdefault(point.model_family, []).append((point.observed_at.astimezone(tz), point.value))
    lines = {name: float(series.lines[name]) for name in _ordered_lines(series.lines)}

    title = f"{series.metric_id} — {series.description}" if series.description else series.metric_id
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(figure)  # attaches the headless canvas; no global backend is touched
    axes = figure.add_axes((0.08, 0.13, 0.64, 0.77))
    for index, (family, points) in enumerate(families.items()):
        axes.plot(
            [_days(when) for when, _ in points],
            [value for _, value in points],
            color=FAMILY_COLOURS[index % len(FAMILY_COLOURS)],
            marker="o",
            markersize=4 if len(points) <= 100 else 2,
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

    start, end = _x_limits(period, families)
    axes.set_xlim(_days(start), _days(end))
    low, high = _y_limits([v for points in families.values() for _, v in points], list(lines.values()))
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
        axes.text(0.5, 0.5, "no results in the period", transform=axes.transAxes, ha="center", color="#777777")
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
        series={family: [(when.isoformat(), value) for when, value in points] for family, points in families.items()},
        line_rows=line_rows,
        line_colours={name: LINE_COLOURS.get(name, "#555555") for name in lines},
    )


def _days(when: datetime) -> float:
    """Matplotlib's date unit (days since 1970-01-01 UTC), computed here so the axis never depends on local time."""
    return (when - EPOCH).total_seconds() / 86400


def _ticks(start: datetime, end: datetime, tz: ZoneInfo) -> list[datetime]:
    """Local midnights (or every 6 hours for short spans), thinned to at most 9 ticks; DST-aware."""
    span = end - start
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


def _x_limits(period: Period, families: dict[str, list[tuple[datetime, float]]]) -> tuple[datetime, datetime]:
    tz = ZoneInfo(period.timezone)
    times = [when for points in families.values() for when, _ in points]
    start = min([period.start.astimezone(tz), *times])
    end = max([period.end.astimezone(tz), *times])
    return start, end


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
