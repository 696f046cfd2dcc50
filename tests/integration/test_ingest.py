"""Eval ingestion over signed HTTP and the CLI: storage before answer, dedup, grouping, storms, trends, bad input."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, func, select

from bot.app.asgi import Tripwire
from bot.app.cli import main
from bot.common.clock import ManualClock
from bot.ingest import worker as worker_module
from bot.ingest.service import stored_result
from bot.ingest.signing import sign
from bot.ingest.verdict import verdict_of
from bot.policy.triage import Result, evaluate_result
from db import triage_queue
from db.models import EvalResult, Incident, TrendState
from localslack import LocalSlack
from tests.conftest import TRIAGE_CHANNEL
from tests.support.inspect_logs import LogFormat, write_inspect_log
from tests.support.payloads import alert, alertmanager_webhook, lm_eval_results

SECRET = "webhook-secret-for-tests"
AM_TOKEN = "am-token-for-tests"


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch, bot: Tripwire, slack: LocalSlack) -> str:
    """The bot's base URL, with the webhook secret and Alertmanager token configured."""
    bot.settings.webhook_secret = SECRET
    bot.settings.alertmanager_token = AM_TOKEN
    assert slack.request_url is not None
    return slack.request_url.removesuffix("/slack/events")


def post_signed(url: str, body: bytes, *, secret: str = SECRET, age: int = 0) -> httpx.Response:
    timestamp = int(time.time()) - age
    headers = {"X-Tripwire-Timestamp": str(timestamp), "X-Tripwire-Signature": sign(secret, body, timestamp)}
    return httpx.post(url, content=body, headers={"Content-Type": "application/json", **headers}, timeout=60)


def result(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "source": "inspect",
        "model": "frontier-x-ckpt-100",
        "checkpoint": "ckpt-100",
        "task": "ctf_web",
        "metric": "accuracy",
        "value": 0.30,
        "run_id": "run-1",
        "observed_at": "2026-11-23T14:00:00+00:00",
    }
    fields.update(overrides)
    return fields


def stored(bot: Tripwire) -> int:
    with Session(bot.engine) as session:
        return session.exec(select(func.count()).select_from(EvalResult)).one()


def incidents(bot: Tripwire) -> list[Incident]:
    with Session(bot.engine) as session:
        return list(session.exec(select(Incident).order_by(Incident.id)).all())  # type: ignore[arg-type]


def test_result_below_every_band_is_stored_and_counted_only(hooks: str, bot: Tripwire, slack: LocalSlack) -> None:
    response = post_signed(hooks + "/hooks/eval", json.dumps(result()).encode())
    assert response.status_code == 202
    # The fast path answers once stored, before triage: no incidents in the answer.
    assert response.json() == {"accepted": 1, "duplicates": 0, "near_misses": 0, "unmatched": 0}
    assert bot.triage.drain() == 1
    assert stored(bot) == 1 and incidents(bot) == []


def test_fast_path_crossing_is_stored_then_triaged_by_the_worker(hooks: str, bot: Tripwire, slack: LocalSlack) -> None:
    response = post_signed(hooks + "/hooks/eval", json.dumps(result(value=0.61)).encode())
    assert response.status_code == 202 and "incidents" not in response.json()
    assert stored(bot) == 1 and incidents(bot) == []
    assert bot.triage.drain() == 1
    [incident] = incidents(bot)
    assert (incident.level, incident.result_count) == ("alert", 1)
    assert bot.triage.drain() == 0


def test_crossing_opens_incident_and_retry_is_a_duplicate(hooks: str, bot: Tripwire, slack: LocalSlack) -> None:
    body = json.dumps({"results": [result(value=0.61), result(run_id="run-2", value=0.58)]}).encode()
    first = post_signed(hooks + "/hooks/eval?wait=1", body)
    assert first.status_code == 202
    assert first.json() == {"accepted": 2, "duplicates": 0, "near_misses": 0, "unmatched": 0, "incidents": ["INC-1"]}
    again = post_signed(hooks + "/hooks/eval?wait=1", body)
    assert again.json() == {"accepted": 0, "duplicates": 2, "near_misses": 0, "unmatched": 0, "incidents": []}
    [incident] = incidents(bot)
    assert (incident.level, incident.result_count, incident.worst_value, incident.metric_id) == (
        "alert",
        2,
        0.61,
        "cyber.ctf",
    )
    assert incident.source == "inspect" and incident.dedup_key == "cyber|frontier-x|cyber.ctf|alert"
    bot.outbox.drain()
    [card] = slack.messages(TRIAGE_CHANNEL)
    assert "cyber.ctf at alert" in card.text


