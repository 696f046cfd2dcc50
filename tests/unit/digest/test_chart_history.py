"""Charts draw the metric's history (12 weeks to the period end, per model family) with the period shaded; metrics
without data are listed, not drawn."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.image import imread

from bot.digest.charts import DAY, EPOCH, PERIOD_SHADE, daily, render_chart
from bot.digest.compose import build_risk_report, build_weekly
from bot.digest.inputs import HISTORY_WEEKS, DailyPoint, MetricSeries, Period, history_start
from bot.digest.render import render_digest
from bot.slack.digest_messages import digest_mrkdwn
from tests.unit.digest.fixture import SERIES, WEEK, point, weekly_input

CTF = SERIES[0]
FAMILIES = {"atlas": 70, "borealis": 56}  # days of history each family has: 10 and 8 weeks


def days_before_end(family: str, count: int) -> tuple[DailyPoint, ...]:
    """One day per day for `count` days up to the period end, values rising with time (easy to tell apart)."""
    out = []
    for back in range(count):
        start = WEEK.end - (back + 1) * DAY
        mean = 0.3 + 0.005 * (count - back)
        out.append(DailyPoint(start, family, 3, mean - 0.02, mean + 0.02, mean))
    return tuple(out)


HISTORY = dataclasses.replace(
    CTF, history=tuple(d for family, count in FAMILIES.items() for d in days_before_end(family, count))
)


def as_days(when: datetime) -> float:
    return (when - EPOCH).total_seconds() / 86400


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[Any]]]:
    """What render_chart hands to matplotlib: each plot's (label, x, y) and each shaded span's (x0, x1)."""
    calls: dict[str, list[Any]] = {"plot": [], "axvspan": []}
    plot, axvspan = Axes.plot, Axes.axvspan

    def spy_plot(self: Axes, *args: Any, **kwargs: Any) -> Any:
        calls["plot"].append((kwargs.get("label"), list(args[0]), list(args[1])))
        return plot(self, *args, **kwargs)

    def spy_axvspan(self: Axes, xmin: float, xmax: float, **kwargs: Any) -> Any:
        calls["axvspan"].append((xmin, xmax))
        return axvspan(self, xmin, xmax, **kwargs)

    monkeypatch.setattr(Axes, "plot", spy_plot)
    monkeypatch.setattr(Axes, "axvspan", spy_axvspan)
    yield calls


def test_each_family_is_drawn_over_its_weeks_of_history(drawn: dict[str, list[Any]]) -> None:
    chart = render_chart(HISTORY, period=WEEK)
    plotted = {label: (x, y) for label, x, y in drawn["plot"]}
    assert sorted(plotted) == ["atlas", "borealis"]
    for family, count in FAMILIES.items():
        x, y = plotted[family]
        assert len(x) == len(y) == count == len(chart.series[family])
        # Oldest first, one per day, each at the middle of its day; the last day ends at the period end.
        expected = [as_days(WEEK.end - (back + 1) * DAY + DAY / 2) for back in reversed(range(count))]
        assert x == pytest.approx(expected)
        assert y == sorted(y) and y[-1] == pytest.approx(0.3 + 0.005 * count)  # the period end's day is last
        assert datetime.fromisoformat(chart.series[family][0][0]) == WEEK.end - count * DAY + DAY / 2
    assert chart.ranges["atlas"][-1][1:] == pytest.approx((0.63, 0.67))


def test_the_axis_spans_twelve_weeks_to_the_period_end_and_the_period_is_shaded(drawn: dict[str, list[Any]]) -> None:
    chart = render_chart(HISTORY, period=WEEK)
    assert drawn["axvspan"] == [(pytest.approx(as_days(WEEK.start)), pytest.approx(as_days(WEEK.end)))]
    start, end = (datetime.fromisoformat(t) for t in chart.window)
    assert end == WEEK.end and start == WEEK.end - timedelta(weeks=HISTORY_WEEKS) and chart.weeks == 12
    assert tuple(datetime.fromisoformat(t) for t in chart.highlight) == (WEEK.start, WEEK.end)


def test_the_shaded_band_is_painted_over_the_last_twelfth_only() -> None:
    chart = render_chart(HISTORY, period=WEEK)
    image = np.asarray(imread(io.BytesIO(chart.png), format="png"))[:, :, :3]
    shade = np.array([int(PERIOD_SHADE[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    left, width = round(0.08 * image.shape[1]), round(0.64 * image.shape[1])  # the plot's box (add_axes)
    top = round(0.10 * image.shape[0])
    row = (top + chart.line_rows["threshold"]) // 2  # between the top of the plot and its highest line: no data
    columns = left + np.flatnonzero(np.abs(image[row, left : left + width] - shade).max(axis=1) < 0.02)
    # One week of twelve (169 hours of 2,017: the fall-back week), at the right-hand end of the plot.
    assert width * 169 / 2017 - 3 <= len(columns) <= width * 169 / 2017 + 1
    assert columns.min() >= left + width * (1 - 169 / 2017) - 2 and columns.max() <= left + width


def test_a_longer_period_is_drawn_whole() -> None:
    quarter = Period("risk-report", WEEK.end - timedelta(weeks=20), WEEK.end, WEEK.timezone)
    assert history_start(quarter) == quarter.start
    chart = render_chart(HISTORY, period=quarter)
    assert chart.weeks == 20 and datetime.fromisoformat(chart.window[0]) == quarter.start


@pytest.mark.parametrize(
    ("before_end", "day"),
    [
        pytest.param(timedelta(microseconds=1), 0, id="just-before-end"),
        pytest.param(DAY, 0, id="exactly-one-day-before"),
        pytest.param(DAY + timedelta(microseconds=1), 1, id="just-over-one-day"),
        pytest.param(7 * DAY, 6, id="exactly-the-period-start"),
    ],
)
def test_results_fall_on_days_counted_back_from_the_period_end(before_end: timedelta, day: int) -> None:
    (only,) = daily([point(WEEK.end - before_end, "atlas", 0.5)], end=WEEK.end)
    assert only.day_start == WEEK.end - (day + 1) * DAY
    assert (only.count, only.low, only.high, only.mean) == (1, 0.5, 0.5, 0.5)


def test_a_day_keeps_its_count_range_and_mean() -> None:
    noon = WEEK.end - DAY / 2
    (only,) = daily([point(noon, "atlas", v) for v in (0.2, 0.9, 0.4)], end=WEEK.end)
    assert (only.count, only.low, only.high) == (3, 0.2, 0.9) and only.mean == pytest.approx(0.5)


EMPTY = MetricSeries(
    metric_id="misuse.refusal_rate",
    description="Refusals on harmful requests",
    category="misuse",
    direction="lower_is_worse",
    lines={"watch": 0.9},
    comparisons={"watch": "<=0.9"},
    points=(),
)
# Results in earlier weeks but none in the period: drawn (the history is there) and listed.
EARLIER = dataclasses.replace(
    SERIES[1],
    metric_id="ai-rd.quiet_metric",
    points=(),
    history=tuple(d for d in days_before_end("atlas", 30) if d.day_start < WEEK.start),
)


@pytest.mark.parametrize("build", [build_weekly, build_risk_report], ids=["weekly", "risk-report"])
def test_metrics_without_data_are_listed_not_drawn(build: Any) -> None:
    digest = build(weekly_input(series=(*SERIES, EMPTY, EARLIER)))
    assert [c.metric_id for c in digest.charts] == ["ai-rd.quiet_metric", "ai-rd.swe_tasks", "cyber.ctf_solve"]
    assert digest.no_data == ("ai-rd.quiet_metric", "misuse.refusal_rate")
    assert len(digest.charts[0].series["atlas"]) == 23  # the 30 days less the period's 7
    line = "Metrics with no data this period: ai-rd.quiet\\_metric, misuse.refusal\\_rate."
    assert line in render_digest(digest, fmt="md")
    html = render_digest(digest, fmt="html")
    assert "Metrics with no data this period: ai-rd.quiet_metric, misuse.refusal_rate." in html
    assert html.count("<figure>") == 3 and "misuse.refusal_rate.png" not in html


def test_the_slack_summary_names_metrics_without_data() -> None:
    text = digest_mrkdwn(build_weekly(weekly_input(series=(*SERIES, EMPTY))))
    assert "_Charts: 2_ (ai-rd.swe_tasks, cyber.ctf_solve)." in text
    assert "_No data this period:_ misuse.refusal_rate." in text


def test_no_metric_with_data_leaves_no_empty_frames() -> None:
    digest = build_risk_report(weekly_input(series=(EMPTY,)))
    assert digest.charts == () and digest.no_data == ("misuse.refusal_rate",)
    md = render_digest(digest, fmt="md")
    assert "Metrics with no data this period: misuse.refusal\\_rate." in md and "No tracked metrics." not in md


def test_restricted_history_is_drawn_under_stand_in_names() -> None:
    bio = dataclasses.replace(HISTORY, metric_id="bio.uplift_mcq", category="cbrn.bio", points=())
    digest = build_weekly(weekly_input(series=(bio,)))
    assert sorted(digest.charts[0].series) == ["restricted model 1", "restricted model 2"]
    assert "atlas" not in json.dumps(digest.as_data()["charts"])
