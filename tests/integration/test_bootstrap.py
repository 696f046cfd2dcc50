"""One bootstrap: HTTP and Socket Mode start and stop the same background work; digest jobs follow the policy."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn
from slack_bolt import App
from sqlmodel import Session, select

from bot.app.asgi import Tripwire, create_app
from bot.app.jobs import RISK_REPORT_JOB, WEEKLY_JOB
from bot.app.serve import serve_socket_mode
from bot.incidents.lifecycle import validate_draft
from db.models import Timer
from localslack import LocalSlack
from tests.conftest import REPORTER, TEST_POLICY, TRIAGER, make_settings, open_bot
from tests.support.environment import free_port, wait_until

LOS_ANGELES = ZoneInfo("America/Los_Angeles")
APP_TOKEN = "xapp-1-A0TEST-0-socketmode"


@dataclass
class FakeSocketMode:
    """Stands in for Bolt's SocketModeHandler: records what the serve loop gave it and connects to nothing."""

    app: App
    app_token: str
    connected: bool = False
    closed: bool = False

    def connect(self) -> None:
        self.connected = True

    def close(self) -> None:
        self.closed = True


def background_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name == "tripwire-outbox" or t.name.startswith("APScheduler")}


def test_socket_mode_runs_the_scheduler_so_a_due_page_reaches_the_on_call(slack: LocalSlack, tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path}/tripwire.db"
    with open_bot(database_url, slack_url=slack.api_url) as seeded:
        draft, _ = validate_draft(title="Page me over Socket Mode", category="cyber", severity="sev3")
        assert draft is not None
        incident = seeded.incidents.report(draft=draft, reporter=REPORTER)  # its first page is due now
    settings = make_settings(
        database_url, SLACK_API_URL=slack.api_url, SLACK_APP_TOKEN=APP_TOKEN, TRIPWIRE_TIMER_INTERVAL=0.1
    )
    connections: list[FakeSocketMode] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def connect(app: App, app_token: str) -> FakeSocketMode:
        connections.append(FakeSocketMode(app, app_token))
        return connections[-1]

    def serve() -> None:
        try:
            serve_socket_mode(settings, stop=stop, connect=connect)
        except BaseException as exc:  # re-raised in the test thread below
            errors.append(exc)

    before = background_threads()
    thread = threading.Thread(target=serve, name="socket-mode-serve")
    thread.start()
    dm = slack.dm_channel(TRIAGER)
    try:
        wait_until(lambda: bool(slack.messages(dm)) or bool(errors), 20, "the scheduler to page the on-call by DM")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not errors, errors
    assert not thread.is_alive()
    [page] = slack.messages(dm)
    assert incident.ref in page.text + json.dumps(page.blocks)
    [connection] = connections
    assert connection.app_token == APP_TOKEN and isinstance(connection.app, App)
    assert connection.connected and connection.closed
    assert background_threads() == before  # the scheduler and the outbox worker stopped with the connection
    with open_bot(database_url) as after, Session(after.engine) as session:
        fired = session.exec(select(Timer).where(Timer.kind == "page", Timer.status == "done")).all()
    assert len(fired) == 1


