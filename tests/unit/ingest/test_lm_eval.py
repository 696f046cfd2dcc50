"""lm-evaluation-harness results files: metric and filter keys, stderr pairing, the model and a stable run id."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.common.errors import InvalidInput
from bot.ingest.lm_eval import parse_lm_eval
from tests.support.payloads import DEFAULT_DATE, encode, lm_eval_results

RECEIVED = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
FILENAME = "results_2026-11-23T12-00-00.250000.json"


def parse(document: Any, *, filename: str = FILENAME) -> list[Any]:
    return parse_lm_eval(encode(document), filename=filename, received_at=RECEIVED)


def by_metric(document: Any) -> dict[str, tuple[float, float | None]]:
    return {r.metric: (r.value, r.stderr) for r in parse(document)}


def test_one_task_gives_one_result_with_everything_lm_eval_recorded() -> None:
    (result,) = parse(lm_eval_results())
    assert (result.source, result.task, result.metric, result.value, result.stderr) == (
        "lm-eval",
        "wmdp_bio",
        "acc",
        0.61,
        0.02,
    )
    assert (result.model, result.checkpoint, result.scorer, result.url) == ("org/model-x", "ckpt-100", None, None)
    assert result.observed_at == datetime.fromtimestamp(DEFAULT_DATE, UTC)
    assert result.observed_at == datetime(2026, 11, 23, 12, 0, 0, 250000, tzinfo=UTC)
    assert dict(result.labels) == {"n-shot": "0", "version": "1.0", "filter": "none"}
    assert result.run_id.startswith("lm-eval:")


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        pytest.param(
            {"acc_norm,none": 0.7, "acc_norm_stderr,none": 0.011},
            {"acc": (0.61, 0.02), "acc_norm": (0.7, 0.011)},
            id="acc-and-acc-norm",
        ),
        pytest.param(
            {
                "exact_match,strict-match": 0.4,
                "exact_match_stderr,strict-match": 0.013,
                "exact_match,flexible-extract": 0.45,
                "exact_match_stderr,flexible-extract": "N/A",
            },
            {
                "acc": (0.61, 0.02),
                "exact_match,strict-match": (0.4, 0.013),
                "exact_match,flexible-extract": (0.45, None),
            },
            id="generation-filters",
        ),
        pytest.param({"acc_stderr,none": "N/A"}, {"acc": (0.61, None)}, id="stderr-not-available"),
        pytest.param({"acc_stderr,none": -1.0}, {"acc": (0.61, None)}, id="stderr-negative-dropped"),
        pytest.param(
            {"word_perplexity,none": 12, "word_perplexity_stderr,none": "N/A"},
            {"acc": (0.61, 0.02), "word_perplexity": (12.0, None)},
            id="integer-metric",
        ),
        pytest.param(
            {"alias": " - wmdp_bio", "sample_note": "n/a", "flag,none": True},
            {"acc": (0.61, 0.02)},
            id="non-numeric-skipped",
        ),
    ],
)
def test_metric_filter_and_stderr_table(
    entries: dict[str, object], expected: dict[str, tuple[float, float | None]]
) -> None:
    assert by_metric(lm_eval_results(metrics=entries)) == expected


def test_every_filter_is_a_label() -> None:
    document = lm_eval_results(acc=None, metrics={"exact_match,strict-match": 0.4, "exact_match,none": 0.5})
    assert {r.metric: r.labels["filter"] for r in parse(document)} == {
        "exact_match,strict-match": "strict-match",
        "exact_match": "none",
    }


def test_nan_written_by_the_harness_is_skipped_not_fatal() -> None:
    text = json.dumps(lm_eval_results(metrics={"brier_score,none": 0.5, "brier_score_stderr,none": 0.25}))
    text = text.replace('"brier_score,none": 0.5', '"brier_score,none": NaN')
    text = text.replace('"acc_stderr,none": 0.02', '"acc_stderr,none": Infinity')
    results = parse_lm_eval(text.encode(), filename=FILENAME, received_at=RECEIVED)
    assert [(r.metric, r.value, r.stderr) for r in results] == [("acc", 0.61, None)]


def test_several_tasks_share_one_run() -> None:
    document = lm_eval_results()
    document["results"]["wmdp_chem"] = {"alias": "wmdp_chem", "acc,none": 0.48, "acc_stderr,none": 0.025}
    document["versions"]["wmdp_chem"] = 1
    document["n-shot"]["wmdp_chem"] = 5
    bio, chem = parse(document)
    assert (bio.task, chem.task) == ("wmdp_bio", "wmdp_chem")
    assert bio.run_id == chem.run_id
    assert dict(chem.labels) == {"n-shot": "5", "version": "1", "filter": "none"}


def test_legacy_bare_keys_are_read() -> None:
    document = lm_eval_results(acc=None, metrics={"acc": 0.3, "acc_stderr": 0.04})
    (result,) = parse(document)
    assert (result.metric, result.value, result.stderr, result.labels["filter"]) == ("acc", 0.3, 0.04, "none")


def test_model_and_revision_come_from_model_args_when_model_name_is_missing() -> None:
    document = lm_eval_results(model="org/base", revision=None)
    del document["model_name"]
    document["config"]["model_args"] = "pretrained=org/base,peft=org/adapter-7,revision=step-900"
    (result,) = parse(document)
    assert (result.model, result.checkpoint) == ("org/adapter-7", "step-900")


def test_model_args_as_a_dict_and_no_revision() -> None:
    document = lm_eval_results(revision=None)
    document["config"]["model_args"] = {"pretrained": "org/model-x", "dtype": "bfloat16", "trust_remote_code": True}
    (result,) = parse(document)
    assert (result.model, result.checkpoint) == ("org/model-x", None)


def test_run_id_is_stable_for_the_same_file_and_new_for_another_run() -> None:
    first = parse(lm_eval_results())[0].run_id
    assert parse(lm_eval_results())[0].run_id == first
    assert parse(lm_eval_results(), filename="/elsewhere/" + FILENAME)[0].run_id == first  # the folder does not matter
    assert parse(lm_eval_results(), filename="results_2026-11-24T12-00-00.json")[0].run_id != first
    assert parse(lm_eval_results(date=DEFAULT_DATE + 1))[0].run_id != first
    assert parse(lm_eval_results(model="org/model-y"))[0].run_id != first


def test_missing_date_means_the_receive_time() -> None:
    (result,) = parse(lm_eval_results(date=None))
    assert result.observed_at == RECEIVED


def with_changes(**changes: Any) -> dict[str, Any]:
    """The default results file with top-level keys replaced (a value of ... removes the key)."""
    document = lm_eval_results()
    for key, value in changes.items():
        if value is ...:
            document.pop(key, None)
        else:
            document[key] = value
    return document


@pytest.mark.parametrize(
    ("body", "field", "phrase"),
    [
        pytest.param(b"{not json", "body", "not valid JSON", id="not-json"),
        pytest.param(b"\xff\xfe\x00", "body", "not UTF-8", id="not-utf8"),
        pytest.param(encode([lm_eval_results()]), "body", "JSON object", id="top-level-list"),
        pytest.param(encode(with_changes(results=...)), "results", "non-empty 'results'", id="no-results"),
        pytest.param(encode(with_changes(results={})), "results", "non-empty 'results'", id="empty-results"),
        pytest.param(encode(with_changes(results=[1])), "results", "non-empty 'results'", id="results-list"),
        pytest.param(
            encode(with_changes(results={"wmdp_bio": [0.6]})),
            "results.wmdp_bio",
            "object of metrics",
            id="task-entry-list",
        ),
        pytest.param(
            encode(with_changes(results={"wmdp_bio": {"alias": "wmdp_bio"}})),
            "results",
            "no numeric metrics",
            id="alias-only",
        ),
        pytest.param(
            encode(with_changes(results={" ": {"acc,none": 0.5}})),
            "results. ",
            "must not be empty",
            id="blank-task-name",
        ),
        pytest.param(
            encode(with_changes(model_name=..., config={"model": "hf"})), "model_name", "name no model", id="no-model"
        ),
        pytest.param(encode(with_changes(config="hf")), "config", "must be an object", id="config-string"),
        pytest.param(
            encode(with_changes(model_name=..., config={"model_args": 7})),
            "config.model_args",
            "string or an object",
            id="model-args-number",
        ),
        pytest.param(encode(with_changes(date="2026-11-23")), "date", "unix time", id="date-string"),
        pytest.param(encode(with_changes(date=True)), "date", "unix time", id="date-bool"),
        pytest.param(encode(with_changes(date=1e20)), "date", "not a usable unix time", id="date-out-of-range"),
        # Names the database could not store are refused, as on the webhooks.
        pytest.param(encode(with_changes(model_name="org/\x00x")), "model_name", "NUL character", id="nul-in-model"),
        pytest.param(
            encode(with_changes(model_name="org/\ud800x")), "model_name", "unpaired surrogate", id="surrogate-in-model"
        ),
    ],
)
def test_bad_results_files_are_refused(body: bytes, field: str, phrase: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_lm_eval(body, filename=FILENAME, received_at=RECEIVED)
    assert caught.value.field == field
    assert phrase in str(caught.value)
