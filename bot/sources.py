"""Input adapters: Inspect AI logs, lm-evaluation-harness results, Alertmanager webhooks and the generic JSON hook.

Each parser turns one input into `Result`s or raises `InvalidInput` naming the offending field as a JSON path
(`results[3].value`), so an HTTP 400 or a CLI refusal can say exactly what to fix. Nothing here touches the
database, Slack or the web framework.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from bot.errors import InvalidInput
from bot.triage import Result

if TYPE_CHECKING:
    from inspect_ai.log import EvalLog, EvalScore, EvalSpec

SOURCES: Final = ("inspect", "lm-eval", "alertmanager", "json")
MAX_RESULTS_PER_REQUEST: Final = 10_000
MAX_TEXT: Final = 500
# Links carry query strings, so they get more room than names (the results table allows 2000).
MAX_URL: Final = 2_000
MAX_LABELS: Final = 100

_RESULT_KEYS: Final = (
    "source",
    "model",
    "checkpoint",
    "task",
    "scorer",
    "metric",
    "value",
    "stderr",
    "run_id",
    "observed_at",
    "url",
    "labels",
)
_REQUIRED: Final = ("source", "model", "task", "metric", "value", "run_id")
# RFC 3986 never allows these unescaped; refusing them also keeps a link intact inside Slack's <url|label>.
_URL_FORBIDDEN: Final = frozenset('<>"|{}\\^`')
# lm-evaluation-harness picks the model name from model_args in this order (peft and delta sit beside pretrained).
_LM_EVAL_MODEL_KEYS: Final = ("peft", "delta", "pretrained", "model", "path", "engine")
# Alertmanager's "never" for endsAt while an alert is firing.
_GO_ZERO_TIME: Final = datetime(1, 1, 1, tzinfo=UTC)


class _NonFinite:
    """What a NaN or Infinity literal decodes to, so the error can name the field that holds it."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal


@dataclass(frozen=True)
class AlertKey:
    """A resolved alert: the firing it ends, known by fingerprint and the time that firing started."""

    fingerprint: str
    starts_at: datetime
    ends_at: datetime | None = None

    @property
    def run_id(self) -> str:
        """The run_id the firing's result was stored under."""
        return _alert_run_id(self.fingerprint, self.starts_at)


@dataclass(frozen=True)
class AlertBatch:
    """One Alertmanager notification: alerts still firing as results, resolved ones as keys."""

    firing: list[Result]
    resolved: list[AlertKey]


# ---------------------------------------------------------------------------------------------------------------
# The generic JSON hook


def parse_eval_payload(body: bytes, *, received_at: datetime) -> list[Result]:
    """Results from a /hooks/eval body: one result object, or {"results": [...]}."""
    _require_aware(received_at)
    document = _decode_json(body)
    if not isinstance(document, dict):
        raise InvalidInput(
            f'The body must be a JSON object (one result, or {{"results": [...]}}), got {_kind(document)}',
            field="body",
        )
    if "results" not in document:
        return [_json_result(document, "", received_at)]
    extra = sorted(set(document) - {"results"})
    if extra:
        raise InvalidInput(f'A batch has only a "results" list; unknown key {extra[0]!r}', field=extra[0])
    items = document["results"]
    if not isinstance(items, list):
        raise InvalidInput(f"results must be a list of result objects, got {_kind(items)}", field="results")
    if not items:
        raise InvalidInput("results must not be empty", field="results")
    if len(items) > MAX_RESULTS_PER_REQUEST:
        raise InvalidInput(
            f"results has {len(items)} entries; send at most {MAX_RESULTS_PER_REQUEST} per request", field="results"
        )
    return [_json_result(item, f"results[{index}]", received_at) for index, item in enumerate(items)]


