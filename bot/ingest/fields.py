"""Shared field readers for every input format: each names the offending field as a JSON path."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from bot.common.errors import InvalidInput

if TYPE_CHECKING:
    pass

SOURCES: Final = ("inspect", "lm-eval", "alertmanager", "json")
MAX_RESULTS_PER_REQUEST: Final = 10_000
MAX_TEXT: Final = 500
# Links carry query strings, so they get more room than names (the results table allows 2000).
MAX_URL: Final = 2_000
MAX_LABELS: Final = 100

RESULT_KEYS: Final = (
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
REQUIRED_FIELDS: Final = ("source", "model", "task", "metric", "value", "run_id")
# RFC 3986 never allows these unescaped; refusing them also keeps a link intact inside Slack's <url|label>.
_URL_FORBIDDEN: Final = frozenset('<>"|{}\\^`')


class NonFinite:
    """What a NaN or Infinity literal decodes to, so the error can name the field that holds it."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal


# ---------------------------------------------------------------------------------------------------------------
# Field checks shared by the parsers


def decode_json(body: bytes) -> Any:
    try:
        # utf-8-sig: a byte-order mark from a Windows editor is not worth a refusal.
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"The body is not UTF-8 (bad byte at offset {exc.start})", field="body") from None
    try:
        # json.loads turns NaN/Infinity literals into floats by default; keep them visible instead.
        return json.loads(text, parse_constant=NonFinite)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"The body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", field="body"
        ) from None
    except (ValueError, RecursionError) as exc:  # integers past Python's digit limit; absurd nesting
        raise InvalidInput(
            f"The body is not usable JSON: {first_line(str(exc)) or 'nested too deeply'}", field="body"
        ) from None


def text_field(raw: object, field: str, *, limit: int = MAX_TEXT) -> str:
    if not isinstance(raw, str):
        raise InvalidInput(f"{field} must be a string, got {kind_of(raw)}", field=field)
    text = raw.strip()
    if not text:
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(text) > limit:
        raise InvalidInput(f"{field} is {len(text)} characters; the limit is {limit}", field=field)
    return text


def optional_text_field(raw: object, field: str) -> str | None:
    return None if raw is None else text_field(raw, field)


def number_field(raw: object, field: str) -> float:
    if isinstance(raw, NonFinite):
        raise InvalidInput(f"{field} must be a finite number, not {raw.literal}", field=field)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise InvalidInput(f"{field} must be a number, got {kind_of(raw)}", field=field)
    try:
        value = float(raw)
    except OverflowError:
        raise InvalidInput(f"{field} is too large to be a measurement", field=field) from None
    if not math.isfinite(value):
        # 1e999 parses as an infinite float without ever reaching parse_constant.
        raise InvalidInput(f"{field} must be a finite number, not {value}", field=field)
    return value


def stderr_field(raw: object, field: str) -> float | None:
    if raw is None:
        return None
    value = number_field(raw, field)
    if value < 0:
        raise InvalidInput(f"{field} must not be negative, got {value}", field=field)
    return value


def finite_or_none(raw: object) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        value = float(raw)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def timestamp_field(raw: object, field: str) -> datetime:
    text = text_field(raw, field, limit=64)
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


def url_field(raw: object, field: str) -> str | None:
    if raw is None:
        return None
    text = text_field(raw, field, limit=MAX_URL)
    parts = urlsplit(text)
    bad = any(char.isspace() or ord(char) < 32 or char in _URL_FORBIDDEN for char in text)
    if parts.scheme not in ("http", "https") or not parts.netloc or bad:
        raise InvalidInput(
            f'{field} must be an http(s) URL without spaces or <>|"{{}}; got {text[:100]!r}', field=field
        )
    return text


def url_or_none(raw: object) -> str | None:
    try:
        return url_field(raw or None, "url")
    except InvalidInput:
        return None


def labels_field(raw: object, field: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidInput(f"{field} must be an object of string values, got {kind_of(raw)}", field=field)
    if len(raw) > MAX_LABELS:
        raise InvalidInput(f"{field} has {len(raw)} entries; the limit is {MAX_LABELS}", field=field)
    return {text_field(key, field): text_field(value, f"{field}.{key}") for key, value in raw.items()}


def json_path(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def kind_of(raw: object) -> str:
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, NonFinite):
        return raw.literal
    if isinstance(raw, int | float):
        return "a number"
    if isinstance(raw, str):
        return "a string"
    if isinstance(raw, list):
        return "a list"
    return "an object" if isinstance(raw, dict) else type(raw).__name__


def first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else ""
