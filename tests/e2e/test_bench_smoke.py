"""`make bench` keeps working: the harness at tiny sizes writes a JSON with every section measured."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.environment import missing

ROOT = Path(__file__).resolve().parents[2]


def positive(figures: dict[str, Any], *keys: str) -> None:
    """Each named figure is a number above zero."""
    for key in keys:
        value = figures[key]
        assert isinstance(value, int | float) and value > 0, (key, figures)


@pytest.mark.e2e
def test_bench_quick_run_measures_every_section(tmp_path: Path) -> None:
    for tool in ("wrk", "prometheus-alertmanager"):
        if shutil.which(tool) is None:
            missing(f"{tool} is not installed (Debian package {tool})", needed_by="the bench smoke test")
    output = tmp_path / "latest.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--databases", "sqlite", "--json", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(output.read_text())

    found = results["ingest"]
    for batch in ("1", "10", "100"):
        key = f"sqlite/{batch}"
        positive(found["tripwire"][key], "stored_per_s", "requests_per_s", "p99_ms", "serve_peak_rss_mb")
        positive(found["minimal"][key], "stored_per_s", "p99_ms")
        positive(found["alertmanager"][batch], "stored_per_s", "p99_ms")
        positive(found["ratios"][key], "vs_minimal", "vs_alertmanager")
        # Counted in the database: every result sent was stored, by both servers.
        assert found["tripwire"][key]["results_stored"] == found["tripwire"][key]["results_sent"]
        assert found["minimal"][key]["results_stored"] == found["minimal"][key]["results_sent"]
    positive(found, "serve_peak_rss_mb")

    slack = results["slack"]["sqlite"]
    for level in ("1", "10", "50"):
        positive(slack["commands"][level]["wrk"], "requests", "p50_ms", "p99_ms")
        assert slack["commands"][level]["wrk"]["non_2xx"] == 0
        positive(slack["commands"][level]["client"]["answer"], "count", "p99_ms")
        positive(slack["clicks"][level]["card_update"], "count", "p95_ms")
        assert slack["clicks"][level]["unanswered"] == 0

    storm = results["storm"]["sqlite"]
    positive(storm["one_key"], "slack_calls", "cards")
    # Every probe crossing sent during the second storm got its card, timed from its 202.
    assert storm["probe"]["cards"] == storm["probe"]["probes"]
    positive(storm["probe"], "p50_s", "p95_s")
    many = storm["many_keys"]
    # Every key opened one incident and its card was delivered or is still queued: nothing lost.
    assert many["incidents"] == many["keys"] and many["lost"] == 0
    assert many["cards"] + many["queued"] == many["keys"] and many["cards"] > 0
    positive(storm["many_keys"], "seconds_to_last_card")

    positive(results["digest"], "seconds", "peak_python_mib")
    assert results["table"] and all(row["tripwire"] is not None for row in results["table"])
    assert "ingest/s vs Alertmanager" in done.stdout
