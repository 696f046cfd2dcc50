"""The charts' history query on SQLite and PostgreSQL: one aggregate query for every metric, on the same day
boundaries as the pure fold (bot.digest.charts.daily), answered from the covering index."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session

from bot.digest.charts import DAY, daily
from bot.digest.inputs import history_start
from db import digest_queries as queries
from db.engine import make_engine
from db.migrate import upgrade
from db.models import EvalResult
from tests.unit.digest.fixture import WEEK, point

END = WEEK.end
START = history_start(WEEK)
METRICS = ("cyber.ctf_solve", "ai-rd.swe_tasks")


def result(metric: str | None, family: str, value: float, when: datetime) -> EvalResult:
    # Each result its own run: (source, run_id, task, scorer, metric) is a result's identity.
    run = f"run-{metric}-{family}-{when.isoformat()}-{value}"
    return EvalResult(
        source="inspect", run_id=run, task="task", metric="accuracy", model=f"{family}-2", model_family=family,
        value=value, observed_at=when, received_at=when, policy_metric=metric,
    )  # fmt: skip


def seeded() -> list[EvalResult]:
    """Ten weeks of atlas and eight of borealis on both metrics, three a day, plus the edges of days and window."""
    rows = []
    for m, metric in enumerate(METRICS):
        for family, days in (("atlas", 70), ("borealis", 56)):
            for back in range(days):
                for hour, bump in ((3, 0.0), (11, 0.04), (19, 0.02)):
                    when = END - (back + 1) * DAY + timedelta(hours=hour, minutes=7 * m)
                    rows.append(result(metric, family, round(0.3 + 0.004 * (days - back) + bump, 4), when))
        # Exactly on a day boundary, and half a second either side of one (fractions of a second are kept).
        for offset in (timedelta(0), timedelta(milliseconds=500), -timedelta(milliseconds=500)):
            rows.append(result(metric, "edge", 0.9, END - 3 * DAY + offset))
    rows += [
        result(METRICS[0], "atlas", 5.0, END),  # the period end is outside [start, end)
        result(METRICS[0], "atlas", 5.0, START - timedelta(microseconds=1)),  # before the window
        result(METRICS[0], "atlas", 5.0, START - timedelta(days=40)),
        result("bio.uplift_mcq", "atlas", 5.0, END - DAY),  # a metric not asked for
        result(None, "atlas", 5.0, END - DAY),  # matched no metric
    ]
    return rows


def seeded_engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        upgrade(engine)
        with Session(engine) as session:
            session.add_all(seeded())
            session.commit()
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    yield from seeded_engine(database_url)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    # The query plan below is SQLite's (PostgreSQL picks its plan from statistics): this test runs on SQLite only.
    yield from seeded_engine(f"sqlite:///{tmp_path}/plan.db")


def reference(metric: str) -> list[tuple[str, datetime, int, float, float, float]]:
    """What the pure fold makes of the same rows: the day boundaries the chart uses without a database."""
    points = [
        point(r.observed_at, r.model_family, r.value)
        for r in seeded()
        if r.policy_metric == metric and START <= r.observed_at < END
    ]
    return sorted((d.model_family, d.day_start, d.count, d.low, d.high, d.mean) for d in daily(points, end=END))


def test_history_is_one_row_per_metric_family_and_day_as_the_pure_fold(engine: Engine) -> None:
    with Session(engine) as session:
        rows = queries.list_daily_metric_history(session=session, policy_metrics=METRICS, start=START, end=END)
    assert {r.policy_metric for r in rows} == set(METRICS)
    for metric in METRICS:
        got = sorted(
            (r.model_family, END - (r.day + 1) * DAY, r.results, r.low, r.high, r.mean)
            for r in rows
            if r.policy_metric == metric
        )
        expected = reference(metric)
        assert [g[:5] for g in got] == [e[:5] for e in expected]
        assert [g[5] for g in got] == pytest.approx([e[5] for e in expected])
        by_family = {family: sum(1 for g in got if g[0] == family) for family in ("atlas", "borealis", "edge")}
        assert by_family == {"atlas": 70, "borealis": 56, "edge": 2}
    # The boundary result and the one half a second later share day 2; half a second earlier is day 3.
    edges = sorted((r.day, r.results) for r in rows if r.model_family == "edge" and r.policy_metric == METRICS[0])
    assert edges == [(2, 2), (3, 1)]
    assert max(r.high for r in rows) < 5.0  # nothing outside the window or from another metric


def test_no_metrics_asks_nothing(engine: Engine) -> None:
    with Session(engine) as session:
        assert queries.list_daily_metric_history(session=session, policy_metrics=(), start=START, end=END) == []
        assert queries.list_metric_points(session=session, policy_metrics=(), start=START, end=END) == {}


def test_period_points_for_every_metric_in_one_query(engine: Engine) -> None:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        with Session(engine) as session:
            points = queries.list_metric_points(
                session=session, policy_metrics=[*METRICS, "misuse.none"], start=WEEK.start, end=END
            )
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len([s for s in statements if "eval_result" in s]) == 1
    assert points["misuse.none"] == []
    for metric in METRICS:
        times = [p[0] for p in points[metric]]
        assert times == sorted(times) and all(WEEK.start <= t < END for t in times)
        assert len(times) == 7 * 3 * 2 + 3  # seven days of both families, and the three edge results


def test_history_query_reads_only_the_covering_index_on_sqlite(sqlite_engine: Engine) -> None:
    engine = sqlite_engine
    captured: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        captured.append((args[2], args[3]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with Session(engine) as session:
            queries.list_daily_metric_history(session=session, policy_metrics=METRICS, start=START, end=END)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    ((sql, params),) = [c for c in captured if "eval_result" in c[0]]
    with engine.connect() as connection:
        plan = " / ".join(row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params))
    index = "USING COVERING INDEX ix_eval_result_metric_time (policy_metric=? AND observed_at>? AND observed_at<?)"
    assert index in plan
    assert "SCAN" not in plan.replace("USE TEMP B-TREE", "")
