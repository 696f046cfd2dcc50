"""`tripwire serve` as a real process for end-to-end tests: started against a local Slack and a database, its log
kept, stopped (or found stopped) at the end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from localslack import LocalSlack
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, TEST_POLICY
from tests.support.environment import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    """One running `tripwire serve`."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        """The end of what it printed (for assertion messages)."""
        return self.log.read_text()[-4000:]

    def listener_pid(self) -> int:
        """The pid of its listener process, as it logged it."""
        found = re.search(r"listener process (\d+) started", self.log.read_text())
        assert found is not None, self.output()
        return int(found.group(1))

    def stop(self) -> None:
        """kill -9 it if it still runs."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (state, parent's pid, ...); OSError once it is gone."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def parent_of(pid: int) -> int:
    """The parent's pid of a running process (Linux /proc)."""
    return int(_stat(pid)[1])


def running(pid: int) -> bool:
    """Whether the process is there and not a zombie waiting to be reaped."""
    try:
        return _stat(pid)[0] != "Z"
    except OSError:
        return False


def wait_gone(pid: int, timeout: float) -> None:
    """Wait until the process has exited."""
    wait_until(lambda: not running(pid), timeout, f"process {pid} to exit")


def start_serve(slack: LocalSlack, database_url: str, log: Path, **env: str) -> Served:
    """Start `tripwire serve` on a free port with the test policy and wait until it answers /healthz."""
    port = free_port()
    environment = {
        **os.environ,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": database_url,
        "TRIPWIRE_POLICY": str(TEST_POLICY),
        "TRIPWIRE_TRIAGE_CHANNEL": "C0TRIAGE",
        "TRIPWIRE_CHANNEL_INTERVAL": "0",
        **env,
    }
    command = [sys.executable, "-m", "bot.app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT)
    served = Served(process=process, url=f"http://127.0.0.1:{port}", log=log)

    def healthy() -> bool:
        assert process.poll() is None, served.output()
        try:
            return httpx.get(served.url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, 60, "tripwire serve to answer")
    return served
