"""The webhook payload models: rules the reader tables do not reach, which problem is named first, and fuzzing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.common.errors import InvalidInput
from bot.ingest.alertmanager import parse_alertmanager
from bot.ingest.fields import MAX_LABELS, MAX_TEXT
from bot.ingest.generic import parse_eval_payload
from bot.ingest.payloads import field_path
from tests.support.payloads import alert, alertmanager_webhook, encode

RECEIVED = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def result_json(**overrides: Any) -> dict[str, Any]:
    """A complete, valid result; overrides replace keys, a value of ... removes the key."""
    body: dict[str, Any] = {
        "source": "json",
        "model": "org/model-x",
        "task": "exploit_chain",
        "metric": "success_rate",
        "value": 0.42,
        "run_id": "ci-9001",
        "observed_at": "2026-11-23T13:30:00+01:00",
        "labels": {"team": "red"},
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


def single(**overrides: Any) -> bytes:
    """One result object with overrides, encoded."""
    return encode(result_json(**overrides))


def batch(*items: dict[str, Any], **envelope: Any) -> bytes:
    """A {"results": [...]} body, with any extra envelope keys."""
    return encode({"results": list(items), **envelope})


def webhook(*alerts: dict[str, Any], **top: Any) -> bytes:
    """An Alertmanager notification; top-level keys replaced, a value of ... removes the key."""
    document = alertmanager_webhook()
    document.update({"alerts": list(alerts)} if alerts else {}, **top)
    return encode({key: value for key, value in document.items() if value is not ...})


def changed(made: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The alert with keys replaced (a value of ... removes the key)."""
    made = {**made, **changes}
    return {key: value for key, value in made.items() if value is not ...}


FIRING = alert("SafetyEvalRegression", value="0.7")
RESOLVED = alert("SafetyEvalRegression", status="resolved")


# ---------------------------------------------------------------------------------------------------------------
# Rules added with the models: text the database cannot store, limits at their edge