def _json_result(raw: object, where: str, received_at: datetime) -> Result:
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where or 'The body'} must be a result object, got {_kind(raw)}", field=where or "body")
    unknown = sorted(set(raw) - set(_RESULT_KEYS))
    if unknown:
        raise InvalidInput(
            f"Unknown key {unknown[0]!r}; a result has only: {', '.join(_RESULT_KEYS)}", field=_at(where, unknown[0])
        )
    for name in _REQUIRED:
        if name not in raw:
            raise InvalidInput(f"{_at(where, name)} is required", field=_at(where, name))
    source = _text(raw["source"], _at(where, "source"))
    if source not in SOURCES:
        raise InvalidInput(
            f"{_at(where, 'source')} must be one of {', '.join(SOURCES)}; got {source!r}", field=_at(where, "source")
        )
    observed = raw.get("observed_at")
    return Result(
        source=source,
        model=_text(raw["model"], _at(where, "model")),
        checkpoint=_optional_text(raw.get("checkpoint"), _at(where, "checkpoint")),
        task=_text(raw["task"], _at(where, "task")),
        scorer=_optional_text(raw.get("scorer"), _at(where, "scorer")),
        metric=_text(raw["metric"], _at(where, "metric")),
        value=_number(raw["value"], _at(where, "value")),
        stderr=_stderr(raw.get("stderr"), _at(where, "stderr")),
        run_id=_text(raw["run_id"], _at(where, "run_id")),
        observed_at=received_at if observed is None else _timestamp(observed, _at(where, "observed_at")),
        url=_url(raw.get("url"), _at(where, "url")),
        labels=_labels(raw.get("labels"), _at(where, "labels")),
    )


# ---------------------------------------------------------------------------------------------------------------
# Inspect AI logs