def test_near_misses_are_recorded(hooks: str, bot: Tripwire) -> None:
    body = {"results": [result(value=0.37), result(run_id="run-2", value=0.52)]}
    response = post_signed(hooks + "/hooks/eval", json.dumps(body).encode())
    assert response.json()["near_misses"] == 2
    with Session(bot.engine) as session:
        rows = session.exec(select(EvalResult).order_by(EvalResult.value)).all()  # type: ignore[arg-type]
    assert [(r.level, r.near_miss, r.policy_metric) for r in rows] == [
        (None, "watch", "cyber.ctf"),
        ("watch", "alert", "cyber.ctf"),
    ]


def test_storm_of_ten_thousand_results_is_one_incident_and_few_slack_calls(
    hooks: str, bot: Tripwire, slack: LocalSlack, clock: ManualClock
) -> None:
    for batch in range(10):
        results = [result(run_id=f"storm-{batch}-{i}", value=0.56 + (i % 7) / 100) for i in range(1000)]
        response = post_signed(hooks + "/hooks/eval", json.dumps({"results": results}).encode())
        assert response.status_code == 202 and response.json()["accepted"] == 1000
        if batch % 2:
            # The worker and the outbox keep up with the storm while it lasts.
            bot.triage.drain()
            bot.timers.run_due()
            bot.outbox.drain()
    clock.advance(seconds=3)
    bot.triage.drain()
    bot.timers.run_due()
    bot.outbox.drain()
    clock.advance(seconds=10)  # the storm is over: the pending throttled edit brings the card up to date
    bot.timers.run_due()
    bot.outbox.drain()
    assert stored(bot) == 10_000
    [incident] = incidents(bot)
    assert incident.result_count == 10_000 and incident.worst_value == pytest.approx(0.62)
    # One card, one page (DM and thread line), and card edits throttled to one per 10 s of storm (13 s here).
    # The outbox's one auth.test per process (the workspace URL for permalinks) is not the storm's.
    storm_calls = [c.method for c in slack.calls if c.method != "auth.test"]
    assert len(storm_calls) <= 5, storm_calls
    card = slack.message(TRIAGE_CHANNEL, incident.card_ts or "")
    assert "10,000 results" in " ".join(str(b) for b in card.blocks)


def test_slow_ramp_raises_a_trend_incident_before_any_crossing(hooks: str, bot: Tripwire, clock: ManualClock) -> None:
    start = clock.now - timedelta(days=10)
    ramp = [
        result(
            source="json",
            task="exploit_chain",
            metric="success_rate",
            run_id=f"ramp-{day}",
            value=0.30 + 0.02 * day,
            observed_at=(start + timedelta(days=day)).isoformat(),
        )
        for day in range(11)
    ]
    response = post_signed(hooks + "/hooks/eval?wait=1", json.dumps({"results": ramp}).encode())
    assert response.status_code == 202
    [incident] = incidents(bot)
    assert incident.level == "watch" and incident.source == "trend"
    assert incident.title.startswith("Trend: cyber.exploit on frontier-x heading for threshold")
    assert max(r["value"] for r in ramp) < 0.60  # no single result crossed a line
    assert "project" in incident.explanation.lower()


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        pytest.param(b"{not json", 400, "body", id="malformed-json"),
        pytest.param(b"[1, 2]", 400, "body", id="wrong-top-level"),
        pytest.param(
            json.dumps({k: v for k, v in result().items() if k != "model"}).encode(), 400, "model", id="missing-model"
        ),
        pytest.param(json.dumps(result(value="high")).encode(), 400, "value", id="value-is-text"),
        pytest.param(
            b'{"source":"inspect","model":"m","task":"t","metric":"a","run_id":"r","value":NaN}', 400, "value", id="nan"
        ),
        pytest.param(
            b'{"source":"inspect","model":"m","task":"t","metric":"a","run_id":"r","value":Infinity}',
            400,
            "value",
            id="infinity",
        ),
        pytest.param(json.dumps(result(source="carrier-pigeon")).encode(), 400, "source", id="unknown-source"),
        pytest.param(
            json.dumps({"results": [result(), result(run_id="r2", value=None)]}).encode(),
            400,
            "results[1].value",
            id="second-of-batch-bad",
        ),
    ],
)
def test_bad_input_is_refused_and_stores_nothing(
    hooks: str, bot: Tripwire, body: bytes, status: int, field: str
) -> None:
    response = post_signed(hooks + "/hooks/eval", body)
    assert response.status_code == status
    assert response.json()["field"] == field and response.json()["error"]
    assert stored(bot) == 0 and incidents(bot) == []


