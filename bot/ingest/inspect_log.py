"""Inspect AI logs (.json and .eval), read with inspect_ai's own reader."""

from __future__ import annotations

import zipfile
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.common.clock import require_aware
from bot.common.errors import InvalidInput
from bot.ingest.fields import MAX_TEXT, finite_or_none, first_line, text_field
from bot.policy.triage import Result

if TYPE_CHECKING:
    from inspect_ai.log import EvalLog, EvalScore, EvalSpec

# ---------------------------------------------------------------------------------------------------------------
# Inspect AI logs


# What an .eval log may expand to (the sum of its entries' declared sizes); TRIPWIRE_MAX_LOG_BYTES overrides it.
MAX_LOG_BYTES = 50 * 1024 * 1024


class LogTooLarge(InvalidInput):
    """A compressed log that would expand past the limit; refused before anything is inflated (HTTP 413)."""


def check_expanded_size(path: Path, *, max_bytes: int) -> None:
    """Refuse a zip whose central directory declares more than `max_bytes` in all, reading only that directory."""
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise InvalidInput(f"{path.name} is not a readable Inspect log (BadZipFile: {exc})", field="log") from exc
    if declared > max_bytes:
        raise LogTooLarge(
            f"{path.name} would expand to {declared} bytes, over the {max_bytes}-byte limit (TRIPWIRE_MAX_LOG_BYTES)",
            field="log",
        )


def read_inspect_log(path: Path, *, received_at: datetime, max_bytes: int = MAX_LOG_BYTES) -> list[Result]:
    """One result per score and metric of a successful Inspect AI log (.json or .eval); stderr rides along."""
    require_aware(received_at, "received_at")
    # Inspect inflates the entries it reads; a zip bomb is stopped by its declared sizes before that.
    check_expanded_size(path, max_bytes=max_bytes)
    log = _read_inspect_header(path)
    if log.status != "success":
        detail = f": {first_line(log.error.message)}" if log.error is not None else ""
        raise InvalidInput(
            f"{path.name} has status {log.status!r}, so its numbers are not results{detail}", field="status"
        )
    spec = log.eval
    full_task = text_field(spec.task, "eval.task")
    # "inspect_evals/wmdp_bio" and lm-eval's "wmdp_bio" are the same benchmark; policies match the bare name.
    task = full_task.rsplit("/", 1)[-1] or full_task
    scores = log.results.scores if log.results is not None else []
    template = Result(
        source="inspect",
        model=text_field(spec.model, "eval.model"),
        task=task,
        metric="",
        value=0.0,
        run_id=text_field(spec.run_id or spec.eval_id, "eval.run_id"),
        observed_at=_inspect_created(spec.created, received_at),
        checkpoint=_inspect_checkpoint(spec),
        samples=_inspect_samples(log),
        labels=_inspect_labels(spec, full_task, task),
    )
    results = [
        result
        for score, scorer in zip(scores, _scorer_keys(scores), strict=True)
        for result in _inspect_score(score, scorer, template)
    ]
    if not results:
        raise InvalidInput(f"{path.name} has no finite metric values to record", field="results")
    return results


INSPECT_MISSING = "reading Inspect logs needs inspect-ai, which is not installed here: pip install 'tripwire[inspect]'"


def _read_inspect_header(path: Path) -> EvalLog:
    # Imported here: inspect_ai takes about a second to import, only this reader needs it, and it is an extra.
    try:
        from inspect_ai.log import read_eval_log
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "inspect_ai":
            raise  # inspect_ai is there but one of its own dependencies is not: a broken install, not the extra
        raise InvalidInput(INSPECT_MISSING, field="log") from exc

    try:
        # A resolved absolute path: Inspect reads URL-like strings (s3://, ...) through fsspec.
        return read_eval_log(str(path.resolve()), header_only=True)
    except Exception as exc:  # zip, zstd, JSON, pydantic and OS errors all mean "not a log we can read"
        raise InvalidInput(
            f"{path.name} is not a readable Inspect log ({type(exc).__name__}: {first_line(str(exc))})", field="log"
        ) from exc


def _inspect_score(score: EvalScore, scorer: str, template: Result) -> list[Result]:
    stderr_metric = score.metrics.get("stderr")
    stderr = finite_or_none(stderr_metric.value) if stderr_metric is not None else None
    labels = dict(template.labels)
    if score.reducer:
        labels["reducer"] = score.reducer
    if score.scorer != score.name:
        labels["inspect_scorer"] = score.scorer
    return [
        replace(
            template,
            scorer=text_field(scorer, "results.scores.name"),
            metric=text_field(name, f"results.scores.{scorer}.metrics"),
            value=value,
            stderr=stderr if stderr is not None and stderr >= 0 else None,
            labels=labels,
        )
        for name, metric in score.metrics.items()
        # stderr travels with its sibling metrics; an empty metric (NaN) is no measurement.
        if name != "stderr" and (value := finite_or_none(metric.value)) is not None
    ]


def _inspect_samples(log: EvalLog) -> int | None:
    # Scores (and their stderr) are over samples reduced across epochs, so n is the completed count per epoch.
    completed = log.results.completed_samples if log.results is not None else 0
    epochs = log.eval.config.epochs or 1
    count = completed // epochs if epochs > 0 else completed
    return count if count > 0 else None


def _scorer_keys(scores: list[EvalScore]) -> list[str]:
    # The score name is unique per scorer, but epoch reducers and dict-valued scorers can repeat it; qualify
    # repeats so (run_id, task, scorer, metric) stays unique and no score is mistaken for a duplicate.
    names = Counter(score.name for score in scores)
    keys = []
    for score in scores:
        key = score.name
        if names[key] > 1:
            key = key if score.scorer == score.name else f"{score.scorer}/{key}"
            key = f"{key}:{score.reducer}" if score.reducer else key
        keys.append(key)
    repeats = Counter(keys)
    return [key if repeats[key] == 1 else f"{key}#{index}" for index, key in enumerate(keys)]


def _inspect_created(created: str, received_at: datetime) -> datetime:
    if not created:
        return received_at
    try:
        moment = datetime.fromisoformat(created)
    except ValueError:
        raise InvalidInput(f"eval.created is not an ISO 8601 time: {created!r}", field="eval.created") from None
    # Inspect's own reader treats an offset-less time as UTC; do the same.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _inspect_checkpoint(spec: EvalSpec) -> str | None:
    # Explicit metadata wins; then the model's own args, where HF/vLLM-style providers take a revision.
    candidates = (
        (spec.metadata or {}).get("checkpoint"),
        spec.model_args.get("checkpoint"),
        spec.model_args.get("revision"),
    )
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip() and len(candidate.strip()) <= MAX_TEXT:
            return candidate.strip()
    return None


def _inspect_labels(spec: EvalSpec, full_task: str, task: str) -> dict[str, str]:
    labels = {
        key: value.strip()
        for key, value in (spec.metadata or {}).items()
        # Labels are short strings for matching; other metadata stays in the log.
        if key and isinstance(value, str) and value.strip() and len(value) <= MAX_TEXT and len(key) <= MAX_TEXT
    }
    labels["eval_id"] = spec.eval_id
    if full_task != task:
        labels["inspect_task"] = full_task
    return labels
