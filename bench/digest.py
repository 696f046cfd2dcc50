"""Weekly digest on a large database: 100,000 incidents and 1,000,000 eval results over a year.

Baseline (same run, same database): the two plain aggregate queries a digest cannot do without (count and
average the week's results, count the week's incidents). Measured: composing the weekly digest (collect,
summarise, render Slack and Markdown text, draw the charts), median wall-clock seconds and the CPU seconds of the
same runs (CPU time says less about other load on the machine).

Memory, two figures: the peak of Python's own allocations during one compose (tracemalloc, in a run of its own
so it does not slow the timed ones), and the peak resident size of the process that composed (imports, the engine,
the timed composes; not the traced one, whose tracemalloc bookkeeping would count). The database is seeded by this
process and measured in a child process, which reads its own peak: VmHWM from /proc/self/status (ru_maxrss where
there is none; on Linux a child's ru_maxrss carries its parent's peak from before exec, i.e. the seeding's).

    python -m bench.digest                       # SQLite in a temporary folder
    python -m bench.digest --database-url postgresql://postgres@127.0.0.1:5432/bench_digest --json

A --database-url database must be empty (it is migrated and seeded) or hold exactly what an earlier run seeded
with the same sizes (then it is reused as it is).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from bot.app.config import Settings
from bot.app.wiring import Core, build_core
from bot.common.clock import ManualClock
from db.models import EvalResult, Incident

POLICY = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "policy.yaml"
NOW = datetime(2026, 11, 23, 18, tzinfo=UTC)
CATEGORIES = ("cyber", "cbrn.bio", "unclassified")
METRICS = (("cyber.ctf", "inspect", "ctf_web", "accuracy"), ("cyber.wmdp", "lm-eval", "wmdp_cyber", "acc"))


def seed(core: Core, incidents: int, results: int) -> None:
    """Bulk-load a year of history (bypassing the services: this measures the digest, not ingestion)."""
    rng = random.Random(7)
    engine = core.engine
    year = timedelta(days=365).total_seconds()
    incident_rows: list[dict[str, Any]] = []
    for i in range(incidents):
        created = NOW - timedelta(seconds=rng.random() * year)
        status = rng.choice(("triggered", "acknowledged", "resolved", "resolved", "dismissed"))
        acked = created + timedelta(minutes=rng.randint(1, 240)) if status != "triggered" else None
        incident_rows.append(
            {
                "title": f"Seeded incident {i}",
                "description": "",
                "category": rng.choice(CATEGORIES),
                "severity": rng.choice(("sev1", "sev2", "sev3", "sev4")),
                "status": status,
                "model": "frontier-x",
                "checkpoint": f"ckpt-{i % 50}",
                "deployment": "",
                "links": [],
                "reporter": "U0SEED",
                "assignee": None,
                "source": "inspect",
                "policy_version": "it-1",
                "escalation_level": 0,
                "channel_id": "C0TRIAGE",
                "card_ts": None,
                "resolution_note": "",
                "dismiss_reason": "",
                "created_at": created,
                "updated_at": created,
                "acknowledged_at": acked,
                "resolved_at": acked + timedelta(hours=rng.randint(1, 72))
                if acked and status != "acknowledged"
                else None,
                "level": rng.choice(("watch", "alert", "threshold")),
                "route": "triage",
                "restricted": False,
                "policy_hash": "",
                "explanation": "",
                "actions": [],
                "paged": [],
                "ack_due_at": created + timedelta(minutes=30),
                "snoozed_until": None,
                "snooze_reason": "",
                "redacted_channel_id": None,
                "redacted_ts": None,
                "dedup_key": None,
                "metric_id": None,
                "result_count": 0,
                "last_value": None,
                "worst_value": None,
                "last_seen_at": None,
                "alert_key": None,
            }
        )
    with engine.begin() as connection:
        for start in range(0, len(incident_rows), 10_000):
            connection.execute(Incident.__table__.insert(), incident_rows[start : start + 10_000])  # type: ignore[attr-defined]
    with engine.begin() as connection:
        batch = []
        for i in range(results):
            metric_id, source, task, metric = METRICS[i % len(METRICS)]
            value = min(0.99, max(0.0, rng.gauss(0.35, 0.12)))
            level = "threshold" if value >= 0.70 else "alert" if value >= 0.55 else "watch" if value >= 0.40 else None
            batch.append(
                {
                    "source": source,
                    "run_id": f"seed-{i}",
                    "task": task,
                    "scorer": "",
                    "metric": metric,
                    "model": "frontier-x",
                    "model_family": "frontier-x",
                    "checkpoint": f"ckpt-{i % 500}",
                    "value": value,
                    "stderr": None,
                    "observed_at": NOW - timedelta(seconds=rng.random() * year),
                    "received_at": NOW,
                    "url": None,
                    "labels": {},
                    "policy_metric": metric_id,
                    "level": level,
                    "near_miss": None,
                    "incident_id": None,
                }
            )
            if len(batch) == 20_000:
                connection.execute(EvalResult.__table__.insert(), batch)  # type: ignore[attr-defined]
                batch = []
        if batch:
            connection.execute(EvalResult.__table__.insert(), batch)  # type: ignore[attr-defined]


def measure(url: str, repeats: int) -> dict[str, Any]:
    """Time the baseline queries and the digest compose on a seeded database (run in the child process)."""
    core = build_core(Settings(DATABASE_URL=url, TRIPWIRE_POLICY=str(POLICY)), clock=ManualClock(NOW))
    period = core.digests.period_for("weekly")
    bounds = {"s": period.start.replace(tzinfo=None), "e": period.end.replace(tzinfo=None)}
    if core.engine.dialect.name == "postgresql":
        bounds = {"s": period.start, "e": period.end}
    baseline, wall, cpu = [], [], []
    chars = charts = 0
    for _ in range(repeats):
        started = time.perf_counter()
        with core.engine.connect() as connection:
            connection.execute(
                text("SELECT count(*), avg(value) FROM eval_result WHERE observed_at >= :s AND observed_at < :e"),
                bounds,
            ).one()
            connection.execute(
                text("SELECT count(*) FROM incident WHERE created_at >= :s AND created_at < :e"), bounds
            ).one()
        baseline.append(time.perf_counter() - started)
        started, started_cpu = time.perf_counter(), time.process_time()
        composed = core.digests.compose(period)
        # Only the sizes are kept: one digest in memory at a time, as when the bot drafts.
        chars, charts = len(composed.text_md), len(composed.content.charts)
        del composed
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    # Read before tracemalloc starts: its own bookkeeping would count in the resident size.
    rss = peak_rss_mib()
    # Memory is measured in a run of its own: tracemalloc slows allocation-heavy code several times over.
    tracemalloc.start()
    core.digests.compose(period)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    core.engine.dispose()
    return {
        "database": core.engine.dialect.name,
        "seconds": statistics.median(wall),
        "cpu_seconds": statistics.median(cpu),
        "baseline_seconds": statistics.median(baseline),
        "repeats": repeats,
        "peak_python_mib": peak / 2**20,
        "max_rss_mib": rss,
        "markdown_chars": chars,
        "charts": charts,
    }


def peak_rss_mib() -> float:
    """This process's peak resident size: VmHWM where Linux has it, else ru_maxrss.

    Linux keeps the larger of ru_maxrss and the pre-exec memory's peak across fork and exec, so a child of the
    process that seeded (hundreds of MiB) would report the seeding's peak as its own; VmHWM is the peak of this
    program's memory only."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seeded(url: str, incidents: int, results: int) -> float | None:
    """Seed the database unless it already holds this many rows; the seconds seeding took (None: reused)."""
    core = build_core(Settings(DATABASE_URL=url, TRIPWIRE_POLICY=str(POLICY)), clock=ManualClock(NOW))
    try:
        with core.engine.connect() as connection:
            have = (
                connection.execute(select(func.count()).select_from(Incident)).scalar_one(),
                connection.execute(select(func.count()).select_from(EvalResult)).scalar_one(),
            )
        if have == (incidents, results):
            return None
        if have != (0, 0):
            raise SystemExit(f"{url} holds {have[0]:,} incidents and {have[1]:,} results: give an empty database")
        started = time.perf_counter()
        seed(core, incidents, results)
        return time.perf_counter() - started
    finally:
        core.engine.dispose()


