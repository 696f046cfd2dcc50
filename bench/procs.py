"""The processes a benchmark phase runs: fresh databases, `tripwire serve`, the local Slack, the baselines, wrk."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from db.engine import normalise_url

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "tests" / "fixtures" / "policy.yaml"
WRK_SCRIPT = Path(__file__).resolve().parent / "replay.lua"
SIGNING_SECRET = "bench-signing-secret-0123456789"
WEBHOOK_SECRET = "bench-webhook-secret-0123456789"
BOT_TOKEN = "xoxb-bench-token"
ADMIN_URL = os.environ.get("TRIPWIRE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll(predicate: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> None:
    """Re-check a condition until it holds; raise naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        pause.wait(every)


def fresh_database(engine: str, folder: Path, name: str) -> str:
    """A URL of an empty database: a new SQLite file, or a PostgreSQL database dropped and created afresh."""
    if engine == "sqlite":
        return f"sqlite:///{folder}/{name}.db"
    admin = create_engine(normalise_url(ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    """Drop a PostgreSQL benchmark database (SQLite files go with their temporary folder)."""
    if not url.startswith("postgres"):
        return
    name = url.rsplit("/", 1)[1]
    admin = create_engine(normalise_url(ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@dataclass
class Server:
    """A server process on a loopback port."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        """Return ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def peak_rss_mb(self) -> float:
        """The process's peak resident set size so far (VmHWM), in MiB, plus what its children hold privately now.

        `tripwire serve`'s child is its listener process, forked from it: the pages they still share are counted once
        (in serve's own RSS), the pages the child has written since the fork (its own copies) once more.
        """
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        own = int(match.group(1)) / 1024 if match else 0.0
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return own + sum(_private_mb(int(pid)) for pid in children)


def _private_mb(pid: int) -> float:
    """The memory only process `pid` holds (Private_Clean + Private_Dirty), in MiB; 0 once it is gone."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0.0
    return sum(int(kb) for kb in re.findall(r"^Private_(?:Clean|Dirty):\s+(\d+) kB", rollup, re.MULTILINE)) / 1024


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


@contextmanager
def server(
    command: Sequence[str], *, port: int, ready: str, env: dict[str, str], folder: Path, name: str
) -> Iterator[Server]:
    """Start a server process, wait until GET `ready` answers, and stop it (SIGTERM, then SIGKILL) afterwards."""
    log = folder / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(command), cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
        running = Server(process, port, log)
        try:

            def up() -> bool:
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
                return _answers(running.url + ready)

            poll(up, 90, f"{name} to answer on port {port}", every=0.2)
            yield running
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def slack_env(slack_url: str, database_url: str, **extra: str) -> dict[str, str]:
    """The environment `tripwire serve` runs with in every phase."""
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_url + "/api/",
        "DATABASE_URL": database_url,
        "TRIPWIRE_POLICY": str(POLICY),
        "TRIPWIRE_TRIAGE_CHANNEL": "C0TRIAGE",
        "TRIPWIRE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        **extra,
    }


@contextmanager
def tripwire_stack(folder: Path, database_url: str, **extra: str) -> Iterator[tuple[Server, Server]]:
    """The local Slack process and `tripwire serve` pointed at it: (slack, serve)."""
    slack_port, bot_port = free_port(), free_port()
    slack_command = [
        sys.executable,
        "-m",
        "bench.slackd",
        "--port",
        str(slack_port),
        "--signing-secret",
        SIGNING_SECRET,
        "--bot-token",
        BOT_TOKEN,
        "--request-url",
        f"http://127.0.0.1:{bot_port}/slack/events",
    ]
    with server(slack_command, port=slack_port, ready="/bench/calls", env={}, folder=folder, name="slack") as slack:
        serve_command = [sys.executable, "-m", "bot.app.cli", "serve", "--host", "127.0.0.1", "--port", str(bot_port)]
        env = slack_env(slack.url, database_url, **extra)
        with server(serve_command, port=bot_port, ready="/healthz", env=env, folder=folder, name="serve") as bot:
            yield slack, bot


@contextmanager
def minimal_server(folder: Path, database_url: str) -> Iterator[Server]:
    """The minimal Starlette baseline (bench/minimal.py) on a fresh database."""
    port = free_port()
    command = [sys.executable, "-m", "bench.minimal", "--port", str(port)]
    env = {"DATABASE_URL": database_url, "TRIPWIRE_WEBHOOK_SECRET": WEBHOOK_SECRET}
    with server(command, port=port, ready="/healthz", env=env, folder=folder, name="minimal") as running:
        yield running


ALERTMANAGER_CONFIG = """\
route:
  receiver: "null"
  group_by: ["alertname"]
receivers:
  - name: "null"
"""


@contextmanager
def alertmanager(folder: Path) -> Iterator[Server]:
    """Prometheus Alertmanager with a null receiver, clustering off, on a loopback port."""
    binary = os.environ.get("ALERTMANAGER", "/usr/bin/prometheus-alertmanager")
    storage = Path(tempfile.mkdtemp(dir=folder, prefix="alertmanager-"))
    config = storage / "alertmanager.yml"
    config.write_text(ALERTMANAGER_CONFIG)
    port = free_port()
    command = [
        binary,
        f"--config.file={config}",
        f"--storage.path={storage}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with server(command, port=port, ready="/-/ready", env={}, folder=folder, name="alertmanager") as running:
        yield running


@dataclass
class WrkRun:
    """What one wrk run measured; latencies in milliseconds."""

    requests: int
    seconds: float
    errors: int
    non_2xx: int
    p50_ms: float
    p99_ms: float

    def as_json(self) -> dict[str, Any]:
        """Plain data for the results file."""
        return dict(vars(self))


def run_wrk(
    url: str,
    lines: Sequence[Sequence[str]],
    *,
    path: str,
    content_type: str,
    headers: tuple[str, str],
    connections: int,
    folder: Path,
    threads: int = 2,
    timeout: float = 600,
) -> WrkRun:
    """Send each pre-signed request in `lines` once ([timestamp, signature, body]) with wrk; latency from --latency.

    wrk runs for a duration, not a count: each thread sends its share, then marks itself done and stops; we stop
    wrk when all have. Requests a connection sends after its thread's share is gone are a GET of a path no
    server has (404); the script does not count them.
    """
    threads = max(1, min(threads, connections, len(lines)))
    data = folder / "wrk-requests.tsv"
    data.write_text("".join("\t".join(line) + "\n" for line in lines))
    marker = folder / "wrk-done"
    for stale in folder.glob("wrk-done-*"):
        stale.unlink()
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{int(timeout)}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(WRK_SCRIPT),
        url,
        "--",
        str(data),
        str(threads),
        path,
        content_type,
        headers[0],
        headers[1],
        "/bench-overflow",
        str(marker),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        poll(lambda: len(list(folder.glob("wrk-done-*"))) >= threads or process.poll() is not None, timeout, "wrk")
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    return parse_wrk(output)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def parse_wrk(output: str) -> WrkRun:
    """The figures from wrk's --latency output and the replay script's summary line."""
    summary = re.search(r"^BENCH (\{.*\})$", output, re.MULTILINE)
    if summary is None:
        raise RuntimeError(f"wrk printed no summary:\n{output}")
    counts = json.loads(summary.group(1))
    seconds = re.search(r"requests in ([\d.]+)(ms|s|m)", output)
    elapsed = _ms(seconds.group(1) + seconds.group(2)) / 1000 if seconds else 0.0
    p50 = re.search(r"^\s+50%\s+(\S+)$", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)$", output, re.MULTILINE)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return WrkRun(
        requests=int(counts["sent"]),
        seconds=elapsed,
        errors=sum(int(n) for n in errors.groups()) if errors else 0,
        non_2xx=int(counts["failed"]),
        p50_ms=_ms(p50.group(1)) if p50 else 0.0,
        p99_ms=_ms(p99.group(1)) if p99 else 0.0,
    )
