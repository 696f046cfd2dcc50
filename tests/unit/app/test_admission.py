"""The listener pool: state changes before commands, commands refused past the budget, an edge command's listener
run in its own thread."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future

import pytest

from bot.app.admission import COMMAND, STATE, ListenerPool, priority


class Blocker:
    """A job that holds its worker until released."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.go = threading.Event()

    def __call__(self) -> None:
        self.started.set()
        assert self.go.wait(30)


def pool(threads: int = 1, budget: float = 1.0, service: float = 0.1) -> ListenerPool:
    return ListenerPool(
        threads=threads, budget_seconds=budget, thread_name_prefix="test", prior_service_seconds=service
    )


def test_state_change_runs_before_commands_queued_earlier() -> None:
    listeners, blocker = pool(), Blocker()
    order: list[str] = []
    listeners.submit(blocker)
    assert blocker.started.wait(30)
    with priority(COMMAND):
        first = listeners.submit(order.append, "command")
    with priority(STATE):
        second = listeners.submit(order.append, "click")
    blocker.go.set()
    first.result(30), second.result(30)
    assert order == ["click", "command"]


def test_command_is_refused_when_its_answer_is_expected_past_the_budget(caplog: pytest.LogCaptureFixture) -> None:
    # One thread, 0.1 s a job, a 0.25 s budget: the running job plus one queued command is 0.2 s, a second is 0.3 s.
    listeners, blocker = pool(budget=0.25), Blocker()
    listeners.submit(blocker)
    assert blocker.started.wait(30)
    ran: list[str] = []
    assert listeners.submit_command(ran.append, "first") is True
    with caplog.at_level(logging.WARNING, logger="bot.app.admission"):
        assert listeners.submit_command(ran.append, "second") is False
        assert listeners.submit_command(ran.append, "third") is False
    assert listeners.shed == 2
    # One warning for both: at most one a second.
    assert [r.getMessage()[:25] for r in caplog.records] == ["busy: refused 1 slash com"]
    blocker.go.set()
    done: Future[None] = listeners.submit(lambda: None)
    done.result(30)
    assert ran == ["first"]


def test_click_is_queued_when_commands_are_refused() -> None:
    listeners, blocker = pool(budget=0.0), Blocker()
    listeners.submit(blocker)
    assert blocker.started.wait(30)
    assert listeners.submit_command(lambda: None) is False
    applied = listeners.submit(lambda: "applied")
    blocker.go.set()
    assert applied.result(30) == "applied"


def test_listener_submitted_by_an_edge_command_runs_at_once_in_its_thread() -> None:
    listeners = pool(threads=1)
    seen: Future[tuple[str, str]] = Future()

    def dispatch() -> None:
        # What Bolt does inside dispatch: submit the listener, then wait for its ack. With one thread, queueing it
        # would wait behind this very job.
        inner = listeners.submit(threading.current_thread)
        assert inner.done()
        seen.set_result((threading.current_thread().name, inner.result().name))

    assert listeners.submit_command(dispatch) is True
    outer, inner = seen.result(30)
    assert outer == inner


def test_expected_answer_is_one_service_time_when_idle() -> None:
    assert pool(threads=4, service=0.05).expected_answer_seconds() == pytest.approx(0.05)


def test_shutdown_waits_for_queued_and_running_jobs_when_asked_to() -> None:
    listeners, blocker = pool(), Blocker()
    listeners.submit(blocker)
    assert blocker.started.wait(30)
    queued = listeners.submit(lambda: "done")
    stopper = threading.Thread(target=listeners.shutdown)
    stopper.start()
    assert not queued.done()
    blocker.go.set()
    stopper.join(30)
    assert not stopper.is_alive()
    assert queued.result(0) == "done"
    with pytest.raises(RuntimeError):
        listeners.submit(lambda: None)