@pytest.mark.parametrize(
    ("secret", "age", "message"),
    [
        pytest.param("wrong", 0, "does not match", id="wrong-secret"),
        pytest.param(SECRET, 400, "five minutes", id="stale"),
    ],
)
def test_bad_signature_is_401(hooks: str, bot: Tripwire, secret: str, age: int, message: str) -> None:
    response = post_signed(hooks + "/hooks/eval", json.dumps(result()).encode(), secret=secret, age=age)
    assert response.status_code == 401 and message in response.json()["error"]
    unsigned = httpx.post(hooks + "/hooks/eval", content=json.dumps(result()).encode())
    assert unsigned.status_code == 401
    assert stored(bot) == 0


def test_oversized_body_is_413(hooks: str, bot: Tripwire) -> None:
    response = post_signed(hooks + "/hooks/eval", b" " * (bot.settings.max_body_bytes + 1))
    assert response.status_code == 413 and response.json()["field"] == "body"


def test_alertmanager_firing_then_resolved(hooks: str, bot: Tripwire, slack: LocalSlack) -> None:
    firing = alertmanager_webhook(
        status="firing", alerts=[alert("SafetyEvalRegression", labels={"model": "frontier-x"})]
    )
    headers = {"Authorization": f"Bearer {AM_TOKEN}"}
    first = httpx.post(hooks + "/hooks/alertmanager?wait=1", json=firing, headers=headers)
    assert first.status_code == 202 and first.json()["incidents"] == ["INC-1"]
    repeat = httpx.post(hooks + "/hooks/alertmanager", json=firing, headers=headers)
    assert repeat.json()["duplicates"] == 1 and len(incidents(bot)) == 1
    resolved = alertmanager_webhook(
        status="resolved", alerts=[alert("SafetyEvalRegression", labels={"model": "frontier-x"}, status="resolved")]
    )
    done = httpx.post(hooks + "/hooks/alertmanager", json=resolved, headers=headers)
    assert done.status_code == 202 and done.json()["resolved"] == ["INC-1"]
    assert incidents(bot)[0].status == "resolved"
    wrong = httpx.post(hooks + "/hooks/alertmanager", json=firing, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_alertmanager_resolved_before_the_worker_ran_leaves_no_open_incident(hooks: str, bot: Tripwire) -> None:
    headers = {"Authorization": f"Bearer {AM_TOKEN}"}
    firing = alertmanager_webhook(status="firing", alerts=[alert("SafetyEvalRegression", labels={"model": "x"})])
    first = httpx.post(hooks + "/hooks/alertmanager", json=firing, headers=headers)
    assert first.status_code == 202 and "incidents" not in first.json() and incidents(bot) == []
    resolved = alertmanager_webhook(
        status="resolved", alerts=[alert("SafetyEvalRegression", labels={"model": "x"}, status="resolved")]
    )
    done = httpx.post(hooks + "/hooks/alertmanager", json=resolved, headers=headers)
    assert done.status_code == 202 and done.json()["resolved"] == ["INC-1"]
    assert bot.triage.drain() == 0  # the request triaged the waiting firing itself
    assert [(i.ref, i.status) for i in incidents(bot)] == [("INC-1", "resolved")]


@pytest.mark.parametrize("fmt", ["json", "eval"])
def test_inspect_log_by_webhook(hooks: str, bot: Tripwire, tmp_path: Path, fmt: LogFormat) -> None:
    crossing = write_inspect_log(tmp_path / "a", task_name="ctf_demo", model_outputs_correct=3, samples=4, fmt=fmt)
    quiet = write_inspect_log(tmp_path / "b", task_name="ctf_demo", model_outputs_correct=1, samples=4, fmt=fmt)
    response = post_signed(hooks + "/hooks/inspect?wait=1", crossing.read_bytes())
    assert response.status_code == 202 and response.json()["incidents"] == ["INC-1"]
    assert post_signed(hooks + "/hooks/inspect?wait=1", quiet.read_bytes()).json()["incidents"] == []
    with Session(bot.engine) as session:
        values = sorted(r.value for r in session.exec(select(EvalResult).where(EvalResult.metric == "accuracy")).all())
    assert values == [0.25, 0.75]


def test_corrupt_eval_log_is_refused(hooks: str, bot: Tripwire, tmp_path: Path) -> None:
    log = write_inspect_log(tmp_path, task_name="ctf_demo", model_outputs_correct=3, samples=4, fmt="eval")
    response = post_signed(hooks + "/hooks/inspect", log.read_bytes()[:200])
    assert response.status_code == 400 and response.json()["field"] == "log"
    assert stored(bot) == 0


def test_cli_ingest_inspect_folder_is_idempotent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, database_url: str
) -> None:
    from tests.conftest import TEST_POLICY

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TRIPWIRE_POLICY", str(TEST_POLICY))
    folder = tmp_path / "logs"
    write_inspect_log(folder, task_name="ctf_demo", model_outputs_correct=3, samples=4, fmt="eval")
    write_inspect_log(folder, task_name="ctf_demo", model_outputs_correct=1, samples=4, fmt="json")
    assert main(["ingest", "inspect", str(folder)]) == 0
    first = capsys.readouterr()
    assert "2 files:" in first.out and "0 duplicates" in first.out and "INC-1" in first.out
    assert "2/2" in first.err
    assert main(["ingest", "inspect", str(folder)]) == 0
    second = capsys.readouterr()
    assert "0 results stored" in second.out and "incidents: none" in second.out


