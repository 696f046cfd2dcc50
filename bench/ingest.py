"""Durable ingest: `tripwire serve` against the minimal endpoint and Alertmanager, driven by wrk over loopback.

Results go in batches of 1, 10 and 100 from 40 model families, mostly below every band of the test policy (one in a
hundred is on the watch line, so triage, grouping and cards still happen). Stored results are counted in the
database after each phase, and that count over wrk's duration is the figure compared.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bench.procs import (
    WEBHOOK_SECRET,
    alertmanager,
    drop_database,
    fresh_database,
    minimal_server,
    run_wrk,
    tripwire_stack,
)
from bot.ingest.signing import sign
from db.engine import normalise_url

FAMILIES = [f"lab{chr(97 + k // 8)}-model{chr(97 + k % 8)}" for k in range(40)]
TS_HEADERS = ("X-Tripwire-Timestamp", "X-Tripwire-Signature")
CONNECTIONS = 8


def result(tag: str, i: int, start: datetime) -> dict[str, Any]:
    """One generic eval result; every hundredth is on the watch line, the rest below every band."""
    crossing = i % 100 == 99
    return {
        "source": "inspect",
        "model": FAMILIES[i % len(FAMILIES)],
        "checkpoint": f"ckpt-{i % 500}",
        "task": "ctf_web",
        "metric": "accuracy",
        "value": 0.45 if crossing else 0.05 + (i % 29) / 100,
        "run_id": f"{tag}-{i}",
        "observed_at": (start + timedelta(milliseconds=i)).isoformat(),
    }


def signed(documents: list[Any]) -> list[list[str]]:
    """Signed /hooks/eval requests for JSON documents, timestamped now: [timestamp, signature, body]."""
    now = int(time.time())
    lines = []
    for document in documents:
        body = json.dumps(document, separators=(",", ":"))
        lines.append([str(now), sign(WEBHOOK_SECRET, body.encode(), now), body])
    return lines


def eval_bodies(tag: str, requests: int, batch: int) -> list[list[str]]:
    """Signed requests of `batch` results each (one result object when batch is 1)."""
    start = datetime.now(UTC) - timedelta(hours=1)
    documents: list[Any] = []
    for r in range(requests):
        items = [result(tag, r * batch + k, start) for k in range(batch)]
        documents.append(items[0] if batch == 1 else {"results": items})
    return signed(documents)


def alert_bodies(tag: str, requests: int, batch: int) -> list[list[str]]:
    """Alertmanager /api/v2/alerts bodies with distinct labels (unsigned: Alertmanager has no signatures)."""
    lines = []
    for r in range(requests):
        alerts = [
            {
                "labels": {
                    "alertname": "SafetyEvalResult",
                    "model": FAMILIES[(r * batch + k) % len(FAMILIES)],
                    "run_id": f"{tag}-{r * batch + k}",
                },
                "annotations": {"value": "0.12"},
            }
            for k in range(batch)
        ]
        lines.append(["-", "-", json.dumps(alerts, separators=(",", ":"))])
    return lines


def stored_results(database_url: str) -> int:
    """How many eval results the database holds."""
    engine = create_engine(normalise_url(database_url))
    with engine.connect() as connection:
        count = int(connection.execute(text("SELECT count(*) FROM eval_result")).scalar_one())
    engine.dispose()
    return count


def _eval_figures(url: str, database_url: str, lines: list[list[str]], batch: int, folder: Path) -> dict[str, Any]:
    run = run_wrk(
        url,
        lines,
        path="/hooks/eval",
        content_type="application/json",
        headers=TS_HEADERS,
        connections=CONNECTIONS,
        folder=folder,
    )
    stored = stored_results(database_url)
    return {
        **run.as_json(),
        "results_sent": run.requests * batch,
        "results_stored": stored,
        "stored_per_s": stored / run.seconds if run.seconds else 0.0,
        "requests_per_s": run.requests / run.seconds if run.seconds else 0.0,
    }


def tripwire_ingest(engine: str, batch: int, requests: int, folder: Path) -> dict[str, Any]:
    """`tripwire serve` on a fresh database: results stored per second, and the server's peak RSS."""
    database_url = fresh_database(engine, folder, f"bench_ingest_{engine}_{batch}")
    try:
        with tripwire_stack(folder, database_url) as (_, bot):
            figures = _eval_figures(bot.url, database_url, eval_bodies(f"tw{batch}", requests, batch), batch, folder)
            figures["serve_peak_rss_mb"] = bot.peak_rss_mb()
        return figures
    finally:
        drop_database(database_url)


def minimal_ingest(engine: str, batch: int, requests: int, folder: Path) -> dict[str, Any]:
    """The minimal endpoint on a fresh database, the same requests."""
    database_url = fresh_database(engine, folder, f"bench_minimal_{engine}_{batch}")
    try:
        with minimal_server(folder, database_url) as baseline:
            return _eval_figures(baseline.url, database_url, eval_bodies(f"min{batch}", requests, batch), batch, folder)
    finally:
        drop_database(database_url)


def alertmanager_ingest(batch: int, requests: int, folder: Path) -> dict[str, Any]:
    """Alertmanager receiving the same number of alerts per request: alerts/s = alerts per request x requests/s."""
    with alertmanager(folder) as running:
        run = run_wrk(
            running.url,
            alert_bodies(f"am{batch}", requests, batch),
            path="/api/v2/alerts",
            content_type="application/json",
            headers=("X-Bench-Unused-1", "X-Bench-Unused-2"),
            connections=CONNECTIONS,
            folder=folder,
        )
    rate = run.requests / run.seconds if run.seconds else 0.0
    return {**run.as_json(), "requests_per_s": rate, "stored_per_s": rate * batch}


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 0 when there is nothing to divide by."""
    return numerator / denominator if denominator else 0.0


def run(engines: list[str], requests: dict[int, int], folder: Path) -> dict[str, Any]:
    """Every batch size on every engine, with both baselines and the ratios the issue sets targets for."""
    out: dict[str, Any] = {"alertmanager": {}, "tripwire": {}, "minimal": {}, "ratios": {}}
    for batch, count in requests.items():
        out["alertmanager"][str(batch)] = alertmanager_ingest(batch, count, folder)
    for engine in engines:
        for batch, count in requests.items():
            key = f"{engine}/{batch}"
            tw = out["tripwire"][key] = tripwire_ingest(engine, batch, count, folder)
            base = out["minimal"][key] = minimal_ingest(engine, batch, count, folder)
            out["ratios"][key] = {
                "vs_minimal": ratio(tw["stored_per_s"], base["stored_per_s"]),
                "vs_alertmanager": ratio(tw["stored_per_s"], out["alertmanager"][str(batch)]["stored_per_s"]),
            }
    out["serve_peak_rss_mb"] = max(figures["serve_peak_rss_mb"] for figures in out["tripwire"].values())
    return out
