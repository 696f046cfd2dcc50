"""The fast path: concurrent requests share commits, a 202 means stored (kill -9 loses nothing), a store that fails
answers 503, and concurrent crossings still open one incident per dedup key. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, func, select

from bot.app.asgi import Tripwire
from bot.ingest.signing import sign
from db import repositories
from db.engine import make_engine
from db.models import EvalResult, Incident
from localslack import LocalSlack
from tests.support.serve import start_serve

ROOT = Path(__file__).resolve().parents[2]
SECRET = "webhook-secret-for-tests"
REQUESTS = 64
PER_REQUEST = 20


def result(run_id: str, *, model: str = "frontier-x-ckpt-100", value: float = 0.30) -> dict[str, Any]:
    return {
        "source": "inspect",
        "model": model,
        "checkpoint": "ckpt-100",
        "task": "ctf_web",
        "metric": "accuracy",
        "value": value,
        "run_id": run_id,
        "observed_at": "2026-11-23T14:00:00+00:00",
    }


def post(url: str, results: Sequence[dict[str, Any]]) -> httpx.Response:
    body = json.dumps({"results": list(results)}).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-Tripwire-Timestamp": str(timestamp),
        "X-Tripwire-Signature": sign(SECRET, body, timestamp),
    }
    return httpx.post(url + "/hooks/eval", content=body, headers=headers, timeout=120)


def count(url: str, model: type[EvalResult] | type[Incident]) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return session.exec(select(func.count()).select_from(model)).one()
    finally:
        engine.dispose()


@pytest.fixture
def served(slack: LocalSlack, database_url: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`tripwire serve` on a known port, with its log; killed at the end if still running."""
    serve = start_serve(slack, database_url, tmp_path / "serve.log", TRIPWIRE_WEBHOOK_SECRET=SECRET)
    try:
        yield serve.process, serve.url
    finally:
        serve.stop()


def test_every_answered_request_survives_kill_nine_right_after(
    served: tuple[subprocess.Popen[bytes], str], database_url: str
) -> None:
    process, url = served
    batches = [[result(f"r{n}-{i}") for i in range(PER_REQUEST)] for n in range(REQUESTS)]
    with ThreadPoolExecutor(REQUESTS) as pool:
        answers = list(pool.map(lambda batch: post(url, batch), batches))
    process.kill()  # kill -9 the moment the last answer is in: nothing may be lost that was answered 202
    process.wait(30)
    assert [a.status_code for a in answers] == [202] * REQUESTS, answers[0].text
    assert sum(a.json()["accepted"] for a in answers) == REQUESTS * PER_REQUEST
    assert count(database_url, EvalResult) == REQUESTS * PER_REQUEST


@pytest.fixture
def hooks(bot: Tripwire, slack: LocalSlack) -> str:
    """The in-process bot's base URL, with the webhook secret configured."""
    bot.settings.webhook_secret = SECRET
    assert slack.request_url is not None
    return slack.request_url.removesuffix("/slack/events")


def test_concurrent_fast_path_crossings_open_one_incident_per_key(hooks: str, bot: Tripwire) -> None:
    keys = 10

    def batch(thread: int) -> list[dict[str, Any]]:
        # Every thread crosses on every key; threads in pairs send the same results (a retry elsewhere).
        return [result(f"t{thread // 2}-k{k}", model=f"fam{k}-ckpt-1", value=0.58) for k in range(keys)]

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda thread: post(hooks, batch(thread)), range(16)))
    assert all(a.status_code == 202 and "incidents" not in a.json() for a in answers)
    assert sum(a.json()["accepted"] for a in answers) == sum(a.json()["duplicates"] for a in answers) == 8 * keys
    assert bot.triage.drain() == 8 * keys
    with Session(bot.engine) as session:
        found = session.exec(select(Incident)).all()
    assert sorted(i.model for i in found) == sorted(f"fam{k}-ckpt-1" for k in range(keys))
    assert {i.result_count for i in found} == {8}


def test_a_store_that_fails_answers_503_and_stores_nothing(
    hooks: str, bot: Tripwire, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(**_: object) -> dict[tuple[str, ...], int]:
        raise OperationalError("INSERT", {}, Exception("could not connect"))

    monkeypatch.setattr(repositories, "insert_eval_results", unavailable)
    answer = post(hooks, [result("r1")])
    assert answer.status_code == 503 and "retry" in answer.json()["error"]
    monkeypatch.undo()
    assert post(hooks, [result("r1")]).json()["accepted"] == 1  # the sender's retry is stored
    with Session(bot.engine) as session:
        assert session.exec(select(func.count()).select_from(EvalResult)).one() == 1