def read_inspect_log(path: Path, *, received_at: datetime) -> list[Result]:
    """One result per score and metric of a successful Inspect AI log (.json or .eval); stderr rides along."""
    _require_aware(received_at)
    log = _read_inspect_header(path)
    if log.status != "success":
        detail = f": {_first_line(log.error.message)}" if log.error is not None else ""
        raise InvalidInput(
            f"{path.name} has status {log.status!r}, so its numbers are not results{detail}", field="status"
        )
    spec = log.eval
    full_task = _text(spec.task, "eval.task")
    # "inspect_evals/wmdp_bio" and lm-eval's "wmdp_bio" are the same benchmark; policies match the bare name.
    task = full_task.rsplit("/", 1)[-1] or full_task
    scores = log.results.scores if log.results is not None else []
    template = Result(
        source="inspect",
        model=_text(spec.model, "eval.model"),
        task=task,
        metric="",
        value=0.0,
        run_id=_text(spec.run_id or spec.eval_id, "eval.run_id"),
        observed_at=_inspect_created(spec.created, received_at),
        checkpoint=_inspect_checkpoint(spec),
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


def _read_inspect_header(path: Path) -> EvalLog:
    # Imported here: inspect_ai takes about a second to import and only this reader needs it.
    from inspect_ai.log import read_eval_log

    try:
        # A resolved absolute path: Inspect reads URL-like strings (s3://, ...) through fsspec.
        return read_eval_log(str(path.resolve()), header_only=True)
    except Exception as exc:  # zip, zstd, JSON, pydantic and OS errors all mean "not a log we can read"
        raise InvalidInput(
            f"{path.name} is not a readable Inspect log ({type(exc).__name__}: {_first_line(str(exc))})", field="log"
        ) from exc


def _inspect_score(score: EvalScore, scorer: str, template: Result) -> list[Result]:
    stderr_metric = score.metrics.get("stderr")
    stderr = _finite_or_none(stderr_metric.value) if stderr_metric is not None else None
    labels = dict(template.labels)
    if score.reducer:
        labels["reducer"] = score.reducer
    if score.scorer != score.name:
        labels["inspect_scorer"] = score.scorer
    return [
        replace(
            template,
            scorer=_text(scorer, "results.scores.name"),
            metric=_text(name, f"results.scores.{scorer}.metrics"),
            value=value,
            stderr=stderr if stderr is not None and stderr >= 0 else None,
            labels=labels,
        )
        for name, metric in score.metrics.items()
        # stderr travels with its sibling metrics; an empty metric (NaN) is no measurement.
        if name != "stderr" and (value := _finite_or_none(metric.value)) is not None
    ]


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


# ---------------------------------------------------------------------------------------------------------------
# lm-evaluation-harness


def parse_lm_eval(data: bytes, *, filename: str, received_at: datetime) -> list[Result]:
    """Results from an lm-evaluation-harness results_<timestamp>.json: one per task, metric and filter."""
    _require_aware(received_at)
    document = _decode_json(data)
    if not isinstance(document, dict):
        raise InvalidInput(f"An lm-eval results file is a JSON object, got {_kind(document)}", field="body")
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
            raise InvalidInput(f"{where} must be an object of metrics, got {_kind(entries)}", field=where)
        template = Result(
            source="lm-eval",
            model=model,
            checkpoint=checkpoint,
            task=_text(task, where),
            metric="",
            value=0.0,
            run_id=run_id,
            observed_at=observed_at,
            labels=_lm_eval_task_labels(document, task),
        )
        results.extend(_lm_eval_task(entries, template))
    if not results:
        raise InvalidInput("The lm-eval results hold no numeric metrics", field="results")
    return results


def _lm_eval_task(entries: Mapping[str, object], template: Result) -> list[Result]:
    results = []
    for key, raw in entries.items():
        metric, comma, filter_name = key.partition(",")
        value = _finite_or_none(raw)
        # "alias" and other strings are descriptions, not measurements; "_stderr" keys ride on their metric.
        if value is None or metric.endswith("_stderr") or not metric.strip():
            continue
        # lm-eval 0.3 wrote bare "acc" / "acc_stderr"; 0.4 writes "acc,none" / "acc_stderr,none".
        stderr = _finite_or_none(entries.get(f"{metric}_stderr,{filter_name}" if comma else f"{metric}_stderr"))
        filter_name = filter_name if comma else "none"
        name = metric if filter_name == "none" else f"{metric},{filter_name}"
        results.append(
            replace(
                template,
                metric=_text(name, f"results.{template.task}.{key}"),
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
        raise InvalidInput(f"config must be an object, got {_kind(config)}", field="config")
    args = _lm_eval_model_args(config.get("model_args"))
    name = document.get("model_name")
    if isinstance(name, str) and name.strip():
        model = _text(name, "model_name")
    else:
        found = next((args[key] for key in _LM_EVAL_MODEL_KEYS if args.get(key)), None)
        if found is None:
            raise InvalidInput(
                "The results name no model: expected model_name or config.model_args with pretrained=...",
                field="model_name",
            )
        model = _text(found, "config.model_args")
    revision = args.get("revision")
    return model, _text(revision, "config.model_args.revision") if revision else None


def _lm_eval_model_args(raw: object) -> dict[str, str]:
    # The CLI records the "k=v,k=v" string it was given; the Python API records a dict.
    if raw is None:
        return {}
    if isinstance(raw, str):
        pairs = (item.partition("=") for item in raw.split(",") if item.strip())
        return {key.strip(): value.strip() for key, _, value in pairs}
    if isinstance(raw, dict):
        return {str(key): str(value) for key, value in raw.items() if isinstance(value, str | int | float)}
    raise InvalidInput(f"config.model_args must be a string or an object, got {_kind(raw)}", field="config.model_args")


def _lm_eval_date(raw: object, received_at: datetime) -> tuple[datetime, str]:
    if raw is None:
        return received_at, ""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise InvalidInput(f"date must be a unix time in seconds, got {_kind(raw)}", field="date")
    try:
        return datetime.fromtimestamp(raw, UTC), repr(float(raw))
    except (OverflowError, OSError, ValueError):
        raise InvalidInput(f"date {raw!r} is not a usable unix time", field="date") from None


def _lm_eval_task_labels(document: Mapping[str, object], task: str) -> dict[str, str]:
    labels = {}
    for label, section in (("n-shot", "n-shot"), ("version", "versions")):
        table = document.get(section)
        value = table.get(task) if isinstance(table, dict) else None
        if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value).strip():
            labels[label] = str(value).strip()[:MAX_TEXT]
    return labels


# ---------------------------------------------------------------------------------------------------------------
# Alertmanager webhook v4


def parse_alertmanager(body: bytes, *, received_at: datetime) -> AlertBatch:
    """Firing alerts as results and resolved ones as keys, from an Alertmanager webhook (version 4)."""
    _require_aware(received_at)
    document = _decode_json(body)
    if not isinstance(document, dict):
        raise InvalidInput(f"An Alertmanager webhook is a JSON object, got {_kind(document)}", field="body")
    version = document.get("version")
    if version != "4":
        raise InvalidInput(f'version must be "4" (Alertmanager webhook v4), got {version!r}', field="version")
    _status(document.get("status"), "status")
    alerts = document.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise InvalidInput("alerts must be a non-empty list of alerts", field="alerts")
    batch = AlertBatch(firing=[], resolved=[])
    for index, raw in enumerate(alerts):
        _add_alert(batch, raw, f"alerts[{index}]")
    return batch


def _add_alert(batch: AlertBatch, raw: object, where: str) -> None:
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where} must be an alert object, got {_kind(raw)}", field=where)
    status = _status(raw.get("status"), f"{where}.status")
    if "labels" not in raw:
        raise InvalidInput(f"{where}.labels is required", field=f"{where}.labels")
    labels = _labels(raw["labels"], f"{where}.labels")
    if "alertname" not in labels:
        raise InvalidInput(f"{where}.labels.alertname is required", field=f"{where}.labels.alertname")
    if "startsAt" not in raw:
        raise InvalidInput(f"{where}.startsAt is required", field=f"{where}.startsAt")
    starts_at = _timestamp(raw["startsAt"], f"{where}.startsAt")
    fingerprint = _fingerprint(raw.get("fingerprint"), labels, f"{where}.fingerprint")
    if status == "resolved":
        ends_at = _timestamp(raw["endsAt"], f"{where}.endsAt") if raw.get("endsAt") else None
        batch.resolved.append(AlertKey(fingerprint, starts_at, None if ends_at == _GO_ZERO_TIME else ends_at))
        return
    annotations = raw.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise InvalidInput(
            f"{where}.annotations must be an object, got {_kind(annotations)}", field=f"{where}.annotations"
        )
    batch.firing.append(
        Result(
            source="alertmanager",
            model=labels.get("model") or labels.get("job") or "unknown",
            checkpoint=labels.get("checkpoint"),
            task=labels["alertname"],
            metric=labels["alertname"],
            value=_annotation_value(annotations.get("value")),
            # Repeat notifications of one firing share fingerprint and start: duplicates. A re-fire starts anew.
            run_id=_alert_run_id(fingerprint, starts_at),
            observed_at=starts_at,
            # A generator link is a convenience; an odd one must not cost the alert (Alertmanager drops 4xx).
            url=_url_or_none(raw.get("generatorURL")),
            labels=labels,
        )
    )


def _status(raw: object, field: str) -> str:
    if raw not in ("firing", "resolved"):
        raise InvalidInput(f'{field} must be "firing" or "resolved", got {raw!r}', field=field)
    return str(raw)


def _fingerprint(raw: object, labels: Mapping[str, str], field: str) -> str:
    if raw is not None and raw != "":
        return _text(raw, field, limit=64)
    # Alertmanager always sends one (FNV-64a of the label set); other senders may not. This stand-in is also
    # stable for a label set, so repeats still deduplicate, but it will not equal Alertmanager's own value.
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _alert_run_id(fingerprint: str, starts_at: datetime) -> str:
    # The fingerprint comes first: ingest reads it back (up to the first ":") to resolve the incident.
    return f"{fingerprint}:{starts_at.astimezone(UTC).isoformat()}"


def _annotation_value(raw: object) -> float:
    # Alert rules put the sample value in annotations as text ("0.73"); anything else means "it fired".
    if isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            return 1.0
        return value if math.isfinite(value) else 1.0
    return 1.0


# ---------------------------------------------------------------------------------------------------------------
# Field checks shared by the parsers


def _decode_json(body: bytes) -> Any:
    try:
        # utf-8-sig: a byte-order mark from a Windows editor is not worth a refusal.
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"The body is not UTF-8 (bad byte at offset {exc.start})", field="body") from None
    try:
        # json.loads turns NaN/Infinity literals into floats by default; keep them visible instead.
        return json.loads(text, parse_constant=_NonFinite)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"The body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", field="body"
        ) from None
    except (ValueError, RecursionError) as exc:  # integers past Python's digit limit; absurd nesting
        raise InvalidInput(
            f"The body is not usable JSON: {_first_line(str(exc)) or 'nested too deeply'}", field="body"
        ) from None