@pytest.mark.parametrize(
    ("body", "field", "phrase"),
    [
        pytest.param(single(model="org/\x00model"), "model", "NUL character", id="nul-in-model"),
        pytest.param(
            # json.dumps would escape a surrogate pair; a lone one only arrives hand-written.
            json.dumps(result_json(model="MARK")).replace("MARK", "org\\ud800x").encode(),
            "model",
            "unpaired surrogate",
            id="lone-surrogate-in-model",
        ),
        pytest.param(single(labels={"team": "re\x00d"}), "labels.team", "NUL character", id="nul-in-label-value"),
        pytest.param(single(labels={"te\x00am": "red"}), "labels", "NUL character", id="nul-in-label-key"),
        pytest.param(
            batch(result_json(), result_json(), result_json(run_id="r\x00")),
            "results[2].run_id",
            "NUL character",
            id="nul-in-batch",
        ),
        pytest.param(
            single(model="m" * (MAX_TEXT + 1)), "model", "is 501 characters; the limit is 500", id="model-501"
        ),
        pytest.param(single(observed_at="2026-11-23T12:00:00"), "observed_at", "no UTC offset", id="naive-observed-at"),
        pytest.param(single(observed_at="  "), "observed_at", "must not be empty", id="blank-observed-at"),
        pytest.param(single(observed_at="2" * 65), "observed_at", "the limit is 64", id="observed-at-too-long"),
        pytest.param(single(stderr=-1), "stderr", "must not be negative, got -1.0", id="stderr-negative-integer"),
        pytest.param(single(url="https://x.example/a\x00b"), "url", "http(s) URL", id="nul-in-url"),
        pytest.param(single(labels={"": "red"}), "labels", "labels must not be empty", id="blank-label-key"),
        pytest.param(
            single(labels={**{f"k{i}": "v" for i in range(MAX_LABELS)}, "bad": 3}),
            "labels",
            f"has {MAX_LABELS + 1} entries; the limit is {MAX_LABELS}",
            id="label-flood-counted-before-entries",
        ),
        pytest.param(
            json.dumps(result_json(labels={"MARK": 3})).replace("MARK", "\\udc00").encode(),
            "labels",
            "unpaired surrogate",
            id="lone-surrogate-label-key",
        ),
        pytest.param(
            # pydantic cannot name a key it cannot decode, so the body as a whole is refused.
            json.dumps(result_json(MARK=1)).replace("MARK", "\\ud800").encode(),
            "body",
            "body is not valid Unicode",
            id="lone-surrogate-unknown-key",
        ),
    ],
)
def test_eval_payload_rules(body: bytes, field: str, phrase: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_eval_payload(body, received_at=RECEIVED)
    assert caught.value.field == field
    assert phrase in str(caught.value)
    assert str(caught.value).encode("utf-8")  # the answer is JSON in UTF-8, so a lone surrogate must be escaped


@pytest.mark.parametrize(
    ("overrides", "check"),
    [
        pytest.param({"model": "m" * MAX_TEXT}, ("model", "m" * MAX_TEXT), id="model-of-exactly-500"),
        pytest.param({"model": "  " + "m" * MAX_TEXT + "  "}, ("model", "m" * MAX_TEXT), id="limit-after-stripping"),
        pytest.param({"labels": {" team ": " red "}}, ("labels", {"team": "red"}), id="labels-stripped"),
        pytest.param(
            {"labels": {f"k{i}": "v" for i in range(MAX_LABELS)}},
            ("labels", {f"k{i}": "v" for i in range(MAX_LABELS)}),
            id="exactly-100-labels",
        ),
        pytest.param({"value": 10**300}, ("value", 1e300), id="big-integer-value"),
        pytest.param({"stderr": 0}, ("stderr", 0.0), id="zero-stderr"),
        pytest.param({"source": " lm-eval "}, ("source", "lm-eval"), id="source-stripped"),
        # Python's strip (the readers' all along) also takes the ASCII separators \x1c-\x1f.
        pytest.param({"model": "\x1corg/m\x1f"}, ("model", "org/m"), id="python-whitespace-stripped"),
        pytest.param(
            {"observed_at": "\x1e2026-11-20T08:00:00Z "},
            ("observed_at", datetime(2026, 11, 20, 8, tzinfo=UTC)),
            id="time-stripped",
        ),
    ],
)
def test_eval_payload_edges_accepted(overrides: dict[str, Any], check: tuple[str, object]) -> None:
    (result,) = parse_eval_payload(single(**overrides), received_at=RECEIVED)
    name, expected = check
    got = getattr(result, name)
    assert (dict(got) if name == "labels" else got) == expected


@pytest.mark.parametrize(
    ("body", "field", "phrase"),
    [
        pytest.param(
            webhook(changed(FIRING, labels={"alertname": "A\x00"})),
            "alerts[0].labels.alertname",
            "NUL character",
            id="nul-in-alertname",
        ),
        pytest.param(
            webhook(changed(FIRING, fingerprint="f" * 65)),
            "alerts[0].fingerprint",
            "is 65 characters; the limit is 64",
            id="fingerprint-too-long",
        ),
        pytest.param(
            webhook(changed(FIRING, fingerprint="   ")), "alerts[0].fingerprint", "must not be empty", id="blank-fp"
        ),
        pytest.param(
            webhook(changed(RESOLVED, endsAt="2026-11-23T14:45:00")),
            "alerts[0].endsAt",
            "no UTC offset",
            id="naive-end-of-resolved",
        ),
        pytest.param(
            webhook(changed(FIRING, labels={"alertname": "A", "team": ""})),
            "alerts[0].labels.team",
            "must not be empty",
            id="blank-label",
        ),
        pytest.param(webhook(FIRING, status=None), "status", "got None", id="status-null"),
        pytest.param(webhook(FIRING, version={"v": 4}), "version", "got an object", id="version-object"),
    ],
)
def test_alertmanager_rules(body: bytes, field: str, phrase: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_alertmanager(body, received_at=RECEIVED)
    assert caught.value.field == field
    assert phrase in str(caught.value)


@pytest.mark.parametrize(
    ("body", "firing", "resolved"),
    [
        pytest.param(webhook(changed(FIRING, fingerprint="f" * 64)), 1, 0, id="fingerprint-of-64"),
        pytest.param(webhook(changed(FIRING, endsAt="whenever")), 1, 0, id="firing-end-time-unread"),
        pytest.param(webhook(changed(RESOLVED, annotations=["unread"])), 0, 1, id="resolved-annotations-unread"),
        pytest.param(webhook(changed(FIRING, silenceURL="x", extra={"a": 1})), 1, 0, id="unknown-alert-keys"),
        pytest.param(webhook(FIRING, receiver=5, groupLabels=None, truncatedAlerts="n/a"), 1, 0, id="unknown-top-keys"),
        pytest.param(webhook(changed(FIRING, annotations=None)), 1, 0, id="null-annotations"),
        pytest.param(webhook(changed(RESOLVED, endsAt="")), 0, 1, id="empty-end-time"),
    ],
)
def test_alertmanager_accepts_what_it_does_not_read(body: bytes, firing: int, resolved: int) -> None:
    notification = parse_alertmanager(body, received_at=RECEIVED)
    assert (len(notification.firing), len(notification.resolved)) == (firing, resolved)


# ---------------------------------------------------------------------------------------------------------------
# With several problems, the one named is the one the hand-written readers named


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(single(value="x", zz=1, aa=2), "aa", id="unknown-keys-first-alphabetically"),
        pytest.param(single(value="x", run_id=...), "run_id", id="missing-before-bad-value"),
        pytest.param(single(model=..., task=...), "model", id="missing-in-field-order"),
        pytest.param(single(url="ftp://x", labels=[]), "url", id="values-in-field-order"),
        pytest.param(
            batch(result_json(), result_json(value="x"), result_json(zz=1)), "results[1].value", id="earlier-item-first"
        ),
        pytest.param(batch(result_json(value="x"), meta=1), "meta", id="envelope-key-before-items"),
    ],
)
def test_eval_payload_names_the_first_problem(body: bytes, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_eval_payload(body, received_at=RECEIVED)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(webhook(FIRING, version="3", status="x", alerts=[]), "version", id="version-first"),
        pytest.param(webhook(changed(FIRING, status="x", startsAt=...)), "alerts[0].status", id="status-before-start"),
        pytest.param(
            webhook(changed(FIRING, labels={"alertname": 1}, startsAt=...)),
            "alerts[0].labels.alertname",
            id="labels-before-start",
        ),
        pytest.param(
            webhook(changed(FIRING, labels={"x": "y"}, startsAt="soon")),
            "alerts[0].labels.alertname",
            id="alertname-before-start",
        ),
        pytest.param(webhook(FIRING, changed(FIRING, startsAt=1)), "alerts[1].startsAt", id="second-alert"),
    ],
)
def test_alertmanager_names_the_first_problem(body: bytes, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_alertmanager(body, received_at=RECEIVED)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        pytest.param(("results", 3, "value"), "results[3].value", id="item-field"),
        pytest.param(("alerts", 0, "labels", "team"), "alerts[0].labels.team", id="label-value"),
        pytest.param(("labels", "te am", "[key]"), "labels", id="label-key-is-its-object"),
        pytest.param((), "body", id="whole-body"),
        pytest.param(("\ud800",), "\\ud800", id="lone-surrogate-escaped"),
    ],
)
def test_field_path(loc: tuple[int | str, ...], path: str) -> None:
    assert field_path(loc) == path


