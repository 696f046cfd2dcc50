"""Limits and readers shared by every input format: JSON decoding, text checks, what a value is called."""

from __future__ import annotations

import json
import math
from typing import Any, Final

from bot.common.errors import InvalidInput

SOURCES: Final = ("inspect", "lm-eval", "alertmanager", "json")
MAX_RESULTS_PER_REQUEST: Final = 10_000
MAX_TEXT: Final = 500
# Links carry query strings, so they get more room than names (the results table allows 2000).
MAX_URL: Final = 2_000
MAX_LABELS: Final = 100
NUL_PROBLEM: Final = "contains a NUL character (\\u0000), which cannot be stored"
SURROGATE_PROBLEM: Final = "is not valid Unicode: it holds an unpaired surrogate (a lone \\ud800-\\udfff escape)"


class NonFinite:
    """What a NaN or Infinity literal decodes to, so the error can name the field that holds it."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal


# ---------------------------------------------------------------------------------------------------------------
# Field checks shared by the parsers


def decode_json(body: bytes) -> Any:
    """The body as JSON, with NaN/Infinity literals as NonFinite; InvalidInput on field "body" otherwise."""
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
    """A stripped, non-empty, storable string of at most limit characters, or InvalidInput naming field."""
    if not isinstance(raw, str):
        raise InvalidInput(f"{field} must be a string, got {kind_of(raw)}", field=field)
    text = raw.strip()
    if not text:
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(text) > limit:
        raise InvalidInput(f"{field} is {len(text)} characters; the limit is {limit}", field=field)
    problem = unstorable(text)
    if problem is not None:
        raise InvalidInput(f"{field} {problem}", field=field)
    return text


def unstorable(text: str) -> str | None:
    """Why the database could not store this text (a NUL, a lone surrogate), or None when it can."""
    # PostgreSQL text refuses NUL; no driver can encode a lone surrogate, which JSON's \ud800 escape produces.
    if "\x00" in text:
        return NUL_PROBLEM
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE_PROBLEM
    return None


def finite_or_none(raw: object) -> float | None:
    """The number as a finite float, or None for anything else (text, booleans, NaN, overflow)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        value = float(raw)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def kind_of(raw: object) -> str:
    """What a decoded JSON value is, as an error message says it: "a string", "null", "NaN"."""
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
    """The first line of text, at most 300 characters; "" for blank text."""
    return text.strip().splitlines()[0][:300] if text.strip() else ""
