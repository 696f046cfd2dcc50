"""Every input to /slack/events is handled or refused with a 4xx; the report form refuses what the database would;
Slack being down loses no report; the log carries no request body, SQL parameter or restricted text."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_bolt import BoltRequest
from sqlalchemy.exc import IntegrityError

from bot.app.asgi import Tripwire
from bot.app.config import ConfigError
from bot.common.clock import ManualClock
from bot.slack.ids import CallbackId
from db.models import TimelineEntry
from localslack import LocalSlack
from localslack.delivery import sign_request
from tests.conftest import GENERAL, REPORTER, SIGNING_SECRET, TRIAGE_CHANNEL, make_settings
from tests.integration.test_incident_lifecycle import card_text, incidents, open_form, submit_form

FORM_TYPE = "application/x-www-form-urlencoded"
MARKER = "restricted-bioweapon-route-7731"


@pytest.fixture
def http(bot: Tripwire, slack: LocalSlack) -> Iterator[httpx.Client]:
    """A plain HTTP client aimed at the bot's /slack/events."""
    root = str(slack.request_url).removesuffix("/slack/events")
    with httpx.Client(base_url=root, timeout=30, trust_env=False) as client:
        yield client


def post(
    http: httpx.Client,
    body: bytes,
    *,
    content_type: str | None = FORM_TYPE,
    signed: bool = True,
    timestamp: str | None = None,
) -> httpx.Response:
    headers: dict[bytes, bytes] = {b"Content-Type": content_type.encode()} if content_type else {}
    if signed:
        stamp = int(timestamp) if timestamp and timestamp.isascii() and timestamp.isdigit() else int(time.time())
        headers.update({k.encode(): v.encode() for k, v in sign_request(SIGNING_SECRET, body, stamp).items()})
    else:
        headers[b"X-Slack-Signature"] = b"v0=" + b"0" * 64
    if timestamp is not None:
        # As bytes: a header may carry any octet, and junk senders use that.
        headers[b"X-Slack-Request-Timestamp"] = timestamp.encode()
    return http.post("/slack/events", content=body, headers=headers)


def assert_quiet_log(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    """No traceback, and none of the given texts, anywhere in what was logged."""
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    for secret in secrets:
        assert secret not in caplog.text


JUNK = [
    pytest.param(b"\xff\xfe\xfd payload", FORM_TYPE, id="bad-utf8"),
    pytest.param(b"{", "application/json", id="brace-not-json"),
    pytest.param(b"payload={", FORM_TYPE, id="payload-not-json"),
    pytest.param(b"[1, 2]", "application/json", id="json-not-object"),
]


@pytest.mark.parametrize(("body", "content_type"), JUNK)
def test_unsigned_junk_is_refused_401_without_traceback(
    http: httpx.Client, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str
) -> None:
    caplog.set_level(logging.DEBUG)
    for timestamp in (None, "not-a-number", "\uff11\uff12\uff13", str(int(time.time()))):
        response = post(http, body + MARKER.encode(), content_type=content_type, signed=False, timestamp=timestamp)
        assert response.status_code == 401
        assert response.json()["field"] == "X-Slack-Signature"
    assert_quiet_log(caplog, MARKER)


@pytest.mark.parametrize(("body", "content_type"), JUNK)
def test_signed_junk_is_refused_400_without_traceback(
    http: httpx.Client, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str
) -> None:
    caplog.set_level(logging.DEBUG)
    response = post(http, body + MARKER.encode(), content_type=content_type)
    assert response.status_code == 400
    assert response.json()["field"] == "body"
    assert_quiet_log(caplog, MARKER)


def test_stale_genuine_command_is_refused_and_not_logged(
    http: httpx.Client, bot: Tripwire, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = urlencode({"command": "/incident", "text": f"note INC-1 {MARKER}", "user_id": REPORTER}).encode()
    response = post(http, body, timestamp=str(int(time.time()) - 600))
    assert response.status_code == 401
    assert_quiet_log(caplog, MARKER)
    # The refusal is logged, with the request id the response carries, and without the body.
    refusals = [r for r in caplog.records if "refused a request" in r.getMessage()]
    assert [getattr(r, "request_id", None) for r in refusals] == [response.headers["x-request-id"]]


def test_bolts_own_signature_check_does_not_log_the_body(bot: Tripwire, caplog: pytest.LogCaptureFixture) -> None:
    """Bolt checks again behind the edge (and for anything dispatched to it directly), without logging the body."""
    caplog.set_level(logging.DEBUG)
    body = urlencode({"command": "/incident", "text": f"note INC-1 {MARKER}", "user_id": REPORTER})
    stale = int(time.time()) - 600
    headers: dict[str, str | Sequence[str]] = {"Content-Type": FORM_TYPE, **sign_request(SIGNING_SECRET, body, stale)}
    assert bot.bolt.dispatch(BoltRequest(body=body, headers=headers)).status == 401
    assert_quiet_log(caplog, MARKER)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
SLACK_SHAPES = st.fixed_dictionaries(
    {"type": st.sampled_from(["block_actions", "view_submission", "event_callback", "shortcut", "message_action"])},
    optional={
        "team": JSON_VALUES,
        "user": JSON_VALUES,
        "actions": JSON_VALUES,
        "view": JSON_VALUES,
        "event": JSON_VALUES,
        "callback_id": st.sampled_from([c.value for c in CallbackId]),
        "container": JSON_VALUES,
    },
)
BODIES = st.one_of(
    st.binary(max_size=200),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    SLACK_SHAPES.map(lambda v: json.dumps(v).encode()),
    SLACK_SHAPES.map(lambda v: urlencode({"payload": json.dumps(v)}).encode()),
    st.dictionaries(st.text(max_size=12), st.text(max_size=30), max_size=6).map(lambda d: urlencode(d).encode()),
    st.dictionaries(
        st.sampled_from(["command", "text", "user_id", "channel_id", "trigger_id", "team_id"]),
        st.text(max_size=30),
    ).map(lambda d: urlencode({"command": "/incident", **d}).encode()),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=BODIES,
    signed=st.booleans(),
    content_type=st.sampled_from([FORM_TYPE, "application/json", None, "text/plain"]),
    timestamp=st.sampled_from([None, "", "abc", "99999999999999999999", "0"]),
)
def test_no_input_to_slack_events_gets_a_5xx(
    http: httpx.Client, body: bytes, signed: bool, content_type: str | None, timestamp: str | None
) -> None:
    response = post(http, body, content_type=content_type, signed=signed, timestamp=timestamp)
    assert response.status_code < 500, response.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("model", "m" * 201, id="long-model"),
        pytest.param("checkpoint", "c" * 201, id="long-checkpoint"),
        pytest.param("deployment", "d" * 101, id="long-deployment"),
        pytest.param("description", "before\x00after", id="nul"),
        pytest.param("title", "lone \ud800 surrogate", id="surrogate"),
    ],
)
def test_report_form_refuses_what_the_database_would(
    slack: LocalSlack, bot: Tripwire, caplog: pytest.LogCaptureFixture, field: str, value: str
) -> None:
    view = open_form(slack)
    assert submit_form(slack, view, **{field: value}).status_code == 200
    shown = slack.view(view["id"])
    assert shown.errors is not None and list(shown.errors) == [field]
    assert incidents(bot) == []
    assert_quiet_log(caplog)


