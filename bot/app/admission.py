"""The listener pool: a few threads working through one queue in which state changes go before slash commands, and
which tells the HTTP edge when a new slash command could not be answered in time (so it is refused, visibly).

Clicks, shortcuts, form submissions and events carry state changes: they always queue. Only a slash command is ever
refused, at the edge, before any work, with an ephemeral answer asking the person to try again.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

# Lower goes first. A state change (click, shortcut, form, event) overtakes commands already waiting.
STATE, COMMAND = 0, 1
_priority: contextvars.ContextVar[int] = contextvars.ContextVar("tripwire_listener_priority", default=STATE)

BUSY_TEXT = "Tripwire is busy right now and did not run this command. Please try again in a few seconds."
# How the first commands are costed before any has been timed: a read command on 100,000 incidents takes ~10 ms of
# one thread; assuming more sheds sooner than needed only until the first few are measured.
PRIOR_SERVICE_SECONDS = 0.02
# An idle worker thread ends after this long, so an app that is dropped (tests build many) leaves no threads behind.
IDLE_SECONDS = 30.0


def busy_answer() -> dict[str, str]:
    """The slash command's inline answer when it is refused: shown only to the person who typed it."""
    return {"response_type": "ephemeral", "text": BUSY_TEXT}


@contextmanager
def priority(level: int) -> Iterator[None]:
    """Queue what is submitted in this block (by Bolt, for its listeners) at `level`."""
    token = _priority.set(level)
    try:
        yield
    finally:
        _priority.reset(token)


@dataclass(order=True)
class _Job:
    level: int
    seq: int
    run: Callable[[], Any] = field(compare=False)
    future: Future[Any] = field(compare=False)
    # A request dispatched by the edge runs its whole Bolt dispatch on the worker: the listener Bolt then submits
    # runs in the same thread at once, rather than queueing a second time behind everyone else.
    inline: bool = field(compare=False, default=False)


class ListenerPool(Executor):
    """Bolt's listener executor: `threads` workers, a priority queue, and an estimate of how long a new command waits.

    Each job runs in a copy of the submitter's contextvars (the request's idempotency keys and request id).
    """

    def __init__(
        self,
        *,
        threads: int,
        budget_seconds: float,
        thread_name_prefix: str,
        prior_service_seconds: float = PRIOR_SERVICE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threads = threads
        self.budget_seconds = budget_seconds
        self._prefix = thread_name_prefix
        self._clock = clock
        self._service = prior_service_seconds
        self._queue: queue.PriorityQueue[_Job] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._lock = threading.Lock()
        # Notified whenever a job finishes, for shutdown(wait=True).
        self._settled = threading.Condition(self._lock)
        self._closed = False
        self._workers = 0
        self._busy = 0
        self._queued = 0
        self._local = threading.local()
        self._last_warning = float("-inf")
        self._shed_since_warning = 0
        self.shed = 0

    @property
    def service_seconds(self) -> float:
        """The recent mean time a job holds a worker (an exponentially weighted mean)."""
        return self._service

    def expected_answer_seconds(self) -> float:
        """How long a command submitted now would take to finish: the queue ahead of it, then its own run."""
        with self._lock:
            return self._expected_locked()

    def _expected_locked(self) -> float:
        ahead = max(0, self._queued + self._busy + 1 - self.threads)
        return ahead * self._service / self.threads + self._service

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Queue `fn` at the caller's priority; inside a dispatch the edge handed over, run it now in this thread."""
        if getattr(self._local, "inline", False):
            future: Future[T] = Future()
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # the future carries it, as a pool's would
                future.set_exception(exc)
            return future
        return self._enqueue(_priority.get(), fn, args, kwargs, inline=False)

    def submit_command(self, fn: Callable[..., Any], /, *args: Any) -> bool:
        """Queue a slash command's dispatch unless it could not be answered within the budget; False when refused."""
        with self._lock:
            if self._expected_locked() > self.budget_seconds:
                self.shed += 1
                self._shed_since_warning += 1
                now = self._clock()
                if now - self._last_warning >= 1.0:
                    # At most once a second: under overload this line would otherwise be the load.
                    log.warning(
                        "busy: refused %d slash command(s) (expected answer %.2f s > budget %.2f s; %d queued)",
                        self._shed_since_warning,
                        self._expected_locked(),
                        self.budget_seconds,
                        self._queued,
                    )
                    self._last_warning, self._shed_since_warning = now, 0
                return False
        self._enqueue(COMMAND, fn, args, {}, inline=True)
        return True

    def submit_dispatch(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        """Queue a whole dispatch the edge hands over (a click, a form, an event), as a state change, never refused."""
        return self._enqueue(STATE, fn, args, {}, inline=True)

    def run_inline(self, fn: Callable[..., T], /, *args: Any) -> T:
        """Run `fn` in this thread, as a dispatch the pool runs: what Bolt submits inside it runs here at once.

        The listener process runs each request the edge sent it this way, in the thread that received it.
        """
        self._local.inline = True
        try:
            return fn(*args)
        finally:
            self._local.inline = False

    def _enqueue(
        self, level: int, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any], *, inline: bool
    ) -> Future[T]:
        future: Future[T] = Future()
        context = contextvars.copy_context()
        with self._lock:
            if self._closed:
                raise RuntimeError("the listener pool is shut down")
            job = _Job(level, next(self._seq), lambda: context.run(fn, *args, **kwargs), future, inline)
            self._queue.put(job)
            self._queued += 1
            # A new worker starts, up to `threads`, when fewer are waiting than jobs are queued.
            if self._workers - self._busy < self._queued and self._workers < self.threads:
                self._workers += 1
                number = next(self._seq)
                threading.Thread(target=self._work, name=f"{self._prefix}_{number}", daemon=True).start()
        return future

    def _work(self) -> None:
        while True:
            try:
                job = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    # Jobs are put under this lock, so an empty queue here stays empty until this worker is gone.
                    if self._queue.empty():
                        self._workers -= 1
                        return
                continue
            with self._lock:
                self._queued -= 1
                self._busy += 1
            try:
                self._run(job)
            finally:
                with self._lock:
                    self._busy -= 1
                    self._settled.notify_all()

    def _run(self, job: _Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        self._local.inline = job.inline
        started = self._clock()
        try:
            job.future.set_result(job.run())
        except BaseException as exc:  # the future carries it, as a pool's would
            job.future.set_exception(exc)
        finally:
            self._local.inline = False
            took = self._clock() - started
            with self._lock:
                self._service = 0.8 * self._service + 0.2 * took

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Take no more work; with `wait`, return once everything queued and running has finished."""
        with self._lock:
            self._closed = True
            if wait:
                self._settled.wait_for(lambda: self._queued == 0 and self._busy == 0)
