"""The generic JSON hook: one result or {"results": [...]}."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.common.clock import require_aware
from bot.common.errors import InvalidInput
from bot.ingest.fields import (
    MAX_RESULTS_PER_REQUEST,
    REQUIRED_FIELDS,
    RESULT_KEYS,
    SOURCES,
    decode_json,
    json_path,
    kind_of,
    labels_field,
    number_field,
    optional_text_field,
    stderr_field,
    text_field,
    timestamp_field,
    url_field,
)
from bot.policy.triage import Result

if TYPE_CHECKING:
    pass

# ---------------------------------------------------------------------------------------------------------------
# The generic JSON hook


def parse_eval_payload(body: bytes, *, received_at: datetime) -> list[Result]:
    """Results from a /hooks/eval body: one result object, or {"results": [...]}."""
    require_aware(received_at, "received_at")
    document = decode_json(body)
    if not isinstance(document, dict):
        raise InvalidInput(
            f'The body must be a JSON object (one result, or {{"results": [...]}}), got {kind_of(document)}',
            field="body",
        )
    if "results" not in document:
        return [_json_result(document, "", received_at)]
    extra = sorted(set(document) - {"results"})
    if extra:
        raise InvalidInput(f'A batch has only a "results" list; unknown key {extra[0]!r}', field=extra[0])
    items = document["results"]
    if not isinstance(items, list):
        raise InvalidInput(f"results must be a list of result objects, got {kind_of(items)}", field="results")
    if not items:
        raise InvalidInput("results must not be empty", field="results")
    if len(items) > MAX_RESULTS_PER_REQUEST:
        raise InvalidInput(
            f"results has {len(items)} entries; send at most {MAX_RESULTS_PER_REQUEST} per request", field="results"
        )
    return [_json_result(item, f"results[{index}]", received_at) for index, item in enumerate(items)]


def _json_result(raw: object, where: str, received_at: datetime) -> Result:
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where or 'The body'} must be a result object, got {kind_of(raw)}", field=where or "body")
    unknown = sorted(set(raw) - set(RESULT_KEYS))
    if unknown:
        raise InvalidInput(
            f"Unknown key {unknown[0]!r}; a result has only: {', '.join(RESULT_KEYS)}",
            field=json_path(where, unknown[0]),
        )
    for name in REQUIRED_FIELDS:
        if name not in raw:
            raise InvalidInput(f"{json_path(where, name)} is required", field=json_path(where, name))
    source = text_field(raw["source"], json_path(where, "source"))
    if source not in SOURCES:
        raise InvalidInput(
            f"{json_path(where, 'source')} must be one of {', '.join(SOURCES)}; got {source!r}",
            field=json_path(where, "source"),
        )
    observed = raw.get("observed_at")
    return Result(
        source=source,
        model=text_field(raw["model"], json_path(where, "model")),
        checkpoint=optional_text_field(raw.get("checkpoint"), json_path(where, "checkpoint")),
        task=text_field(raw["task"], json_path(where, "task")),
        scorer=optional_text_field(raw.get("scorer"), json_path(where, "scorer")),
        metric=text_field(raw["metric"], json_path(where, "metric")),
        value=number_field(raw["value"], json_path(where, "value")),
        stderr=stderr_field(raw.get("stderr"), json_path(where, "stderr")),
        run_id=text_field(raw["run_id"], json_path(where, "run_id")),
        observed_at=received_at if observed is None else timestamp_field(observed, json_path(where, "observed_at")),
        url=url_field(raw.get("url"), json_path(where, "url")),
        labels=labels_field(raw.get("labels"), json_path(where, "labels")),
    )
