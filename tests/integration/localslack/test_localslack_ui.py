"""The browser page's server side: the page and its files, the per-user state, and each /localslack/ui action."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient

from localslack import LocalSlack
from localslack.ui import AppFeatures, MessageShortcut, Outcome, SlashCommand

from .conftest import OUTSIDER, PRIVATE, REPORTER, SECRET_ROOM, TRIAGE, TRIAGER, Receiver, button, modal, section

MANIFEST = {
    "features": {
        "app_home": {"home_tab_enabled": True, "messages_tab_read_only_enabled": True},
        "slash_commands": [
            {"command": "/incident", "description": "File incidents", "usage_hint": "new | list", "should_escape": True}
        ],
        "shortcuts": [
            {"name": "Report safety incident", "type": "message", "callback_id": "report_safety_incident"},
            {"name": "Global thing", "type": "global", "callback_id": "global_thing"},
        ],
    }
}


@pytest.fixture
def http(ls: LocalSlack) -> Iterator[httpx.Client]:
    """An HTTP client on the fake Slack's own port, where the page and its actions live."""
    with httpx.Client(base_url=ls.url, timeout=10, trust_env=False) as client:
        yield client


def act(http: httpx.Client, action: str, **body: Any) -> dict[str, Any]:
    """POST one page action and return its JSON answer, which must be a 200."""
    response = http.post(f"/localslack/ui/{action}", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def state(http: httpx.Client, user: str, **params: Any) -> dict[str, Any]:
    """What the page shows one user."""
    response = http.get("/localslack/ui/state", params={"as": user, **params})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def card(web: WebClient, text: str = "card") -> str:
    """Post a bot message with an Acknowledge button and return its ts."""
    blocks = [section(text), {"type": "actions", "block_id": "acts", "elements": [button("ack", "7", "Acknowledge")]}]
    return str(web.chat_postMessage(channel=TRIAGE, text=text, blocks=blocks)["ts"])


def open_modal(http: httpx.Client, web: WebClient, receiver: Receiver, view: dict[str, Any]) -> str:
    """Run a slash command from the page and open a modal with its trigger, as a bot would."""
    act(http, "command", **{"as": REPORTER, "channel": TRIAGE, "text": "/incident new"})
    return str(web.views_open(trigger_id=receiver.last.form()["trigger_id"], view=view)["view"]["id"])


# ---------------------------------------------------------------- the page


def test_root_serves_the_page_with_its_script(http: httpx.Client) -> None:
    response = http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script src="/localslack/static/app.js" defer></script>' in response.text
    assert 'href="/localslack/static/style.css"' in response.text
    assert 'data-testid="composer"' in response.text


@pytest.mark.parametrize(
    ("path", "content_type", "marker"),
    [
        pytest.param("/localslack/static/app.js", "javascript", "/localslack/ui/state", id="script"),
        pytest.param("/localslack/static/style.css", "text/css", ".modal-backdrop", id="stylesheet"),
    ],
)
def test_static_files_are_served_locally(http: httpx.Client, path: str, content_type: str, marker: str) -> None:
    response = http.get(path)
    assert response.status_code == 200
    assert content_type in response.headers["content-type"]
    assert marker in response.text


def test_unknown_static_file_is_404(http: httpx.Client) -> None:
    assert http.get("/localslack/static/nope.js").status_code == 404


def test_page_loads_nothing_from_other_hosts(http: httpx.Client) -> None:
    page = (
        http.get("/").text + http.get("/localslack/static/app.js").text + http.get("/localslack/static/style.css").text
    )
    assert "http://" not in page.replace("http://127.0.0.1", "")
    assert "//cdn" not in page and "@import" not in page


# ---------------------------------------------------------------- state


def test_state_shows_only_what_the_user_may_see(ls: LocalSlack, web: WebClient, http: httpx.Client) -> None:
    web.chat_postEphemeral(channel=TRIAGE, user=REPORTER, text="for rita")
    web.chat_postEphemeral(channel=TRIAGE, user=TRIAGER, text="for tom")
    rita, tom = state(http, REPORTER), state(http, TRIAGER)
    assert rita["me"]["id"] == REPORTER and rita["me"]["tz"] == "Europe/London"
    rita_rooms = {c["id"] for c in rita["channels"] if not c["is_im"]}
    tom_rooms = {c["id"] for c in tom["channels"] if not c["is_im"]}
    assert rita_rooms == {TRIAGE}
    assert tom_rooms == {TRIAGE, PRIVATE, SECRET_ROOM}
    assert [c["id"] for c in rita["channels"] if c["is_im"]] == [ls.dm_channel(REPORTER)] == [rita["app"]["dm"]]
    assert [e["text"] for e in rita["ephemerals"]] == ["for rita"]
    assert [e["text"] for e in tom["ephemerals"]] == ["for tom"]
    assert "calls" not in rita and "deliveries" not in rita


def test_state_includes_threads_edits_and_failed_calls(ls: LocalSlack, web: WebClient, http: httpx.Client) -> None:
    ts = card(web, "parent")
    web.chat_postMessage(channel=TRIAGE, thread_ts=ts, text="a reply")
    web.chat_update(channel=TRIAGE, ts=ts, text="parent, edited")
    ls.fail("chat.postMessage", "channel_not_found")
    with pytest.raises(Exception, match="channel_not_found"):
        web.chat_postMessage(channel=TRIAGE, text="lost")
    triage = next(c for c in state(http, REPORTER)["channels"] if c["id"] == TRIAGE)
    [parent] = triage["messages"]
    assert (parent["text"], parent["edited"], parent["reply_count"]) == ("parent, edited", True, 1)
    assert [r["text"] for r in triage["threads"][ts]] == ["a reply"]
    assert [(f["method"], f["error"]) for f in state(http, REPORTER)["api_errors"]] == [
        ("chat.postMessage", "channel_not_found")
    ]


def test_state_without_a_user_picks_the_first_person(http: httpx.Client) -> None:
    answer = http.get("/localslack/ui/state").json()
    assert answer["me"]["id"] == REPORTER
    assert [u["id"] for u in answer["users"] if not u["is_bot"]] == [REPORTER, TRIAGER, OUTSIDER]


def test_state_long_poll_answers_unchanged_then_the_new_version(
    ls: LocalSlack, web: WebClient, http: httpx.Client
) -> None:
    version = state(http, REPORTER)["version"]
    assert state(http, REPORTER, since=version, wait=0.1) == {"version": version, "unchanged": True}
    web.chat_postMessage(channel=TRIAGE, text="news")
    fresh = state(http, REPORTER, since=version, wait=1)
    assert fresh["version"] > version
    triage = next(c for c in fresh["channels"] if c["id"] == TRIAGE)
    assert [m["text"] for m in triage["messages"]] == ["news"]


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"as": "U_NOBODY"}, id="unknown-user"),
        pytest.param({"as": "UBOT"}, id="the-bot-is-not-a-person"),
        pytest.param({"as": REPORTER, "since": "soon"}, id="since-not-a-number"),
    ],
)
def test_state_rejects_bad_parameters(http: httpx.Client, params: dict[str, str]) -> None:
    response = http.get("/localslack/ui/state", params=params)
    assert response.status_code == 400
    assert response.json()["error"]


