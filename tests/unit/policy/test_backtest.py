"""The backtest, pure: which results change level, severity or route, and incidents grouped as live triage does."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.policy.backtest import Arrival, Grouping, backtest
from bot.policy.document import Policy
from tests.unit.policy.helpers import NOW, build, minimal_data, result


def candidate() -> Policy:
    """The minimal policy with alert lowered to >=0.50, asked at 95% confidence, and watch routed to oncall."""
    data = minimal_data()
    metric = data["metrics"][0]
    metric["levels"]["alert"] = ">=0.50"
    metric["confidence"] = 0.95
    data["categories"]["cyber"]["levels"]["watch"]["route"] = "oncall"
    data["version"] = "test-2"
    return build(data)


def arrive(value: float, *, stderr: float | None = 0.01, n: int | None = None, run: str, hours: float = 0) -> Arrival:
    res = replace(result(value=value), stderr=stderr, samples=n, run_id=run)
    return Arrival(res, NOW + timedelta(hours=hours))


def test_backtest_lists_each_result_whose_level_severity_or_route_changes() -> None:
    history = [
        arrive(0.52, run="up"),  # watch -> alert: the lower cut-off, and the bound 0.504 clears it
        arrive(0.625, stderr=0.18, n=8, run="down"),  # alert -> nothing: the bound 0.329 crosses no cut-off
        arrive(0.45, run="rerouted"),  # watch both, but watch now goes to oncall
        arrive(0.30, run="quiet"),  # nothing under either
        arrive(0.60, stderr=0.02, run="same"),  # alert under both, same severity and route
    ]
    report = backtest(history, active=build(minimal_data()), candidate=candidate())
    assert report.results == 5
    listed = {c.result.run_id: (str(c.before), str(c.after), c.what) for c in report.changes}
    assert listed == {
        "up": ("watch sev3 -> triage", "alert sev2 -> oncall", ("level", "severity", "route")),
        "down": ("alert sev2 -> oncall", "near miss (alert)", ("level", "severity", "route")),
        "rerouted": ("watch sev3 -> triage", "watch sev3 -> oncall", ("route",)),
    }
    assert [c.result.run_id for c in report.only_active] == ["down"]
    assert report.only_candidate == []
    assert [c.result.run_id for c in report.changed] == ["up", "rerouted"]
    assert report.candidate.near_misses >= 1


def test_incidents_group_on_the_receive_time_not_the_observed_time() -> None:
    policy = build(minimal_data())
    # A week of results ingested in one batch: live triage sees them together, so they join one incident.
    week = [
        Arrival(replace(result(value=0.6), run_id=f"day-{d}", observed_at=NOW - timedelta(days=d)), NOW)
        for d in range(7)
    ]
    assert backtest(week, active=policy, candidate=policy).active.incidents == 1
    # The same results received a day apart each open their own (the window is 6 hours).
    spread = [Arrival(a.result, NOW + timedelta(days=i)) for i, a in enumerate(week)]
    assert backtest(spread, active=policy, candidate=policy).active.incidents == 7


def test_grouping_window_slides_with_each_crossing() -> None:
    grouping = Grouping()
    window = timedelta(hours=6)
    opened = [grouping.opens("k", window=window, at=NOW + timedelta(hours=h)) for h in (0, 5, 10, 16.5, 17)]
    # 5h and 10h each join (within 6h of the last crossing); 16.5h is 6.5h after 10h: a new incident.
    assert opened == [True, False, False, True, False]
    # Exactly on the window's edge still joins, as find_grouping_incident's last_seen_at >= now - window does.
    assert grouping.opens("k", window=window, at=NOW + timedelta(hours=23)) is False
    assert grouping.opens("other", window=None, at=NOW) is True
