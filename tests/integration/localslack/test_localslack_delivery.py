"""Requests localslack sends to the bot: signatures, form fields, payload shapes, and how answers are applied."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from localslack import LocalSlack, sign_request

from .conftest import REPORTER, SECRET, TRIAGE, TRIAGER, Receiver, button, modal, section, text_input

TEAM = {"id": "T0LOCAL", "domain": "localslack"}


def card(web: WebClient, text: str = "card", value: str = "7") -> str:
    blocks = [
        section(text),
        {"type": "actions", "block_id": "acts", "elements": [button("ack", value, "Acknowledge", style="primary")]},
    ]
    return str(web.chat_postMessage(channel=TRIAGE, text=text, blocks=blocks)["ts"])


def opened_modal(ls: LocalSlack, web: WebClient, receiver: Receiver, view: dict[str, Any], user: str = REPORTER) -> str:
    ls.slash_command(user, "new", channel_id=TRIAGE)
    return str(web.views_open(trigger_id=receiver.last.form()["trigger_id"], view=view)["view"]["id"])


# ---------------------------------------------------------------- signatures


def deliver_each_kind(ls: LocalSlack, web: WebClient) -> None:
    ts = card(web)
    ls.slash_command(REPORTER, "list", channel_id=TRIAGE)
    ls.click_button(TRIAGER, TRIAGE, ts, "ack")
    ls.message_shortcut(REPORTER, TRIAGE, ts, "report")
    ls.global_shortcut(REPORTER, "report")
    ls.app_home_opened(REPORTER)


def test_every_delivery_verifies_with_slack_sdk_and_tampering_breaks_it(
    ls: LocalSlack, web: WebClient, receiver: Receiver
) -> None:
    deliver_each_kind(ls, web)
    verifier = SignatureVerifier(SECRET)
    assert len(receiver.received) == 5
    for got in receiver.received:
        ts, signature = got.headers["x-slack-request-timestamp"], got.headers["x-slack-signature"]
        assert signature.startswith("v0=")
        assert verifier.is_valid(got.body, ts, signature)
        assert not verifier.is_valid(got.body + b"&x=1", ts, signature)
        assert not SignatureVerifier("other-secret").is_valid(got.body, ts, signature)
    kinds = [d.kind for d in ls.deliveries]
    assert kinds == ["slash_command", "block_actions", "message_action", "shortcut", "event_callback"]


def test_sign_request_matches_slack_sdk() -> None:
    body = b"token=x&text=hello"
    headers = sign_request(SECRET, body, 1_700_000_000)
    expected = SignatureVerifier(SECRET).generate_signature(timestamp="1700000000", body=body)
    assert headers == {"X-Slack-Request-Timestamp": "1700000000", "X-Slack-Signature": expected}
    assert sign_request(SECRET, body.decode(), 1_700_000_000) == headers


def test_timestamp_override_forges_a_stale_request(ls: LocalSlack, receiver: Receiver) -> None:
    stale = int(time.time()) - 600
    ls.slash_command(REPORTER, "list", channel_id=TRIAGE, timestamp=stale)
    got = receiver.last
    assert got.headers["x-slack-request-timestamp"] == str(stale)
    verifier = SignatureVerifier(SECRET)
    assert verifier.generate_signature(timestamp=str(stale), body=got.body) == got.headers["x-slack-signature"]
    assert not verifier.is_valid(got.body, str(stale), got.headers["x-slack-signature"]), "older than five minutes"


# ---------------------------------------------------------------- slash commands


def test_slash_command_form_fields(ls: LocalSlack, receiver: Receiver) -> None:
    response = ls.slash_command(REPORTER, "new Model leaked weights", command="/incident", channel_id=TRIAGE)
    assert response.status_code == 200
    got = receiver.last
    assert got.content_type == "application/x-www-form-urlencoded"
    fields = got.form()
    assert set(fields) >= {
        "token",
        "team_id",
        "team_domain",
        "channel_id",
        "channel_name",
        "user_id",
        "user_name",
        "command",
        "text",
        "api_app_id",
        "response_url",
        "trigger_id",
    }
    assert {
        k: fields[k]
        for k in (
            "team_id",
            "team_domain",
            "channel_id",
            "channel_name",
            "user_id",
            "user_name",
            "command",
            "text",
            "api_app_id",
        )
    } == {
        "team_id": "T0LOCAL",
        "team_domain": "localslack",
        "channel_id": TRIAGE,
        "channel_name": "safety-triage",
        "user_id": REPORTER,
        "user_name": "rita",
        "command": "/incident",
        "text": "new Model leaked weights",
        "api_app_id": "A0LOCAL",
    }
    assert fields["response_url"].startswith(ls.url + "/response/")
    assert len(fields["trigger_id"].split(".")) == 3


def test_slash_command_without_channel_uses_c_triage(ls: LocalSlack, receiver: Receiver) -> None:
    ls.slash_command(TRIAGER, "list")
    assert receiver.last.form()["channel_id"] == TRIAGE


@pytest.mark.parametrize(
    ("reply", "ephemeral", "in_channel"),
    [
        pytest.param(
            ("json", {"text": "Only you see this"}), ["Only you see this"], [], id="json-defaults-to-ephemeral"
        ),
        pytest.param(
            ("json", {"response_type": "in_channel", "text": "Everyone sees this"}),
            [],
            ["Everyone sees this"],
            id="in-channel",
        ),
        pytest.param(("text", "plain words"), ["plain words"], [], id="plain-text"),
        pytest.param(("text", ""), [], [], id="empty-ack"),
    ],
)
def test_slash_command_inline_answers_are_shown_like_slack(
    ls: LocalSlack, receiver: Receiver, reply: tuple[str, Any], ephemeral: list[str], in_channel: list[str]
) -> None:
    kind, body = reply
    if kind == "json":
        receiver.reply_json(body)
    else:
        receiver.reply_text(body)
    ls.slash_command(REPORTER, "help", channel_id=TRIAGE)
    assert [e.text for e in ls.ephemerals(REPORTER)] == ephemeral
    assert all(e.source == "slash_command" for e in ls.ephemerals(REPORTER))
    assert [m.text for m in ls.messages(TRIAGE)] == in_channel


def test_respond_through_response_url_during_the_request(ls: LocalSlack, receiver: Receiver) -> None:
    def answer_later(got: Any) -> None:
        httpx.post(got.form()["response_url"], json={"text": "Working on it", "response_type": "ephemeral"})

    receiver.on_request = answer_later
    ls.slash_command(REPORTER, "list", channel_id=TRIAGE)
    [shown] = ls.ephemerals(REPORTER)
    assert (shown.text, shown.channel, shown.source) == ("Working on it", TRIAGE, "response_url")


def test_no_request_url_is_a_clear_error(ls: LocalSlack) -> None:
    ls.request_url = None
    with pytest.raises(RuntimeError, match="request_url"):
        ls.slash_command(REPORTER, "list", channel_id=TRIAGE)


# ---------------------------------------------------------------- block_actions


def test_click_button_builds_block_actions_from_current_blocks(
    ls: LocalSlack, web: WebClient, receiver: Receiver
) -> None:
    ts = card(web, value="7")
    web.chat_update(
        channel=TRIAGE,
        ts=ts,
        text="v2",
        blocks=[section("v2"), {"type": "actions", "block_id": "acts", "elements": [button("ack", "8", "Ack again")]}],
    )
    ls.click_button(TRIAGER, TRIAGE, ts, "ack")
    got = receiver.last
    assert got.content_type == "application/x-www-form-urlencoded" and set(got.form()) == {"payload"}
    payload = got.payload()
    assert payload["type"] == "block_actions"
    assert payload["user"] == {"id": TRIAGER, "username": "tom", "name": "tom", "team_id": "T0LOCAL"}
    assert (payload["team"], payload["api_app_id"], payload["token"]) == (
        TEAM,
        "A0LOCAL",
        "localslack-verification-token",
    )
    assert payload["container"] == {"type": "message", "message_ts": ts, "channel_id": TRIAGE, "is_ephemeral": False}
    assert payload["channel"] == {"id": TRIAGE, "name": "safety-triage"}
    assert payload["message"]["ts"] == ts and payload["message"]["text"] == "v2"
    [action] = payload["actions"]
    assert {k: action[k] for k in ("type", "action_id", "block_id", "value", "text")} == {
        "type": "button",
        "action_id": "ack",
        "block_id": "acts",
        "value": "8",
        "text": {"type": "plain_text", "text": "Ack again"},
    }
    assert float(action["action_ts"]) > 0
    assert payload["response_url"].startswith(ls.url + "/response/") and payload["trigger_id"]


def test_value_picks_between_buttons_sharing_an_action_id(ls: LocalSlack, web: WebClient, receiver: Receiver) -> None:
    blocks = [
        {"type": "actions", "block_id": "one", "elements": [button("pick", "a")]},
        {"type": "actions", "block_id": "two", "elements": [button("pick", "b")]},
    ]
    ts = web.chat_postMessage(channel=TRIAGE, text="choose", blocks=blocks)["ts"]
    ls.click_button(REPORTER, TRIAGE, ts, "pick", value="b")
    assert receiver.last.payload()["actions"][0]["block_id"] == "two"
    with pytest.raises(LookupError, match="pick"):
        ls.click_button(REPORTER, TRIAGE, ts, "pick", value="c")
    with pytest.raises(LookupError, match="missing"):
        ls.click_button(REPORTER, TRIAGE, ts, "missing")
    assert len(receiver.received) == 1


def test_clicking_an_ephemeral_message(ls: LocalSlack, web: WebClient, receiver: Receiver) -> None:
    ts = web.chat_postEphemeral(
        channel=TRIAGE, user=REPORTER, text="choose", blocks=[{"type": "actions", "elements": [button("undo", "1")]}]
    )["message_ts"]
    ls.click_button(REPORTER, TRIAGE, ts, "undo")
    payload = receiver.last.payload()
    assert payload["container"]["is_ephemeral"] is True and "message" not in payload
    httpx.post(payload["response_url"], json={"text": "undone", "replace_original": True})
    assert [(e.text, e.replaced) for e in ls.ephemerals(REPORTER)] == [("undone", True)]
    with pytest.raises(KeyError):
        ls.click_button(TRIAGER, TRIAGE, ts, "undo")  # not shown to Tom


def test_click_view_and_home_buttons(ls: LocalSlack, web: WebClient, receiver: Receiver) -> None:
    view_id = opened_modal(
        ls,
        web,
        receiver,
        modal(
            blocks=[text_input("title"), {"type": "actions", "block_id": "tools", "elements": [button("preview", "p")]}]
        ),
    )
    ls.click_view_button(REPORTER, view_id, "preview", values={"title": {"value": "draft"}})
    payload = receiver.last.payload()
    assert payload["container"] == {"type": "view", "view_id": view_id}
    assert payload["view"]["id"] == view_id and "channel" not in payload and "response_url" not in payload
    assert payload["view"]["state"]["values"]["title"]["value"] == {"type": "plain_text_input", "value": "draft"}
    web.views_publish(
        user_id=REPORTER, view={"type": "home", "blocks": [{"type": "actions", "elements": [button("refresh", "r")]}]}
    )
    ls.click_home_button(REPORTER, "refresh")
    home = receiver.last.payload()
    assert home["view"]["type"] == "home" and home["container"]["view_id"] == home["view"]["id"]
    assert home["actions"][0]["action_id"] == "refresh"


# ---------------------------------------------------------------- view_submission

OPTIONS = [{"text": {"type": "plain_text", "text": f"Sev {n}"}, "value": f"sev{n}"} for n in (1, 2, 3)]
FORM_BLOCKS: list[dict[str, Any]] = [
    text_input("title"),
    text_input("notes", "Notes", optional=True, multiline=True, initial_value="none"),
    {
        "type": "input",
        "block_id": "severity",
        "label": {"type": "plain_text", "text": "Severity"},
        "element": {"type": "static_select", "action_id": "value", "options": OPTIONS},
    },
    {
        "type": "input",
        "block_id": "tags",
        "optional": True,
        "label": {"type": "plain_text", "text": "Tags"},
        "element": {"type": "multi_static_select", "action_id": "value", "options": OPTIONS},
    },
    {
        "type": "input",
        "block_id": "owner",
        "optional": True,
        "label": {"type": "plain_text", "text": "Owner"},
        "element": {"type": "users_select", "action_id": "value"},
    },
    {
        "type": "input",
        "block_id": "where",
        "optional": True,
        "label": {"type": "plain_text", "text": "Where"},
        "element": {"type": "conversations_select", "action_id": "value"},
    },
    {
        "type": "input",
        "block_id": "when",
        "optional": True,
        "label": {"type": "plain_text", "text": "When"},
        "element": {"type": "datepicker", "action_id": "value"},
    },
    {
        "type": "input",
        "block_id": "ok",
        "optional": True,
        "label": {"type": "plain_text", "text": "Ok"},
        "element": {"type": "checkboxes", "action_id": "value", "options": OPTIONS},
    },
]


def test_view_submission_payload_types_each_element(ls: LocalSlack, web: WebClient, receiver: Receiver) -> None:
    view_id = opened_modal(
        ls, web, receiver, modal(blocks=FORM_BLOCKS, callback_id="incident_new", private_metadata="C_TRIAGE")
    )
    values: dict[str, dict[str, Any]] = {
        "title": {"value": "Leak"},
        "severity": {"value": "sev2"},
        "tags": {"value": ["sev1", "sev3"]},
        "owner": {"value": TRIAGER},
        "where": {"value": TRIAGE},
        "when": {"value": "2025-11-24"},
        "ok": {"value": ["sev1"]},
    }
    ls.submit_view(REPORTER, view_id, values)
    payload = receiver.last.payload()
    assert payload["type"] == "view_submission" and payload["user"]["id"] == REPORTER and payload["team"] == TEAM
    view = payload["view"]
    assert (view["id"], view["callback_id"], view["private_metadata"]) == (view_id, "incident_new", "C_TRIAGE")
    assert view["hash"] and payload["trigger_id"]
    state = {block: entry["value"] for block, entry in view["state"]["values"].items()}
    assert state == {
        "title": {"type": "plain_text_input", "value": "Leak"},
        "notes": {"type": "plain_text_input", "value": "none"},
        "severity": {"type": "static_select", "selected_option": OPTIONS[1]},
        "tags": {"type": "multi_static_select", "selected_options": [OPTIONS[0], OPTIONS[2]]},
        "owner": {"type": "users_select", "selected_user": TRIAGER},
        "where": {"type": "conversations_select", "selected_conversation": TRIAGE},
        "when": {"type": "datepicker", "selected_date": "2025-11-24"},
        "ok": {"type": "checkboxes", "selected_options": [OPTIONS[0]]},
    }


@pytest.mark.parametrize(
    ("values", "error"),
    [
        pytest.param({"severity": {"value": "sev2"}}, ValueError, id="required-input-left-empty"),
        pytest.param({"title": {"value": "t"}, "severity": {"value": "sev9"}}, ValueError, id="not-an-option"),
        pytest.param(
            {"title": {"value": "t"}, "severity": {"value": "sev2"}, "titel": {"value": "x"}},
            LookupError,
            id="typo-in-block-id",
        ),
    ],
)
def test_submit_view_refuses_what_slack_would_not_send(
    ls: LocalSlack, web: WebClient, receiver: Receiver, values: dict[str, Any], error: type[Exception]
) -> None:
    view_id = opened_modal(ls, web, receiver, modal(blocks=FORM_BLOCKS))
    delivered = len(receiver.received)
    with pytest.raises(error):
        ls.submit_view(REPORTER, view_id, values)
    assert len(receiver.received) == delivered


def pushed_stack(ls: LocalSlack, web: WebClient, receiver: Receiver) -> list[str]:
    root = opened_modal(ls, web, receiver, modal("Root", notify_on_close=True))
    ls.slash_command(REPORTER, "more", channel_id=TRIAGE)
    top = web.views_push(trigger_id=receiver.last.form()["trigger_id"], view=modal("Top"))["view"]["id"]
    return [root, top]


def titles(ls: LocalSlack) -> list[str]:
    return [v.title["text"] for v in ls.open_views(REPORTER) if v.title]


@pytest.mark.parametrize(
    ("answer", "expected_titles", "check"),
    [
        pytest.param(
            {"response_action": "errors", "errors": {"title": "Too vague"}},
            ["Root", "Top"],
            lambda v, top: v[-1].id == top and v[-1].errors == {"title": "Too vague"} and v[-1].delivery_error is None,
            id="errors-keep-it-open",
        ),
        pytest.param(None, ["Root"], lambda v, top: top not in [x.id for x in v], id="empty-ack-closes-it"),
        pytest.param(
            {"response_action": "update", "view": modal("Thanks", blocks=[section("Filed INC-1")])},
            ["Root", "Thanks"],
            lambda v, top: v[-1].id == top and v[-1].blocks[0]["text"]["text"] == "Filed INC-1",
            id="update-replaces-it",
        ),
        pytest.param(
            {"response_action": "push", "view": modal("Third")},
            ["Root", "Top", "Third"],
            lambda v, top: v[1].id == top,
            id="push",
        ),
        pytest.param({"response_action": "clear"}, [], lambda v, top: v == [], id="clear-closes-all"),
        pytest.param(
            {"response_action": "errors", "errors": {"nope": "x"}},
            ["Root", "Top"],
            lambda v, top: "nope" in (v[-1].delivery_error or ""),
            id="errors-for-unknown-block",
        ),
        pytest.param(
            {"response_action": "update", "view": modal("x" * 30)},
            ["Root", "Top"],
            lambda v, top: "/view/title/text" in (v[-1].delivery_error or ""),
            id="invalid-update-view",
        ),
    ],
)
def test_submit_view_applies_the_response_action(
    ls: LocalSlack,
    web: WebClient,
    receiver: Receiver,
    answer: dict[str, Any] | None,
    expected_titles: list[str],
    check: Callable[[list[Any], str], bool],
) -> None:
    _root, top = pushed_stack(ls, web, receiver)
    if answer is not None:
        receiver.reply_json(answer)
    response = ls.submit_view(REPORTER, top, {"title": {"value": "x"}})
    assert response.status_code == 200
    assert titles(ls) == expected_titles
    assert check(ls.open_views(REPORTER), top)


def test_a_failing_bot_leaves_the_modal_open(ls: LocalSlack, web: WebClient, receiver: Receiver) -> None:
    view_id = opened_modal(ls, web, receiver, modal())
    receiver.reply_text("boom", status=500)
    assert ls.submit_view(REPORTER, view_id, {"title": {"value": "x"}}).status_code == 500
    [still_open] = ls.open_views(REPORTER)
    assert still_open.delivery_error == "the app answered HTTP 500"


@pytest.mark.parametrize(
    ("flags", "close", "delivered", "left"),
    [
        pytest.param({}, "top", False, ["Root"], id="quiet-close-pops"),
        pytest.param({"notify_on_close": True}, "top", True, ["Root"], id="notify"),
        pytest.param({"notify_on_close": True, "clear_on_close": True}, "top", True, [], id="clear-on-close"),
        pytest.param({}, "root", True, [], id="closing-the-root-closes-all"),
    ],
)
def test_close_view(
    ls: LocalSlack,
    web: WebClient,
    receiver: Receiver,
    flags: dict[str, bool],
    close: str,
    delivered: bool,
    left: list[str],
) -> None:
    root = opened_modal(ls, web, receiver, modal("Root", notify_on_close=True))
    ls.slash_command(REPORTER, "more", channel_id=TRIAGE)
    top = web.views_push(trigger_id=receiver.last.form()["trigger_id"], view={**modal("Top"), **flags})["view"]["id"]
    before = len(receiver.received)
    response = ls.close_view(REPORTER, top if close == "top" else root)
    assert (response is not None) == delivered == (len(receiver.received) == before + 1)
    if delivered:
        payload = receiver.last.payload()
        assert payload["type"] == "view_closed" and payload["user"]["id"] == REPORTER
        assert payload["is_cleared"] is bool(flags.get("clear_on_close"))
    assert titles(ls) == left


# ---------------------------------------------------------------- shortcuts and events


def test_message_shortcut_payload(ls: LocalSlack, receiver: Receiver) -> None:
    message = ls.post_user_message(REPORTER, TRIAGE, "The model said something bad")
    ls.message_shortcut(REPORTER, TRIAGE, message.ts, "report_safety_incident")
    payload = receiver.last.payload()
    assert payload["type"] == "message_action"
    assert (payload["callback_id"], payload["message_ts"]) == ("report_safety_incident", message.ts)
    assert payload["message"]["text"] == "The model said something bad" and payload["message"]["user"] == REPORTER
    assert payload["channel"] == {"id": TRIAGE, "name": "safety-triage"}
    assert payload["trigger_id"] and payload["response_url"].startswith(ls.url)
    assert payload["user"]["id"] == REPORTER and payload["team"] == TEAM


def test_global_shortcut_payload(ls: LocalSlack, receiver: Receiver) -> None:
    ls.global_shortcut(TRIAGER, "new_incident")
    payload = receiver.last.payload()
    assert (payload["type"], payload["callback_id"], payload["user"]["id"]) == ("shortcut", "new_incident", TRIAGER)
    assert payload["trigger_id"] and "response_url" not in payload


def test_app_home_opened_event_envelope(ls: LocalSlack, web: WebClient, receiver: Receiver) -> None:
    web.views_publish(user_id=REPORTER, view={"type": "home", "blocks": [section("hi")]})
    ls.app_home_opened(REPORTER)
    got = receiver.last
    assert got.content_type == "application/json"
    envelope = got.json()
    assert (envelope["type"], envelope["team_id"], envelope["api_app_id"]) == ("event_callback", "T0LOCAL", "A0LOCAL")
    assert envelope["event_id"].startswith("Ev") and isinstance(envelope["event_time"], int)
    assert envelope["authorizations"][0]["user_id"] == "UBOT" and envelope["authorizations"][0]["is_bot"] is True
    event = envelope["event"]
    assert (event["type"], event["user"], event["channel"], event["tab"]) == (
        "app_home_opened",
        REPORTER,
        ls.dm_channel(REPORTER),
        "home",
    )
    assert event["view"]["blocks"][0]["text"]["text"] == "hi"


def test_url_verification_handshake(ls: LocalSlack, receiver: Receiver) -> None:
    receiver.on_request = lambda got: (200, got.json()["challenge"].encode(), "text/plain")
    assert ls.url_verification("abc123").text == "abc123"
    assert receiver.last.json() == {
        "token": "localslack-verification-token",
        "challenge": "abc123",
        "type": "url_verification",
    }