def test_state_carries_the_app_features(ls: LocalSlack, http: httpx.Client) -> None:
    ls.app_features = AppFeatures.from_manifest(MANIFEST)
    features = state(http, REPORTER)["features"]
    assert features["slash_commands"] == [
        {"command": "/incident", "description": "File incidents", "usage_hint": "new | list", "should_escape": True}
    ]
    assert features["message_shortcuts"] == [
        {"callback_id": "report_safety_incident", "name": "Report safety incident", "description": ""}
    ]
    assert features["messages_tab_read_only"] is True


def test_features_from_manifest_keep_only_message_shortcuts() -> None:
    features = AppFeatures.from_manifest(MANIFEST)
    assert features.slash_commands == (SlashCommand("/incident", "File incidents", "new | list", should_escape=True),)
    assert features.message_shortcuts == (MessageShortcut("report_safety_incident", "Report safety incident"),)
    assert AppFeatures.from_manifest({}) == AppFeatures()


# ---------------------------------------------------------------- actions


def test_command_delivers_the_slash_command(http: httpx.Client, receiver: Receiver) -> None:
    answer = act(http, "command", **{"as": TRIAGER, "channel": TRIAGE, "text": "/incident  ack INC-1 "})
    assert (answer["ok"], answer["delivered"], answer["status"], answer["error"]) == (True, True, 200, None)
    form = receiver.last.form()
    assert (form["command"], form["text"], form["user_id"], form["channel_id"]) == (
        "/incident",
        "ack INC-1",
        TRIAGER,
        TRIAGE,
    )


