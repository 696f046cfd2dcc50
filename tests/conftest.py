"""Shared fixtures: a local Slack, a database per test (SQLite file, or PostgreSQL), and the bot on real HTTP."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.app.asgi import Tripwire, create_app
from bot.app.config import Settings
from bot.common.clock import Clock, ManualClock, system_clock
from db.engine import normalise_url
from localslack import BackgroundServer, LocalSlack
from tests.support.environment import missing

SIGNING_SECRET = "test-signing-secret-0123456789"
BOT_TOKEN = "xoxb-test-token"
POSTGRES_URL = os.environ.get("TRIPWIRE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REPORTER, TRIAGER, LEAD, BOSS, ADMIN = "U0REPORTER", "U0TRIAGER", "U0LEAD", "U0BOSS", "U0ADMIN"
TRIAGE_CHANNEL, GENERAL, ONCALL, RESTRICTED = "C0TRIAGE", "C0GENERAL", "C0ONCALL", "C0RESTRICTED"
REVIEW, LEADERSHIP = "C0REVIEW", "C0LEADERSHIP"
TEST_POLICY = Path(__file__).parent / "fixtures" / "policy.yaml"


def postgres_unavailable_reason() -> str | None:
    """None when the PostgreSQL test server answers; otherwise why not."""
    try:
        engine = create_engine(normalise_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means "no server here"; the reason is printed
        return f"PostgreSQL at {POSTGRES_URL} did not answer: {type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The server URL, or a skip (a failure under CI=true) when it does not answer."""
    reason = postgres_unavailable_reason()
    if reason is not None:
        missing(reason, needed_by="the PostgreSQL tests")
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"tripwire_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(postgres_admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(normalise_url(postgres_admin_url)).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """Each test that asks for it runs once on a SQLite file and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/tripwire.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
def slack_server() -> Iterator[LocalSlack]:
    """One local Slack for the whole run; `slack` resets it for each test."""
    server = LocalSlack(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    server.add_user(REPORTER, name="rita", real_name="Rita Reporter", tz="Europe/London")
    server.add_user(TRIAGER, name="tom", real_name="Tom Triager", tz="America/Los_Angeles")
    server.add_user(LEAD, name="lee", real_name="Lee Lead", tz="America/New_York")
    server.add_user(BOSS, name="bo", real_name="Bo Boss", tz="America/Los_Angeles")
    server.add_user(ADMIN, name="ada", real_name="Ada Admin", tz="Etc/UTC")
    server.add_channel(TRIAGE_CHANNEL, name="safety-triage", is_private=False)
    server.add_channel(GENERAL, name="general", is_private=False)
    server.add_channel(ONCALL, name="safety-oncall", is_private=False)
    server.add_channel(RESTRICTED, name="safety-restricted", is_private=True, members=[LEAD, TRIAGER])
    server.add_channel(REVIEW, name="safety-digest-review", is_private=False)
    server.add_channel(LEADERSHIP, name="safety-leadership", is_private=True, members=[LEAD, BOSS])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def slack(slack_server: LocalSlack) -> LocalSlack:
    """The local Slack with no messages, calls or scripted failures left from an earlier test."""
    slack_server.reset()
    return slack_server


@pytest.fixture
def clock() -> ManualClock:
    """The bot's clock, moved by hand."""
    return ManualClock(datetime(2026, 11, 23, 15, 0, tzinfo=UTC))


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for a bot under test: synchronous listeners, no per-channel pacing."""
    values: dict[str, object] = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "DATABASE_URL": database_url,
        "TRIPWIRE_TRIAGE_CHANNEL": TRIAGE_CHANNEL,
        "TRIPWIRE_PROCESS_BEFORE_RESPONSE": True,
        "TRIPWIRE_CHANNEL_INTERVAL": 0,
        "TRIPWIRE_POLICY": str(TEST_POLICY),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@contextmanager
def open_bot(
    database_url: str, *, slack_url: str | None = None, clock: Clock = system_clock, **overrides: object
) -> Iterator[Tripwire]:
    """A bot with no background work (tests drive timers and the outbox); its database pool is closed after."""
    options: dict[str, Any] = {"base_url": slack_url} if slack_url else {}
    client = WebClient(token=BOT_TOKEN, **options)
    tripwire = create_app(make_settings(database_url, **overrides), client=client, clock=clock, start_worker=False)
    try:
        yield tripwire
    finally:
        tripwire.engine.dispose()


@pytest.fixture
def bot(slack: LocalSlack, database_url: str, clock: ManualClock) -> Iterator[Tripwire]:
    """The bot on a real HTTP port, wired to the local Slack; the outbox is drained by the test."""
    with open_bot(database_url, slack_url=slack.api_url, clock=clock) as tripwire:
        server = BackgroundServer(tripwire.asgi)
        server.start()
        slack.request_url = server.url + "/slack/events"
        yield tripwire
        server.stop()
