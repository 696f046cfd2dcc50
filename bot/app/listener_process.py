"""`tripwire serve`'s listener process: Slack requests run in a second process, so the HTTP edge never shares a GIL
with listener work.

CPython runs one thread's Python at a time per process. When the listeners (rendering, reading rows) and the event
loop that answers Slack share a process, every ack waits its turn for the interpreter behind them: under a flood of
commands that was 200 ms at p99. So serve forks, before it starts any thread, a process that runs the same Bolt app.
serve keeps the edge (signatures, acks, the ingest fast path), the listener pool's queue (bot/app/admission.py: what
runs next, what is refused as busy) and the background work (outbox, triage, timers, digests). Each pool thread hands
its request to the listener process over a socket pair of its own and waits for the answer without holding the GIL;
the listener process answers on one thread per socket pair.

Crash-only: when the listener process dies, serve stops (exit 1) and whatever manages it starts both again; when
serve dies, the listener process finds its sockets closed and exits. Neither loses what it stored: requests it had
not run are the ones a crash of a single process would lose too.
"""

from __future__ import annotations

import gc
import logging
import os
import queue
import signal
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from sqlalchemy import Engine

from bot.app import logs
from bot.app.admission import ListenerPool
from bot.app.slack_edge import SlackRequest
from bot.policy.store import PolicyStore
from bot.slack.outbox import Outbox

log = logging.getLogger(__name__)
DEFAULT_SWITCH_INTERVAL = 0.005


class ListenerGone(RuntimeError):
    """The listener process is not there to run a request (it died; serve is stopping)."""


@dataclass(frozen=True)
class Call:
    """A request as the listener process needs it, with what serve knows that it must follow."""

    body: str
    query: dict[str, Any]
    headers: dict[str, Any]
    request_id: str
    policy_hash: str


@dataclass(frozen=True)
class Answer:
    """Bolt's answer to a Call."""

    status: int
    body: str
    headers: dict[str, Any]
    # Whether the request queued Slack messages (serve's outbox is woken only then: a command's answer queues none).
    queued: bool


class ListenerProcess:
    """serve's handle on the listener process: `dispatch` a request there and get Bolt's answer back."""

    def __init__(self, pid: int, ends: list[Connection], *, policies: PolicyStore, outbox: Outbox):
        self.pid = pid
        self._ends = ends
        self._free: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        for end in ends:
            self._free.put(end)
        self._policies = policies
        # The outbox lives here: the one in the listener process is never started, only counts what was queued.
        self._on_queued = outbox.wake
        self._closing = threading.Event()

    @classmethod
    def fork(
        cls,
        *,
        bolt: App,
        pool: ListenerPool,
        engine: Engine,
        policies: PolicyStore,
        outbox: Outbox,
    ) -> ListenerProcess:
        """Fork the listener process, which serves `bolt` on `pool.threads` socket pairs; return serve's handle.

        Called before this process starts any thread: a fork copies only the calling thread, so a lock another
        thread held at that moment would stay held forever in the child.
        """
        others = [thread.name for thread in threading.enumerate() if thread is not threading.current_thread()]
        if others:
            raise RuntimeError(f"the listener process must be forked before any thread starts (running: {others})")
        pairs = [socket.socketpair() for _ in range(pool.threads)]
        # Objects made so far are shared with the child until one side writes them: keep the collector from
        # touching them (a full collection writes to every object it visits, copying every page it walks).
        gc.freeze()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's coverage is the end-to-end tests'
            status = 1
            try:
                for ours, _ in pairs:
                    ours.close()
                # Connections opened before the fork belong to serve; the child opens its own.
                engine.dispose(close=False)
                serve_calls(bolt, pool, policies, outbox, [Connection(theirs.detach()) for _, theirs in pairs])
                status = 0
            finally:
                os._exit(status)
        for _, theirs in pairs:
            theirs.close()
        log.info("listener process %d started (%d threads)", pid, pool.threads)
        return cls(pid, [Connection(ours.detach()) for ours, _ in pairs], policies=policies, outbox=outbox)

    def dispatch(self, request: SlackRequest) -> BoltResponse:
        """Run `request` in the listener process and return Bolt's answer; ListenerGone when it cannot."""
        call = Call(
            body=request.text,
            query=request.query,
            headers=request.headers,
            request_id=logs.REQUEST_ID.get(),
            policy_hash=self._policies.current.content_hash,
        )
        end = self._free.get()
        try:
            if self._closing.is_set():
                raise ListenerGone("the listener process is stopping")
            end.send(call)
            answer: Answer = end.recv()
        except (EOFError, OSError) as exc:
            raise ListenerGone(f"the listener process is gone ({type(exc).__name__})") from exc
        finally:
            self._free.put(end)
        if answer.queued:
            self._on_queued()
        return BoltResponse(status=answer.status, body=answer.body, headers=answer.headers)

    def watch(self, on_death: Callable[[str], None]) -> threading.Thread:
        """Call `on_death` (with how it ended) if the listener process ends before `close`."""

        def wait() -> None:
            _, status = os.waitpid(self.pid, 0)
            if not self._closing.is_set():
                on_death(_how_it_ended(status))

        thread = threading.Thread(target=wait, name="tripwire-listener-watch", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        """Tell the listener process to exit (its sockets close) once the calls in flight have their answers."""
        self._closing.set()
        for _ in self._ends:
            self._free.get().close()


def _how_it_ended(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


def serve_calls(bolt: App, pool: ListenerPool, policies: PolicyStore, outbox: Outbox, ends: list[Connection]) -> None:
    """The listener process: answer calls on each socket pair until serve closes them (or dies)."""
    # Ctrl-C in a terminal, or a service manager's SIGTERM to the whole group, reach this process too: serve decides
    # when it stops (after the requests it accepted have run), and closing its sockets is how it says so.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # No thread here answers Slack's acks: Python's usual 5 ms turns, not serve's 1 ms (fewer switches, more work).
    sys.setswitchinterval(DEFAULT_SWITCH_INTERVAL)
    threads = [
        threading.Thread(target=answer_calls, args=(bolt, pool, policies, outbox, end), name=f"tripwire-listener_{n}")
        for n, end in enumerate(ends)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def answer_calls(bolt: App, pool: ListenerPool, policies: PolicyStore, outbox: Outbox, end: Connection) -> None:
    """Run each call received on `end` through Bolt, in this thread, and send back its answer."""
    while True:
        try:
            call: Call = end.recv()
        except (EOFError, OSError):
            return
        logs.REQUEST_ID.set(call.request_id)
        # Another thread's queueing between the two looks makes this True too: serve's outbox wakes once more.
        wakes = outbox.wakes
        try:
            policies.follow(call.policy_hash)
            request = BoltRequest(body=call.body, query=call.query, headers=call.headers)
            response = pool.run_inline(bolt.dispatch, request)
            answer = Answer(response.status, response.body, dict(response.headers), queued=outbox.wakes != wakes)
        except Exception:  # serve waits on this socket for an answer: it gets one, whatever failed here
            log.exception("the listener process could not run a request")
            answer = Answer(status=500, body="", headers={}, queued=outbox.wakes != wakes)
        try:
            end.send(answer)
        except OSError:
            return
