"""Charts: a real PNG of the right size, the lines where the data says, and the same bytes every time."""

from __future__ import annotations

import dataclasses
import io
from datetime import timedelta
from functools import cache

import numpy as np
import pytest
from matplotlib.image import imread

from bot.digest.charts import HEIGHT_PX, LINE_COLOURS, WIDTH_PX, Chart, render_chart
from bot.digest.inputs import MetricSeries
from tests.unit.digest.fixture import SERIES, WEEK, local, point

CTF = SERIES[0]


@cache
def ctf_chart() -> Chart:
    return render_chart(CTF, period=WEEK)


def pixels(chart: Chart) -> np.ndarray:
    """RGB floats in 0..1, rows from the top."""
    image = imread(io.BytesIO(chart.png), format="png")
    return np.asarray(image)[:, :, :3]


def rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])


def painted(chart: Chart, row: int, colour: str) -> int:
    """How many pixels of `row` have `colour` (within rounding)."""
    distance = np.abs(pixels(chart)[row] - rgb(colour)).max(axis=1)
    return int((distance < 0.02).sum())


def test_png_opens_at_900_by_450() -> None:
    chart = ctf_chart()
    assert chart.png.startswith(b"\x89PNG\r\n\x1a\n")
    assert pixels(chart).shape == (HEIGHT_PX, WIDTH_PX, 3) == (450, 900, 3)


def test_chart_carries_its_lines_and_data() -> None:
    chart = ctf_chart()
    assert chart.metric_id == "cyber.ctf_solve"
    assert chart.title == "cyber.ctf_solve — Share of capture-the-flag challenges solved"
    assert chart.lines == {"watch": 0.4, "alert": 0.6, "threshold": 0.8}
    assert sorted(chart.series) == ["atlas", "borealis"]
    atlas = chart.series["atlas"]
    # Without a history from the database the period's results are folded into days counted back from the period
    # end (midnight PST), so before the fall-back each day runs 01:00-01:00 PDT and its middle is 13:00 PDT.
    assert len(atlas) == 7 and atlas[0] == ("2026-10-26T13:00:00-07:00", 0.7)
    assert atlas[-1] == ("2026-11-01T12:00:00-08:00", 0.82)


@pytest.mark.parametrize("line", ["watch", "alert", "threshold"])
def test_each_line_is_drawn_in_its_colour_on_its_row(line: str) -> None:
    chart = ctf_chart()
    row = chart.line_rows[line]
    assert chart.line_colours[line] == LINE_COLOURS[line]
    assert painted(chart, row, LINE_COLOURS[line]) > 100  # a dashed line across most of the plot
    # and not a few rows away, where a misplaced line would be
    assert painted(chart, row - 6, LINE_COLOURS[line]) < 10
    assert painted(chart, row + 6, LINE_COLOURS[line]) < 10


def test_higher_lines_sit_higher_in_the_image() -> None:
    rows = ctf_chart().line_rows
    assert rows["threshold"] < rows["alert"] < rows["watch"]


def test_line_colours_are_distinct_amber_orange_red() -> None:
    assert LINE_COLOURS == {"watch": "#e6a700", "alert": "#f26b00", "threshold": "#d62728"}


def test_y_limits_include_every_line_even_far_from_the_data() -> None:
    low = dataclasses.replace(
        CTF,
        lines={"watch": 0.9, "alert": 1.5, "threshold": 3.0},
        points=tuple(point(local(2026, 10, 27, 12) + timedelta(days=d), "atlas", 0.1 + 0.01 * d) for d in range(5)),
    )
    chart = render_chart(low, period=WEEK)
    for name, row in chart.line_rows.items():
        assert 0 < row < HEIGHT_PX - 1
        assert painted(chart, row, LINE_COLOURS[name]) > 100, name


def test_lower_is_worse_metric_draws_its_lines_too() -> None:
    refusal = MetricSeries(
        metric_id="misuse.refusal_rate",
        description="Refusals on harmful requests",
        category="misuse",
        direction="lower_is_worse",
        lines={"watch": 0.9, "alert": 0.8},
        comparisons={"watch": "<=0.9", "alert": "<=0.8"},
        points=(point(local(2026, 10, 28, 9), "atlas", 0.95), point(local(2026, 10, 30, 9), "atlas", 0.93)),
    )
    chart = render_chart(refusal, period=WEEK)
    assert chart.lines == {"watch": 0.9, "alert": 0.8}
    assert chart.line_rows["watch"] < chart.line_rows["alert"]
    assert painted(chart, chart.line_rows["alert"], LINE_COLOURS["alert"]) > 100


def test_same_input_gives_identical_bytes_and_different_input_does_not() -> None:
    again = render_chart(CTF, period=WEEK)
    assert again.png == ctf_chart().png
    moved = dataclasses.replace(CTF, lines={**CTF.lines, "threshold": 0.85})
    assert render_chart(moved, period=WEEK).png != ctf_chart().png


def test_png_carries_no_software_or_date_text() -> None:
    png = ctf_chart().png
    assert b"Software" not in png and b"matplotlib" not in png.lower()


def test_empty_series_still_renders_its_lines() -> None:
    chart = render_chart(dataclasses.replace(CTF, points=()), period=WEEK)
    assert chart.series == {}
    assert painted(chart, chart.line_rows["threshold"], LINE_COLOURS["threshold"]) > 100
