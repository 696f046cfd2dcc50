"""Commands and clicks are acked whatever other requests are doing, and reads never wait on a writer.

Deterministic stand-ins for load: a test connection holds what every writer needs (SQLite's write lock; on
PostgreSQL exclusive locks on the incident and idempotency tables) while requests arrive.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert
from sqlmodel import col, select

from bot.app.asgi import Tripwire
from bot.app.wiring import acks_empty
from bot.common.clock import ManualClock
from bot.incidents.lifecycle import validate_draft
from bot.slack.ids import ActionId
from db.models import Incident, TimelineEntry
from localslack import BackgroundServer, LocalSlack
from tests.conftest import REPORTER, TRIAGE_CHANNEL, TRIAGER, open_bot
from tests.integration.test_idempotency import together
from tests.integration.test_incident_lifecycle import file_incident
from tests.support.environment import wait_until


@contextmanager
def writers_locked_out(bot: Tripwire) -> Iterator[None]:
    """Hold, in a transaction of the test's own, what every writing unit of work must take first."""
    with bot.engine.connect() as connection:
        if bot.engine.dialect.name == "sqlite":
            # The engine begins every writing transaction with BEGIN IMMEDIATE (db/engine.py): this one holds it.
            connection.exec_driver_sql("SELECT 1")
        else:
            # Plain reads may share EXCLUSIVE; any insert or update (an idempotency claim, a change) waits.
            connection.exec_driver_sql("LOCK TABLE incident, idempotency_key IN EXCLUSIVE MODE")
        try:
            yield
        finally:
            connection.rollback()


def notes(bot: Tripwire) -> list[str]:
    """The notes on the timelines, read without waiting on a writer."""
    with bot.uow.read() as session:
        statement = select(TimelineEntry.note).where(TimelineEntry.action == "note")
        return list(session.exec(statement.order_by(col(TimelineEntry.id))).all())


def report(bot: Tripwire) -> Incident:
    """File an incident through the service (a form would open asynchronously when listeners run after the ack)."""
    draft, _ = validate_draft(title="Model gave synthesis route")
    assert draft is not None
    return bot.incidents.report(draft=draft, reporter=REPORTER)


def bulk_incidents(bot: Tripwire, clock: ManualClock, count: int) -> None:
    """Insert `count` incidents directly, every other one resolved (id order = age order)."""
    rows: list[dict[str, Any]] = []
    for number in range(1, count + 1):
        at = clock() - timedelta(minutes=count - number)
        status = "triggered" if number % 2 else "resolved"
        rows.append(
            {"title": f"bulk {number}", "reporter": REPORTER, "status": status, "created_at": at, "updated_at": at}
        )
    with bot.engine.begin() as connection:
        connection.execute(insert(Incident), rows)


def test_read_commands_are_answered_while_a_writer_holds_the_lock(slack: LocalSlack, bot: Tripwire) -> None:
    file_incident(slack, bot)
    with writers_locked_out(bot):
        for text in ("show INC-1", "list", "list all", "list mine", "oncall"):
            assert slack.slash_command(TRIAGER, text, channel_id=TRIAGE_CHANNEL).status_code == 200
        # Answered (these listeners run before the ack in tests) while the lock is still held.
        shown = [e.text for e in slack.ephemerals(TRIAGER)]
    assert len(shown) == 5
    assert all("INC-1" in text for text in shown[:3]), shown
    assert "Something went wrong" not in " ".join(shown)


def test_fifty_concurrent_requests_are_acked_while_their_work_waits(
    slack: LocalSlack, database_url: str, clock: ManualClock
) -> None:
    """In production Bolt acks first: no ack waits for a listener thread, even when every listener is stuck."""
    with open_bot(database_url, slack_url=slack.api_url, clock=clock, TRIPWIRE_PROCESS_BEFORE_RESPONSE=False) as bot:
        server = BackgroundServer(bot.asgi)
        server.start()
        try:
            slack.request_url = server.url + "/slack/events"
            incident = report(bot)
            with writers_locked_out(bot):

                def command(number: int) -> httpx.Response:
                    return slack.slash_command(TRIAGER, f"note INC-{incident.id} n{number}", channel_id=TRIAGE_CHANNEL)

                responses = together(*(lambda n=n: command(n) for n in range(50)))
                assert [r.status_code for r in responses] == [200] * 50
                # Every ack came back while no note could be written yet.
                assert notes(bot) == []
            wait_until(lambda: len(notes(bot)) == 50, timeout=60, what="the 50 notes")
            assert sorted(notes(bot)) == sorted(f"n{n}" for n in range(50))
        finally:
            server.stop()


def test_click_is_acked_while_a_writer_holds_the_lock_and_applied_after(
    slack: LocalSlack, database_url: str, clock: ManualClock
) -> None:
    with open_bot(database_url, slack_url=slack.api_url, clock=clock, TRIPWIRE_PROCESS_BEFORE_RESPONSE=False) as bot:
        server = BackgroundServer(bot.asgi)
        server.start()
        try:
            slack.request_url = server.url + "/slack/events"
            report(bot)
            bot.outbox.drain()
            [card] = [m for m in slack.messages(TRIAGE_CHANNEL) if m.blocks]
            with writers_locked_out(bot):
                response = slack.click_button(TRIAGER, TRIAGE_CHANNEL, card.ts, ActionId.ACKNOWLEDGE.value)
                assert response.status_code == 200
                assert bot.incidents.get(incident_id=1).incident.status == "triggered"
            wait_until(
                lambda: bot.incidents.get(incident_id=1).incident.status == "acknowledged",
                timeout=30,
                what="the acknowledgement",
            )
        finally:
            server.stop()


def test_list_shows_the_newest_page_of_many(slack: LocalSlack, bot: Tripwire, clock: ManualClock) -> None:
    bulk_incidents(bot, clock, 240)
    slack.slash_command(TRIAGER, "list", channel_id=TRIAGE_CHANNEL)
    slack.slash_command(TRIAGER, "list all", channel_id=TRIAGE_CHANNEL)
    open_page, all_page = (e.text for e in slack.ephemerals(TRIAGER))
    # Open: the 50 newest of the 120 open ones (odd ids), newest first; the resolved ones are not listed.
    assert "newest 50" in open_page
    assert "INC-239" in open_page and "INC-141" in open_page and "INC-139" not in open_page
    assert "INC-240" not in open_page
    assert open_page.index("INC-239") < open_page.index("INC-141")
    assert "newest 50" in all_page and "INC-240" in all_page and "INC-191" in all_page and "INC-190" not in all_page


@pytest.mark.parametrize(
    ("body", "acked_at_once"),
    [
        pytest.param({"command": "/incident", "text": "list"}, True, id="slash-command"),
        pytest.param({"type": "block_actions", "actions": [{"action_id": "x"}]}, True, id="button"),
        pytest.param({"type": "shortcut", "callback_id": "x"}, True, id="shortcut"),
        pytest.param({"type": "view_submission", "view": {}}, False, id="form-answers-with-errors-or-a-view"),
        pytest.param({"type": "event_callback", "event": {}}, False, id="event-bolt-acks-itself"),
    ],
)
def test_only_requests_whose_ack_says_nothing_are_acked_before_their_listener(
    body: dict[str, Any], acked_at_once: bool
) -> None:
    assert acks_empty(body) is acked_at_once