def test_a_bot_500_is_reported_with_its_body(http: httpx.Client, receiver: Receiver) -> None:
    receiver.reply_text("Internal Server Error: kaboom", status=500)
    answer = act(http, "command", **{"as": REPORTER, "channel": TRIAGE, "text": "/incident list"})
    assert (answer["ok"], answer["delivered"], answer["status"]) == (False, True, 500)
    assert answer["error"] == "the bot answered HTTP 500"
    assert answer["body"] == "Internal Server Error: kaboom"


def test_an_inline_answer_slack_would_reject_is_reported(
    ls: LocalSlack, http: httpx.Client, receiver: Receiver
) -> None:
    receiver.reply_json({"text": "x" * 50_000})
    answer = act(http, "command", **{"as": REPORTER, "channel": TRIAGE, "text": "/incident list"})
    assert answer["status"] == 200 and answer["ok"] is False
    assert answer["error"].startswith("inline answer rejected")
    assert ls.ephemerals(REPORTER) == []


def test_an_unreachable_bot_is_reported(ls: LocalSlack, http: httpx.Client) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    ls.request_url = f"http://127.0.0.1:{closed_port}/slack/events"
    answer = act(http, "command", **{"as": REPORTER, "channel": TRIAGE, "text": "/incident list"})
    assert (answer["ok"], answer["delivered"], answer["status"]) == (False, False, None)
    assert answer["error"].startswith("could not reach the bot: ConnectError")


def test_no_request_url_is_reported(ls: LocalSlack, http: httpx.Client) -> None:
    ls.request_url = None
    answer = act(http, "command", **{"as": REPORTER, "channel": TRIAGE, "text": "/incident list"})
    assert answer["delivered"] is False
    assert answer["error"].startswith("no bot is connected") and "request_url" in answer["error"]


@pytest.mark.parametrize(
    ("elapsed_ms", "slow"),
    [pytest.param(2999, False, id="in-time"), pytest.param(3001, True, id="past-slacks-3-seconds")],
)
def test_an_answer_slower_than_slack_allows_is_flagged(elapsed_ms: int, slow: bool) -> None:
    answer = Outcome(delivered=True, status=200, elapsed_ms=elapsed_ms).to_dict()
    assert (answer["ok"], answer["slow"]) == (True, slow)


def test_message_is_stored_as_the_person_without_a_delivery(
    ls: LocalSlack, web: WebClient, http: httpx.Client, receiver: Receiver
) -> None:
    answer = act(http, "message", **{"as": REPORTER, "channel": TRIAGE, "text": "the model *refused* <oddly>"})
    [posted] = ls.messages(TRIAGE)
    assert (posted.user, posted.text, posted.ts) == (REPORTER, "the model *refused* <oddly>", answer["ts"])
    act(http, "message", **{"as": TRIAGER, "channel": TRIAGE, "text": "looking", "thread_ts": posted.ts})
    assert [(r.user, r.text) for r in ls.replies(TRIAGE, posted.ts)] == [(TRIAGER, "looking")]
    assert receiver.received == []


def test_click_on_a_message_button_delivers_block_actions(
    web: WebClient, http: httpx.Client, receiver: Receiver
) -> None:
    ts = card(web)
    answer = act(http, "click", **{"as": TRIAGER, "channel": TRIAGE, "ts": ts, "action_id": "ack", "value": "7"})
    assert answer["ok"] is True
    payload = receiver.last.payload()
    assert payload["type"] == "block_actions" and payload["user"]["id"] == TRIAGER
    assert (payload["actions"][0]["action_id"], payload["actions"][0]["value"]) == ("ack", "7")
    assert payload["container"]["message_ts"] == ts


