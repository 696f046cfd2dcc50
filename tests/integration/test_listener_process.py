"""`tripwire serve` runs Slack's requests in its listener process (bot/app/listener_process.py): forms, clicks and
commands are answered through it, concurrent clicks act once, the policy serve loads is the one it follows, and
either process killed with -9 takes the other down with it (a restart then answers). On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from sqlmodel import Session, select

from bot.common.clock import ManualClock
from bot.policy.store import PolicyStore
from db.engine import UnitOfWork, make_engine
from db.migrate import upgrade
from db.models import Incident, TimelineEntry
from localslack import LocalSlack
from tests.conftest import REPORTER, TEST_POLICY, TRIAGE_CHANNEL, TRIAGER
from tests.integration.test_click_response_url import shows_acknowledged
from tests.integration.test_incident_lifecycle import FORM, card_text
from tests.support.environment import wait_until
from tests.support.serve import Served, parent_of, running, start_serve, wait_gone

pytestmark = pytest.mark.e2e
Row = TypeVar("Row", Incident, TimelineEntry)


@pytest.fixture
def served(slack: LocalSlack, database_url: str, tmp_path: Path) -> Iterator[list[Served]]:
    """Start `tripwire serve` processes on demand (append to the list); each is killed at the end if still running."""
    started: list[Served] = []
    yield started
    for one in started:
        one.stop()


def serve_for(slack: LocalSlack, database_url: str, log: Path) -> Served:
    one = start_serve(slack, database_url, log)
    slack.request_url = one.url + "/slack/events"
    return one


def stored(database_url: str, model: type[Row]) -> list[Row]:
    """Every row of a table, read by a connection of the test's own."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            return list(session.exec(select(model)).all())
    finally:
        engine.dispose()


def file_through_the_form(slack: LocalSlack, database_url: str) -> Incident:
    """`/incident new`, then submit the form it opened: the form's answer comes back from the listener process."""
    assert slack.slash_command(REPORTER, "new", channel_id=TRIAGE_CHANNEL).status_code == 200
    wait_until(lambda: bool(slack.open_views(REPORTER)), 30, "the form to open")
    [view] = slack.open_views(REPORTER)
    values = {block_id: {"value": value} for block_id, value in FORM.items()}
    submitted = slack.submit_view(REPORTER, view.id, values)
    assert submitted.status_code == 200, submitted.text
    [incident] = stored(database_url, Incident)
    # The form's answer (its next view) was Bolt's ack in the other process, carried back through serve.
    [confirmation] = slack.open_views(REPORTER)
    assert f"INC-{incident.id}* is filed" in card_text(confirmation)
    assert incident.title == FORM["title"]
    return incident


def test_forms_clicks_and_commands_are_answered_from_the_listener_process(
    slack: LocalSlack, database_url: str, served: list[Served], tmp_path: Path
) -> None:
    serve = serve_for(slack, database_url, tmp_path / "serve.log")
    served.append(serve)
    listener = serve.listener_pid()
    assert listener != serve.process.pid and parent_of(listener) == serve.process.pid

    incident = file_through_the_form(slack, database_url)
    # serve's outbox posts the card the listener process queued (it is woken by the answer, not by a poll).
    wait_until(lambda: any(m.blocks for m in slack.messages(TRIAGE_CHANNEL)), 30, "the incident's card")
    [card] = [m for m in slack.messages(TRIAGE_CHANNEL) if m.blocks]

    # Five clicks at once on the card as it is: each acked empty at once, and one of them acknowledges.
    with ThreadPoolExecutor(5) as pool:
        clicks = list(
            pool.map(lambda _: slack.click_button(TRIAGER, TRIAGE_CHANNEL, card.ts, "incident_acknowledge"), range(5))
        )
    assert [(c.status_code, c.content) for c in clicks] == [(200, b"")] * 5
    wait_until(lambda: shows_acknowledged(slack, card.ts), 30, "the card to show the acknowledgement")
    acks = [e for e in stored(database_url, TimelineEntry) if e.action == "acknowledge"]
    assert len(acks) == 1 and acks[0].incident_id == incident.id and acks[0].actor == TRIAGER

    # A command: acked empty by serve, answered through its response_url by the listener process.
    assert slack.slash_command(TRIAGER, f"show INC-{incident.id}", channel_id=TRIAGE_CHANNEL).content == b""
    wait_until(lambda: bool(slack.ephemerals(TRIAGER)), 30, "the command's answer")
    assert f"INC-{incident.id}" in slack.ephemerals(TRIAGER)[-1].text
    assert "Traceback" not in serve.log.read_text()


