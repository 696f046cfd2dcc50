"""Alertmanager webhook v4: firing alerts become results, resolved ones keys; repeats deduplicate, re-fires do not."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.common.errors import InvalidInput
from bot.ingest.alertmanager import AlertKey, parse_alertmanager
from tests.support.payloads import alert, alertmanager_webhook, encode

RECEIVED = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
STARTED = datetime(2026, 11, 23, 14, 0, 0, 123456, tzinfo=UTC)


def parse(document: Any) -> Any:
    return parse_alertmanager(encode(document), received_at=RECEIVED)


def test_a_firing_alert_becomes_a_result() -> None:
    fired = alert(
        "SafetyEvalRegression",
        labels={"model": "org/model-x", "checkpoint": "ckpt-300", "team": "safety"},
        value="0.73",
        fingerprint="7f3c2a91b0d4e5f6",
    )
    batch = parse(alertmanager_webhook(alerts=[fired]))
    (result,) = batch.firing
    assert batch.resolved == []
    assert (result.source, result.model, result.checkpoint, result.task, result.metric, result.value) == (
        "alertmanager",
        "org/model-x",
        "ckpt-300",
        "SafetyEvalRegression",
        "SafetyEvalRegression",
        0.73,
    )
    assert result.run_id == "7f3c2a91b0d4e5f6:2026-11-23T14:00:00.123456+00:00"
    assert result.observed_at == STARTED
    assert result.url == fired["generatorURL"]
    assert dict(result.labels) == {
        "alertname": "SafetyEvalRegression",
        "model": "org/model-x",
        "checkpoint": "ckpt-300",
        "team": "safety",
    }


@pytest.mark.parametrize(
    ("labels", "model"),
    [
        pytest.param({"model": "org/model-x", "job": "evals"}, "org/model-x", id="model-label"),
        pytest.param({"job": "weights-egress"}, "weights-egress", id="job-label"),
        pytest.param({"team": "security"}, "unknown", id="neither"),
    ],
)
def test_model_falls_back_to_job_then_unknown(labels: dict[str, str], model: str) -> None:
    (result,) = parse(alertmanager_webhook(alerts=[alert("WeightsEgressAnomaly", labels=labels)])).firing
    assert result.model == model
    assert result.checkpoint is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("0.91", 0.91, id="numeric-text"),
        pytest.param(" 12 ", 12.0, id="padded-integer"),
        pytest.param(None, 1.0, id="absent"),
        pytest.param("high", 1.0, id="words"),
        pytest.param("NaN", 1.0, id="nan-text"),
        pytest.param("+Inf", 1.0, id="infinite-text"),
    ],
)
def test_value_comes_from_the_value_annotation_else_one(value: str | None, expected: float) -> None:
    (result,) = parse(alertmanager_webhook(alerts=[alert("SafetyEvalRegression", value=value)])).firing
    assert result.value == expected


def test_repeat_notifications_of_one_firing_share_a_run_id_and_a_refire_gets_a_new_one() -> None:
    first = alertmanager_webhook(alerts=[alert("SafetyEvalRegression", value="0.7")])
    repeat = copy.deepcopy(first)
    repeat["alerts"][0]["annotations"]["value"] = "0.8"  # the group_interval resend carries a newer value
    refire = alertmanager_webhook(alerts=[alert("SafetyEvalRegression", value="0.7", starts_at="2026-11-24T09:00:00Z")])
    (one,), (two,), (three,) = (parse(doc).firing for doc in (first, repeat, refire))
    assert one.run_id == two.run_id
    assert three.run_id != one.run_id
    assert three.run_id.split(":")[0] == one.run_id.split(":")[0]  # same alert (fingerprint), new firing


def test_the_same_instant_written_differently_is_the_same_firing() -> None:
    utc = parse(alertmanager_webhook(alerts=[alert("A", fingerprint="aa", starts_at="2026-11-23T14:00:00Z")]))
    local = parse(alertmanager_webhook(alerts=[alert("A", fingerprint="aa", starts_at="2026-11-23T15:00:00+01:00")]))
    assert utc.firing[0].run_id == local.firing[0].run_id == "aa:2026-11-23T14:00:00+00:00"


def test_resolved_alerts_become_keys_matching_their_firing() -> None:
    fired = alert("SafetyEvalRegression", fingerprint="0123456789abcdef")
    ended = alert(
        "SafetyEvalRegression", status="resolved", fingerprint="0123456789abcdef", ends_at="2026-11-23T14:45:00Z"
    )
    (result,) = parse(alertmanager_webhook(alerts=[fired])).firing
    batch = parse(alertmanager_webhook(alerts=[ended]))
    assert batch.firing == []
    assert batch.resolved == [
        AlertKey("0123456789abcdef", STARTED, datetime(2026, 11, 23, 14, 45, tzinfo=UTC)),
    ]
    assert batch.resolved[0].run_id == result.run_id


def test_one_notification_can_carry_firing_and_resolved_alerts() -> None:
    document = alertmanager_webhook(
        alerts=[
            alert("SafetyEvalRegression", labels={"model": "a"}, fingerprint="aaaa"),
            alert("SafetyEvalRegression", labels={"model": "b"}, status="resolved", fingerprint="bbbb"),
        ]
    )
    assert document["status"] == "firing"
    batch = parse(document)
    assert [r.model for r in batch.firing] == ["a"]
    assert [k.fingerprint for k in batch.resolved] == ["bbbb"]


def test_resolved_with_go_zero_end_time_has_no_end() -> None:
    ended = alert("A", status="resolved", ends_at="0001-01-01T00:00:00Z")
    (key,) = parse(alertmanager_webhook(alerts=[ended])).resolved
    assert key.ends_at is None


def test_missing_fingerprint_is_derived_from_the_labels() -> None:
    def without_fingerprint(labels: dict[str, str]) -> dict[str, Any]:
        made = alert("SafetyEvalRegression", labels=labels)
        del made["fingerprint"]
        return made

    one = parse(alertmanager_webhook(alerts=[without_fingerprint({"model": "a", "team": "x"})])).firing[0]
    same = parse(alertmanager_webhook(alerts=[without_fingerprint({"team": "x", "model": "a"})])).firing[0]
    other = parse(alertmanager_webhook(alerts=[without_fingerprint({"model": "b", "team": "x"})])).firing[0]
    fingerprint = one.run_id.split(":")[0]
    assert len(fingerprint) == 16 and int(fingerprint, 16) >= 0
    assert same.run_id == one.run_id
    assert other.run_id.split(":")[0] != fingerprint


@pytest.mark.parametrize("link", ["", "not a url", None])
def test_an_odd_generator_link_is_dropped_not_fatal(link: str | None) -> None:
    made = alert("A")
    made["generatorURL"] = link
    (result,) = parse(alertmanager_webhook(alerts=[made])).firing
    assert result.url is None


def webhook_with(**changes: Any) -> dict[str, Any]:
    """A one-alert webhook with top-level keys replaced (a value of ... removes the key)."""
    document = alertmanager_webhook()
    for key, value in changes.items():
        if value is ...:
            del document[key]
        else:
            document[key] = value
    return document


def alert_with(**changes: Any) -> dict[str, Any]:
    """A one-alert webhook whose alert has keys replaced (a value of ... removes the key)."""
    document = alertmanager_webhook(alerts=[alert("SafetyEvalRegression", value="0.7")])
    made = document["alerts"][0]
    for key, value in changes.items():
        if value is ...:
            del made[key]
        else:
            made[key] = value
    return document


@pytest.mark.parametrize(
    ("body", "field", "phrase"),
    [
        pytest.param(b"{", "body", "not valid JSON", id="not-json"),
        pytest.param(encode([]), "body", "JSON object", id="top-level-list"),
        pytest.param(encode(webhook_with(version="3")), "version", 'version must be "4"', id="version-3"),
        pytest.param(encode(webhook_with(version=4)), "version", "got 4", id="version-number"),
        pytest.param(encode(webhook_with(version=...)), "version", "got None", id="version-missing"),
        pytest.param(encode(webhook_with(status="pending")), "status", '"firing" or "resolved"', id="bad-status"),
        pytest.param(encode(webhook_with(alerts=...)), "alerts", "non-empty list", id="alerts-missing"),
        pytest.param(encode(webhook_with(alerts=[])), "alerts", "non-empty list", id="alerts-empty"),
        pytest.param(encode(webhook_with(alerts={"a": 1})), "alerts", "non-empty list", id="alerts-object"),
        pytest.param(encode(webhook_with(alerts=["x"])), "alerts[0]", "must be an alert object", id="alert-string"),
        pytest.param(encode(alert_with(status="silenced")), "alerts[0].status", "firing", id="alert-status"),
        pytest.param(encode(alert_with(labels=...)), "alerts[0].labels", "is required", id="labels-missing"),
        pytest.param(encode(alert_with(labels=["a"])), "alerts[0].labels", "must be an object", id="labels-list"),
        pytest.param(
            encode(alert_with(labels={"model": "m"})), "alerts[0].labels.alertname", "is required", id="no-alertname"
        ),
        pytest.param(
            encode(alert_with(labels={"alertname": "A", "team": 1})),
            "alerts[0].labels.team",
            "must be a string",
            id="label-number",
        ),
        pytest.param(encode(alert_with(startsAt=...)), "alerts[0].startsAt", "is required", id="starts-missing"),
        pytest.param(
            encode(alert_with(startsAt="2026-11-23T14:00:00")), "alerts[0].startsAt", "no UTC offset", id="naive-start"
        ),
        pytest.param(encode(alert_with(startsAt="soon")), "alerts[0].startsAt", "ISO 8601", id="start-not-a-time"),
        pytest.param(
            encode(alert_with(annotations=["v"])), "alerts[0].annotations", "must be an object", id="annotations-list"
        ),
        pytest.param(encode(alert_with(fingerprint=12)), "alerts[0].fingerprint", "must be a string", id="fp-number"),
    ],
)
def test_bad_webhooks_are_refused(body: bytes, field: str, phrase: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_alertmanager(body, received_at=RECEIVED)
    assert caught.value.field == field
    assert phrase in str(caught.value)


def test_a_resolved_alert_with_a_bad_end_time_is_refused() -> None:
    ended = alert("A", status="resolved", ends_at="2026-11-23 14:45")
    with pytest.raises(InvalidInput) as caught:
        parse(alertmanager_webhook(alerts=[ended]))
    assert caught.value.field == "alerts[0].endsAt"