def test_click_on_an_ephemeral_button(web: WebClient, http: httpx.Client, receiver: Receiver) -> None:
    blocks = [{"type": "actions", "elements": [button("undo", "1", "Undo")]}]
    ts = web.chat_postEphemeral(channel=TRIAGE, user=REPORTER, text="done", blocks=blocks)["message_ts"]
    act(http, "click", **{"as": REPORTER, "channel": TRIAGE, "ts": ts, "action_id": "undo"})
    payload = receiver.last.payload()
    assert payload["container"]["is_ephemeral"] is True and payload["actions"][0]["action_id"] == "undo"


def test_submit_sends_values_and_shows_the_bots_field_errors(
    web: WebClient, http: httpx.Client, receiver: Receiver
) -> None:
    view_id = open_modal(http, web, receiver, modal(callback_id="report"))
    receiver.reply_json({"response_action": "errors", "errors": {"title": "Say a bit more"}})
    answer = act(http, "submit", **{"as": REPORTER, "view_id": view_id, "values": {"title": {"value": "  "}}})
    assert answer["ok"] is True
    payload = receiver.last.payload()
    assert payload["type"] == "view_submission"
    assert payload["view"]["state"]["values"]["title"]["value"] == {"type": "plain_text_input", "value": "  "}
    shown = state(http, REPORTER)["modal"]
    assert (shown["id"], shown["errors"]) == (view_id, {"title": "Say a bit more"})


def test_submit_with_an_empty_required_input_is_refused(
    ls: LocalSlack, web: WebClient, http: httpx.Client, receiver: Receiver
) -> None:
    view_id = open_modal(http, web, receiver, modal())
    before = len(receiver.received)
    response = http.post(
        "/localslack/ui/submit", json={"as": REPORTER, "view_id": view_id, "values": {"title": {"value": None}}}
    )
    assert response.status_code == 400
    assert "required input 'title'" in response.json()["error"]
    assert len(receiver.received) == before


def test_submit_that_the_bot_fails_keeps_the_modal_open_with_the_reason(
    web: WebClient, http: httpx.Client, receiver: Receiver
) -> None:
    view_id = open_modal(http, web, receiver, modal())
    receiver.reply_text("boom", status=500)
    answer = act(http, "submit", **{"as": REPORTER, "view_id": view_id, "values": {"title": {"value": "x"}}})
    assert (answer["ok"], answer["status"]) == (False, 500)
    assert state(http, REPORTER)["modal"]["delivery_error"] == "the app answered HTTP 500"


def test_click_inside_a_modal_sends_what_was_typed(web: WebClient, http: httpx.Client, receiver: Receiver) -> None:
    blocks = [*modal()["blocks"], {"type": "actions", "elements": [button("preview", "p", "Preview")]}]
    view_id = open_modal(http, web, receiver, modal(blocks=blocks))
    act(
        http,
        "click",
        **{
            "as": REPORTER,
            "container": "view",
            "view_id": view_id,
            "action_id": "preview",
            "values": {"title": {"value": "draft"}},
        },
    )
    payload = receiver.last.payload()
    assert payload["container"] == {"type": "view", "view_id": view_id}
    assert payload["view"]["state"]["values"]["title"]["value"]["value"] == "draft"


@pytest.mark.parametrize(
    ("notify", "delivered"),
    [pytest.param(False, False, id="quiet"), pytest.param(True, True, id="notify-on-close")],
)
def test_close_closes_and_tells_the_bot_only_when_asked(
    ls: LocalSlack, web: WebClient, http: httpx.Client, receiver: Receiver, notify: bool, delivered: bool
) -> None:
    view_id = open_modal(http, web, receiver, modal(notify_on_close=notify))
    answer = act(http, "close", **{"as": REPORTER, "view_id": view_id})
    assert (answer["ok"], answer["delivered"]) == (True, delivered)
    assert ls.open_views(REPORTER) == []
    last_form = receiver.last.form()  # without a view_closed delivery, the last request is the slash command
    assert ("payload" in last_form) is delivered
    if delivered:
        assert receiver.last.payload()["type"] == "view_closed"


def test_shortcut_runs_the_message_shortcut(ls: LocalSlack, http: httpx.Client, receiver: Receiver) -> None:
    ts = ls.post_user_message(REPORTER, TRIAGE, "the model wrote malware").ts
    act(http, "shortcut", **{"as": TRIAGER, "channel": TRIAGE, "ts": ts, "callback_id": "report_safety_incident"})
    payload = receiver.last.payload()
    assert (payload["type"], payload["callback_id"], payload["user"]["id"]) == (
        "message_action",
        "report_safety_incident",
        TRIAGER,
    )
    assert payload["message"]["text"] == "the model wrote malware"