def test_a_listener_process_killed_stops_serve_and_a_restart_answers(
    slack: LocalSlack, database_url: str, served: list[Served], tmp_path: Path
) -> None:
    first = serve_for(slack, database_url, tmp_path / "first.log")
    served.append(first)
    listener = first.listener_pid()
    os.kill(listener, signal.SIGKILL)
    # Crash-only: serve notices at once, stops as on SIGTERM, and says why in its exit.
    assert first.process.wait(60) == 1, first.output()
    assert f"the listener process {listener} killed by signal 9; stopping" in first.output()

    second = serve_for(slack, database_url, tmp_path / "second.log")
    served.append(second)
    assert second.listener_pid() != listener
    assert slack.slash_command(TRIAGER, "list", channel_id=TRIAGE_CHANNEL).status_code == 200
    wait_until(lambda: bool(slack.ephemerals(TRIAGER)), 30, "the restarted listener process's answer")


def test_serve_killed_takes_its_listener_process_with_it(
    slack: LocalSlack, database_url: str, served: list[Served], tmp_path: Path
) -> None:
    serve = serve_for(slack, database_url, tmp_path / "serve.log")
    served.append(serve)
    listener = serve.listener_pid()
    assert running(listener)
    serve.process.kill()
    serve.process.wait(30)
    # Its sockets closed with serve: it exits rather than run requests nobody will see answered.
    wait_gone(listener, 30)


def test_serve_stopped_with_sigterm_answers_what_it_accepted_then_its_listener_process_exits(
    slack: LocalSlack, database_url: str, served: list[Served], tmp_path: Path
) -> None:
    serve = serve_for(slack, database_url, tmp_path / "serve.log")
    served.append(serve)
    listener = serve.listener_pid()
    acked = [slack.slash_command(TRIAGER, "list", channel_id=TRIAGE_CHANNEL) for _ in range(3)]
    assert [a.content for a in acked] == [b""] * 3
    serve.process.terminate()
    # uvicorn re-raises SIGTERM once it has shut down cleanly.
    assert serve.process.wait(60) == -signal.SIGTERM, serve.output()
    assert len(slack.ephemerals(TRIAGER)) == 3  # every acked command was answered before serve stopped
    wait_gone(listener, 30)  # and the listener process, which ignores SIGTERM, left once serve closed its sockets
    assert "Application shutdown complete" in serve.output()


def test_a_policy_loaded_by_one_process_is_followed_by_another_from_the_database(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(TEST_POLICY.read_text())
    engine = make_engine(database_url)
    upgrade(engine)
    try:
        serve = PolicyStore(path=policy, uow=UnitOfWork(engine), clock=clock)
        listener = PolicyStore(path=policy, uow=UnitOfWork(engine), clock=clock)
        policy.write_text(TEST_POLICY.read_text().replace('version: "it-1"', 'version: "it-2"', 1))
        assert serve.reload().outcome == "loaded"
        # The listener process never reads the file: a broken file now changes nothing there, and sends no notice.
        policy.write_text("version: [broken")
        listener.follow(serve.current.content_hash)
        assert listener.current.content_hash == serve.current.content_hash
        assert listener.current.version == serve.current.version == "it-2"
        assert listener.current.routes == serve.current.routes
        # An unknown version (not stored yet) leaves the one in force.
        listener.follow("0" * 64)
        assert listener.current.content_hash == serve.current.content_hash
    finally:
        engine.dispose()