# ---------------------------------------------------------------------------------------------------------------
# Anything a sender can post either parses or is refused with an answer the hook can send

TEXT = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["", " ", "json", "2026-11-23T12:00:00Z", "https://x.example", "firing", "4"]),
    # What no database stores: a NUL, and a lone surrogate (json.dumps sends it as a \ud800 escape).
    st.sampled_from(["\x00", "a\x00", "\ud800", "x\udfff"]),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def near_valid(draw: st.DrawFn, valid: dict[str, Any]) -> dict[str, Any]:
    """A valid document with up to three keys replaced by arbitrary JSON or removed."""
    document = dict(valid)
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from([*valid, "zz"]))
        if draw(st.booleans()):
            document.pop(key, None)
        else:
            document[key] = draw(TEXT | JSON)
    return document


EVAL_BODIES = st.one_of(
    JSON,
    near_valid(result_json()),
    st.lists(near_valid(result_json()), max_size=3).map(lambda items: {"results": items}),
)
ALERTMANAGER_BODIES = st.one_of(
    JSON,
    near_valid(alertmanager_webhook()),
    st.lists(near_valid(FIRING) | near_valid(RESOLVED), min_size=1, max_size=3).map(
        lambda alerts: {**alertmanager_webhook(), "alerts": alerts}
    ),
)


def as_body(document: Any) -> bytes:
    """The document on the wire: json.dumps writes NaN/Infinity literals and lone surrogates as \ud800 escapes."""
    return json.dumps(document).encode()


def stored_texts(body: bytes, which: str) -> list[str]:
    """Every string a parse of the body would store; InvalidInput when it is refused."""
    if which == "eval":
        results = parse_eval_payload(body, received_at=RECEIVED)
        keys: list[str] = []
    else:
        notification = parse_alertmanager(body, received_at=RECEIVED)
        results = notification.firing
        keys = [key.run_id for key in notification.resolved]
    texts = [*keys]
    for result in results:
        texts += [result.source, result.model, result.task, result.metric, result.run_id]
        texts += [*result.labels.keys(), *result.labels.values()]
        texts += [text for text in (result.checkpoint, result.scorer, result.url) if text is not None]
    assert results or keys  # a notification is never accepted empty
    return texts


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.tuples(st.just("eval"), EVAL_BODIES.map(as_body) | st.binary(max_size=40)),
        st.tuples(st.just("alertmanager"), ALERTMANAGER_BODIES.map(as_body) | st.binary(max_size=40)),
    )
)
def test_any_body_parses_or_is_refused_with_a_sendable_answer(case: tuple[str, bytes]) -> None:
    which, body = case
    try:
        texts = stored_texts(body, which)
    except InvalidInput as exc:
        # The hook answers {"error", "field"} as JSON in UTF-8 (as Starlette renders it); a field is always named.
        assert exc.field is not None
        answer = json.dumps({"error": str(exc), "field": exc.field}, ensure_ascii=False)
        assert answer.encode("utf-8").startswith(b'{"error": ')
        return
    # What is accepted can be stored: no NUL (PostgreSQL refuses it), no lone surrogate (no driver encodes it).
    assert all("\x00" not in text for text in texts)
    assert all(text.encode("utf-8") for text in texts)
