"""The triage worker: every stored result is triaged exactly once, across workers, crashes and repeats.

On SQLite and PostgreSQL. Results arrive through the fast path (stored, not triaged), then workers drain them.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, func, select

from bot.app.asgi import Tripwire
from bot.common.clock import ManualClock
from bot.ingest import worker as worker_module
from bot.ingest.worker import SET_ASIDE
from bot.policy.triage import Result, evaluate_result
from db.models import EvalResult, Incident, OutboxMessage, TrendState
from db.queues import UNSENT
from localslack import LocalSlack
from tests.conftest import TRIAGE_CHANNEL, open_bot
from tests.support.environment import wait_until

ROOT = Path(__file__).resolve().parents[2]
OBSERVED = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


@pytest.fixture
def tripwire(slack: LocalSlack, database_url: str, clock: ManualClock) -> Iterator[Tripwire]:
    with open_bot(database_url, slack_url=slack.api_url, clock=clock) as bot:
        yield bot


def crossing(key: int, run: str, value: float = 0.58) -> Result:
    """A result over the cyber.ctf alert line for model family `fam<key>`: one dedup key per `key`."""
    return Result(
        source="inspect",
        model=f"fam{key}-ckpt-100",
        task="ctf_web",
        metric="accuracy",
        value=value,
        run_id=run,
        observed_at=OBSERVED,
        checkpoint="ckpt-100",
    )


def store(bot: Tripwire, results: list[Result], chunk: int = 250) -> int:
    """Store through the fast path (group commit, no triage); how many were new."""
    futures = [bot.ingest.submit(results[start : start + chunk]) for start in range(0, len(results), chunk)]
    return sum(future.result(60).accepted for future in futures)


def rows(bot: Tripwire) -> list[EvalResult]:
    with Session(bot.engine) as session:
        return list(session.exec(select(EvalResult).order_by(EvalResult.id)).all())  # type: ignore[arg-type]


def incidents(bot: Tripwire) -> list[Incident]:
    with Session(bot.engine) as session:
        return list(session.exec(select(Incident).order_by(Incident.id)).all())  # type: ignore[arg-type]


def assert_triaged_once(bot: Tripwire, keys: int, per_key: int) -> None:
    """Every row triaged and linked; one incident per key counting each of its results once."""
    stored = rows(bot)
    assert all(row.triaged_at is not None and row.claimed_until is None for row in stored)
    assert all(row.incident_id is not None for row in stored)
    found = incidents(bot)
    assert sorted(i.model for i in found) == sorted(f"fam{k}-ckpt-100" for k in range(keys))
    assert [i.result_count for i in found] == [per_key] * keys
    linked: dict[int, int] = {}
    for row in stored:
        linked[row.incident_id or 0] = linked.get(row.incident_id or 0, 0) + 1
    assert sorted(linked.values()) == [per_key] * keys


def test_two_workers_drain_one_backlog_exactly_once(
    tripwire: Tripwire, slack: LocalSlack, database_url: str, clock: ManualClock
) -> None:
    keys, per_key = 50, 40
    backlog = [crossing(k, f"run-{k}-{i}", 0.56 + (i % 3) / 100) for i in range(per_key) for k in range(keys)]
    assert store(tripwire, backlog) == keys * per_key
    assert incidents(tripwire) == []
    with open_bot(database_url, slack_url=slack.api_url, clock=clock) as other:
        workers = [tripwire.triage, other.triage]
        counts = [0, 0]
        start = threading.Barrier(2)

        def drain(index: int) -> None:
            start.wait()
            # Small batches: the two workers meet on the same keys many times.
            while (outcome := workers[index].run_once(limit=60)).triaged:
                counts[index] += outcome.triaged

        threads = [threading.Thread(target=drain, args=(index,)) for index in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not any(thread.is_alive() for thread in threads)
    assert sum(counts) == keys * per_key
    if tripwire.engine.dialect.name == "postgresql":
        assert all(counts), counts  # side by side, each skipping what the other holds (SQLite takes turns)
    assert_triaged_once(tripwire, keys, per_key)


def test_same_batch_submitted_twice_is_duplicates_and_one_incident(tripwire: Tripwire) -> None:
    batch = [crossing(1, f"run-{i}") for i in range(10)]
    first = tripwire.ingest.submit(batch).result(30)
    again = tripwire.ingest.submit(batch).result(30)
    assert (first.accepted, first.duplicates, again.accepted, again.duplicates) == (10, 0, 0, 10)
    assert tripwire.triage.drain() == 10
    assert tripwire.triage.drain() == 0
    [incident] = incidents(tripwire)
    assert incident.result_count == 10


def test_a_held_batch_is_left_to_its_owner_until_the_lease_runs_out(tripwire: Tripwire, clock: ManualClock) -> None:
    held = tripwire.ingest.submit([crossing(1, "held")], hold=True).result(30)
    assert tripwire.triage.drain() == 0  # the request that stored it triages it itself
    clock.advance(seconds=61)  # ... unless it died: the lease runs out and the worker takes it
    assert tripwire.triage.drain() == 1
    assert tripwire.ingest.finish(held).incidents == []  # triaged already: nothing left for the owner
    assert len(incidents(tripwire)) == 1


def test_trend_state_is_seeded_from_history_then_kept_per_batch(tripwire: Tripwire, clock: ManualClock) -> None:
    start = clock.now - timedelta(days=10)
    ramp = [
        Result(
            source="json",
            model="frontier-x",
            task="exploit_chain",
            metric="success_rate",
            value=0.30 + 0.02 * day,
            run_id=f"ramp-{day}",
            observed_at=start + timedelta(days=day),
        )
        for day in range(11)
    ]
    # The start of the ramp is history from before the trend state existed (stored and triaged, state row dropped).
    tripwire.ingest.ingest(ramp[:2])
    with tripwire.uow() as session:
        for state in session.exec(select(TrendState)).all():
            session.delete(state)
    assert incidents(tripwire) == []
    store(tripwire, ramp[2:])
    assert tripwire.triage.drain() == 9
    [incident] = incidents(tripwire)
    assert incident.source == "trend" and incident.title.startswith("Trend: cyber.exploit on frontier-x")
    with Session(tripwire.engine) as session:
        [state] = session.exec(select(TrendState)).all()
    assert [point[2] for point in state.points] == [pytest.approx(r.value) for r in ramp]


KILLED_WORKER = """
import sys, threading
from tests.conftest import make_settings
from bot.app.wiring import build_core
from bot.ingest.worker import TriageWorker