def _text(raw: object, field: str, *, limit: int = MAX_TEXT) -> str:
    if not isinstance(raw, str):
        raise InvalidInput(f"{field} must be a string, got {_kind(raw)}", field=field)
    text = raw.strip()
    if not text:
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(text) > limit:
        raise InvalidInput(f"{field} is {len(text)} characters; the limit is {limit}", field=field)
    return text


def _optional_text(raw: object, field: str) -> str | None:
    return None if raw is None else _text(raw, field)


def _number(raw: object, field: str) -> float:
    if isinstance(raw, _NonFinite):
        raise InvalidInput(f"{field} must be a finite number, not {raw.literal}", field=field)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise InvalidInput(f"{field} must be a number, got {_kind(raw)}", field=field)
    try:
        value = float(raw)
    except OverflowError:
        raise InvalidInput(f"{field} is too large to be a measurement", field=field) from None
    if not math.isfinite(value):
        # 1e999 parses as an infinite float without ever reaching parse_constant.
        raise InvalidInput(f"{field} must be a finite number, not {value}", field=field)
    return value


def _stderr(raw: object, field: str) -> float | None:
    if raw is None:
        return None
    value = _number(raw, field)
    if value < 0:
        raise InvalidInput(f"{field} must not be negative, got {value}", field=field)
    return value


