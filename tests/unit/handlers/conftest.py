"""The bot wired to an unstarted LocalSlack whose Web API answers in-process: no port, no thread, no server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app.asgi import Tripwire
from bot.common.clock import ManualClock
from localslack import LocalSlack
from tests.conftest import BOT_TOKEN, REPORTER, SIGNING_SECRET, TRIAGE_CHANNEL, TRIAGER, open_bot
from tests.support.inprocess_slack import answer_in_process, api_url


@pytest.fixture
def fake_slack() -> Iterator[LocalSlack]:
    """A LocalSlack that is never started: its Web API and response_urls are answered inside this process."""
    slack = LocalSlack(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    slack.add_user(REPORTER, name="rita", real_name="Rita Reporter", tz="Europe/London")
    slack.add_user(TRIAGER, name="tom", real_name="Tom Triager", tz="America/Los_Angeles")
    slack.add_channel(TRIAGE_CHANNEL, name="safety-triage", is_private=False)
    with answer_in_process(slack):
        yield slack


@pytest.fixture
def tripwire(fake_slack: LocalSlack, tmp_path: Path, clock: ManualClock) -> Iterator[Tripwire]:
    """The bot on a SQLite file, listeners run before the response (process_before_response), no workers."""
    with open_bot(f"sqlite:///{tmp_path}/tripwire.db", slack_url=api_url(fake_slack), clock=clock) as bot:
        assert bot.settings.process_before_response
        yield bot
