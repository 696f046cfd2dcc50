"""Group commit without a database: who shares a transaction, who gets which id, and how a failure is told."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import pytest
from sqlalchemy.exc import OperationalError

from bot.ingest.committer import STATEMENT_ROWS, GroupCommitter, Row, StoreFailed, identity
from db import repositories
from db.engine import UnitOfWork


class FakeStore:
    """Stands in for the unit of work and `insert_eval_results`: records each transaction's rows."""

    def __init__(self) -> None:
        self.transactions: list[list[Row]] = []
        self.units = 0
        self.known: set[tuple[str, ...]] = set()
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail = False

    @contextmanager
    def uow(self) -> Iterator[object]:
        self.units += 1
        yield object()

    def insert(self, *, session: object, rows: Sequence[Row]) -> dict[tuple[str, ...], int]:
        self.entered.set()
        self.gate.wait(10)
        if self.fail:
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        self.transactions.append(list(rows))
        new = {}
        for row in rows:
            key = identity(row)
            if key not in self.known:
                self.known.add(key)
                new[key] = len(self.known)
        return new


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> FakeStore:
    fake = FakeStore()
    monkeypatch.setattr(repositories, "insert_eval_results", fake.insert)
    return fake


def make(store: FakeStore, **options: Any) -> GroupCommitter:
    return GroupCommitter(uow=cast(UnitOfWork, store.uow), **options)


def row(run_id: str) -> Row:
    return {"source": "json", "run_id": run_id, "task": "t", "scorer": "", "metric": "m"}


def test_rows_queued_during_a_commit_share_the_next_transaction(store: FakeStore) -> None:
    commits: list[int] = []
    committer = make(store, on_commit=lambda: commits.append(1))
    store.gate.clear()
    first = committer.submit([row("a")])
    assert store.entered.wait(10)
    # The writer is inside the first transaction: everything submitted now waits for the next one, together.
    later = [committer.submit([row(f"b{i}"), row(f"c{i}")]) for i in range(20)]
    store.gate.set()
    assert first.result(10) == [1]
    assert all(len(f.result(10)) == 2 for f in later)
    assert [len(rows) for rows in store.transactions] == [1, 40]
    assert len(commits) == 2
    committer.stop()


def test_a_row_repeated_across_requests_of_one_group_counts_for_the_first_only(store: FakeStore) -> None:
    committer = make(store)
    store.gate.clear()
    blocker = committer.submit([row("x")])
    assert store.entered.wait(10)
    one = committer.submit([row("z"), row("a"), row("z")])
    two = committer.submit([row("a"), row("b")])
    store.gate.set()
    blocker.result(10)
    ids_one, ids_two = one.result(10), two.result(10)
    assert ids_one[0] is not None and ids_one[1] is not None and ids_one[2] is None
    assert ids_two[0] is None and ids_two[1] is not None
    # One insert per identity, in identity order (lock order), whatever order the requests gave.
    assert [r["run_id"] for r in store.transactions[1]] == ["a", "b", "z"]
    committer.stop()


def test_a_failed_transaction_fails_every_request_of_its_group(store: FakeStore) -> None:
    committer = make(store)
    store.gate.clear()
    store.fail = True
    futures = [committer.submit([row(f"r{i}")]) for i in range(5)]
    assert store.entered.wait(10)
    store.gate.set()
    for future in futures:
        with pytest.raises(StoreFailed, match="database unavailable"):
            future.result(10)
    store.fail = False
    # The writer goes on: the next request is stored.
    assert committer.submit([row("after")]).result(10) == [1]
    committer.stop()


def test_the_writer_exits_when_idle_and_starts_again_on_demand(store: FakeStore) -> None:
    committer = make(store, idle_seconds=0.01)
    assert committer.submit([row("a")]).result(10) == [1]
    committer.stop()  # returns once the idle writer has exited
    assert committer.submit([row("b")]).result(10) == [2]
    committer.stop()
    assert len(store.transactions) == 2


def test_stop_stores_everything_queued_first(store: FakeStore) -> None:
    committer = make(store, max_rows=3)
    store.gate.clear()
    futures = [committer.submit([row(f"r{i}"), row(f"s{i}")]) for i in range(10)]
    store.gate.set()
    committer.stop()
    assert all(f.done() for f in futures)
    # At most max_rows per transaction, whole requests only.
    assert sum(len(rows) for rows in store.transactions) == 20
    assert all(len(rows) <= 3 for rows in store.transactions)


def test_a_cancelled_request_is_stored_but_not_answered(store: FakeStore) -> None:
    committer = make(store)
    store.gate.clear()
    blocker = committer.submit([row("x")])
    assert store.entered.wait(10)
    gone = committer.submit([row("y")])
    assert gone.cancel()
    store.gate.set()
    blocker.result(10)
    committer.stop()
    assert gone.cancelled() and [r["run_id"] for r in store.transactions[1]] == ["y"]


def test_a_large_group_is_one_transaction_of_short_statements(store: FakeStore) -> None:
    committer = make(store)
    names = [f"r{i:03}" for i in range(2 * STATEMENT_ROWS + 50)]
    ids = committer.submit([row(name) for name in names]).result(10)
    committer.stop()
    # Short INSERTs (cheaper per row on PostgreSQL), still one commit for the whole group, every row its own id.
    assert store.units == 1
    assert [len(rows) for rows in store.transactions] == [STATEMENT_ROWS, STATEMENT_ROWS, 50]
    assert ids == list(range(1, len(names) + 1))