def test_cli_ingest_lm_eval_and_backtest(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, database_url: str
) -> None:
    from tests.conftest import TEST_POLICY

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TRIPWIRE_POLICY", str(TEST_POLICY))
    for index, acc in enumerate((0.35, 0.45, 0.50)):
        data = lm_eval_results(task="wmdp_cyber", acc=acc, model="org/frontier-x", date=1795000000 + index * 86400)
        (tmp_path / f"results_{index}.json").write_text(json.dumps(data))
    assert main(["ingest", "lm-eval", str(tmp_path)]) == 0
    assert "3 results stored" in capsys.readouterr().out.replace("3 files: ", "")
    stricter = tmp_path / "candidate.yaml"
    stricter.write_text(
        TEST_POLICY.read_text().replace(
            '{watch: ">=0.40", alert: ">=0.55", threshold: ">=0.70"}',
            '{watch: ">=0.30", alert: ">=0.45", threshold: ">=0.70"}',
        )
    )
    assert main(["policy", "backtest", str(stricter)]) == 0
    out = capsys.readouterr().out
    assert "3 stored results" in out
    line = next(line for line in out.splitlines() if line.startswith("cyber.wmdp") and " alert " in line)
    assert line.split()[-2:] == ["0", "2"]
    assert "Would fire only under the candidate: 1" in out


# -- the request path's verdicts and the worker's plain-row reads (issue 11: cheaper per result, the same rows)


def varied_results() -> list[Result]:
    """Below, near, on and over the cut-offs, matched by no metric, an unmatched alert, and every optional field."""
    observed = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    base = Result(
        source="inspect",
        model="frontier-x-ckpt-100",
        task="ctf_web",
        metric="accuracy",
        value=0.3,
        run_id="run",
        observed_at=observed,
    )
    values = [0.1, 0.37, 0.4, 0.52, 0.55, 0.7, 0.95]
    return [
        *(replace(base, value=value, run_id=f"run-{k}") for k, value in enumerate(values)),
        replace(base, task="essay", metric="bleu", run_id="unmatched"),
        replace(base, source="alertmanager", task="Odd", metric="Odd", run_id="fp1:1", labels={"severity": "critical"}),
        replace(
            base,
            run_id="full",
            checkpoint="ckpt-100",
            scorer="choice",
            stderr=0.02,
            samples=400,
            labels={"team": "red", "suite": "ctf"},
            url="https://ci.example.com/job/1",
            value=0.44,
        ),
    ]


