"""One hazard, one incident: a dedup key's claim row decides the incident under concurrency, replicas and closing."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TypeVar

import httpx
import pytest
from sqlalchemy import Engine, MetaData, Table, create_engine, insert
from sqlmodel import Session, col, func, select

from bot.app.asgi import Tripwire
from bot.common.clock import ManualClock
from bot.common.messages import CardPost, PageDM
from bot.incidents.lifecycle import validate_draft
from bot.ingest.service import IngestOutcome
from bot.ingest.signing import sign
from bot.policy.triage import Result
from db import migrate
from db.engine import normalise_url
from db.models import DedupClaim, EvalResult, Incident, OutboxMessage, Timer
from localslack import BackgroundServer, LocalSlack
from tests.conftest import LEAD, REPORTER, TRIAGE_CHANNEL, TRIAGER, open_bot

KEYS = 50
THREADS = 8
SECRET = "webhook-secret-for-claims"
OBSERVED = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
T = TypeVar("T")


def family(index: int) -> str:
    return f"fam{index:02d}"


def key_of(index: int, level: str = "alert") -> str:
    return f"cyber|{family(index)}|cyber.ctf|{level}"


def crossing(index: int, run_id: str, value: float = 0.60) -> Result:
    """A cyber.ctf result at the alert level for model family `index` (routed to the triage channel)."""
    return Result(
        source="inspect",
        model=f"{family(index)}-ckpt-100",
        checkpoint="ckpt-100",
        task="ctf_web",
        metric="accuracy",
        value=value,
        run_id=run_id,
        observed_at=OBSERVED,
    )


def batch(thread: int, keys: Sequence[int], *, runs: int = 1, prefix: str = "t") -> list[Result]:
    """Results for `keys`, `runs` each, in an order of the thread's own (so threads meet the keys differently)."""
    results = [crossing(k, f"{prefix}{thread}-k{k}-r{r}", round(0.56 + r / 100, 2)) for k in keys for r in range(runs)]
    random.Random(thread).shuffle(results)
    return results


