"""Alertmanager webhook v4, validated by pydantic models: firing alerts become results, resolved ones resolve."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from bot.common.clock import require_aware
from bot.common.errors import InvalidInput
from bot.ingest.fields import decode_json, kind_of
from bot.ingest.payloads import STRIPPED, Labels, Timestamp, Url, refuse, storable, text_constraints, validate
from bot.policy.triage import Result

# Alertmanager's "never" for endsAt while an alert is firing.
_GO_ZERO_TIME: Final = datetime(1, 1, 1, tzinfo=UTC)

Status = Literal["firing", "resolved"]


def _with_alertname(labels: dict[str, str]) -> dict[str, str]:
    if "alertname" not in labels:
        raise refuse("label_required", at="alertname")
    return labels


def _empty_is_none(raw: object) -> object:
    # Alertmanager always sends a fingerprint; other senders may send "", which means "derive one".
    return None if raw == "" else raw


_LINK: Final = TypeAdapter(Url | None)


def _odd_link_is_none(raw: object) -> str | None:
    # A generator link is a convenience; an odd one must not cost the alert (Alertmanager drops 4xx answers).
    try:
        return _LINK.validate_python(raw or None)
    except ValidationError:
        return None


# Alertmanager's is 16 hex digits (FNV-64a); other senders get room for a SHA-256 in hex.
Fingerprint = Annotated[str, text_constraints(64), AfterValidator(storable), STRIPPED]


class AlertPayload(BaseModel):
    """One alert of a notification. Keys Tripwire does not read (silenceURL, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    status: Status
    labels: Annotated[Labels, AfterValidator(_with_alertname)]
    starts_at: Timestamp = Field(alias="startsAt")
    fingerprint: Annotated[Fingerprint | None, BeforeValidator(_empty_is_none)] = None
    # Read only for resolved alerts: a firing one carries Go's zero time, or whatever its sender puts there.
    ends_at: Timestamp | None = Field(None, alias="endsAt")
    # Read only for firing alerts: the value annotation becomes the result's value.
    annotations: dict[str, Any] = Field(default_factory=dict)
    generator_url: Annotated[str | None, BeforeValidator(_odd_link_is_none)] = Field(None, alias="generatorURL")

    @field_validator("ends_at", mode="wrap")
    @classmethod
    def _ends_at_when_resolved(cls, raw: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        return handler(raw) if raw and info.data.get("status") == "resolved" else None

    @field_validator("annotations", mode="wrap")
    @classmethod
    def _annotations_when_firing(cls, raw: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        return handler(raw) if raw and info.data.get("status") == "firing" else {}


class AlertmanagerPayload(BaseModel):
    """A webhook v4 notification; only version, status and alerts are read."""

    # receiver, groupLabels, commonLabels, commonAnnotations, externalURL, groupKey and truncatedAlerts are
    # accepted unread: each alert carries what Tripwire needs, and a sender's oddity there must not cost alerts.
    model_config = ConfigDict(extra="ignore", frozen=True)

    version: Literal["4"]
    status: Status
    # No upper bound: a large alert group refused with 400 would be dropped, not retried; the body limit holds.
    alerts: Annotated[list[AlertPayload], Field(min_length=1)]


_NOT_ALERTS: Final = "alerts must be a non-empty list of alerts"
_MESSAGES: Final = {
    ("version", "missing"): 'version must be "4" (Alertmanager webhook v4), got None',
    ("version", "literal_error"): 'version must be "4" (Alertmanager webhook v4), got {got}',
    ("status", "missing"): '{field} must be "firing" or "resolved", got None',
    ("status", "literal_error"): '{field} must be "firing" or "resolved", got {got}',
    ("alerts", "missing"): _NOT_ALERTS,
    ("alerts", "list_type"): _NOT_ALERTS,
    ("alerts", "too_short"): _NOT_ALERTS,
    ("alerts", "model_type"): "{field} must be an alert object, got {kind}",
    ("annotations", "dict_type"): "{field} must be an object, got {kind}",
}


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


def parse_alertmanager(body: bytes, *, received_at: datetime) -> AlertBatch:
    """Firing alerts as results and resolved ones as keys, from an Alertmanager webhook (version 4)."""
    require_aware(received_at, "received_at")
    document = decode_json(body)
    if not isinstance(document, dict):
        raise InvalidInput(f"An Alertmanager webhook is a JSON object, got {kind_of(document)}", field="body")
    # Problems are named in reading order: version, status, then each alert's status, labels, startsAt, ...
    notification = validate(AlertmanagerPayload, document, messages=_MESSAGES)
    batch = AlertBatch(firing=[], resolved=[])
    for alert in notification.alerts:
        fingerprint = alert.fingerprint or _derived_fingerprint(alert.labels)
        if alert.status == "resolved":
            ends_at = None if alert.ends_at == _GO_ZERO_TIME else alert.ends_at
            batch.resolved.append(AlertKey(fingerprint, alert.starts_at, ends_at))
        else:
            batch.firing.append(_firing_result(alert, fingerprint))
    return batch


def _firing_result(alert: AlertPayload, fingerprint: str) -> Result:
    labels = alert.labels
    return Result(
        source="alertmanager",
        model=labels.get("model") or labels.get("job") or "unknown",
        checkpoint=labels.get("checkpoint"),
        task=labels["alertname"],
        metric=labels["alertname"],
        value=_annotation_value(alert.annotations.get("value")),
        # Repeat notifications of one firing share fingerprint and start: duplicates. A re-fire starts anew.
        run_id=alert_run_id(fingerprint, alert.starts_at),
        observed_at=alert.starts_at,
        url=alert.generator_url,
        labels=labels,
    )


def _derived_fingerprint(labels: dict[str, str]) -> str:
    # Alertmanager always sends one (FNV-64a of the label set); other senders may not. This stand-in is also
    # stable for a label set, so repeats still deduplicate, but it will not equal Alertmanager's own value.
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def alert_run_id(fingerprint: str, starts_at: datetime) -> str:
    """The run_id of one firing: fingerprint, then start time in UTC."""
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