def test_stored_columns_are_what_evaluate_result_decides(bot: Tripwire) -> None:
    results = varied_results()
    outcome = bot.ingest.submit(results).result(60)
    policy, now = bot.policies.current, bot.ingest.now()
    decisions = [evaluate_result(found, policy=policy, now=now) for found in results]
    assert outcome.accepted == len(results) and outcome.duplicates == 0
    assert outcome.near_misses == sum(d.near_miss is not None for d in decisions)
    assert outcome.unmatched == sum(not d.matched for d in decisions) == 2
    with Session(bot.engine) as session:
        by_run = {row.run_id: row for row in session.exec(select(EvalResult)).all()}
    for found, decision in zip(results, decisions, strict=True):
        row = by_run[found.run_id]
        assert (row.policy_metric, row.level, row.near_miss) == (decision.metric, decision.level, decision.near_miss)
    # The table above covers the three kinds of verdict: nothing crossed, a metric level, the default alert route.
    assert by_run["run-0"].level is None and by_run["run-5"].level == "threshold" and by_run["fp1:1"].level


def test_triage_reads_a_stored_result_back_whole(bot: Tripwire) -> None:
    results = varied_results()
    bot.ingest.submit(results).result(60)
    with bot.uow() as session:
        queue = triage_queue.claim_untriaged_rows(session=session, now=bot.ingest.now(), limit=100)
        orm = triage_queue.claim_untriaged(session=session, now=bot.ingest.now(), limit=100)
        assert [row.id for row in queue] == [row.id for row in orm]
        assert [(r.model_family, r.observed_at, r.checkpoint, r.value) for r in queue] == [
            (r.model_family, r.observed_at, r.checkpoint, r.value) for r in orm
        ]
        # The plain row gives triage the same Result the ORM object did, and the one that was sent.
        plain = triage_queue.list_result_rows(session=session, ids=[row.id for row in queue])
        read_back = [(stored_result(row), row.received_at) for row in plain]
        assert read_back == [(stored_result(row), row.received_at) for row in orm]
        sent = sorted(results, key=lambda r: r.run_id)
        assert sorted((r for r, _ in read_back), key=lambda r: r.run_id) == sent


