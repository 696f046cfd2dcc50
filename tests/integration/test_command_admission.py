"""A slash command is acked before its listener runs, and refused at once (visibly) when its answer would be late.

The listeners run after the ack here, as in production. A listener is held on an Event by wrapping the one function
every `/incident` subcommand but `new` goes through (bot.incidents.commands.execute), so the tests decide when work
may finish: no sleeps, no timing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from bot.app.admission import BUSY_TEXT, busy_answer
from bot.app.asgi import Tripwire
from bot.common.clock import ManualClock
from bot.incidents import commands as slash
from bot.slack.ids import ActionId
from localslack import BackgroundServer, LocalSlack
from tests.conftest import TRIAGE_CHANNEL, TRIAGER, open_bot
from tests.integration.test_commands_under_load import report
from tests.support.environment import wait_until


class Gate:
    """Holds every command listener that reaches it until released, counting those that have arrived."""

    def __init__(self, execute: Callable[..., Any]) -> None:
        self._execute = execute
        self._open = threading.Event()
        self._lock = threading.Lock()
        self.arrived = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self.arrived += 1
        assert self._open.wait(60), "the test never released the listener"
        return self._execute(*args, **kwargs)

    def release(self) -> None:
        self._open.set()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    held = Gate(slash.execute)
    monkeypatch.setattr(slash, "execute", held)
    try:
        yield held
    finally:
        # Never leave a listener thread waiting on a test that failed.
        held.release()


@contextmanager
def served(slack: LocalSlack, database_url: str, clock: ManualClock) -> Iterator[tuple[Tripwire, str]]:
    """A bot whose listeners run after the ack (production), on a real port the local Slack sends to."""
    with open_bot(database_url, slack_url=slack.api_url, clock=clock, TRIPWIRE_PROCESS_BEFORE_RESPONSE=False) as bot:
        server = BackgroundServer(bot.asgi)
        server.start()
        try:
            slack.request_url = server.url + "/slack/events"
            yield bot, server.url
        finally:
            server.stop()


def answers(slack: LocalSlack) -> list[str]:
    return [e.text for e in slack.ephemerals(TRIAGER)]


def test_command_is_acked_before_its_listener_runs_when_listeners_run_after_the_ack(
    slack: LocalSlack, database_url: str, clock: ManualClock, gate: Gate
) -> None:
    with served(slack, database_url, clock) as (bot, _):
        incident = report(bot)
        response = slack.slash_command(TRIAGER, f"show INC-{incident.id}", channel_id=TRIAGE_CHANNEL)
        assert response.status_code == 200
        assert response.content == b""
        # The listener has started and is held: the HTTP answer above did not wait for it.
        wait_until(lambda: gate.arrived == 1, timeout=30, what="the listener to start")
        assert answers(slack) == []
        gate.release()
        wait_until(lambda: len(answers(slack)) == 1, timeout=30, what="the answer through the response_url")
        assert f"INC-{incident.id}" in answers(slack)[0]


def test_command_is_refused_as_busy_and_click_queued_when_the_queue_is_at_its_bound(
    slack: LocalSlack, database_url: str, clock: ManualClock, gate: Gate
) -> None:
    with served(slack, database_url, clock) as (bot, url):
        incident = report(bot)
        assert incident.id is not None
        number = incident.id
        bot.outbox.drain()
        [card] = [m for m in slack.messages(TRIAGE_CHANNEL) if m.blocks]
        pool = bot.bolt.listeners
        # Fill every listener thread, then the queue until one more command's answer is expected past the budget.
        # Nothing finishes while the gate is shut, so the estimate only grows with what is queued.
        for _ in range(pool.threads):
            assert slack.slash_command(TRIAGER, "list", channel_id=TRIAGE_CHANNEL).content == b""
        wait_until(lambda: gate.arrived == pool.threads, timeout=30, what="every listener thread to be held")
        admitted = pool.threads
        while pool.expected_answer_seconds() <= pool.budget_seconds:
            assert admitted < 1000, "the queue never reached its bound"
            assert slack.slash_command(TRIAGER, "list", channel_id=TRIAGE_CHANNEL).content == b""
            admitted += 1

        refused = slack.slash_command(TRIAGER, f"note INC-{incident.id} not stored", channel_id=TRIAGE_CHANNEL)
        assert refused.status_code == 200
        assert refused.json() == busy_answer()
        # Shown to the person at once (the inline answer), while every admitted command still waits.
        assert answers(slack) == [BUSY_TEXT]
        scrape = httpx.get(url + "/metrics", timeout=30).text
        assert "tripwire_commands_shed_total 1.0" in scrape

        # A click in the same state is never refused: acked, queued, and applied once the listeners move.
        click = slack.click_button(TRIAGER, TRIAGE_CHANNEL, card.ts, ActionId.ACKNOWLEDGE.value)
        assert click.status_code == 200
        assert click.content == b""
        assert bot.incidents.get(incident_id=number).incident.status == "triggered"
        gate.release()
        wait_until(
            lambda: bot.incidents.get(incident_id=number).incident.status == "acknowledged",
            timeout=60,
            what="the queued click's acknowledgement",
        )
        wait_until(lambda: len(answers(slack)) == admitted + 1, timeout=120, what="every admitted command's answer")
        assert answers(slack).count(BUSY_TEXT) == 1
        # The refused note was never run.
        assert "not stored" not in " ".join(e.note or "" for e in bot.incidents.get(incident_id=number).timeline)