def _finite_or_none(raw: object) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        value = float(raw)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def _timestamp(raw: object, field: str) -> datetime:
    text = _text(raw, field, limit=64)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{field} must be an ISO 8601 time with an offset, like 2026-05-01T12:00:00Z; got {text!r}", field=field
        ) from None
    if moment.utcoffset() is None:
        raise InvalidInput(
            f"{field} has no UTC offset ({text!r}); add Z or +hh:mm so the time is not guessed", field=field
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"{field} is out of range: {text!r}", field=field) from None


def _url(raw: object, field: str) -> str | None:
    if raw is None:
        return None
    text = _text(raw, field, limit=MAX_URL)
    parts = urlsplit(text)
    bad = any(char.isspace() or ord(char) < 32 or char in _URL_FORBIDDEN for char in text)
    if parts.scheme not in ("http", "https") or not parts.netloc or bad:
        raise InvalidInput(
            f'{field} must be an http(s) URL without spaces or <>|"{{}}; got {text[:100]!r}', field=field
        )
    return text


def _url_or_none(raw: object) -> str | None:
    try:
        return _url(raw or None, "url")
    except InvalidInput:
        return None


def _labels(raw: object, field: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidInput(f"{field} must be an object of string values, got {_kind(raw)}", field=field)
    if len(raw) > MAX_LABELS:
        raise InvalidInput(f"{field} has {len(raw)} entries; the limit is {MAX_LABELS}", field=field)
    return {_text(key, field): _text(value, f"{field}.{key}") for key, value in raw.items()}


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind(raw: object) -> str:
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, _NonFinite):
        return raw.literal
    if isinstance(raw, int | float):
        return "a number"
    if isinstance(raw, str):
        return "a string"
    if isinstance(raw, list):
        return "a list"
    return "an object" if isinstance(raw, dict) else type(raw).__name__


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else ""


def _require_aware(moment: datetime) -> None:
    if moment.utcoffset() is None:
        raise ValueError("received_at must be timezone-aware")
