"""lm-evaluation-harness results_*.json files."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from bot.common.clock import require_aware
from bot.common.errors import InvalidInput
from bot.ingest.fields import MAX_TEXT, decode_json, finite_or_none, kind_of, text_field
from bot.policy.triage import Result

if TYPE_CHECKING:
    pass

# lm-evaluation-harness picks the model name from model_args in this order (peft and delta sit beside pretrained).
_LM_EVAL_MODEL_KEYS: Final = ("peft", "delta", "pretrained", "model", "path", "engine")


# ---------------------------------------------------------------------------------------------------------------
# lm-evaluation-harness


def parse_lm_eval(data: bytes, *, filename: str, received_at: datetime) -> list[Result]:
    """Results from an lm-evaluation-harness results_<timestamp>.json: one per task, metric and filter."""
    require_aware(received_at, "received_at")
    document = decode_json(data)
    if not isinstance(document, dict):
        raise InvalidInput(f"An lm-eval results file is a JSON object, got {kind_of(document)}", field="body")
    tasks = document.get("results")
    if not isinstance(tasks, dict) or not tasks:
        raise InvalidInput("An lm-eval results file needs a non-empty 'results' object", field="results")
    model, checkpoint = _lm_eval_model(document)
    observed_at, date_key = _lm_eval_date(document.get("date"), received_at)
    # Same file, same model, same run date: the same run, so ingesting it twice stores nothing new.
    identity = "\0".join((Path(filename).name, model, date_key)).encode()
    run_id = "lm-eval:" + hashlib.sha256(identity).hexdigest()[:24]
    results = []
    for task, entries in tasks.items():
        where = f"results.{task}"
        if not isinstance(entries, dict):
            raise InvalidInput(f"{where} must be an object of metrics, got {kind_of(entries)}", field=where)
        template = Result(
            source="lm-eval",
            model=model,
            checkpoint=checkpoint,
            task=text_field(task, where),
            metric="",
            value=0.0,
            run_id=run_id,
            observed_at=observed_at,
            labels=_lm_eval_task_labels(document, task),
            samples=_lm_eval_samples(document, task),
        )
        results.extend(_lm_eval_task(entries, template))
    if not results:
        raise InvalidInput("The lm-eval results hold no numeric metrics", field="results")
    return results


def _lm_eval_task(entries: Mapping[str, object], template: Result) -> list[Result]:
    results = []
    for key, raw in entries.items():
        metric, comma, filter_name = key.partition(",")
        value = finite_or_none(raw)
        # "alias" and other strings are descriptions, not measurements; "_stderr" keys ride on their metric.
        if value is None or metric.endswith("_stderr") or not metric.strip():
            continue
        # lm-eval 0.3 wrote bare "acc" / "acc_stderr"; 0.4 writes "acc,none" / "acc_stderr,none".
        stderr = finite_or_none(entries.get(f"{metric}_stderr,{filter_name}" if comma else f"{metric}_stderr"))
        filter_name = filter_name if comma else "none"
        name = metric if filter_name == "none" else f"{metric},{filter_name}"
        results.append(
            replace(
                template,
                metric=text_field(name, f"results.{template.task}.{key}"),
                value=value,
                # lm-eval writes "N/A" where it has no stderr; that and anything odd become None.
                stderr=stderr if stderr is not None and stderr >= 0 else None,
                labels={**template.labels, "filter": filter_name},
            )
        )
    return results


def _lm_eval_model(document: Mapping[str, object]) -> tuple[str, str | None]:
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise InvalidInput(f"config must be an object, got {kind_of(config)}", field="config")
    args = _lm_eval_model_args(config.get("model_args"))
    name = document.get("model_name")
    if isinstance(name, str) and name.strip():
        model = text_field(name, "model_name")
    else:
        found = next((args[key] for key in _LM_EVAL_MODEL_KEYS if args.get(key)), None)
        if found is None:
            raise InvalidInput(
                "The results name no model: expected model_name or config.model_args with pretrained=...",
                field="model_name",
            )
        model = text_field(found, "config.model_args")
    revision = args.get("revision")
    return model, text_field(revision, "config.model_args.revision") if revision else None


def _lm_eval_model_args(raw: object) -> dict[str, str]:
    # The CLI records the "k=v,k=v" string it was given; the Python API records a dict.
    if raw is None:
        return {}
    if isinstance(raw, str):
        pairs = (item.partition("=") for item in raw.split(",") if item.strip())
        return {key.strip(): value.strip() for key, _, value in pairs}
    if isinstance(raw, dict):
        return {str(key): str(value) for key, value in raw.items() if isinstance(value, str | int | float)}
    raise InvalidInput(
        f"config.model_args must be a string or an object, got {kind_of(raw)}", field="config.model_args"
    )


def _lm_eval_date(raw: object, received_at: datetime) -> tuple[datetime, str]:
    if raw is None:
        return received_at, ""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise InvalidInput(f"date must be a unix time in seconds, got {kind_of(raw)}", field="date")
    try:
        return datetime.fromtimestamp(raw, UTC), repr(float(raw))
    except (OverflowError, OSError, ValueError):
        raise InvalidInput(f"date {raw!r} is not a usable unix time", field="date") from None


def _lm_eval_samples(document: Mapping[str, object], task: str) -> int | None:
    # "n-samples": {task: {"original": dataset size, "effective": what --limit left}}; the effective count is n.
    table = document.get("n-samples")
    counts = table.get(task) if isinstance(table, dict) else None
    if not isinstance(counts, dict):
        return None
    for key in ("effective", "original"):
        count = counts.get(key)
        if isinstance(count, int) and not isinstance(count, bool) and 0 < count < 2**31:
            return count
    return None


def _lm_eval_task_labels(document: Mapping[str, object], task: str) -> dict[str, str]:
    labels = {}
    for label, section in (("n-shot", "n-shot"), ("version", "versions")):
        table = document.get(section)
        value = table.get(task) if isinstance(table, dict) else None
        if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value).strip():
            labels[label] = str(value).strip()[:MAX_TEXT]
    return labels
