"""The generic JSON hook: one result or {"results": [...]}, validated by pydantic models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from bot.common.clock import require_aware
from bot.common.errors import InvalidInput
from bot.ingest.fields import MAX_RESULTS_PER_REQUEST, SOURCES, decode_json, kind_of
from bot.ingest.payloads import Count, Labels, NonNegative, Number, Text, Timestamp, Url, refuse, validate
from bot.policy.triage import Result


def _known_source(source: str) -> str:
    if source not in SOURCES:
        raise refuse("unknown_source", source=source)
    return source


class EvalResultPayload(BaseModel):
    """One result as a pipeline posts it; unknown keys are refused so a misspelt optional field is not lost."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Annotated[Text, AfterValidator(_known_source)]
    model: Text
    checkpoint: Text | None = None
    task: Text
    scorer: Text | None = None
    metric: Text
    value: Number
    stderr: NonNegative | None = None
    # How many samples the value is a mean over; `n` is the same field under its usual statistics name.
    samples: Count | None = None
    n: Count | None = None
    run_id: Text
    # Absent means "now": the hook's receive time.
    observed_at: Timestamp | None = None
    url: Url | None = None
    labels: Labels = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_count(self) -> EvalResultPayload:
        if self.samples is not None and self.n is not None and self.samples != self.n:
            raise refuse("two_counts", samples=self.samples, n=self.n, at="n")
        return self


class EvalBatchPayload(BaseModel):
    """Several results in one request, in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    results: Annotated[list[EvalResultPayload], Field(min_length=1, max_length=MAX_RESULTS_PER_REQUEST)]


# Messages for errors about a result object or the batch around it; leaf fields use payloads.MESSAGES.
_UNKNOWN_RESULT_KEY: Final = f"Unknown key {{key!r}}; a result has only: {', '.join(EvalResultPayload.model_fields)}"
_RESULT_MESSAGES: Final = {
    ("", "extra_forbidden"): _UNKNOWN_RESULT_KEY,
}
_BATCH_MESSAGES: Final = {
    ("", "extra_forbidden"): 'A batch has only a "results" list; unknown key {key!r}',
    ("results", "extra_forbidden"): _UNKNOWN_RESULT_KEY,
    ("results", "list_type"): "results must be a list of result objects, got {kind}",
    ("results", "too_short"): "results must not be empty",
    ("results", "too_long"): f"results has {{count}} entries; send at most {MAX_RESULTS_PER_REQUEST} per request",
    ("results", "model_type"): "{field} must be a result object, got {kind}",
}


def parse_eval_payload(body: bytes, *, received_at: datetime) -> list[Result]:
    """Results from a /hooks/eval body: one result object, or {"results": [...]}."""
    require_aware(received_at, "received_at")
    document = decode_json(body)
    if not isinstance(document, dict):
        raise InvalidInput(
            f'The body must be a JSON object (one result, or {{"results": [...]}}), got {kind_of(document)}',
            field="body",
        )
    # Unknown and missing keys of a result are named before its values, as senders have always been told.
    if "results" not in document:
        single = validate(EvalResultPayload, document, messages=_RESULT_MESSAGES, keys_first=True)
        return [_result(single, received_at)]
    batch = validate(EvalBatchPayload, document, messages=_BATCH_MESSAGES, keys_first=True)
    return [_result(item, received_at) for item in batch.results]


def _result(payload: EvalResultPayload, received_at: datetime) -> Result:
    return Result(
        source=payload.source,
        model=payload.model,
        checkpoint=payload.checkpoint,
        task=payload.task,
        scorer=payload.scorer,
        metric=payload.metric,
        value=payload.value,
        stderr=payload.stderr,
        samples=payload.samples or payload.n,
        run_id=payload.run_id,
        observed_at=payload.observed_at or received_at,
        url=payload.url,
        labels=payload.labels,
    )
