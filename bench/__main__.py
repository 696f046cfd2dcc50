"""`make bench` (`python -m bench`): Tripwire measured at its HTTP edge, against baselines measured in the same run.

Every server is a separate process on loopback, driven by a separate load generator (wrk, and bench/clicker.py for
what needs timestamps at the local Slack). Prints a table and writes bench/results/latest.json. The ratios are the
figures to compare across machines; the absolute numbers are for this machine only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import ingest, slackside
from bench.procs import ROOT

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
README = ROOT / "README.md"
TABLE_START, TABLE_END = "<!-- bench-table -->", "<!-- /bench-table -->"
PHASES = ("ingest", "commands", "clicks", "storm", "digest")


@dataclass(frozen=True)
class Sizes:
    """How much each phase sends."""

    ingest_requests: dict[int, int]
    incidents: int
    commands: dict[int, int]
    clicks: dict[int, int]
    storm_one_key: int
    storm_keys: int
    digest_args: tuple[str, ...]


FULL = Sizes(
    # About 5 s of wrk per server and batch size at the rates seen here (runs of 2 s swung by a third between runs).
    ingest_requests={1: 6_000, 10: 3_000, 100: 600},
    incidents=100_000,
    commands={1: 200, 10: 1_000, 50: 2_000},
    clicks={1: 20, 10: 30, 50: 50},
    storm_one_key=10_000,
    storm_keys=1_000,
    digest_args=(),
)
QUICK = Sizes(
    ingest_requests={1: 40, 10: 20, 100: 4},
    incidents=500,
    commands={1: 5, 10: 20, 50: 50},
    clicks={1: 2, 10: 10, 50: 10},
    storm_one_key=200,
    storm_keys=20,
    digest_args=("--incidents", "500", "--results", "5000", "--repeats", "1"),
)


def run_digest(args: tuple[str, ...]) -> dict[str, Any]:
    """`python -m bench.digest --json` as a subprocess: seconds and peak memory of the weekly digest."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.digest", "--json", *args], cwd=ROOT, capture_output=True, text=True, timeout=1800
    )
    if done.returncode != 0:
        return {"error": (done.stderr or done.stdout)[-2000:]}
    for line in reversed(done.stdout.strip().splitlines()):
        if line.startswith("{"):
            figures: dict[str, Any] = json.loads(line)
            return figures
    return {"error": "no JSON line in its output", "output": done.stdout[-2000:]}


Row = tuple[str, str, str, float, float | None, float | None, str]


def table_rows(results: dict[str, Any]) -> list[Row]:
    """(phase, engine, batch or concurrency, Tripwire, baseline, ratio, target) for the table."""
    rows: list[Row] = []
    found = results.get("ingest")
    if found:
        for key, tw in found["tripwire"].items():
            engine, batch = key.split("/")
            base, am = found["minimal"][key], found["alertmanager"][batch]
            ratio = found["ratios"][key]
            rows.append(
                (
                    "ingest/s vs minimal",
                    engine,
                    batch,
                    tw["stored_per_s"],
                    base["stored_per_s"],
                    ratio["vs_minimal"],
                    ">= 0.8x",
                )
            )
            target = ">= 0.5x" if batch == "100" else ">= 0.25x" if batch == "1" and engine == "sqlite" else ""
            rows.append(
                (
                    "ingest/s vs Alertmanager",
                    engine,
                    batch,
                    tw["stored_per_s"],
                    am["stored_per_s"],
                    ratio["vs_alertmanager"],
                    target,
                )
            )
        rows.append(("serve peak RSS MB", "all", "-", found["serve_peak_rss_mb"], None, None, "< 250"))
    for engine, phase in results.get("slack", {}).items():
        for level, figures in phase.get("commands", {}).items():
            rows.append(
                (
                    "command ack p99 ms (wrk)",
                    engine,
                    f"c={level}",
                    figures["wrk"]["p99_ms"],
                    None,
                    None,
                    "< 50" if level == "50" else "",
                )
            )
            client = figures["client"]
            rows.append(("command ack p99 ms (clicker)", engine, f"c={level}", client["ack"]["p99_ms"], None, None, ""))
            rows.append(
                ("command answer p95 ms", engine, f"c={level}", client["answer"]["p95_ms"], None, None, "< 500")
            )
            rows.append(("command answer p99 ms", engine, f"c={level}", client["answer"]["p99_ms"], None, None, ""))
            # Refused at once as busy, of those the clicker sent (older results have no count).
            if "shed" in client:
                rows.append(
                    (f"commands shed of {client['sent']}", engine, f"c={level}", client["shed"], None, None, "")
                )
        for level, figures in phase.get("clicks", {}).items():
            rows.append(
                (
                    "click -> card edit p95 ms",
                    engine,
                    f"c={level}",
                    figures["card_update"]["p95_ms"],
                    None,
                    None,
                    "< 300",
                )
            )
    for engine, figures in results.get("storm", {}).items():
        one, many = figures["one_key"], figures["many_keys"]
        rows.append(
            (f"storm {one['results']:,} results/1 key: Slack calls", engine, "-", one["slack_calls"], None, None, "")
        )
        probe = figures.get("probe")
        if probe:
            during = f"during a {probe['storm_results']:,}-result storm"
            rows.append((f"crossing 202 -> card p95 s {during}", engine, "-", probe["p95_s"], None, None, "< 1"))
            rows.append((f"crossing 202 -> card p50 s {during}", engine, "-", probe["p50_s"], None, None, ""))
        keys = f"storm {many['keys']:,} keys"
        rows.append((f"{keys}: cards in {many['watched_s']} s", engine, "-", many["cards"], None, None, ""))
        rows.append((f"{keys}: cards/s (Slack: ~1/s/channel)", engine, "-", many["cards_per_s"], None, None, ""))
        rows.append((f"{keys}: queued, not yet sent", engine, "-", many["queued"], None, None, ""))
        rows.append((f"{keys}: lost", engine, "-", many["lost"], None, None, "= 0"))
    digest = results.get("digest")
    if digest:
        seconds, base = float(digest.get("seconds", 0.0)), float(digest.get("baseline_seconds", 0.0))
        rows.append(
            ("digest seconds (vs 2 aggregates)", "sqlite", "-", seconds, base, seconds / base if base else None, "")
        )
        rows.append(("digest peak Python MB", "sqlite", "-", float(digest.get("peak_python_mib", 0.0)), None, None, ""))
        rows.append(("digest max RSS MB", "sqlite", "-", float(digest.get("max_rss_mib", 0.0)), None, None, ""))
    return rows