def test_http_lifespan_starts_the_background_work_and_stops_it(slack: LocalSlack, tmp_path: Path) -> None:
    served = create_app(make_settings(f"sqlite:///{tmp_path}/tripwire.db", SLACK_API_URL=slack.api_url))
    port = free_port()
    # What `tripwire serve` runs (uvicorn with its lifespan on), on a thread so the test can stop it.
    server = uvicorn.Server(
        uvicorn.Config(served.asgi, host="127.0.0.1", port=port, lifespan="on", log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="http-serve")
    thread.start()
    try:
        wait_until(lambda: server.started, 20, "uvicorn to finish its lifespan startup")
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json() == {"ok": True}
        assert served.scheduler.running
        assert "tripwire-outbox" in background_threads()
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        served.engine.dispose()
    assert not thread.is_alive()
    assert not served.scheduler.running
    assert "tripwire-outbox" not in background_threads()


@pytest.fixture
def editable_policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(TEST_POLICY.read_text(encoding="utf-8"), encoding="utf-8")
    return path


@pytest.fixture
def paused(slack: LocalSlack, editable_policy: Path, tmp_path: Path) -> Iterator[Tripwire]:
    """A bot whose scheduler is started paused: jobs get next run times, none runs unless the test calls it."""
    with open_bot(
        f"sqlite:///{tmp_path}/tripwire.db", slack_url=slack.api_url, TRIPWIRE_POLICY=str(editable_policy)
    ) as tripwire:
        tripwire.scheduler.start(paused=True)
        try:
            yield tripwire
        finally:
            tripwire.scheduler.shutdown(wait=False)


def reload_now(tripwire: Tripwire) -> None:
    """Run the policy-reload job as the scheduler would."""
    job = tripwire.scheduler.get_job("policy-reload")
    assert job is not None
    job.func()


def slot(tripwire: Tripwire, job_id: str) -> str:
    """When the job fires next, as the trigger computes it from a fixed moment and as the scheduler has it."""
    job = tripwire.scheduler.get_job(job_id)
    assert job is not None
    fire = job.trigger.get_next_fire_time(None, datetime(2026, 11, 24, tzinfo=UTC))
    zone = job.trigger.timezone
    assert job.next_run_time.astimezone(zone).strftime("%a %H:%M") == fire.astimezone(zone).strftime("%a %H:%M")
    return f"{fire.astimezone(zone).strftime('%a %H:%M')} {zone}"


@pytest.mark.parametrize(
    ("old", "new", "job_id", "expected"),
    [
        pytest.param(
            'weekly: {day: mon, time: "09:00"',
            'weekly: {day: thu, time: "09:00"',
            WEEKLY_JOB,
            "Thu 09:00 America/Los_Angeles",
            id="weekly-day",
        ),
        pytest.param(
            'weekly: {day: mon, time: "09:00", timezone: America/Los_Angeles}',
            'weekly: {day: mon, time: "07:30", timezone: Europe/London}',
            WEEKLY_JOB,
            "Mon 07:30 Europe/London",
            id="weekly-time-and-zone",
        ),
        pytest.param(
            'risk_report: {every: 90d, day: mon, time: "09:00"',
            'risk_report: {every: 90d, day: fri, time: "16:00"',
            RISK_REPORT_JOB,
            "Fri 16:00 America/Los_Angeles",
            id="risk-report-day",
        ),
    ],
)
def test_policy_reload_moves_the_digest_job(
    paused: Tripwire, editable_policy: Path, old: str, new: str, job_id: str, expected: str
) -> None:
    assert slot(paused, job_id) == "Mon 09:00 America/Los_Angeles"
    text = editable_policy.read_text(encoding="utf-8")
    assert old in text
    editable_policy.write_text(text.replace(old, new), encoding="utf-8")
    reload_now(paused)
    assert slot(paused, job_id) == expected


def test_policy_reload_removes_and_restores_the_risk_report_job(paused: Tripwire, editable_policy: Path) -> None:
    text = editable_policy.read_text(encoding="utf-8")
    line = next(line for line in text.splitlines(keepends=True) if line.lstrip().startswith("risk_report:"))
    editable_policy.write_text(text.replace(line, ""), encoding="utf-8")
    reload_now(paused)
    assert paused.policies.current.digest.risk_report is None
    assert paused.scheduler.get_job(RISK_REPORT_JOB) is None
    editable_policy.write_text(text, encoding="utf-8")
    reload_now(paused)
    assert slot(paused, RISK_REPORT_JOB) == "Mon 09:00 America/Los_Angeles"


def test_reload_that_leaves_the_digest_alone_leaves_its_jobs_alone(paused: Tripwire, editable_policy: Path) -> None:
    weekly = paused.scheduler.get_job(WEEKLY_JOB)
    assert weekly is not None
    trigger, next_run = weekly.trigger, weekly.next_run_time
    text = editable_policy.read_text(encoding="utf-8")
    editable_policy.write_text(text.replace('version: "it-1"', 'version: "it-2"'), encoding="utf-8")
    reload_now(paused)
    assert paused.policies.current.version == "it-2"
    after = paused.scheduler.get_job(WEEKLY_JOB)
    assert after is not None and after.trigger is trigger and after.next_run_time == next_run


def test_refused_policy_keeps_the_digest_jobs_on_the_policy_in_force(paused: Tripwire, editable_policy: Path) -> None:
    text = editable_policy.read_text(encoding="utf-8")
    broken = text.replace('weekly: {day: mon, time: "09:00"', 'weekly: {day: someday, time: "09:00"')
    assert broken != text
    editable_policy.write_text(broken, encoding="utf-8")
    reload_now(paused)
    assert paused.policies.current.version == "it-1"
    assert slot(paused, WEEKLY_JOB) == "Mon 09:00 America/Los_Angeles"
