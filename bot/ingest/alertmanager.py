"""Alertmanager webhook v4: firing alerts become results, resolved ones resolve."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from bot.common.clock import require_aware
from bot.common.errors import InvalidInput
from bot.ingest.fields import decode_json, kind_of, labels_field, text_field, timestamp_field, url_or_none
from bot.policy.triage import Result

if TYPE_CHECKING:
    pass

# Alertmanager's "never" for endsAt while an alert is firing.
_GO_ZERO_TIME: Final = datetime(1, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class AlertKey:
    """A resolved alert: the firing it ends, known by fingerprint and the time that firing started."""

    fingerprint: str
    starts_at: datetime
    ends_at: datetime | None = None

    @property
    def run_id(self) -> str:
        """The run_id the firing's result was stored under."""
        return alert_run_id(self.fingerprint, self.starts_at)


@dataclass(frozen=True)
class AlertBatch:
    """One Alertmanager notification: alerts still firing as results, resolved ones as keys."""

    firing: list[Result]
    resolved: list[AlertKey]


# ---------------------------------------------------------------------------------------------------------------
# Alertmanager webhook v4


def parse_alertmanager(body: bytes, *, received_at: datetime) -> AlertBatch:
    """Firing alerts as results and resolved ones as keys, from an Alertmanager webhook (version 4)."""
    require_aware(received_at, "received_at")
    document = decode_json(body)
    if not isinstance(document, dict):
        raise InvalidInput(f"An Alertmanager webhook is a JSON object, got {kind_of(document)}", field="body")
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
        raise InvalidInput(f"{where} must be an alert object, got {kind_of(raw)}", field=where)
    status = _status(raw.get("status"), f"{where}.status")
    if "labels" not in raw:
        raise InvalidInput(f"{where}.labels is required", field=f"{where}.labels")
    labels = labels_field(raw["labels"], f"{where}.labels")
    if "alertname" not in labels:
        raise InvalidInput(f"{where}.labels.alertname is required", field=f"{where}.labels.alertname")
    if "startsAt" not in raw:
        raise InvalidInput(f"{where}.startsAt is required", field=f"{where}.startsAt")
    starts_at = timestamp_field(raw["startsAt"], f"{where}.startsAt")
    fingerprint = _fingerprint(raw.get("fingerprint"), labels, f"{where}.fingerprint")
    if status == "resolved":
        ends_at = timestamp_field(raw["endsAt"], f"{where}.endsAt") if raw.get("endsAt") else None
        batch.resolved.append(AlertKey(fingerprint, starts_at, None if ends_at == _GO_ZERO_TIME else ends_at))
        return
    annotations = raw.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise InvalidInput(
            f"{where}.annotations must be an object, got {kind_of(annotations)}", field=f"{where}.annotations"
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
            run_id=alert_run_id(fingerprint, starts_at),
            observed_at=starts_at,
            # A generator link is a convenience; an odd one must not cost the alert (Alertmanager drops 4xx).
            url=url_or_none(raw.get("generatorURL")),
            labels=labels,
        )
    )


def _status(raw: object, field: str) -> str:
    if raw not in ("firing", "resolved"):
        raise InvalidInput(f'{field} must be "firing" or "resolved", got {raw!r}', field=field)
    return str(raw)


def _fingerprint(raw: object, labels: Mapping[str, str], field: str) -> str:
    if raw is not None and raw != "":
        return text_field(raw, field, limit=64)
    # Alertmanager always sends one (FNV-64a of the label set); other senders may not. This stand-in is also
    # stable for a label set, so repeats still deduplicate, but it will not equal Alertmanager's own value.
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def alert_run_id(fingerprint: str, starts_at: datetime) -> str:
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