def together(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run the calls on one thread each, released at once by a barrier; any exception fails the test."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [future.result(timeout=300) for future in futures]


def everything(engine: Engine) -> tuple[list[Incident], list[EvalResult], list[DedupClaim]]:
    with Session(engine) as session:
        incidents = list(session.exec(select(Incident).order_by(col(Incident.id))).all())
        results = list(session.exec(select(EvalResult)).all())
        claims = list(session.exec(select(DedupClaim)).all())
    return incidents, results, claims


def card_posts(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        statement = select(OutboxMessage).where(
            OutboxMessage.kind == CardPost.kind, OutboxMessage.channel == TRIAGE_CHANNEL
        )
        return list(session.exec(statement).all())


def first_pages(engine: Engine) -> Counter[int]:
    """How many first-step pages each incident has planned (one each when nothing opened twice)."""
    with Session(engine) as session:
        timers = session.exec(select(Timer).where(Timer.kind == "page")).all()
    return Counter(t.incident_id or 0 for t in timers if t.payload == {"step": 0, "round": 0})


def assert_one_incident_per_key(engine: Engine, keys: Sequence[int], results_per_key: int) -> None:
    """Exactly one incident per key holding its claim, with every result of the key linked to it, one card, one page."""
    incidents, results, claims = everything(engine)
    assert sorted(i.dedup_key or "" for i in incidents) == sorted(key_of(k) for k in keys)
    by_key = {i.dedup_key: i for i in incidents}
    assert {c.dedup_key: c.incident_id for c in claims} == {key: i.id for key, i in by_key.items()}
    linked = Counter(r.incident_id for r in results)
    assert None not in linked, "a crossing result is linked to no incident"
    assert all(linked[i.id] == results_per_key == i.result_count for i in incidents), linked
    posts = card_posts(engine)
    assert sorted(p.incident_id or 0 for p in posts) == sorted(i.id or 0 for i in incidents)
    assert first_pages(engine) == Counter({i.id or 0: 1 for i in incidents})


@pytest.fixture
def tripwire(slack: LocalSlack, database_url: str, clock: ManualClock) -> Iterator[Tripwire]:
    with open_bot(database_url, slack_url=slack.api_url, clock=clock) as bot:
        yield bot


def test_concurrent_crossings_for_fifty_keys_open_fifty_incidents(tripwire: Tripwire) -> None:
    keys = range(KEYS)
    # Each thread sends every key twice, in its own order: eight writers meet on every key at once.
    batches = [batch(thread, keys, runs=2) for thread in range(THREADS)]
    outcomes = together([partial(tripwire.ingest.ingest, b) for b in batches])
    assert sum(o.accepted for o in outcomes) == THREADS * KEYS * 2
    assert len({ref for o in outcomes for ref in o.incidents or []}) == KEYS
    assert_one_incident_per_key(tripwire.engine, keys, THREADS * 2)
    incidents, _, _ = everything(tripwire.engine)
    assert {(i.worst_value, i.last_value) for i in incidents} <= {(0.57, 0.56), (0.57, 0.57)}
    # The writers that lost the race joined: the card is refreshed (once, throttled) rather than posted again.
    with Session(tripwire.engine) as session:
        refreshes = session.exec(select(Timer).where(Timer.kind == "card_refresh", Timer.status == "pending")).all()
    assert sorted(t.incident_id or 0 for t in refreshes) == sorted(i.id or 0 for i in incidents)


def test_same_batch_sent_concurrently_and_again_is_duplicates(tripwire: Tripwire) -> None:
    same = batch(0, range(KEYS), runs=2)
    outcomes = together([lambda: tripwire.ingest.ingest(same) for _ in range(THREADS)])
    assert sum(o.accepted for o in outcomes) == len(same)
    assert sum(o.duplicates for o in outcomes) == len(same) * (THREADS - 1)
    again = tripwire.ingest.ingest(same)
    assert again.as_json() == IngestOutcome(duplicates=len(same), incidents=[]).as_json()
    assert_one_incident_per_key(tripwire.engine, range(KEYS), 2)


def test_concurrent_trends_open_one_trend_incident_per_family(tripwire: Tripwire, clock: ManualClock) -> None:
    families = range(10)
    start = clock.now - timedelta(days=10)

    def ramp(thread: int) -> list[Result]:
        # A slow rise that crosses no line but projects a threshold crossing: a trend incident, not a crossing one.
        return [
            Result(
                source="json",
                model=f"{family(k)}-ckpt-{day}",
                task="exploit_chain",
                metric="success_rate",
                value=0.30 + 0.02 * day,
                run_id=f"ramp-{thread}-{k}-{day}",
                observed_at=start + timedelta(days=day),
            )
            for k in families
            for day in range(11)
        ]

    outcomes = together([partial(tripwire.ingest.ingest, ramp(t)) for t in range(THREADS)])
    assert all(o.incidents for o in outcomes)  # every thread saw a trend and opened or joined its incident
    incidents, _, claims = everything(tripwire.engine)
    assert sorted(i.dedup_key or "" for i in incidents) == sorted(
        f"cyber|{family(k)}|cyber.exploit|trend-threshold" for k in families
    )
    assert all(i.source == "trend" for i in incidents)
    assert {c.dedup_key: c.incident_id for c in claims} == {i.dedup_key: i.id for i in incidents}
    assert len(card_posts(tripwire.engine)) == len(families)


def test_key_outside_its_window_opens_a_new_incident_and_the_claim_moves(
    tripwire: Tripwire, clock: ManualClock
) -> None:
    first = tripwire.ingest.ingest([crossing(1, "run-1")])
    clock.advance(hours=7)  # cyber.ctf groups for 6 hours after the last result
    second = tripwire.ingest.ingest([crossing(1, "run-2")])
    clock.advance(hours=1)
    third = tripwire.ingest.ingest([crossing(1, "run-3")])
    assert (first.incidents, second.incidents, third.incidents) == (["INC-1"], ["INC-2"], ["INC-2"])
    incidents, _, claims = everything(tripwire.engine)
    assert [(i.status, i.result_count) for i in incidents] == [("triggered", 1), ("triggered", 2)]
    assert [(c.dedup_key, c.incident_id) for c in claims] == [(key_of(1), 2)]


def claim_holder(engine: Engine, key: str) -> int | None:
    with Session(engine) as session:
        claim = session.get(DedupClaim, key)
    assert claim is not None
    return claim.incident_id


def test_closing_releases_the_claim_and_reopening_takes_it_back_only_when_free(
    tripwire: Tripwire, clock: ManualClock
) -> None:
    incidents, engine, key = tripwire.incidents, tripwire.engine, key_of(3)
    assert tripwire.ingest.ingest([crossing(3, "run-1")]).incidents == ["INC-1"]
    incidents.resolve(incident_id=1, actor=TRIAGER, note="fixed")
    assert claim_holder(engine, key) is None
    # Within the window, but a resolved incident groups nothing: the next crossing is a new hazard.
    assert tripwire.ingest.ingest([crossing(3, "run-2")]).incidents == ["INC-2"]
    assert claim_holder(engine, key) == 2
    incidents.reopen(incident_id=1, actor=TRIAGER)
    assert claim_holder(engine, key) == 2  # INC-2 holds the key, so INC-1 reopens without it
    assert tripwire.ingest.ingest([crossing(3, "run-3")]).incidents == ["INC-2"]
    incidents.resolve(incident_id=1, actor=TRIAGER)
    assert claim_holder(engine, key) == 2  # closing an incident that does not hold the key leaves it alone
    incidents.dismiss(incident_id=2, actor=LEAD, reason="flaky eval")
    assert claim_holder(engine, key) is None
    incidents.reopen(incident_id=2, actor=TRIAGER)
    assert claim_holder(engine, key) == 2
    clock.advance(minutes=5)
    assert tripwire.ingest.ingest([crossing(3, "run-4")]).incidents == ["INC-2"]
    done, _, _ = everything(engine)
    assert [(i.id, i.status, i.result_count) for i in done] == [(1, "resolved", 1), (2, "triggered", 3)]


def test_resolve_racing_crossings_leaves_at_most_one_open_incident_holding_the_key(tripwire: Tripwire) -> None:
    key = key_of(4)
    assert tripwire.ingest.ingest([crossing(4, "seed")]).incidents == ["INC-1"]
    calls: list[Callable[[], object]] = [lambda: tripwire.incidents.resolve(incident_id=1, actor=TRIAGER)]
    calls += [partial(tripwire.ingest.ingest, [crossing(4, f"race-{t}")]) for t in range(THREADS - 1)]
    together(calls)
    incidents, results, _ = everything(tripwire.engine)
    open_ones = [i for i in incidents if i.status == "triggered"]
    assert incidents[0].status == "resolved" and len(incidents) <= 2
    assert claim_holder(tripwire.engine, key) == (open_ones[0].id if open_ones else None)
    assert all(r.incident_id is not None for r in results)
    assert sum(i.result_count for i in incidents) == len(results) == THREADS


def test_human_reports_never_claim_or_join(tripwire: Tripwire) -> None:
    assert tripwire.ingest.ingest([crossing(5, "run-1")]).incidents == ["INC-1"]
    draft, _ = validate_draft(title="Same hazard, by hand", category="cyber", severity="sev2")
    assert draft is not None
    first = tripwire.incidents.report(draft=draft, reporter=REPORTER)
    second = tripwire.incidents.report(draft=draft, reporter=REPORTER)
    assert (first.id, second.id, first.dedup_key, second.dedup_key) == (2, 3, None, None)
    tripwire.incidents.resolve(incident_id=2, actor=TRIAGER)
    tripwire.incidents.reopen(incident_id=2, actor=TRIAGER)
    _, _, claims = everything(tripwire.engine)
    assert [(c.dedup_key, c.incident_id) for c in claims] == [(key_of(5), 1)]
    assert tripwire.ingest.ingest([crossing(5, "run-2")]).incidents == ["INC-1"]


def post_signed(url: str, results: Sequence[Result]) -> IngestOutcome:
    body = json.dumps({"results": [result_json(r) for r in results]}).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-Tripwire-Timestamp": str(timestamp),
        "X-Tripwire-Signature": sign(SECRET, body, timestamp),
    }
    response = httpx.post(url + "/hooks/eval", content=body, headers=headers, timeout=120)
    assert response.status_code == 202, response.text
    answer = response.json()
    # The fast path: stored and answered; the triage workers group the results afterwards.
    assert "incidents" not in answer
    return IngestOutcome(accepted=answer["accepted"], duplicates=answer["duplicates"])


def result_json(result: Result) -> dict[str, object]:
    return {
        "source": result.source,
        "model": result.model,
        "checkpoint": result.checkpoint,
        "task": result.task,
        "metric": result.metric,
        "value": result.value,
        "run_id": result.run_id,
        "observed_at": result.observed_at.isoformat(),
    }


@pytest.mark.postgres
def test_two_replicas_in_a_storm_open_one_incident_card_and_page_per_key(
    slack: LocalSlack, postgres_url: str, clock: ManualClock
) -> None:
    keys = range(KEYS)
    with ExitStack() as stack:
        replicas = [
            stack.enter_context(
                open_bot(postgres_url, slack_url=slack.api_url, clock=clock, TRIPWIRE_WEBHOOK_SECRET=SECRET)
            )
            for _ in range(2)
        ]
        urls = []
        for replica in replicas:
            server = BackgroundServer(replica.asgi)
            server.start()
            stack.callback(server.stop)
            urls.append(server.url)
        # Threads 2n and 2n+1 send the same storm, one to each replica: the pipeline retried on the other replica.
        storms = [[batch(t // 2, keys, prefix=f"s{wave}-") for wave in range(3)] for t in range(THREADS)]

        def storm(thread: int) -> list[IngestOutcome]:
            return [post_signed(urls[thread % 2], wave) for wave in storms[thread]]

        outcomes = [o for per_thread in together([partial(storm, t) for t in range(THREADS)]) for o in per_thread]
        assert sum(o.accepted for o in outcomes) == sum(o.duplicates for o in outcomes) == KEYS * 3 * THREADS // 2
        # Both replicas' workers drain the backlog at once.
        together([replica.triage.drain for replica in replicas])
        assert_one_incident_per_key(replicas[0].engine, keys, 3 * THREADS // 2)
        # Both replicas fire due timers at once: each incident's first page is queued once, for the one triager.
        together([replica.timers.run_due for replica in replicas])
        with Session(replicas[0].engine) as session:
            pages = session.exec(select(OutboxMessage).where(OutboxMessage.kind == PageDM.kind)).all()
        incidents, _, _ = everything(replicas[0].engine)
        assert sorted(p.incident_id or 0 for p in pages) == sorted(i.id or 0 for i in incidents)
        assert {p.channel for p in pages} == {TRIAGER}


def old_incident(table: Table, *, key: str | None, status: str, at: datetime) -> dict[str, object]:
    values: dict[str, object] = {
        "title": "before claims",
        "description": "",
        "category": "cyber",
        "severity": "sev2",
        "status": status,
        "model": "",
        "checkpoint": "",
        "deployment": "",
        "links": [],
        "reporter": "inspect pipeline",
        "source": "inspect",
        "policy_version": "it-1",
        "escalation_level": 0,
        "resolution_note": "",
        "dismiss_reason": "",
        "created_at": at,
        "updated_at": at,
        "dedup_key": key,
        "last_seen_at": at,
    }
    assert set(values) <= set(table.c.keys())
    return values


def test_migration_gives_each_key_to_its_newest_open_incident(database_url: str) -> None:
    engine = create_engine(normalise_url(database_url))
    try:
        migrate.upgrade(engine, "0004")
        table = Table("incident", MetaData(), autoload_with=engine)
        rows = [
            ("a", "triggered"),  # 1: an older duplicate of 3
            ("a", "resolved"),  # 2: closed, holds nothing
            ("a", "acknowledged"),  # 3: the newest open one with key a
            ("b", "dismissed"),  # 4: no open incident with key b
            (None, "triggered"),  # 5: a human report
            ("c", "mitigated"),  # 6
            ("a", "resolved"),  # 7: newer than 3 but closed
        ]
        with engine.begin() as connection:
            for key, status in rows:
                connection.execute(insert(table).values(old_incident(table, key=key, status=status, at=OBSERVED)))
        migrate.upgrade(engine, "0005")
        with Session(engine) as session:
            claims = session.exec(select(DedupClaim).order_by(col(DedupClaim.dedup_key))).all()
            assert [(c.dedup_key, c.incident_id) for c in claims] == [("a", 3), ("c", 6)]
            assert session.exec(select(func.count()).select_from(Incident)).one() == len(rows)
    finally:
        engine.dispose()