def test_a_reloaded_policy_decides_the_next_results(
    slack: LocalSlack, database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    from tests.conftest import TEST_POLICY, open_bot

    policy = tmp_path / "policy.yaml"
    policy.write_text(TEST_POLICY.read_text())
    with open_bot(database_url, slack_url=slack.api_url, clock=clock, TRIPWIRE_POLICY=str(policy)) as tripwire:
        [before] = varied_results()[:1]
        assert tripwire.ingest.submit([before]).result(60).unmatched == 0
        policy.write_text(TEST_POLICY.read_text().replace('task: "ctf*"', 'task: "pwn*"'))
        assert tripwire.policies.reload().outcome == "loaded"
        # The same kind of result, after the reload: no metric counts it any more (no match remembered from before).
        after = replace(before, run_id="after-reload")
        assert tripwire.ingest.submit([after]).result(60).unmatched == 1
        with Session(tripwire.engine) as session:
            columns = dict(session.exec(select(EvalResult.run_id, EvalResult.policy_metric)).all())
        assert columns == {before.run_id: "cyber.ctf", "after-reload": None}
        # The worker judges by the policy in force: the later result joins no series and opens nothing.
        assert tripwire.triage.drain() == 2


def exploit(run_id: str, value: float) -> Result:
    """A result for cyber.exploit (a metric with a trend rule; alert at >=0.60)."""
    observed = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    return Result(
        source="json",
        model="frontier-x-ckpt-7",
        task="exploit_chain",
        metric="success_rate",
        value=value,
        run_id=run_id,
        observed_at=observed,
    )


def count_verdicts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make the worker's verdict_of record the run ids it judges."""
    judged: list[str] = []

    def counting(result: Result, **kwargs: Any) -> Any:
        judged.append(result.run_id)
        return verdict_of(result, **kwargs)

    monkeypatch.setattr(worker_module, "verdict_of", counting)
    return judged


def test_worker_takes_results_judged_on_arrival_without_judging_again(
    bot: Tripwire, monkeypatch: pytest.MonkeyPatch
) -> None:
    judged = count_verdicts(monkeypatch)
    quiet = [exploit(f"quiet-{k}", 0.1 + k / 100) for k in range(5)]
    assert bot.ingest.submit([*quiet, exploit("loud", 0.65)]).result(60).accepted == 6
    assert bot.triage.drain() == 6
    # Only the crossing is judged again (it needs its whole Decision); the rest were judged on arrival.
    assert judged == ["loud"]
    assert len(incidents(bot)) == 1
    with Session(bot.engine) as session:
        [state] = session.exec(select(TrendState)).all()
    # The quiet results still feed the metric's trend, as when the worker judged them itself.
    assert (state.policy_metric, state.model_family) == ("cyber.exploit", "frontier-x")
    assert sorted(value for _, _, value in state.points) == sorted([r.value for r in quiet] + [0.65])


def test_worker_judges_again_under_a_reloaded_policy(
    slack: LocalSlack, database_url: str, clock: ManualClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import TEST_POLICY, open_bot

    policy = tmp_path / "policy.yaml"
    policy.write_text(TEST_POLICY.read_text())
    with open_bot(database_url, slack_url=slack.api_url, clock=clock, TRIPWIRE_POLICY=str(policy)) as tripwire:
        judged = count_verdicts(monkeypatch)
        assert tripwire.ingest.submit([exploit("quiet", 0.45)]).result(60).accepted == 1
        policy.write_text(TEST_POLICY.read_text().replace('{alert: ">=0.60"', '{alert: ">=0.40"'))
        assert tripwire.policies.reload().outcome == "loaded"
        # Judged on arrival under the old policy, so the worker judges it again under the one in force: it crosses.
        assert tripwire.triage.drain() == 1
        assert judged == ["quiet"]
        [incident] = incidents(tripwire)
        assert incident.metric_id == "cyber.exploit"


def test_a_storm_of_one_family_does_not_hold_back_another_familys_crossing(bot: Tripwire) -> None:
    observed = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    storm = [
        Result(
            source="inspect",
            model="storm-model",
            task="ctf_web",
            metric="accuracy",
            value=0.6,
            run_id=f"s{i}",
            observed_at=observed + timedelta(seconds=i),
        )
        for i in range(30)
    ]
    probe = replace(storm[0], model="probe-model", run_id="probe")
    bot.ingest.submit(storm).result(60)
    bot.ingest.submit([probe]).result(60)
    with bot.uow() as session:
        first = triage_queue.claim_untriaged_rows(session=session, now=bot.ingest.now(), limit=5)
        # The crossing stored after 30 of the storm's results is in the first batch of five...
        assert [row.model_family for row in first].count("probe-model") == 1
        # ...and the storm's own results still come oldest first.
        storm_ids = [row.id for row in first if row.model_family == "storm-model"]
        assert storm_ids == sorted(storm_ids) and len(storm_ids) == 4
        everything = triage_queue.claim_untriaged_rows(session=session, now=bot.ingest.now(), limit=100)
        assert len(everything) == 31


def test_a_waited_for_triage_the_database_fails_is_deferred_not_a_500(
    hooks: str, bot: Tripwire, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(ids: object) -> object:
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(bot.triage, "triage", failing)
    response = post_signed(hooks + "/hooks/eval?wait=1", json.dumps(result(value=0.61)).encode())
    # Stored (a retry would be a duplicate), so not a 5xx: the answer says triage was deferred and names no incident.
    assert response.status_code == 202
    assert response.json() == {
        "accepted": 1,
        "duplicates": 0,
        "near_misses": 0,
        "unmatched": 0,
        "triage_deferred": True,
    }
    assert stored(bot) == 1 and incidents(bot) == []
    monkeypatch.undo()
    assert bot.triage.drain() == 0  # held for the request that stored it ...
    clock.advance(seconds=61)  # ... whose lease runs out: the worker takes it
    assert bot.triage.drain() == 1
    [incident] = incidents(bot)
    assert incident.result_count == 1