def test_home_sends_app_home_opened_and_state_shows_the_published_view(
    web: WebClient, http: httpx.Client, receiver: Receiver
) -> None:
    def publish(got: Any) -> None:
        web.views_publish(user_id=got.json()["event"]["user"], view={"type": "home", "blocks": [section("Hi")]})

    receiver.on_request = publish
    act(http, "home", **{"as": TRIAGER})
    event = receiver.last.json()["event"]
    assert (event["type"], event["user"], event["tab"]) == ("app_home_opened", TRIAGER, "home")
    assert state(http, TRIAGER)["home"]["blocks"][0]["text"]["text"] == "Hi"
    assert state(http, REPORTER)["home"] is None


def test_home_buttons_are_clicked_on_the_home_view(web: WebClient, http: httpx.Client, receiver: Receiver) -> None:
    blocks = [{"type": "actions", "elements": [button("refresh", "r", "Refresh")]}]
    web.views_publish(user_id=REPORTER, view={"type": "home", "blocks": blocks})
    act(http, "click", **{"as": REPORTER, "container": "home", "action_id": "refresh"})
    payload = receiver.last.payload()
    assert payload["container"]["type"] == "view" and payload["actions"][0]["action_id"] == "refresh"


@pytest.mark.parametrize(
    ("action", "body", "error"),
    [
        pytest.param("command", {"as": "U_NOBODY", "channel": TRIAGE, "text": "/incident"}, "unknown user", id="user"),
        pytest.param("command", {"channel": TRIAGE, "text": "/incident"}, "who is acting", id="no-user"),
        pytest.param(
            "command", {"as": REPORTER, "channel": "C_NOPE", "text": "/incident"}, "unknown channel", id="chan"
        ),
        pytest.param("command", {"as": REPORTER, "channel": TRIAGE, "text": "hello"}, "not a slash command", id="text"),
        pytest.param("command", {"as": REPORTER, "channel": TRIAGE}, "missing 'text'", id="no-text"),
        pytest.param("message", {"as": REPORTER, "channel": TRIAGE, "text": "   "}, "empty", id="blank"),
        pytest.param("message", {"as": REPORTER, "channel": TRIAGE, "text": 7}, "must be a string", id="not-text"),
        pytest.param(
            "click", {"as": REPORTER, "channel": TRIAGE, "ts": "1.0", "action_id": "ack"}, "no message", id="ts"
        ),
        pytest.param("click", {"as": REPORTER, "container": "sky", "action_id": "a"}, "unknown container", id="where"),
        pytest.param("click", {"as": REPORTER, "container": "home", "action_id": "a"}, "no published", id="home"),
        pytest.param("submit", {"as": REPORTER, "view_id": "V_NOPE"}, "no open modal", id="view"),
        pytest.param("submit", {"as": REPORTER, "view_id": "V", "values": []}, "values", id="values"),
        pytest.param("close", {"as": REPORTER, "view_id": "V_NOPE"}, "no open modal", id="close"),
        pytest.param(
            "shortcut", {"as": REPORTER, "channel": TRIAGE, "ts": "1.0", "callback_id": "x"}, "no message", id="short"
        ),
    ],
)
def test_bad_input_is_a_400_that_says_why(
    http: httpx.Client, receiver: Receiver, action: str, body: dict[str, Any], error: str
) -> None:
    response = http.post(f"/localslack/ui/{action}", json=body)
    assert response.status_code == 400
    assert error in response.json()["error"]
    assert receiver.received == []


@pytest.mark.parametrize(
    "content", [pytest.param(b"not json", id="not-json"), pytest.param(b"[1, 2]", id="not-an-object")]
)
def test_a_body_that_is_not_a_json_object_is_a_400(http: httpx.Client, content: bytes) -> None:
    response = http.post("/localslack/ui/command", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]


def test_actions_only_accept_post(http: httpx.Client) -> None:
    assert http.get("/localslack/ui/command").status_code == 405
