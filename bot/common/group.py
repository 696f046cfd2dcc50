"""Group writes: many threads hand items over, one thread writes whatever queued in one turn, and each hands' future
resolves once its item is written.

While one turn runs, the next items queue; the writer then takes them together, so the cost of a turn (a transaction,
a commit, the write lock SQLite gives one writer at a time) is shared by every item that waited for it. The writer
thread starts on demand and exits when idle, so nothing is left running by an owner that is never stopped.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Pending(Generic[T, R]):
    """An item waiting for its turn, and the future its submitter waits on."""

    item: T
    future: Future[R]


class GroupWriter(Generic[T, R]):
    """One thread writing queued items in shared turns; `write` must resolve every future of the group it is given."""

    def __init__(
        self,
        *,
        write: Callable[[list[Pending[T, R]]], None],
        name: str,
        size: Callable[[T], int] = lambda _: 1,
        max_size: int = 5000,
        idle_seconds: float = 1.0,
    ) -> None:
        self._write = write
        self._name = name
        self._size = size
        self._max_size = max_size
        self._idle = idle_seconds
        self._pending: deque[Pending[T, R]] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def submit(self, item: T) -> Future[R]:
        """Queue an item for the next turn."""
        future: Future[R] = Future()
        with self._cond:
            self._pending.append(Pending(item, future))
            # The writer exits when idle: start one again.
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify()
        return future

    def stop(self) -> None:
        """Wait until everything queued so far is written and the writer has exited."""
        with self._cond:
            thread = self._thread
            # The writer leaves once the queue is empty rather than after idling.
            self._stopping = True
            self._cond.notify()
        if thread is not None:
            thread.join()
        with self._cond:
            self._stopping = False

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._pending and not self._stopping:
                    self._cond.wait(self._idle)
                if not self._pending:
                    # Under the lock: a submit after this sees no thread and starts one.
                    self._thread = None
                    return
                group = self._take()
            self._write(group)

    def _take(self) -> list[Pending[T, R]]:
        # Whole items only; at least one, however large.
        group = [self._pending.popleft()]
        size = self._size(group[0].item)
        while self._pending and size + self._size(self._pending[0].item) <= self._max_size:
            pending = self._pending.popleft()
            size += self._size(pending.item)
            group.append(pending)
        return group


__all__ = ["GroupWriter", "Pending"]