core = build_core(make_settings(sys.argv[1]))

def block() -> None:
    print("batch written, not committed", flush=True)
    threading.Event().wait()

worker = TriageWorker(
    uow=core.uow, clock=core.incidents.now, policies=core.policies, triage_channel="C0TRIAGE", before_commit=block
)
worker.run_once()
"""


def test_worker_killed_mid_batch_leaves_it_for_the_next_worker(
    tripwire: Tripwire, database_url: str, tmp_path: Path
) -> None:
    keys, per_key = 5, 20
    assert store(tripwire, [crossing(k, f"run-{k}-{i}") for i in range(per_key) for k in range(keys)]) == 100
    log = tmp_path / "worker.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", KILLED_WORKER, database_url], cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        wait_until(lambda: "not committed" in log.read_text(), 60, "the worker to write its batch")
        if tripwire.engine.dialect.name == "postgresql":  # (SQLite: the worker holds the one write lock)
            assert len(incidents(tripwire)) == 0  # written but not committed: nobody sees it
    finally:
        process.kill()  # kill -9 between the batch's writes and its commit
        process.wait(30)
    assert process.returncode == -9, log.read_text()[-3000:]
    assert all(row.triaged_at is None for row in rows(tripwire))  # rolled back: every row waits again
    assert tripwire.triage.drain() == keys * per_key
    assert_triaged_once(tripwire, keys, per_key)


def deliver_everything(bot: Tripwire, clock: ManualClock) -> None:
    """Drain the outbox, moving the clock a minute a pass so Slack's per-minute tiers let the rest go."""
    for _ in range(1000):
        bot.outbox.drain()
        with Session(bot.engine) as session:
            unsent = session.exec(
                select(func.count()).select_from(OutboxMessage).where(col(OutboxMessage.status).in_(UNSENT))
            ).one()
        if not unsent:
            return
        clock.advance(seconds=60)
    raise AssertionError(f"{unsent} messages still unsent")


