"""Ingestion throughput: the full path (triage, dedup, grouping, trend check) against a bare bulk insert.

Both run in the same process on the same kind of fresh database, so the ratio is what to compare across
machines; the absolute numbers are for this machine only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from bot.app.config import Settings
from bot.app.wiring import build_core
from bot.common.clock import ManualClock
from bot.ingest.service import result_row
from bot.policy.triage import Result
from db.engine import normalise_url
from db.repositories import insert_eval_results

POLICY = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "policy.yaml"


def results(count: int, start: datetime, tag: str) -> list[Result]:
    """A storm: one metric, one model family, values around the alert line."""
    return [
        Result(
            source="inspect",
            model="frontier-x-ckpt-100",
            task="ctf_web",
            metric="accuracy",
            value=0.50 + (i % 11) / 100,
            run_id=f"{tag}-{i}",
            observed_at=start + timedelta(seconds=i),
            checkpoint="ckpt-100",
        )
        for i in range(count)
    ]


def fresh_url(kind: str, folder: str, name: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder}/{name}.db"
    from sqlalchemy import create_engine

    admin_url = os.environ.get("TRIPWIRE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    admin = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def run(kind: str, count: int, batch: int, repeats: int) -> tuple[list[float], list[float]]:
    """Seconds per run for the bare insert (baseline) and the full ingestion path."""
    baseline, full = [], []
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(repeats):
            settings = Settings(
                DATABASE_URL=fresh_url(kind, folder, f"bench_base_{repeat}"), TRIPWIRE_POLICY=str(POLICY)
            )
            core = build_core(settings, clock=ManualClock(now))
            rows = [result_row(r, None, now) for r in results(count, now, "base")]
            started = time.perf_counter()
            for offset in range(0, count, batch):
                with core.uow() as session:
                    insert_eval_results(session=session, rows=rows[offset : offset + batch])
            baseline.append(time.perf_counter() - started)
            core.engine.dispose()

            settings = Settings(
                DATABASE_URL=fresh_url(kind, folder, f"bench_full_{repeat}"), TRIPWIRE_POLICY=str(POLICY)
            )
            core = build_core(settings, clock=ManualClock(now))
            storm = results(count, now, "full")
            started = time.perf_counter()
            for offset in range(0, count, batch):
                outcome = core.ingest.ingest(storm[offset : offset + batch])
                assert outcome.accepted == len(storm[offset : offset + batch])
            full.append(time.perf_counter() - started)
            core.engine.dispose()
    return baseline, full


def main() -> None:
    """Print the figures the README quotes."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    print(f"ingesting {args.results:,} results in batches of {args.batch:,}, median of {args.repeats} runs")
    for kind in args.databases:
        baseline, full = run(kind, args.results, args.batch, args.repeats)
        base, path = statistics.median(baseline), statistics.median(full)
        print(
            f"{kind:9} bare insert {base:6.2f} s ({args.results / base:8,.0f}/s)   "
            f"full ingestion {path:6.2f} s ({args.results / path:8,.0f}/s)   ratio {path / base:4.1f}x"
        )


if __name__ == "__main__":
    main()