def render_table(rows: list[Row]) -> str:
    """A fixed-width table, the one the README quotes."""

    def number(value: float | None, ratio: bool = False) -> str:
        if value is None:
            return "-"
        if ratio:
            return f"{value:.2f}x"
        return f"{value:.3g}" if value < 10 else f"{value:,.1f}" if value < 100 else f"{value:,.0f}"

    header = ("phase", "engine", "batch", "Tripwire", "baseline", "ratio", "target")
    body = [(p, e, b, number(t), number(base), number(r, ratio=True), target) for p, e, b, t, base, r, target in rows]
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *body]
    ]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def run_phases(only: list[str], engines: list[str], sizes: Sizes, work: Path, run: dict[str, Any]) -> dict[str, Any]:
    """Run the chosen phases in order; each phase's wall time goes into run["phase_seconds"]."""
    results: dict[str, Any] = {}
    timings = run.setdefault("phase_seconds", {})
    started = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal started
        timings[name] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()

    if "ingest" in only:
        print("ingest: tripwire serve, the minimal endpoint and Alertmanager under wrk ...", flush=True)
        results["ingest"] = ingest.run(engines, sizes.ingest_requests, work)
        lap("ingest")
    wanted = {"commands", "clicks"} & set(only)
    if wanted:
        results["slack"] = {}
        for engine in engines:
            print(f"{'/'.join(sorted(wanted))} on {sizes.incidents:,} incidents ({engine}) ...", flush=True)
            results["slack"][engine] = slackside.commands_and_clicks(
                engine, sizes.incidents, sizes.commands, sizes.clicks, wanted, work
            )
        lap("commands+clicks")
    if "storm" in only:
        results["storm"] = {}
        for engine in engines:
            print(f"storm ({engine}) ...", flush=True)
            results["storm"][engine] = slackside.storm(engine, sizes.storm_one_key, sizes.storm_keys, work)
        lap("storm")
    if "digest" in only:
        print("digest (python -m bench.digest) ...", flush=True)
        results["digest"] = run_digest(sizes.digest_args)
        lap("digest")
    return results


def update_readme(table: str, command: str, when: str) -> None:
    """Put the table, with the command and date that made it, between the README's bench-table markers."""
    text = README.read_text()
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    block = f"\n`{command}`, {when}:\n\n```\n{table}\n```\n"
    README.write_text(text[:start] + block + text[end:])


def main() -> None:
    """Run the chosen phases, print the table, write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: seconds, not minutes (the CI smoke test)")
    parser.add_argument("--only", nargs="+", choices=PHASES, default=list(PHASES))
    parser.add_argument("--databases", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"])
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"where to write the results (default {RESULTS})")
    parser.add_argument("--readme", action="store_true", help="also put the table into README.md (make bench does)")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    results: dict[str, Any] = {
        "run": {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "quick": args.quick,
            "phases": args.only,
            "databases": args.databases,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "wrk": {"threads": 2, "connections_ingest": ingest.CONNECTIONS},
            "channel_interval_s": float(slackside.CHANNEL_INTERVAL),
            "sizes": {
                k: {str(n): c for n, c in v.items()} if isinstance(v, dict) else v for k, v in vars(sizes).items()
            },
        }
    }
    with tempfile.TemporaryDirectory(prefix="tripwire-bench-") as folder:
        results.update(run_phases(args.only, args.databases, sizes, Path(folder), results["run"]))
    results["run"]["seconds"] = time.perf_counter() - started
    rows = table_rows(results)
    results["table"] = [
        dict(zip(("phase", "engine", "batch", "tripwire", "baseline", "ratio", "target"), row, strict=True))
        for row in rows
    ]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    table = render_table(rows)
    print()
    print(table)
    if args.readme:
        command = " ".join(["python -m bench", *sys.argv[1:]]).replace(" --readme", "")
        update_readme(
            table, command, f"{results['run']['at'][:10]}, {os.cpu_count()} cores, {results['run']['seconds']:.0f} s"
        )
    print(f"\n{results['run']['seconds']:.0f} s; results in {args.json}")


if __name__ == "__main__":
    main()
