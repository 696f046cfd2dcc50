"""The pieces `tripwire dev` is built from: where it keeps its workspace, the demo's policy copy and its results."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app.demo import crossing_results, demo_tag, trend_results
from bot.app.dev import DEMO_ACK_MINUTES, workspace_file, write_dev_policy
from bot.common.vocabulary import LevelName
from bot.ingest.generic import parse_eval_payload
from bot.policy.document import Policy
from bot.policy.loader import load_policy
from bot.policy.store import BUNDLED_POLICY
from bot.policy.trend import evaluate_trend
from bot.policy.triage import Result, evaluate_result, model_family

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("database_url", "expected"),
    [
        pytest.param("sqlite:///var/dev.db", Path("var/dev.workspace.json"), id="default-relative"),
        pytest.param("sqlite:////tmp/run/dev.db", Path("/tmp/run/dev.workspace.json"), id="absolute"),
        pytest.param("sqlite+pysqlite:///var/other.sqlite3", Path("var/other.workspace.json"), id="driver"),
        pytest.param(
            "postgresql://postgres@127.0.0.1:5432/test",
            Path("var/dev.postgresql-127.0.0.1-5432-test.workspace.json"),
            id="postgres",
        ),
        pytest.param(
            "postgresql+psycopg://u@db/tripwire", Path("var/dev.postgresql-db-tripwire.workspace.json"), id="pg"
        ),
        pytest.param("sqlite://", None, id="memory-default"),
        pytest.param("sqlite:///:memory:", None, id="memory"),
    ],
)
def test_workspace_file_sits_beside_the_database_it_belongs_to(database_url: str, expected: Path | None) -> None:
    assert workspace_file(database_url) == expected


def test_dev_policy_keeps_the_policy_ack_windows_without_the_demo(tmp_path: Path) -> None:
    bundled = load_policy(BUNDLED_POLICY)
    copy = load_policy(write_dev_policy(BUNDLED_POLICY, tmp_path / "policy.yaml"))
    assert {name: route.ack_window for name, route in copy.routes.items()} == {
        name: route.ack_window for name, route in bundled.routes.items()
    }


def test_demo_policy_shortens_every_ack_window_and_spaces_the_steps_by_it(tmp_path: Path) -> None:
    window = timedelta(minutes=DEMO_ACK_MINUTES)
    policy = load_policy(write_dev_policy(BUNDLED_POLICY, tmp_path / "policy.yaml", ack_minutes=DEMO_ACK_MINUTES))
    assert policy.routes
    for route in policy.routes.values():
        assert route.ack_window == window
        assert [step.after for step in route.escalation] == [window * i for i in range(len(route.escalation))]
        assert all(reminder < window for reminder in route.reminders)
    # The chain itself is the policy's: the triager (tom in dev) first, the safety lead (lee) next.
    oncall = policy.routes["safety-oncall"].escalation
    assert [step.notify for step in oncall[:2]] == [("triager",), ("safety_lead",)]


def _results(payloads: list[dict[str, object]]) -> list[Result]:
    return parse_eval_payload(json.dumps({"results": payloads}).encode(), received_at=NOW)


@pytest.fixture(scope="module")
def demo_policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    target = tmp_path_factory.mktemp("policy") / "policy.yaml"
    return load_policy(write_dev_policy(BUNDLED_POLICY, target, ack_minutes=DEMO_ACK_MINUTES))


def test_demo_crossing_results_page_the_on_call_and_open_a_restricted_incident(demo_policy: Policy) -> None:
    cyber, bio = (evaluate_result(r, policy=demo_policy, now=NOW) for r in _results(crossing_results("abcde")))
    assert (cyber.level, cyber.route, cyber.restricted) == (LevelName.ALERT, "safety-oncall", False)
    assert (bio.level, bio.route, bio.restricted, bio.channel) == (
        LevelName.ALERT,
        "safety-restricted",
        True,
        "#safety-restricted",
    )


def test_demo_trend_series_stays_under_every_line_yet_trips_the_trend_rule(demo_policy: Policy) -> None:
    results = _results(trend_results("abcde", NOW))
    decisions = [evaluate_result(r, policy=demo_policy, now=NOW) for r in results]
    assert {d.metric for d in decisions} == {"ai-rd.research-tasks"}
    assert all(d.level is None and d.near_miss is None for d in decisions), decisions
    assert all(r.observed_at < NOW for r in results)
    finding = evaluate_trend(
        [(r.observed_at, r.checkpoint, r.value) for r in results],
        metric=demo_policy.metric("ai-rd.research-tasks"),
        policy=demo_policy,
        now=NOW,
    )
    assert finding is not None
    assert finding.kind == "slope" and finding.projects_to == LevelName.THRESHOLD


def test_each_demo_run_names_models_of_its_own_family() -> None:
    tags = {demo_tag() for _ in range(20)}
    assert len(tags) > 1
    for tag in tags:
        assert tag.isalpha() and tag.islower()
        # The family is what dedup groups by: a suffix the triage would strip would merge two runs' incidents.
        assert model_family(f"frontier-{tag}") == f"frontier-{tag}"
        assert model_family(f"atlas-{tag}") == f"atlas-{tag}"