def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Seed here, measure in a child process (so its peak RSS is the compose's, not the seeding's)."""
    took = seeded(url, args.incidents, args.results)
    child = subprocess.run(
        [sys.executable, "-m", "bench.digest", "--measure", url, "--repeats", str(args.repeats)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    result["incidents"], result["results"] = args.incidents, args.results
    result["seed_seconds"] = took
    return result


def main() -> None:
    """Seed once, then time the baseline queries and the digest compose in a child process."""
    parser = argparse.ArgumentParser(prog="python -m bench.digest")
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--results", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database-url", help="measure on this database (default: SQLite in a temporary folder)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a sentence")
    parser.add_argument("--measure", metavar="URL", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.repeats)))
        return
    if args.database_url:
        result = run(args.database_url, args)
    else:
        with tempfile.TemporaryDirectory() as folder:
            result = run(f"sqlite:///{folder}/digest.db", args)
    if args.json:
        print(json.dumps(result))
        return
    seeded_text = (
        "reused the seeded database" if result["seed_seconds"] is None else f"seeded in {result['seed_seconds']:.1f} s"
    )
    print(
        f"{result['database']}, {args.incidents:,} incidents and {args.results:,} results ({seeded_text})\n"
        f"weekly digest: {result['seconds']:.2f} s (median of {args.repeats}; CPU {result['cpu_seconds']:.2f} s); "
        f"baseline aggregate queries {result['baseline_seconds']:.3f} s; "
        f"ratio {result['seconds'] / result['baseline_seconds']:.0f}x; "
        f"peak Python allocations {result['peak_python_mib']:.0f} MiB; "
        f"max RSS of the composing process {result['max_rss_mib']:.0f} MiB; "
        f"{result['markdown_chars']:,} characters of Markdown, {result['charts']} charts"
    )


if __name__ == "__main__":
    main()
