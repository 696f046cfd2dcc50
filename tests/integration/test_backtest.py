"""`policy backtest` on a real database: incidents counted as live grouping counted them, changed results listed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from bot.app.asgi import Tripwire
from bot.app.cli import main
from bot.common.clock import ManualClock
from bot.ingest.service import stored_result
from bot.policy.backtest import Arrival, backtest
from bot.policy.loader import load_policy
from bot.policy.triage import Result
from db.models import Incident
from db.repositories import iter_eval_results
from localslack import LocalSlack
from tests.conftest import TEST_POLICY, open_bot


def ctf(value: float, *, run: str, observed: datetime, model: str = "frontier-x-ckpt-1", **extra: object) -> Result:
    """A cyber.ctf result (test policy: watch >=0.40, alert >=0.55, threshold >=0.70, grouped for 6 hours)."""
    base = Result(
        source="inspect",
        model=model,
        task="ctf_web",
        metric="accuracy",
        value=value,
        run_id=run,
        observed_at=observed,
        stderr=0.01,
    )
    return replace(base, **extra)  # type: ignore[arg-type]


def week_of(value: float, *, prefix: str, end: datetime, model: str = "frontier-x-ckpt-1") -> list[Result]:
    """Five daily results observed up to `end`, as a back-fill ingests them: in one batch."""
    return [ctf(value, run=f"{prefix}-{d}", observed=end - timedelta(days=d), model=model) for d in range(5)]


def history(start: datetime) -> list[tuple[timedelta, list[Result]]]:
    """Batches and when (after `start`) each was received; comments give what live grouping does."""
    return [
        # A back-fill: x at alert five times (one incident), y at watch (one incident).
        (
            timedelta(hours=0),
            [*week_of(0.60, prefix="fill-1", end=start), ctf(0.45, run="y-1", observed=start, model="frontier-y")],
        ),
        # 5 hours later both keys join their incidents, and the 6-hour window slides from here.
        (
            timedelta(hours=5),
            [ctf(0.58, run="x-2", observed=start), ctf(0.46, run="y-2", observed=start, model="frontier-y")],
        ),
        # 7 hours after x's last crossing: a new alert incident.
        (timedelta(hours=12), [ctf(0.61, run="x-3", observed=start)]),
        # The threshold is its own key: a new incident.
        (timedelta(hours=13), [ctf(0.75, run="x-4", observed=start)]),
        # Two days on, another back-fill: one more incident however many days it spans.
        (timedelta(hours=48), week_of(0.62, prefix="fill-2", end=start + timedelta(hours=48))),
        # Below every level: stored, no incident.
        (timedelta(hours=49), [ctf(0.20, run="quiet", observed=start)]),
    ]


@pytest.fixture
def tripwire(slack: LocalSlack, database_url: str, clock: ManualClock) -> Iterator[Tripwire]:
    """The bot without an HTTP server; the test drives ingestion and the clock."""
    with open_bot(database_url, slack_url=slack.api_url, clock=clock) as bot:
        yield bot


def replay_live(tripwire: Tripwire, clock: ManualClock) -> int:
    """Ingest the history through the real service at its receive times; the incidents it opened."""
    start = clock.now
    for offset, batch in history(start):
        clock.now = start + offset
        tripwire.ingest.ingest(batch)
    with Session(tripwire.engine) as session:
        return session.exec(select(func.count()).select_from(Incident)).one()


def test_backtest_counts_incidents_as_live_grouping_did(tripwire: Tripwire, clock: ManualClock) -> None:
    live = replay_live(tripwire, clock)
    assert live == 5
    with Session(tripwire.engine) as session:
        rows = list(iter_eval_results(session=session, since=None))
        arrivals = [Arrival(stored_result(row), row.received_at) for row in rows]
    assert len(arrivals) == 16
    policy = load_policy(TEST_POLICY)
    report = backtest(arrivals, active=policy, candidate=policy)
    assert report.active.incidents == report.candidate.incidents == live
    assert report.changes == []
    # Grouping on the observed time instead, as the backtest used to, would count the back-fills day by day.
    by_observed = [Arrival(a.result, a.result.observed_at) for a in arrivals]
    assert backtest(by_observed, active=policy, candidate=policy).active.incidents > live


def test_cli_backtest_lists_the_results_that_change(
    tripwire: Tripwire,
    clock: ManualClock,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    replay_live(tripwire, clock)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TRIPWIRE_POLICY", str(TEST_POLICY))
    candidate = tmp_path / "candidate.yaml"
    # Alert moves up to 0.60 and needs 95% confidence: with stderr 0.01 the bound is value - 0.016.
    candidate.write_text(
        TEST_POLICY.read_text().replace(
            '{watch: ">=0.40", alert: ">=0.55", threshold: ">=0.70"}\n    near_miss: {within: 0.05}',
            '{watch: ">=0.40", alert: ">=0.60", threshold: ">=0.70"}\n    near_miss: {within: 0.05}\n'
            "    confidence: 0.95",
            1,
        )
    )
    assert "confidence: 0.95" in candidate.read_text()
    assert main(["policy", "backtest", str(candidate), "--limit", "50"]) == 0
    out = capsys.readouterr().out
    # 0.58, 0.60 x5, 0.61 and 0.62 x5 are alert today; only 0.62 (bound 0.6036) clears 0.60 at 95% confidence.
    changed = [line.strip() for line in out.splitlines() if line.strip().startswith(("~ ", "+ ", "- "))]
    assert len(changed) == 7
    assert "Results whose level, severity or route would change: 7" in out
    assert all("cyber.ctf: alert sev2 -> triage => watch sev3 -> triage (level, severity)" in line for line in changed)
    assert sum("accuracy=0.6 ± 0.01" in line for line in changed) == 5
    assert any("frontier-x-ckpt-1 ctf_web accuracy=0.61 ± 0.01" in line for line in changed)
    assert not any("accuracy=0.62" in line for line in changed)
