"""Every webhook over real HTTP, fed generated input: never a 5xx, and a refused request writes nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, func, select

from bot.app.asgi import Tripwire
from db.models import EvalResult, Incident, OutboxMessage
from tests.integration.test_ingest import AM_TOKEN, hooks, post_signed, result
from tests.support.payloads import alert, alertmanager_webhook

__all__ = ["hooks"]  # the fixture, imported for this module's tests

# Text a pipeline could send by mistake or on purpose: long, control characters, NUL, lone surrogates, markup.
awkward_text = st.one_of(
    st.text(max_size=20),
    st.text(min_size=190, max_size=700),
    st.sampled_from(["", " ", "\x00", "a\x00b", "\ud800", "x\udfff", "<!channel>", "NaN", "1e309", "☃" * 300]),
)
json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), awkward_text
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
RESULT_FIELDS = ["source", "model", "checkpoint", "task", "scorer", "metric", "value", "stderr", "run_id", "url"]


@st.composite
def eval_bodies(draw: st.DrawFn) -> bytes:
    """A near-valid result (or batch) with a few fields replaced by anything, or plain junk bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    fields: dict[str, Any] = result(run_id=f"run-{draw(st.integers(0, 10**9))}")
    for name in draw(st.lists(st.sampled_from([*RESULT_FIELDS, "observed_at", "labels", "extra"]), max_size=3)):
        fields[name] = draw(json_value)
    body: Any = fields if draw(st.booleans()) else {"results": [fields, *draw(st.lists(json_value, max_size=2))]}
    return json.dumps(body).encode()


@st.composite
def alertmanager_bodies(draw: st.DrawFn) -> bytes:
    """An Alertmanager notification with a label, an annotation or a top-level field replaced by anything."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    firing = alert(
        draw(st.sampled_from(["SafetyEvalRegression", "WeightsEgressAnomaly", "Unknown"])),
        labels={"model": "org/model-x", "severity": draw(st.sampled_from(["critical", "warning", "page"]))},
        value=draw(st.floats(0, 1)),
        fingerprint=f"{draw(st.integers(0, 10**9)):x}",
    )
    target = draw(st.sampled_from(["labels", "annotations", "startsAt", "status", "fingerprint", "top"]))
    value = draw(json_value)
    if target in ("labels", "annotations"):
        firing[target] = {**firing[target], draw(st.text(max_size=10)): value}
    elif target != "top":
        firing[target] = value
    notification = alertmanager_webhook(alerts=[firing])
    if target == "top":
        notification[draw(st.sampled_from(["version", "status", "alerts", "groupKey"]))] = value
    return json.dumps(notification).encode()


def counts(bot: Tripwire) -> tuple[int, int, int]:
    with Session(bot.engine) as session:
        return (
            session.exec(select(func.count()).select_from(EvalResult)).one(),
            session.exec(select(func.count()).select_from(Incident)).one(),
            session.exec(select(func.count()).select_from(OutboxMessage)).one(),
        )


def check(bot: Tripwire, response: httpx.Response, before: tuple[int, int, int]) -> None:
    assert response.status_code < 500, response.text
    if response.status_code == 202:
        assert counts(bot)[0] == before[0] + response.json()["accepted"]
    else:
        assert response.status_code in (400, 413), response.text
        assert set(response.json()) == {"error", "field"}
        assert counts(bot) == before  # refused whole: no partial write


FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(body=eval_bodies())
def test_eval_hook_never_fails_and_refuses_whole(hooks: str, bot: Tripwire, body: bytes) -> None:
    before = counts(bot)
    check(bot, post_signed(hooks + "/hooks/eval", body), before)


@FUZZ
@given(body=alertmanager_bodies())
def test_alertmanager_hook_never_fails_and_refuses_whole(hooks: str, bot: Tripwire, body: bytes) -> None:
    before = counts(bot)
    response = httpx.post(
        hooks + "/hooks/alertmanager", content=body, headers={"Authorization": f"Bearer {AM_TOKEN}"}, timeout=60
    )
    check(bot, response, before)


@FUZZ
@given(body=st.one_of(st.binary(max_size=300), st.just(b"PK\x03\x04" + b"\x00" * 40), json_value.map(json.dumps)))
def test_inspect_hook_never_fails_and_refuses_whole(hooks: str, bot: Tripwire, body: bytes | str) -> None:
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    before = counts(bot)
    check(bot, post_signed(hooks + "/hooks/inspect", raw), before)