def test_report_form_inputs_carry_the_column_limits(slack: LocalSlack, bot: Tripwire) -> None:
    view = open_form(slack)
    limits = {b["block_id"]: b["element"].get("max_length") for b in view["blocks"] if b["type"] == "input"}
    assert {k: limits[k] for k in ("title", "model", "checkpoint", "deployment")} == {
        "title": 150,
        "model": 200,
        "checkpoint": 200,
        "deployment": 100,
    }


def test_report_is_stored_while_slack_is_down_and_its_card_goes_out_later(
    slack: LocalSlack, bot: Tripwire, clock: ManualClock
) -> None:
    view = open_form(slack)
    # The bot has just restarted (nothing cached) and Slack answers nothing but errors.
    slack.fail("auth.test", status=503, times=100)
    slack.fail("chat.postMessage", status=503, times=1)
    assert submit_form(slack, view).status_code == 200
    assert [i.title for i in incidents(bot)] == ["Model gave synthesis route"]
    assert slack.calls_to("auth.test") == []
    bot.outbox.drain()
    assert not [m for m in slack.messages(TRIAGE_CHANNEL) if m.blocks]
    clock.advance(minutes=30)
    bot.outbox.drain()
    cards = [m for m in slack.messages(TRIAGE_CHANNEL) if m.blocks]
    assert len(cards) == 1 and "Model gave synthesis route" in card_text(cards[0])


def test_shortcut_on_a_message_the_bot_cannot_read_opens_the_form(slack: LocalSlack, bot: Tripwire) -> None:
    message = slack.post_user_message(REPORTER, GENERAL, "the model walked me through it")
    slack.fail("chat.getPermalink", error="not_in_channel")
    response = slack.message_shortcut(REPORTER, GENERAL, message.ts, CallbackId.REPORT_SHORTCUT.value)
    assert response.status_code == 200
    form = slack.open_views(REPORTER)[-1]
    assert form.callback_id == CallbackId.NEW_INCIDENT.value
    text = card_text(form)
    assert "can't see this conversation (not_in_channel)" in text
    assert "the model walked me through it" in json.dumps(form.blocks)
    assert not slack.ephemerals(REPORTER) and not slack.messages(slack.dm_channel(REPORTER))


def test_a_failure_after_the_ack_keeps_the_ack(slack: LocalSlack, bot: Tripwire) -> None:
    slack.fail("views.open", error="internal_error")
    response = slack.slash_command(REPORTER, "new", channel_id=TRIAGE_CHANNEL)
    assert response.status_code == 200
    assert "Something went wrong" in str(slack.response_posts[-1].args)


def test_sql_errors_do_not_carry_parameters(bot: Tripwire) -> None:
    """A failed write's exception text (what a traceback logs) names the statement, not the values."""
    now = bot.incidents.now()
    entry = TimelineEntry(incident_id=987654, at=now, actor=REPORTER, action="note", note=MARKER)
    with pytest.raises(IntegrityError) as raised, bot.uow() as session:
        session.add(entry)
        session.flush()
    assert "parameters hidden" in str(raised.value)
    assert MARKER not in str(raised.value)


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        pytest.param("xoxb-…", "set SLACK_BOT_TOKEN", id="readme-placeholder"),
        pytest.param("xoxb-...", "set SLACK_BOT_TOKEN", id="dots"),
        pytest.param("xoxb-", "set SLACK_BOT_TOKEN", id="prefix-only"),
        pytest.param("xoxb-1234-5678-abcdé", "SLACK_BOT_TOKEN must be plain ASCII", id="not-ascii"),
    ],
)
def test_settings_refuse_a_placeholder_or_non_ascii_token(token: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        make_settings("sqlite:///unused.db", SLACK_BOT_TOKEN=token).require_http()
