"""Pydantic field types shared by the webhook payload models, and their errors as InvalidInput.

Each webhook format declares a model (generic.py, alertmanager.py) from these types. Pydantic reports every
problem at once; a sender gets the one today's contract names: 400 {"error", "field"}, where field is a JSON
path such as results[3].value and error says what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Final, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    GetPydanticSchema,
    StringConstraints,
    ValidationError,
)
from pydantic_core import ErrorDetails, PydanticCustomError, core_schema

from bot.common.errors import InvalidInput
from bot.ingest.fields import MAX_LABELS, MAX_TEXT, MAX_URL, SOURCES, SURROGATE_PROBLEM, NonFinite, kind_of, unstorable

ModelT = TypeVar("ModelT", bound=BaseModel)

# Times are short; the bound keeps a megabyte "timestamp" out of error messages.
MAX_TIME_TEXT: Final = 64
# RFC 3986 never allows these unescaped; refusing them also keeps a link intact inside Slack's <url|label>.
_URL_FORBIDDEN: Final = frozenset('<>"|{}\\^`')

# One message per error type, pydantic's own and ours. {field} is the JSON path; {kind} names what was sent
# ("a string", "null", "NaN"); {got} shows a scalar as Python repr; ctx keys fill the rest.
MESSAGES: Final[Mapping[str, str]] = {
    "missing": "{field} is required",
    "string_type": "{field} must be a string, got {kind}",
    "string_too_short": "{field} must not be empty",
    "string_too_long": "{field} is {length} characters; the limit is {max_length}",
    "string_unicode": "{field} " + SURROGATE_PROBLEM,
    "unstorable_text": "{field} {problem}",
    "float_type": "{field} must be a number, got {kind}",
    "finite_number": "{field} must be a finite number, not {input}",
    "non_finite_literal": "{field} must be a finite number, not {literal}",
    "number_too_large": "{field} is too large to be a measurement",
    "greater_than_equal": "{field} must not be negative, got {number}",
    "int_type": "{field} must be a whole number, got {kind}",
    "int_from_float": "{field} must be a whole number, got {input}",
    "greater_than": "{field} must be a positive count, got {input}",
    "less_than_equal": "{field} is too large for a sample count (at most {le})",
    "dict_type": "{field} must be an object of string values, got {kind}",
    "too_many_labels": "{field} has {count} entries; the limit is {limit}",
    "time_not_iso": "{field} must be an ISO 8601 time with an offset, like 2026-05-01T12:00:00Z; got {text!r}",
    "time_naive": "{field} has no UTC offset ({text!r}); add Z or +hh:mm so the time is not guessed",
    "time_out_of_range": "{field} is out of range: {text!r}",
    "not_http_url": '{field} must be an http(s) URL without spaces or <>|"{{}}; got {shown!r}',
    "unknown_source": f"{{field}} must be one of {', '.join(SOURCES)}; got {{source!r}}",
    "label_required": "{field} is required",
    "two_counts": "{field} disagrees with samples ({samples} vs {n}); send one sample count, as samples or n",
}


def refuse(kind: str, **context: Any) -> PydanticCustomError:
    """A validation error of one of our own kinds (a key of MESSAGES), with what its message needs."""
    return PydanticCustomError(kind, MESSAGES[kind], context)


# ---------------------------------------------------------------------------------------------------------------
# Field types


def storable(text: str) -> str:
    """The text, unless the database could not store it (a NUL character)."""
    problem = unstorable(text)
    if problem is not None:
        raise refuse("unstorable_text", problem=problem)
    return text


def text_constraints(limit: int) -> StringConstraints:
    """A strict string of 1 to limit characters (after STRIPPED has run)."""
    # strict: a number is not a name; the limit applies after stripping, as the database column sees it.
    return StringConstraints(strict=True, min_length=1, max_length=limit)


def _strip(raw: object) -> object:
    return raw.strip() if isinstance(raw, str) else raw


# Python's strip, not pydantic's strip_whitespace: Python also counts \x1c-\x1f as whitespace, and the readers
# have always stripped those. Placed last in Annotated[...] so that it runs first.
STRIPPED: Final = BeforeValidator(_strip)
Text = Annotated[str, text_constraints(MAX_TEXT), AfterValidator(storable), STRIPPED]


def _not_sentinel(raw: object) -> object:
    if isinstance(raw, NonFinite):
        raise refuse("non_finite_literal", literal=raw.literal)
    if isinstance(raw, int) and not isinstance(raw, bool):
        try:
            float(raw)
        except OverflowError:
            raise refuse("number_too_large") from None
    return raw


# strict: "0.5" and true are not measurements. 1e999 parses to inf, which allow_inf_nan refuses.
Number = Annotated[float, Field(strict=True, allow_inf_nan=False), BeforeValidator(_not_sentinel)]
NonNegative = Annotated[Number, Field(ge=0)]
# A sample count: strict, so 8.0, "8" and true are refused; bounded by what a 32-bit integer column stores.
Count = Annotated[int, Field(strict=True, gt=0, le=2**31 - 1), BeforeValidator(_not_sentinel)]


def _utc_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise refuse("time_not_iso", text=text) from None
    if moment.utcoffset() is None:
        raise refuse("time_naive", text=text)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise refuse("time_out_of_range", text=text) from None


# ISO 8601 text as Python reads it (fromisoformat, not pydantic's own parser, so accepted forms do not change),
# then pydantic's aware-datetime check, which _utc_time has already made certain.
Timestamp = Annotated[
    AwareDatetime,
    GetPydanticSchema(
        lambda _source, _handler: core_schema.chain_schema(
            [
                core_schema.no_info_before_validator_function(
                    _strip, core_schema.str_schema(strict=True, min_length=1, max_length=MAX_TIME_TEXT)
                ),
                core_schema.no_info_plain_validator_function(_utc_time),
                core_schema.datetime_schema(strict=True, tz_constraint="aware"),
            ]
        )
    ),
]


def _http_url(text: str) -> str:
    parts = urlsplit(text)
    bad = any(char.isspace() or ord(char) < 32 or char in _URL_FORBIDDEN for char in text)
    if parts.scheme not in ("http", "https") or not parts.netloc or bad:
        raise refuse("not_http_url", shown=text[:100])
    return text


# Links carry query strings, so they get more room than names. Control characters (NUL too) fail _http_url.
Url = Annotated[str, text_constraints(MAX_URL), AfterValidator(_http_url), STRIPPED]


def _label_count(raw: object) -> object:
    # Counted before the entries are read, so a flood of labels is refused as one, not label by label.
    if raw is None:
        return {}
    if isinstance(raw, dict) and len(raw) > MAX_LABELS:
        raise refuse("too_many_labels", count=len(raw), limit=MAX_LABELS)
    return raw


# Keys and values are names: a bad key is reported on the labels object, a bad value as labels.<key>.
Labels = Annotated[dict[Text, Text], BeforeValidator(_label_count)]


# ---------------------------------------------------------------------------------------------------------------
# ValidationError -> InvalidInput


def validate(
    model: type[ModelT],
    document: object,
    *,
    messages: Mapping[tuple[str, str], str] | None = None,
    keys_first: bool = False,
) -> ModelT:
    """The document as model, or InvalidInput naming the first problem by its JSON path."""
    # messages overrides MESSAGES per (subject, error type): subject is the field a container error is about
    # ("results" for a bad results list or a bad item of it) or, for an unknown key, the object holding it ("" at
    # the top). keys_first names an object's unknown, then missing, keys before any of its values.
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        error = _first(exc.errors(include_url=False), keys_first=keys_first)
        # A check on a whole object can name the member it found wanting (label_required: labels.alertname).
        member = error.get("ctx", {}).get("at")
        field = field_path([*error["loc"], member] if member else error["loc"])
        raise InvalidInput(_describe(error, field, messages or {}), field=field) from None


def field_path(loc: Sequence[int | str]) -> str:
    """A pydantic location as the JSON path senders know: results[3].value, alerts[0].labels.team."""
    parts = list(loc)
    if parts[-1:] == ["[key]"]:
        # pydantic locates a bad dict key as (..., key, "[key]"); the key belongs to its object.
        parts = parts[:-2]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    # A path can carry a sender's key; one with a lone surrogate could not be written in the JSON answer.
    return _printable(path) if parts else "body"


def _first(errors: Sequence[ErrorDetails], *, keys_first: bool) -> ErrorDetails:
    if not keys_first:
        return errors[0]  # pydantic reports in reading order: fields in declaration order, items in order

    def rank(numbered: tuple[int, ErrorDetails]) -> tuple[tuple[tuple[bool, int | str], ...], int, str, int]:
        index, error = numbered
        loc = error["loc"]
        # Errors belong to the object (the body, or one item of a list) at their last list index.
        last = max((i for i, part in enumerate(loc) if isinstance(part, int)), default=-1)
        order = {"extra_forbidden": 0, "missing": 1}.get(error["type"], 2)
        # Several unknown keys: the alphabetically first is named, as before.
        key = str(loc[-1]) if order == 0 else ""
        # (is-a-name, part): an index is never compared with a name, which Python would refuse.
        return tuple((isinstance(part, str), part) for part in loc[: last + 1]), order, key, index

    return min(enumerate(errors), key=rank)[1]


def _describe(error: ErrorDetails, field: str, messages: Mapping[tuple[str, str], str]) -> str:
    kind, loc, raw = error["type"], error["loc"], error["input"]
    container = loc[:-1] if kind == "extra_forbidden" else loc
    subject = next((str(part) for part in reversed(container) if isinstance(part, str)), "")
    template = messages.get((subject, kind)) or MESSAGES.get(kind)
    if template is None:
        return _printable(f"{field} is not valid: {error['msg']}")
    values: dict[str, Any] = {
        **error.get("ctx", {}),
        "field": field,
        "kind": kind_of(raw),
        "input": raw,
        "got": repr(raw) if raw is None or isinstance(raw, str | int | float) else kind_of(raw),
        "key": str(loc[-1]) if loc else "",
    }
    if isinstance(raw, list | dict):
        values["count"] = len(raw)
    if isinstance(raw, str):
        values["length"] = len(raw.strip())
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        values["number"] = float(raw) if abs(raw) < 1e308 else raw  # an integer past float range stays one
    return _printable(template.format(**values))


def _printable(text: str) -> str:
    # Lone surrogates cannot be encoded as UTF-8 (the JSON answer); show them as \udxxx escapes instead.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
