"""Builders for lm-evaluation-harness results files and Alertmanager v4 webhooks, shaped like the real thing."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

# 2026-11-23T12:00:00.25Z as lm-eval writes it: time.time() at the start of the run.
DEFAULT_DATE = 1_795_435_200.25
GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def lm_eval_results(
    task: str = "wmdp_bio",
    acc: float | None = 0.61,
    stderr: float | str | None = 0.02,
    model: str = "org/model-x",
    revision: str | None = "ckpt-100",
    date: float | None = DEFAULT_DATE,
    *,
    metrics: dict[str, object] | None = None,
    n_shot: int = 0,
    version: float | str = 1.0,
) -> dict[str, Any]:
    """A results_<timestamp>.json body for one task, as lm-eval 0.4 writes it (stderr None is written "N/A").

    `metrics` adds or overrides entries of results[task] (e.g. {"exact_match,strict-match": 0.4}).
    """
    entries: dict[str, object] = {"alias": task}
    if acc is not None:
        entries["acc,none"] = acc
        entries["acc_stderr,none"] = "N/A" if stderr is None else stderr
    entries.update(metrics or {})
    model_args = f"pretrained={model}" + (f",revision={revision}" if revision else "") + ",dtype=bfloat16"
    document: dict[str, Any] = {
        "results": {task: entries},
        "group_subtasks": {task: []},
        "configs": {
            task: {
                "task": task,
                "dataset_path": "cais/wmdp",
                "output_type": "multiple_choice",
                "num_fewshot": n_shot,
                "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
                "metadata": {"version": version},
            }
        },
        "versions": {task: version},
        "n-shot": {task: n_shot},
        "higher_is_better": {task: {"acc": True}},
        "n-samples": {task: {"original": 1273, "effective": 1273}},
        "config": {
            "model": "hf",
            "model_args": model_args,
            "model_num_parameters": 7_241_732_096,
            "batch_size": "auto",
            "device": "cuda:0",
            "limit": None,
            "bootstrap_iters": 100_000,
            "gen_kwargs": None,
        },
        "git_hash": "4f8a1c2",
        "transformers_version": "4.46.2",
        "model_source": "hf",
        "model_name": model,
        "model_name_sanitized": model.replace("/", "__"),
        "start_time": 1834.25,
        "end_time": 2210.5,
        "total_evaluation_time_seconds": "376.25",
    }
    if date is not None:
        document["date"] = date
    return document


def write_lm_eval_results(folder: Path, document: dict[str, Any], *, stamp: str = "2026-11-23T12-00-00.250000") -> Path:
    """Write a results file under folder/<model_name_sanitized>/ with lm-eval's file name."""
    target = folder / str(document.get("model_name_sanitized", "model")) / f"results_{stamp}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(document, indent=2))
    return target


def alert(
    alertname: str,
    *,
    labels: dict[str, str] | None = None,
    status: str = "firing",
    value: float | str | None = None,
    starts_at: str = "2026-11-23T14:00:00.123456789Z",
    ends_at: str | None = None,
    fingerprint: str | None = None,
    annotations: dict[str, str] | None = None,
    generator_url: str = "http://prometheus.internal:9090/graph?g0.expr=safety_eval_score+%3E+0.5",
) -> dict[str, Any]:
    """One alert of a v4 webhook; endsAt is Go's zero time while firing. fingerprint None: derived from labels."""
    every = {"alertname": alertname, **(labels if labels is not None else {"model": "org/model-x", "severity": "page"})}
    notes = {"summary": f"{alertname} on {every.get('model', 'a model')}", **(annotations or {})}
    if value is not None:
        notes["value"] = str(value)
    if ends_at is None:
        ends_at = GO_ZERO_TIME if status == "firing" else _plus_hour(starts_at)
    return {
        "status": status,
        "labels": every,
        "annotations": notes,
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": generator_url,
        "fingerprint": fingerprint if fingerprint is not None else _fake_fingerprint(every),
    }


def alertmanager_webhook(
    status: str | None = None,
    alerts: list[dict[str, Any]] | None = None,
    *,
    receiver: str = "tripwire",
    external_url: str = "http://alertmanager.internal:9093",
    version: str = "4",
) -> dict[str, Any]:
    """A full notification; status defaults to "firing" when any alert fires, as Alertmanager sets it."""
    alerts = alerts if alerts is not None else [alert("SafetyEvalRegression", value=0.73)]
    if status is None:
        status = "firing" if any(a.get("status") == "firing" for a in alerts) else "resolved"
    group_labels = {"alertname": alerts[0]["labels"]["alertname"]} if alerts else {}
    return {
        "receiver": receiver,
        "status": status,
        "alerts": alerts,
        "groupLabels": group_labels,
        "commonLabels": _common([a["labels"] for a in alerts]),
        "commonAnnotations": _common([a["annotations"] for a in alerts]),
        "externalURL": external_url,
        "version": version,
        "groupKey": "{}:{" + ",".join(f'{k}="{v}"' for k, v in group_labels.items()) + "}",
        "truncatedAlerts": 0,
    }


def encode(document: object) -> bytes:
    """A body as a sender would put it on the wire."""
    return json.dumps(document).encode()


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    return {key: value for key, value in maps[0].items() if all(m.get(key) == value for m in maps[1:])}


def _fake_fingerprint(labels: dict[str, str]) -> str:
    # Alertmanager's is FNV-64a over the label set; any stable 16-hex-digit digest serves the tests.
    return hashlib.blake2b(json.dumps(sorted(labels.items())).encode(), digest_size=8).hexdigest()


def _plus_hour(stamp: str) -> str:
    start = datetime.fromisoformat(stamp)
    return (start + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
