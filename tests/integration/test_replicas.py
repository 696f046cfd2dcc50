"""Two bot processes on one PostgreSQL database: every due page is sent exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from bot.app.asgi import Tripwire
from bot.incidents.lifecycle import validate_draft
from db.models import Timer
from localslack import LocalSlack
from tests.conftest import BOT_TOKEN, REPORTER, SIGNING_SECRET, TEST_POLICY, TRIAGER, open_bot
from tests.support.environment import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
INCIDENTS = 12


def timer_passes(port: int) -> int:
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return 0
    line = next((line for line in body.splitlines() if line.startswith("tripwire_timer_passes_total ")), "x 0")
    return int(float(line.split()[1]))  # prometheus-client writes "3.0"


@pytest.fixture
def replicas(slack: LocalSlack, postgres_url: str, tmp_path: Path) -> Iterator[list[int]]:
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": postgres_url,
        "TRIPWIRE_POLICY": str(TEST_POLICY),
        "TRIPWIRE_TRIAGE_CHANNEL": "C0TRIAGE",
        "TRIPWIRE_TIMER_INTERVAL": "0.2",
        "TRIPWIRE_CHANNEL_INTERVAL": "0",
    }
    ports = [free_port(), free_port()]
    processes, logs = [], []
    for index, port in enumerate(ports):
        logs.append((tmp_path / f"replica{index}.log").open("w"))
        command = [sys.executable, "-m", "bot.app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=logs[-1], stderr=subprocess.STDOUT))
    try:
        yield ports
    finally:
        for process in processes:
            process.terminate()
        codes = [process.wait(timeout=30) for process in processes]
        for log in logs:
            log.close()
        output = "\n".join((tmp_path / f"replica{i}.log").read_text()[-3000:] for i in range(len(ports)))
        # uvicorn re-raises SIGTERM after a graceful shutdown, so -SIGTERM (not a crash) is the clean exit code.
        assert codes == [-signal.SIGTERM, -signal.SIGTERM], output
        assert output.count("Application shutdown complete") == 2, output


@pytest.mark.postgres
@pytest.mark.e2e
def test_two_replicas_send_each_due_page_exactly_once(
    slack: LocalSlack, postgres_url: str, replicas: list[int]
) -> None:
    with open_bot(postgres_url, slack_url=slack.api_url) as seeded:
        check_each_page_sent_once(slack, seeded, replicas)


def check_each_page_sent_once(slack: LocalSlack, seeded: Tripwire, ports: list[int]) -> None:
    """Open incidents whose first page is due now, and let the two ports race for them."""
    draft, _ = validate_draft(title="Race me", category="cyber", severity="sev3")
    assert draft is not None
    for _ in range(INCIDENTS):
        seeded.incidents.report(draft=draft, reporter=REPORTER)

    def all_pages_fired() -> bool:
        with Session(seeded.engine) as session:
            pages = session.exec(select(Timer).where(Timer.kind == "page", Timer.status == "done")).all()
            return len(pages) == INCIDENTS

    wait_until(all_pages_fired, 60, "both ports to start and fire the first page of every incident")
    start = [timer_passes(port) for port in ports]
    wait_until(
        lambda: all(timer_passes(port) >= before + 5 for port, before in zip(ports, start, strict=True)),
        30,
        "five more timer passes on each replica",
    )
    dm = slack.dm_channel(TRIAGER)
    wait_until(lambda: len(slack.messages(dm)) >= INCIDENTS, 30, "the page DMs to be delivered")
    pages = [call for call in slack.calls_to("chat.postMessage") if call.args.get("channel") == TRIAGER]
    assert len(pages) == INCIDENTS
    assert len(slack.messages(dm)) == INCIDENTS
    with Session(seeded.engine) as session:
        fired = session.exec(select(Timer).where(Timer.kind == "page", Timer.status == "done")).all()
    assert len(fired) == INCIDENTS and all(t.fired_by for t in fired)
