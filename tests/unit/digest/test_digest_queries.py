"""The digest's bulk reads take their times raw and read them with utc_datetime: the same aware UTC datetimes the
UTCDateTime column type gives, on SQLite (naive UTC text) and PostgreSQL (aware datetimes)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.digest.service import cycle_collection_paused
from db import digest_queries as queries
from db.digest_queries import utc_datetime
from db.engine import make_engine
from db.migrate import upgrade
from db.models import EvalResult, Incident

WHEN = datetime(2026, 3, 29, 0, 30, 15, 250_000, tzinfo=UTC)  # the night European clocks go forward
PLUS_TWO = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("2026-03-29 00:30:15.250000", WHEN, id="sqlite-naive-text"),
        pytest.param("2026-03-29 00:30:15", WHEN.replace(microsecond=0), id="naive-text-whole-second"),
        pytest.param("2026-03-29T00:30:15.250000", WHEN, id="naive-text-iso-t"),
        pytest.param("2026-03-29 02:30:15.250000+02:00", WHEN, id="aware-text-other-offset"),
        pytest.param("2026-03-29 00:30:15.250000+00:00", WHEN, id="aware-text-utc"),
        pytest.param("2026-03-29T00:30:15.250Z", WHEN, id="aware-text-z"),
        pytest.param(datetime(2026, 3, 29, 2, 30, 15, 250_000, tzinfo=PLUS_TWO), WHEN, id="postgres-aware"),
        pytest.param(WHEN, WHEN, id="postgres-utc"),
        pytest.param(WHEN.replace(tzinfo=None), WHEN, id="naive-datetime"),
    ],
)
def test_utc_datetime_gives_aware_utc_whatever_the_driver_gave(raw: str | datetime, expected: datetime) -> None:
    value = utc_datetime(raw)
    assert value == expected
    # The very same tzinfo UTCDateTime gives, so renders (isoformat, %Z) cannot differ.
    assert value.tzinfo is UTC
    assert value.isoformat() == expected.isoformat()


def test_utc_datetime_refuses_text_that_is_not_a_time() -> None:
    with pytest.raises(ValueError):
        utc_datetime("not a time")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()


def seed(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(
            Incident(
                title="acknowledged", reporter="U1", created_at=WHEN, updated_at=WHEN,
                acknowledged_at=WHEN + timedelta(minutes=5), ack_due_at=WHEN + timedelta(minutes=30),
                snoozed_until=WHEN + timedelta(hours=1), actions=["page-lead"],
            )
        )  # fmt: skip
        # Times with no fraction of a second, and the empty (NULL) ones.
        opened = WHEN.replace(microsecond=0) + timedelta(hours=2)
        session.add(Incident(title="open", reporter="U1", created_at=opened, updated_at=opened))
        for n, level in enumerate(("threshold", None)):
            session.add(
                EvalResult(
                    source="inspect", run_id=f"run-{n}", task="task", metric="accuracy", model="m-1",
                    model_family="m", value=0.8 - n, observed_at=WHEN + timedelta(seconds=n),
                    received_at=WHEN, policy_metric="cyber.ctf", level=level,
                )
            )  # fmt: skip
        session.commit()


def test_bulk_reads_give_the_times_the_column_type_gives(engine: Engine) -> None:
    seed(engine)
    start, end = WHEN - timedelta(days=1), WHEN + timedelta(days=1)
    with Session(engine) as session:
        stored = session.exec(select(Incident).order_by(col(Incident.id))).all()
        results = session.exec(select(EvalResult).order_by(col(EvalResult.id))).all()
        created = queries.list_incidents_created(session=session, start=start, end=end)
        still_open = queries.list_incidents_open_at(session=session, end=end)
        flagged = queries.list_flagged_results(session=session, start=start, end=end)
        points = queries.list_metric_points(session=session, policy_metrics=["cyber.ctf"], start=start, end=end)
    names = ("created_at", "acknowledged_at", "resolved_at", "ack_due_at", "snoozed_until")
    assert len(created) == len(stored) == 2
    assert [f.id for f in still_open] == [i.id for i in stored]
    for facts, incident in zip(created, stored, strict=True):
        assert [getattr(facts, n) for n in names] == [getattr(incident, n) for n in names]
        assert all(getattr(facts, n) is None or getattr(facts, n).tzinfo is UTC for n in names)
        assert facts.actions == tuple(incident.actions)
    assert created[1].acknowledged_at is None and created[1].created_at.microsecond == 0
    assert [(r.observed_at, r.observed_at.tzinfo) for r in flagged] == [(results[0].observed_at, UTC)]
    assert [(p[0], p[0].tzinfo) for p in points["cyber.ctf"]] == [(r.observed_at, UTC) for r in results]


def test_cycle_collection_paused_turns_it_back_on_after() -> None:
    assert gc.isenabled()
    with cycle_collection_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), cycle_collection_paused():
        raise RuntimeError("a compose that fails")
    assert gc.isenabled()


def test_cycle_collection_stays_off_when_it_was_off() -> None:
    gc.disable()
    try:
        with cycle_collection_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
