"""The sample count `n` rides beside the stderr from every source that records it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.common.errors import InvalidInput
from bot.ingest.generic import parse_eval_payload
from bot.ingest.inspect_log import read_inspect_log
from bot.ingest.lm_eval import parse_lm_eval
from tests.support.inspect_logs import LogFormat, write_inspect_log
from tests.support.payloads import encode, lm_eval_results

RECEIVED = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
BASE: dict[str, Any] = {"source": "json", "model": "m", "task": "t", "metric": "acc", "value": 0.6, "run_id": "r"}


@pytest.mark.parametrize(
    ("extra", "samples"),
    [
        pytest.param({"n": 8}, 8, id="n"),
        pytest.param({"samples": 8}, 8, id="samples"),
        pytest.param({"n": 8, "samples": 8}, 8, id="both-agreeing"),
        pytest.param({"n": None}, None, id="null"),
        pytest.param({}, None, id="absent"),
    ],
)
def test_generic_json_takes_n_or_samples(extra: dict[str, Any], samples: int | None) -> None:
    (result,) = parse_eval_payload(json.dumps({**BASE, **extra}).encode(), received_at=RECEIVED)
    assert result.samples == samples


@pytest.mark.parametrize(
    ("extra", "field", "phrase"),
    [
        pytest.param({"n": 0}, "n", "n must be a positive count, got 0", id="zero"),
        pytest.param({"n": -3}, "n", "n must be a positive count, got -3", id="negative"),
        pytest.param({"n": 8.0}, "n", "n must be a whole number", id="float"),
        pytest.param({"samples": "8"}, "samples", "samples must be a whole number, got a string", id="text"),
        pytest.param({"n": True}, "n", "n must be a whole number, got true", id="boolean"),
        pytest.param({"n": 2**40}, "n", "too large for a sample count", id="overflow"),
        pytest.param({"n": 8, "samples": 9}, "n", "n disagrees with samples (9 vs 8)", id="disagreeing"),
    ],
)
def test_generic_json_refuses_a_bad_count(extra: dict[str, Any], field: str, phrase: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_eval_payload(json.dumps({**BASE, **extra}).encode(), received_at=RECEIVED)
    assert caught.value.field == field and phrase in str(caught.value)


def test_generic_json_names_the_result_in_a_batch() -> None:
    body = json.dumps({"results": [BASE, {**BASE, "n": 0}]}).encode()
    with pytest.raises(InvalidInput) as caught:
        parse_eval_payload(body, received_at=RECEIVED)
    assert caught.value.field == "results[1].n"


@pytest.mark.parametrize(
    ("counts", "samples"),
    [
        pytest.param({"original": 1273, "effective": 100}, 100, id="effective-after-limit"),
        pytest.param({"original": 1273}, 1273, id="original-only"),
        pytest.param({"original": "many"}, None, id="not-a-number"),
        pytest.param({"effective": 0}, None, id="zero"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_lm_eval_n_samples(counts: dict[str, Any] | None, samples: int | None) -> None:
    document = lm_eval_results()
    if counts is None:
        del document["n-samples"]
    else:
        document["n-samples"] = {"wmdp_bio": counts}
    (result,) = parse_lm_eval(encode(document), filename="results_x.json", received_at=RECEIVED)
    assert result.samples == samples


@pytest.mark.parametrize("fmt", ["json", "eval"])
def test_inspect_log_carries_its_completed_sample_count(tmp_path: Path, fmt: LogFormat) -> None:
    log = write_inspect_log(tmp_path, task_name="ctf_demo", model_outputs_correct=5, samples=8, fmt=fmt)
    (result,) = read_inspect_log(log, received_at=RECEIVED)
    assert (result.value, result.samples) == (0.625, 8)
    assert result.stderr is not None and result.stderr > 0