def test_a_thousand_keys_get_a_thousand_cards(tripwire: Tripwire, slack: LocalSlack, clock: ManualClock) -> None:
    keys = 1000
    assert store(tripwire, [crossing(k, f"run-{k}") for k in range(keys)]) == keys
    assert tripwire.triage.drain() == keys
    deliver_everything(tripwire, clock)
    cards = [m for m in slack.messages(TRIAGE_CHANNEL) if m.blocks and not m.is_reply]
    assert len(cards) == keys
    with Session(tripwire.engine) as session:
        unposted = session.exec(select(func.count()).select_from(Incident).where(col(Incident.card_ts).is_(None))).one()
    assert unposted == 0


def test_a_result_that_fails_triage_is_set_aside_and_the_rest_go_on(
    tripwire: Tripwire, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fails_on_poison(result: Result, **kwargs: Any) -> Any:
        if result.run_id == "poison":
            raise ValueError("cannot triage this one")
        return evaluate_result(result, **kwargs)

    monkeypatch.setattr(worker_module, "evaluate_result", fails_on_poison)
    assert store(tripwire, [crossing(1, "run-1"), crossing(2, "poison"), crossing(3, "run-3")]) == 3
    tripwire.triage.work()
    waiting = [row for row in rows(tripwire) if row.triaged_at is None]
    assert [(row.run_id, row.claimed_until) for row in waiting] == [("poison", clock.now + SET_ASIDE)]
    assert len(incidents(tripwire)) == 2  # the results behind it were triaged
    monkeypatch.undo()
    assert tripwire.triage.drain() == 0  # set aside: not retried at once
    clock.advance(seconds=SET_ASIDE.total_seconds())
    assert tripwire.triage.drain() == 1
    assert len(incidents(tripwire)) == 3


def test_the_background_worker_triages_what_the_fast_path_stored(tripwire: Tripwire) -> None:
    tripwire.start_background()
    try:
        store(tripwire, [crossing(1, "run-1")])
        wait_until(lambda: len(incidents(tripwire)) == 1, 30, "the background worker to open the incident")
    finally:
        tripwire.stop_background()
    assert all(row.triaged_at is not None for row in rows(tripwire))


def test_a_stream_of_stored_batches_is_triaged_in_passes_spaced_apart(
    tripwire: Tripwire, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every commit wakes the worker; under a stream it must not start a pass (a write transaction, trend updates) per
    # commit, or the group commit waits behind it. At most one pass starts per PASS_SPACING, and none is lost.
    passes: list[float] = []
    run_once = tripwire.triage.run_once

    def counted(limit: int = worker_module.BATCH) -> Any:
        passes.append(time.monotonic())
        return run_once(limit)

    monkeypatch.setattr(tripwire.triage, "run_once", counted)
    tripwire.start_background()
    try:
        started = time.monotonic()
        for k in range(30):
            store(tripwire, [crossing(k % 3, f"stream-{k}")])
        stored = time.monotonic()
        wait_until(lambda: all(row.triaged_at is not None for row in rows(tripwire)), 30, "the worker to triage all")
    finally:
        tripwire.stop_background()
    during = [at for at in passes if started <= at <= stored]
    assert len(during) <= (stored - started) / worker_module.PASS_SPACING + 2, (len(during), stored - started)
    assert_triaged_once(tripwire, keys=3, per_key=10)
