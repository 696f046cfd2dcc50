"""Weekly digest on a large database: 100,000 incidents and 1,000,000 eval results over a year.

Baseline (same run, same database): the two plain aggregate queries a digest cannot do without (count and
average the week's results, count the week's incidents). Measured: composing the weekly digest (collect,
summarise, render Slack and Markdown text, draw the charts). Peak memory is Python's own allocations during the
compose (tracemalloc, in a separate run so it does not slow the timed ones) and the process's maximum
resident size.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

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


def main() -> None:
    """Seed once, then time the baseline queries and the digest compose."""
    parser = argparse.ArgumentParser(prog="python -m bench.digest")
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--results", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(DATABASE_URL=f"sqlite:///{folder}/digest.db", TRIPWIRE_POLICY=str(POLICY))
        core = build_core(settings, clock=ManualClock(NOW))
        started = time.perf_counter()
        seed(core, args.incidents, args.results)
        print(
            f"seeded {args.incidents:,} incidents and {args.results:,} results in {time.perf_counter() - started:.1f} s"
        )
        period = core.digests.period_for("weekly")
        baseline, full = [], []
        for _ in range(args.repeats):
            started = time.perf_counter()
            with core.engine.connect() as connection:
                connection.execute(
                    text("SELECT count(*), avg(value) FROM eval_result WHERE observed_at >= :s AND observed_at < :e"),
                    {"s": period.start.replace(tzinfo=None), "e": period.end.replace(tzinfo=None)},
                ).one()
                connection.execute(
                    text("SELECT count(*) FROM incident WHERE created_at >= :s AND created_at < :e"),
                    {"s": period.start.replace(tzinfo=None), "e": period.end.replace(tzinfo=None)},
                ).one()
            baseline.append(time.perf_counter() - started)
            started = time.perf_counter()
            composed = core.digests.compose(period)
            full.append(time.perf_counter() - started)
        # Memory is measured in a run of its own: tracemalloc slows allocation-heavy code several times over.
        tracemalloc.start()
        core.digests.compose(period)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        base, digest = statistics.median(baseline), statistics.median(full)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"weekly digest: {digest:.2f} s (median of {args.repeats}); baseline aggregate queries {base:.3f} s; "
            f"ratio {digest / base:.0f}x; peak Python allocations {peak / 2**20:.0f} MiB; "
            f"max RSS {rss:.0f} MiB; {len(composed.text_md):,} characters of Markdown, "
            f"{len(composed.content.charts)} charts"
        )
        core.engine.dispose()


if __name__ == "__main__":
    main()
