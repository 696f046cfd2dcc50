"""The generic /hooks/eval body: one result or {"results": [...]}, refused field by field when wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from bot.common.errors import InvalidInput
from bot.ingest.fields import MAX_RESULTS_PER_REQUEST, SOURCES
from bot.ingest.generic import parse_eval_payload
from bot.policy.triage import Result
from tests.support.payloads import encode

RECEIVED = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def result_json(**overrides: Any) -> dict[str, Any]:
    """A complete, valid result object; overrides replace keys, a value of ... removes the key."""
    body: dict[str, Any] = {
        "source": "json",
        "model": "org/model-x",
        "checkpoint": "ckpt-200",
        "task": "exploit_chain",
        "scorer": "judge",
        "metric": "success_rate",
        "value": 0.42,
        "stderr": 0.03,
        "run_id": "ci-9001",
        "observed_at": "2026-11-23T13:30:00+01:00",
        "url": "https://ci.example.com/runs/9001",
        "labels": {"team": "red", "suite": "nightly"},
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


def test_single_object_becomes_one_result_with_every_field() -> None:
    (result,) = parse_eval_payload(encode(result_json()), received_at=RECEIVED)
    assert result == Result(
        source="json",
        model="org/model-x",
        checkpoint="ckpt-200",
        task="exploit_chain",
        scorer="judge",
        metric="success_rate",
        value=0.42,
        stderr=0.03,
        run_id="ci-9001",
        observed_at=datetime(2026, 11, 23, 12, 30, tzinfo=UTC),
        url="https://ci.example.com/runs/9001",
        labels={"team": "red", "suite": "nightly"},
    )
    assert result.labels == {"team": "red", "suite": "nightly"}  # labels are outside equality; check them too
    assert result.observed_at.utcoffset() == timedelta(0)


def test_batch_keeps_order_and_optional_fields_default() -> None:
    minimal = {"source": "inspect", "model": "m", "task": "t", "metric": "accuracy", "value": 1, "run_id": "r"}
    body = encode({"results": [result_json(), minimal]})
    first, second = parse_eval_payload(body, received_at=RECEIVED)
    assert first.run_id == "ci-9001"
    assert (second.checkpoint, second.scorer, second.stderr, second.url, dict(second.labels)) == (
        None,
        None,
        None,
        None,
        {},
    )
    assert second.value == 1.0 and isinstance(second.value, float)
    assert second.observed_at == RECEIVED


def test_strings_are_stripped_and_nulls_mean_absent() -> None:
    body = result_json(model="  org/model-x \n", checkpoint=None, scorer=None, stderr=None, url=None, labels=None)
    (result,) = parse_eval_payload(encode(body), received_at=RECEIVED)
    assert result.model == "org/model-x"
    assert (result.checkpoint, result.scorer, result.stderr, result.url, dict(result.labels)) == (
        None,
        None,
        None,
        None,
        {},
    )


def test_missing_observed_at_is_the_receive_time_and_z_means_utc() -> None:
    (late,) = parse_eval_payload(encode(result_json(observed_at=...)), received_at=RECEIVED)
    (zulu,) = parse_eval_payload(encode(result_json(observed_at="2026-11-20T08:00:00Z")), received_at=RECEIVED)
    assert late.observed_at == RECEIVED
    assert zulu.observed_at == datetime(2026, 11, 20, 8, tzinfo=UTC)


@pytest.mark.parametrize("source", SOURCES)
def test_every_named_source_is_accepted(source: str) -> None:
    (result,) = parse_eval_payload(encode(result_json(source=source)), received_at=RECEIVED)
    assert result.source == source


def test_a_batch_of_exactly_the_limit_is_accepted() -> None:
    item = result_json()
    body = encode({"results": [item] * MAX_RESULTS_PER_REQUEST})
    assert len(parse_eval_payload(body, received_at=RECEIVED)) == MAX_RESULTS_PER_REQUEST


def test_a_byte_order_mark_is_tolerated() -> None:
    (result,) = parse_eval_payload(b"\xef\xbb\xbf" + encode(result_json()), received_at=RECEIVED)
    assert result.run_id == "ci-9001"


def test_naive_receive_time_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_eval_payload(encode(result_json()), received_at=datetime(2026, 11, 23, 15, 0))


def raw(text: str) -> bytes:
    """A hand-written body, for literals json.dumps would not produce."""
    return text.encode()


def single(**overrides: Any) -> bytes:
    return encode(result_json(**overrides))


def batch_with(index: int, **overrides: Any) -> bytes:
    items = [result_json() for _ in range(index + 1)]
    items[index] = result_json(**overrides)
    return encode({"results": items})


VALID = json.dumps(result_json())

BAD_INPUTS = [
    # The body as a whole
    pytest.param(raw('{"source": "json", '), "body", "not valid JSON", id="malformed-json"),
    pytest.param(b"", "body", "not valid JSON", id="empty-body"),
    pytest.param(b'{"model": "\xff\xfe"}', "body", "not UTF-8", id="not-utf8"),
    pytest.param(raw(f"[{VALID}]"), "body", "must be a JSON object", id="top-level-list"),
    pytest.param(raw('"a result"'), "body", "must be a JSON object", id="top-level-string"),
    pytest.param(raw("null"), "body", "got null", id="top-level-null"),
    pytest.param(raw("[" * 100_000), "body", "not usable JSON", id="absurd-nesting"),
    # Required fields, each one missing
    *[
        pytest.param(single(**{name: ...}), name, f"{name} is required", id=f"missing-{name}")
        for name in ("source", "model", "task", "metric", "value", "run_id")
    ],
    pytest.param(batch_with(2, run_id=...), "results[2].run_id", "is required", id="missing-in-batch"),
    # Wrong types and values
    pytest.param(single(value="0.5"), "value", "must be a number, got a string", id="value-string"),
    pytest.param(single(value=True), "value", "must be a number, got true", id="value-bool"),
    pytest.param(single(value=None), "value", "must be a number, got null", id="value-null"),
    pytest.param(single(value="nan"), "value", "must be a number, got a string", id="value-string-nan"),
    pytest.param(raw(VALID.replace("0.42", "NaN")), "value", "finite number, not NaN", id="value-nan-literal"),
    pytest.param(raw(VALID.replace("0.42", "Infinity")), "value", "not Infinity", id="value-infinity-literal"),
    pytest.param(raw(VALID.replace("0.42", "-Infinity")), "value", "not -Infinity", id="value-minus-infinity"),
    pytest.param(raw(VALID.replace("0.42", "1e999")), "value", "finite number", id="value-overflows-to-inf"),
    pytest.param(raw(VALID.replace("0.42", "9" * 400)), "value", "too large", id="value-huge-integer"),
    pytest.param(
        raw(json.dumps({"results": [result_json()] * 3 + [result_json(value=0.5)]}).replace("0.5,", "NaN,")),
        "results[3].value",
        "not NaN",
        id="nan-literal-in-batch",
    ),
    pytest.param(single(stderr=-0.01), "stderr", "must not be negative", id="stderr-negative"),
    pytest.param(raw(VALID.replace("0.03", "NaN")), "stderr", "not NaN", id="stderr-nan-literal"),
    pytest.param(single(stderr=False), "stderr", "got false", id="stderr-bool"),
    pytest.param(single(model="   "), "model", "must not be empty", id="model-blank"),
    pytest.param(single(task="t" * 501), "task", "the limit is 500", id="task-too-long"),
    pytest.param(single(run_id=17), "run_id", "must be a string, got a number", id="run-id-number"),
    pytest.param(single(checkpoint=5), "checkpoint", "must be a string", id="checkpoint-number"),
    pytest.param(single(scorer=""), "scorer", "must not be empty", id="scorer-empty"),
    pytest.param(single(source="wandb"), "source", "must be one of inspect, lm-eval", id="unknown-source"),
    pytest.param(single(valeu=0.4), "valeu", "Unknown key 'valeu'", id="unknown-key"),
    pytest.param(batch_with(1, extra=1), "results[1].extra", "Unknown key", id="unknown-key-in-batch"),
    # Times
    pytest.param(single(observed_at="2026-11-23T12:00:00"), "observed_at", "no UTC offset", id="naive-time"),
    pytest.param(single(observed_at="2026-11-23"), "observed_at", "no UTC offset", id="date-only"),
    pytest.param(single(observed_at="yesterday"), "observed_at", "ISO 8601", id="time-not-iso"),
    pytest.param(single(observed_at=1795435200), "observed_at", "must be a string", id="time-as-number"),
    pytest.param(single(observed_at="0001-01-01T00:00:00+01:00"), "observed_at", "out of range", id="time-underflow"),
    # Links and labels
    pytest.param(single(url="ftp://ci.example.com/run"), "url", "http(s) URL", id="url-ftp"),
    pytest.param(single(url="javascript:alert(1)"), "url", "http(s) URL", id="url-javascript"),
    pytest.param(single(url="https://"), "url", "http(s) URL", id="url-no-host"),
    pytest.param(single(url="https://ci.example.com/a b"), "url", "http(s) URL", id="url-space"),
    pytest.param(single(url="https://x.example/|<!channel>"), "url", "http(s) URL", id="url-slack-markup"),
    pytest.param(single(url="https://x.example/" + "a" * 2000), "url", "the limit is 2000", id="url-too-long"),
    pytest.param(single(labels=["team"]), "labels", "must be an object", id="labels-list"),
    pytest.param(single(labels={"team": 3}), "labels.team", "must be a string", id="label-value-number"),
    pytest.param(single(labels={f"k{i}": "v" for i in range(101)}), "labels", "the limit is 100", id="too-many-labels"),
    # The batch envelope
    pytest.param(encode({"results": []}), "results", "results must not be empty", id="empty-batch"),
    pytest.param(encode({"results": {"a": 1}}), "results", "must be a list", id="results-not-list"),
    pytest.param(encode({"results": [result_json(), 7]}), "results[1]", "must be a result object", id="item-number"),
    pytest.param(encode({"results": [result_json()], "meta": {}}), "meta", "unknown key 'meta'", id="envelope-extra"),
    pytest.param(
        raw('{"results": [' + "{}," * MAX_RESULTS_PER_REQUEST + "{}]}"),
        "results",
        f"at most {MAX_RESULTS_PER_REQUEST} per request",
        id="oversized-batch",
    ),
]


@pytest.mark.parametrize(("body", "field", "phrase"), BAD_INPUTS)
def test_bad_input_is_refused_with_the_field_to_fix(body: bytes, field: str, phrase: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_eval_payload(body, received_at=RECEIVED)
    assert caught.value.field == field
    assert phrase in str(caught.value)


def test_offsets_other_than_utc_are_kept_as_the_same_instant() -> None:
    (result,) = parse_eval_payload(single(observed_at="2026-03-29T01:30:00-07:00"), received_at=RECEIVED)
    assert result.observed_at == datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=-7)))
