"""The Web API as slack_sdk's WebClient (and raw HTTP) sees it: Slack's shapes and error codes."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from localslack import LocalSlack, WorkspaceClock

from .conftest import PRIVATE, REPORTER, SECRET_ROOM, TOKEN, TRIAGE, TRIAGER, Receiver, button, modal, section


def refusal(call: Any, *args: Any, **kwargs: Any) -> SlackApiError:
    """Run a WebClient call that must fail and return the error."""
    with pytest.raises(SlackApiError) as caught:
        call(*args, **kwargs)
    return caught.value


def error_of(call: Any, *args: Any, **kwargs: Any) -> str:
    return str(refusal(call, *args, **kwargs).response["error"])


def card(text: str = "card") -> list[dict[str, Any]]:
    return [section(text), {"type": "actions", "elements": [button("ack", "1", "Acknowledge")]}]


def trigger_for(ls: LocalSlack, receiver: Receiver, user: str = REPORTER) -> str:
    """Get a real trigger_id the way a bot does: from a slash command delivery."""
    ls.slash_command(user, "new", channel_id=TRIAGE)
    return receiver.last.form()["trigger_id"]


# ---------------------------------------------------------------- auth and envelope


@pytest.mark.parametrize(
    ("headers", "fields", "error"),
    [
        pytest.param({}, {"channel": TRIAGE, "text": "x"}, "not_authed", id="no-token"),
        pytest.param(
            {"Authorization": "Bearer xoxb-wrong"}, {"channel": TRIAGE, "text": "x"}, "invalid_auth", id="wrong-bearer"
        ),
        pytest.param({}, {"token": "xoxb-wrong", "channel": TRIAGE, "text": "x"}, "invalid_auth", id="wrong-token-arg"),
    ],
)
def test_bad_credentials_are_refused_and_change_nothing(
    ls: LocalSlack, headers: dict[str, str], fields: dict[str, str], error: str
) -> None:
    answer = httpx.post(ls.api_url + "chat.postMessage", data=fields, headers=headers)
    assert (answer.status_code, answer.json()) == (200, {"ok": False, "error": error})
    assert ls.messages(TRIAGE) == []
    assert [(c.method, c.ok, c.error) for c in ls.calls] == [("chat.postMessage", False, error)]


def test_token_may_come_as_a_form_argument(ls: LocalSlack) -> None:
    answer = httpx.post(ls.api_url + "chat.postMessage", data={"token": TOKEN, "channel": TRIAGE, "text": "hi"})
    assert answer.json()["ok"] is True
    assert [m.text for m in ls.messages(TRIAGE)] == ["hi"]
    assert "token" not in ls.calls[0].args


def test_unknown_method(web: WebClient) -> None:
    assert error_of(web.api_call, "chat.frobnicate") == "unknown_method"


def test_auth_test_describes_the_bot(ls: LocalSlack, web: WebClient) -> None:
    answer = web.auth_test()
    assert (answer["user_id"], answer["team_id"], answer["bot_id"]) == ("UBOT", "T0LOCAL", "B0LOCAL")
    assert answer["url"] == ls.url + "/"


# ---------------------------------------------------------------- chat.postMessage


def test_post_message_returns_slack_shape_and_stores_blocks(ls: LocalSlack, web: WebClient) -> None:
    answer = web.chat_postMessage(
        channel=TRIAGE, text="fallback", blocks=card(), metadata={"event_type": "x", "event_payload": {}}
    )
    assert answer["channel"] == TRIAGE
    assert answer["message"]["ts"] == answer["ts"] and answer["message"]["bot_id"] == "B0LOCAL"
    [stored] = ls.messages(TRIAGE)
    assert (stored.ts, stored.user, stored.text, stored.edited, stored.thread_ts) == (
        answer["ts"],
        "UBOT",
        "fallback",
        False,
        None,
    )
    assert stored.blocks[1]["elements"][0]["action_id"] == "ack"
    assert all(b.get("block_id") for b in stored.blocks), "Slack fills in missing block_ids"
    assert stored["text"] == stored.text, "records read like dicts too"
    assert ls.calls_to("chat.postMessage")[0].args["blocks"] == card(), "JSON args are logged decoded"


def test_blocks_may_arrive_as_a_form_encoded_json_string(ls: LocalSlack) -> None:
    answer = httpx.post(
        ls.api_url + "chat.postMessage",
        data={"channel": TRIAGE, "text": "t", "blocks": json.dumps(card("from form"))},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.json()["ok"] is True
    assert ls.messages(TRIAGE)[0].blocks[0]["text"]["text"] == "from form"


@pytest.mark.parametrize(
    "target",
    [pytest.param(REPORTER, id="user-id"), pytest.param("dm", id="dm-id")],
)
def test_post_to_a_user_lands_in_the_bots_dm(ls: LocalSlack, web: WebClient, target: str) -> None:
    dm = ls.dm_channel(REPORTER)
    answer = web.chat_postMessage(channel=dm if target == "dm" else target, text="psst")
    assert dm.startswith("D") and answer["channel"] == dm
    assert [m.text for m in ls.messages(dm)] == ["psst"]
    assert web.conversations_open(users=REPORTER)["channel"]["id"] == dm


def test_post_by_channel_name(ls: LocalSlack, web: WebClient) -> None:
    assert web.chat_postMessage(channel="#safety-triage", text="named")["channel"] == TRIAGE


def test_threads_count_replies_and_keep_them_out_of_the_channel(ls: LocalSlack, web: WebClient) -> None:
    parent = web.chat_postMessage(channel=TRIAGE, text="parent")["ts"]
    first = web.chat_postMessage(channel=TRIAGE, text="one", thread_ts=parent)["ts"]
    web.chat_postMessage(channel=TRIAGE, text="two", thread_ts=first)  # a reply's ts still threads under the parent
    ls.post_user_message(REPORTER, TRIAGE, "three", thread_ts=parent)
    assert [m.text for m in ls.messages(TRIAGE)] == ["parent"]
    assert [(m.text, m.thread_ts) for m in ls.replies(TRIAGE, parent)] == [
        ("one", parent),
        ("two", parent),
        ("three", parent),
    ]
    head = ls.message(TRIAGE, parent)
    assert (head.reply_count, head.reply_users, head.thread_ts) == (3, ["UBOT", REPORTER], parent)


def test_timestamps_strictly_increase_even_when_the_clock_stands_still(
    ls: LocalSlack, web: WebClient, fake_clock: WorkspaceClock
) -> None:
    stamps = [web.chat_postMessage(channel=TRIAGE, text=str(i))["ts"] for i in range(3)]
    fake_clock.advance(60)
    stamps.append(web.chat_postMessage(channel=TRIAGE, text="later")["ts"])
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 4
    assert stamps[0] == "1763942400.000000" and stamps[1] == "1763942400.000001"
    assert stamps[3] == "1763942460.000000"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param({"channel": "C_NOPE", "text": "x"}, "channel_not_found", id="unknown-channel"),
        pytest.param({"channel": "", "text": "x"}, "channel_not_found", id="missing-channel"),
        pytest.param({"channel": SECRET_ROOM, "text": "x"}, "channel_not_found", id="private-without-bot"),
        pytest.param({"channel": TRIAGE}, "no_text", id="no-text-no-blocks"),
        pytest.param({"channel": TRIAGE, "text": "x" * 40_001}, "msg_too_long", id="msg-too-long"),
        pytest.param({"channel": TRIAGE, "text": "x", "blocks": [section("s")] * 51}, "invalid_blocks", id="51-blocks"),
        pytest.param(
            {"channel": TRIAGE, "text": "x", "blocks": [section("s" * 3001)]}, "invalid_blocks", id="long-section"
        ),
        pytest.param(
            {"channel": TRIAGE, "text": "x", "blocks": [{"type": "marquee"}]}, "invalid_blocks", id="bad-block-type"
        ),
        pytest.param(
            {"channel": TRIAGE, "text": "x", "blocks": "[not json"}, "invalid_blocks_format", id="blocks-not-json"
        ),
        pytest.param(
            {"channel": TRIAGE, "text": "x", "thread_ts": "1.000001"}, "thread_not_found", id="unknown-thread"
        ),
        pytest.param(
            {"channel": TRIAGE, "text": "x", "metadata": {"event_payload": {}}},
            "invalid_metadata_format",
            id="metadata-without-type",
        ),
    ],
)
def test_post_message_refusals(ls: LocalSlack, web: WebClient, kwargs: dict[str, Any], error: str) -> None:
    refused = refusal(web.api_call, "chat.postMessage", json=kwargs)  # api_call: no client-side text warning
    assert refused.response.status_code == 200 and refused.response["error"] == error
    assert ls.messages(TRIAGE) == []


def test_invalid_blocks_explain_themselves(web: WebClient) -> None:
    refused = refusal(web.chat_postMessage, channel=TRIAGE, text="x", blocks=[section("ok"), section("s" * 3001)])
    assert refused.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 3001 characters [json-pointer:/blocks/1/text/text]"
    ]


# ---------------------------------------------------------------- update, ephemeral, permalink, delete, reactions


def test_update_edits_in_place_and_keeps_omitted_fields(ls: LocalSlack, web: WebClient) -> None:
    ts = web.chat_postMessage(channel=TRIAGE, text="v1", blocks=card("first"))["ts"]
    web.chat_update(channel=TRIAGE, ts=ts, text="v2")
    kept = ls.message(TRIAGE, ts)
    assert (kept.text, kept.edited, kept.blocks[0]["text"]["text"]) == ("v2", True, "first")
    answer = web.chat_update(channel=TRIAGE, ts=ts, text="v3", blocks=card("second"))
    assert answer["message"]["edited"]["user"] == "UBOT"
    assert [m.blocks[0]["text"]["text"] for m in ls.messages(TRIAGE)] == ["second"]


@pytest.mark.parametrize(
    ("make_target", "kwargs", "error"),
    [
        pytest.param("bot", {"ts": "1.000001"}, "message_not_found", id="unknown-ts"),
        pytest.param("human", {}, "cant_update_message", id="human-message"),
        pytest.param(
            "bot",
            {"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]},
            "invalid_blocks",
            id="long-header",
        ),
        pytest.param("bot", {"channel": "C_GONE"}, "channel_not_found", id="unknown-channel"),
    ],
)
def test_update_refusals(ls: LocalSlack, web: WebClient, make_target: str, kwargs: dict[str, Any], error: str) -> None:
    if make_target == "bot":
        ts = web.chat_postMessage(channel=TRIAGE, text="orig")["ts"]
    else:
        ts = ls.post_user_message(REPORTER, TRIAGE, "orig").ts
    args = {"channel": TRIAGE, "ts": ts, "text": "new", **kwargs}
    assert error_of(web.chat_update, **args) == error
    assert ls.message(TRIAGE, ts).text == "orig"


def test_ephemeral_is_shown_only_to_its_user(ls: LocalSlack, web: WebClient) -> None:
    answer = web.chat_postEphemeral(channel=TRIAGE, user=REPORTER, text="only you", blocks=[section("secret")])
    [shown] = ls.ephemerals(REPORTER)
    assert (shown.ts, shown.channel, shown.text, shown.source) == (
        answer["message_ts"],
        TRIAGE,
        "only you",
        "chat.postEphemeral",
    )
    assert ls.ephemerals(TRIAGER) == [] and ls.messages(TRIAGE) == []


@pytest.mark.parametrize(
    ("channel", "user", "error"),
    [
        pytest.param(PRIVATE, REPORTER, "user_not_in_channel", id="not-a-member"),
        pytest.param(TRIAGE, "U_GHOST", "user_not_found", id="unknown-user"),
    ],
)
def test_ephemeral_refusals(ls: LocalSlack, web: WebClient, channel: str, user: str, error: str) -> None:
    assert error_of(web.chat_postEphemeral, channel=channel, user=user, text="x") == error
    assert ls.ephemerals(user) == []


def test_permalinks_point_back_at_the_fake(ls: LocalSlack, web: WebClient) -> None:
    parent = web.chat_postMessage(channel=TRIAGE, text="parent")["ts"]
    reply = web.chat_postMessage(channel=TRIAGE, text="reply", thread_ts=parent)["ts"]
    link = web.chat_getPermalink(channel=TRIAGE, message_ts=parent)["permalink"]
    assert link == f"{ls.url}/archives/{TRIAGE}/p{parent.replace('.', '')}"
    assert httpx.get(link).json()["message"]["text"] == "parent"
    reply_link = web.chat_getPermalink(channel=TRIAGE, message_ts=reply)["permalink"]
    assert reply_link.endswith(f"?thread_ts={parent}&cid={TRIAGE}")
    assert error_of(web.chat_getPermalink, channel=TRIAGE, message_ts="9.000009") == "message_not_found"


def test_delete_removes_and_a_parent_with_replies_leaves_a_tombstone(ls: LocalSlack, web: WebClient) -> None:
    lone = web.chat_postMessage(channel=TRIAGE, text="lone")["ts"]
    parent = web.chat_postMessage(channel=TRIAGE, text="parent")["ts"]
    web.chat_postMessage(channel=TRIAGE, text="reply", thread_ts=parent)
    web.chat_delete(channel=TRIAGE, ts=lone)
    web.chat_delete(channel=TRIAGE, ts=parent)
    assert [(m.ts, m.subtype) for m in ls.messages(TRIAGE)] == [(parent, "tombstone")]
    assert [m.text for m in ls.replies(TRIAGE, parent)] == ["reply"]
    human = ls.post_user_message(REPORTER, TRIAGE, "mine").ts
    assert error_of(web.chat_delete, channel=TRIAGE, ts=human) == "cant_delete_message"
    assert error_of(web.chat_delete, channel=TRIAGE, ts=lone) == "message_not_found"


def test_reactions(ls: LocalSlack, web: WebClient) -> None:
    ls.workspace.scopes.add("reactions:write")  # Tripwire's manifest does not ask for it; an app that reacts would
    ts = web.chat_postMessage(channel=TRIAGE, text="x")["ts"]
    web.reactions_add(channel=TRIAGE, timestamp=ts, name=":eyes:")
    assert ls.message(TRIAGE, ts).reactions == [{"name": "eyes", "users": ["UBOT"], "count": 1}]
    assert error_of(web.reactions_add, channel=TRIAGE, timestamp=ts, name="eyes") == "already_reacted"


# ---------------------------------------------------------------- conversations and users


def test_conversations_info_list_and_members(ls: LocalSlack, web: WebClient) -> None:
    info = web.conversations_info(channel=TRIAGE)["channel"]
    assert (info["id"], info["name"], info["is_private"], info["is_member"]) == (TRIAGE, "safety-triage", False, True)
    first = web.conversations_list(types="public_channel,private_channel", limit=1)
    cursor = first["response_metadata"]["next_cursor"]
    second = web.conversations_list(types="public_channel,private_channel", limit=1, cursor=cursor)
    names = [c["name"] for c in first["channels"] + second["channels"]]
    assert names == ["safety-triage", "leads"], "the bot does not list a private channel it is not in"
    assert second["response_metadata"]["next_cursor"] == ""
    assert web.conversations_members(channel=TRIAGE)["members"] == [REPORTER, TRIAGER, "UBOT"]
    assert error_of(web.conversations_info, channel="C_NOPE") == "channel_not_found"


@pytest.mark.parametrize(
    ("user", "tz", "offset", "label"),
    [
        pytest.param(REPORTER, "Europe/London", 0, "Greenwich Mean Time", id="london-in-november"),
        pytest.param(TRIAGER, "America/Los_Angeles", -8 * 3600, "Pacific Standard Time", id="los-angeles"),
    ],
)
def test_users_info_carries_time_zone_details(web: WebClient, user: str, tz: str, offset: int, label: str) -> None:
    info = web.users_info(user=user)["user"]
    assert (info["tz"], info["tz_offset"], info["tz_label"]) == (tz, offset, label)
    assert info["profile"]["real_name"] == info["real_name"]


def test_time_zone_offset_follows_the_clock(ls: LocalSlack, web: WebClient, fake_clock: WorkspaceClock) -> None:
    fake_clock.set(1783000000.0)  # early July 2026
    info = web.users_info(user=REPORTER)["user"]
    assert (info["tz_offset"], info["tz_label"]) == (3600, "British Summer Time")


def test_users_list_and_unknown_user(web: WebClient) -> None:
    names = {u["name"] for u in web.users_list()["members"]}
    assert {"rita", "tom", "olga", "tripwire"} <= names
    assert error_of(web.users_info, user="U_GHOST") == "user_not_found"


# ---------------------------------------------------------------- views


def test_views_open_with_a_fresh_trigger(ls: LocalSlack, web: WebClient, receiver: Receiver) -> None:
    trigger = trigger_for(ls, receiver)
    answer = web.views_open(trigger_id=trigger, view=modal(callback_id="report", private_metadata="42"))
    [opened] = ls.open_views(REPORTER)
    assert answer["view"]["id"] == opened.id and opened.callback_id == "report"
    assert (answer["view"]["root_view_id"], answer["view"]["private_metadata"]) == (opened.id, "42")


@pytest.mark.parametrize(
    ("seconds_later", "use_twice", "error"),
    [
        pytest.param(3.0, False, None, id="three-seconds-is-still-fine"),
        pytest.param(3.01, False, "expired_trigger_id", id="expired"),
        pytest.param(0.0, True, "exchanged_trigger_id", id="reused"),
    ],
)
def test_trigger_ids_expire_and_work_once(
    ls: LocalSlack,
    web: WebClient,
    receiver: Receiver,
    fake_clock: WorkspaceClock,
    seconds_later: float,
    use_twice: bool,
    error: str | None,
) -> None:
    trigger = trigger_for(ls, receiver)
    fake_clock.advance(seconds_later)
    if use_twice:
        web.views_open(trigger_id=trigger, view=modal())
    if error is None:
        web.views_open(trigger_id=trigger, view=modal())
        assert len(ls.open_views(REPORTER)) == 1
    else:
        assert error_of(web.views_open, trigger_id=trigger, view=modal(title="Second")) == error
        assert [v.title for v in ls.open_views(REPORTER)] == (
            [{"type": "plain_text", "text": "Report"}] if use_twice else []
        )


def test_unknown_trigger_and_invalid_view(ls: LocalSlack, web: WebClient, receiver: Receiver) -> None:
    assert error_of(web.views_open, trigger_id="1.2.3", view=modal()) == "invalid_trigger_id"
    refused = refusal(web.views_open, trigger_id=trigger_for(ls, receiver), view=modal(title="x" * 25))
    assert refused.response["error"] == "invalid_arguments"
    assert refused.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"
    ]
    assert ls.open_views(REPORTER) == []


def test_push_stacks_up_to_three(ls: LocalSlack, web: WebClient, receiver: Receiver) -> None:
    web.views_open(trigger_id=trigger_for(ls, receiver), view=modal("One"))
    web.views_push(trigger_id=trigger_for(ls, receiver), view=modal("Two"))
    web.views_push(trigger_id=trigger_for(ls, receiver), view=modal("Three"))
    assert error_of(web.views_push, trigger_id=trigger_for(ls, receiver), view=modal("Four")) == "push_limit_reached"
    stack = ls.open_views(REPORTER)
    assert [v.title["text"] for v in stack if v.title] == ["One", "Two", "Three"]
    assert stack[2].previous_view_id == stack[1].id and stack[2].root_view_id == stack[0].id


def test_views_update_by_id_or_external_id_with_hash(ls: LocalSlack, web: WebClient, receiver: Receiver) -> None:
    opened = web.views_open(trigger_id=trigger_for(ls, receiver), view=modal("One", external_id="ext-1"))["view"]
    updated = web.views_update(view_id=opened["id"], hash=opened["hash"], view=modal("Two"))["view"]
    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    assert error_of(web.views_update, view_id=opened["id"], hash=opened["hash"], view=modal("Stale")) == "hash_conflict"
    web.views_update(view_id=opened["id"], view=modal("Three", external_id="ext-2"))
    web.views_update(external_id="ext-2", view=modal("Four"))
    assert ls.open_views(REPORTER)[0].title == {"type": "plain_text", "text": "Four"}
    assert error_of(web.views_update, view_id="V_NOPE", view=modal()) == "not_found"


def test_views_publish_sets_app_home(ls: LocalSlack, web: WebClient) -> None:
    home = {"type": "home", "blocks": [section("Welcome")]}
    first = web.views_publish(user_id=REPORTER, view=home)["view"]
    again = web.views_publish(user_id=REPORTER, view={**home, "blocks": [section("Again")]}, hash=first["hash"])["view"]
    assert again["id"] == first["id"]
    published = ls.home_view(REPORTER)
    assert published is not None and published.blocks[0]["text"]["text"] == "Again"
    assert error_of(web.views_publish, user_id=REPORTER, view=home, hash=first["hash"]) == "hash_conflict"
    assert error_of(web.views_publish, user_id=REPORTER, view=modal()) == "invalid_arguments"
    assert ls.home_view(TRIAGER) is None


# ---------------------------------------------------------------- scripted failures


def test_rate_limit_reaches_webclient_as_429_with_retry_after(ls: LocalSlack, web: WebClient) -> None:
    ls.fail("chat.postMessage", error="ratelimited", status=429, retry_after=2, times=1)
    refused = refusal(web.chat_postMessage, channel=TRIAGE, text="x")
    assert refused.response.status_code == 429
    assert refused.response.headers["Retry-After"] == "2"
    assert refused.response["error"] == "ratelimited"
    web.chat_postMessage(channel=TRIAGE, text="second try")
    assert [m.text for m in ls.messages(TRIAGE)] == ["second try"]
    assert [(c.ok, c.status, c.error) for c in ls.calls] == [(False, 429, "ratelimited"), (True, 200, None)]


@pytest.mark.parametrize(
    ("method", "fail", "status", "json_body"),
    [
        pytest.param("chat.postMessage", {"error": "channel_not_found"}, 200, True, id="ok-false"),
        pytest.param("chat.postMessage", {"status": 503}, 503, False, id="http-503-html"),
        pytest.param(None, {"status": 500}, 500, False, id="any-method-500"),
        pytest.param("chat.postMessage", {"error": "ratelimited"}, 429, True, id="ratelimited-implies-429"),
    ],
)
def test_scripted_failures_look_like_slack(
    ls: LocalSlack, method: str | None, fail: dict[str, Any], status: int, json_body: bool
) -> None:
    ls.fail(method, times=2, **fail)
    for _ in range(2):
        answer = httpx.post(
            ls.api_url + "chat.postMessage",
            json={"channel": TRIAGE, "text": "x"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert answer.status_code == status
        assert answer.headers["content-type"].startswith("application/json") == json_body
    assert ls.messages(TRIAGE) == []
    recovered = httpx.post(
        ls.api_url + "chat.postMessage",
        json={"channel": TRIAGE, "text": "x"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert recovered.json()["ok"] is True


def test_a_failure_scripted_for_one_method_leaves_others_alone(ls: LocalSlack, web: WebClient) -> None:
    ls.fail("chat.update", status=503, times=1)
    ts = web.chat_postMessage(channel=TRIAGE, text="fine")["ts"]
    assert refusal(web.chat_update, channel=TRIAGE, ts=ts, text="edit").response.status_code == 503
    assert ls.message(TRIAGE, ts).text == "fine"
    assert [c.error for c in ls.calls_to("chat.update")] == ["http_503"]


# ---------------------------------------------------------------- files


def test_file_upload_round_trip_through_webclient(ls: LocalSlack, web: WebClient) -> None:
    parent = web.chat_postMessage(channel=TRIAGE, text="incident")["ts"]
    content = b"transcript line 1\nline 2\n"
    answer = web.files_upload_v2(
        channel=TRIAGE,
        content=content,
        filename="transcript.txt",
        title="Transcript",
        initial_comment="attached",
        thread_ts=parent,
    )
    file_id = answer["file"]["id"]
    assert ls.file_content(file_id) == content
    [reply] = ls.replies(TRIAGE, parent)
    assert reply.text == "attached"
    assert [(f["id"], f["title"], f["size"], f["mimetype"]) for f in reply.files] == [
        (file_id, "Transcript", len(content), "text/plain")
    ]
    assert httpx.get(reply.files[0]["url_private"]).content == content
    assert [c.method for c in ls.calls] == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]


def test_completing_an_upload_that_never_happened_is_refused(ls: LocalSlack, web: WebClient) -> None:
    reserved = web.files_getUploadURLExternal(filename="a.txt", length=3)
    assert reserved["upload_url"].startswith(ls.url + "/upload/")
    assert (
        error_of(web.files_completeUploadExternal, files=[{"id": reserved["file_id"]}], channel_id=TRIAGE)
        == "invalid_arguments"
    )
    assert error_of(web.files_completeUploadExternal, files=[{"id": "F_NOPE"}]) == "file_not_found"
    assert ls.messages(TRIAGE) == []


# ---------------------------------------------------------------- response_url


def response_url_from_click(ls: LocalSlack, web: WebClient, receiver: Receiver) -> tuple[str, str]:
    ts = web.chat_postMessage(channel=TRIAGE, text="card", blocks=card())["ts"]
    ls.click_button(TRIAGER, TRIAGE, ts, "ack")
    return ts, str(receiver.last.payload()["response_url"])


@pytest.mark.parametrize(
    ("body", "ephemeral_texts", "channel_texts"),
    [
        pytest.param({"text": "just you"}, ["just you"], ["card"], id="default-is-ephemeral"),
        pytest.param({"text": "just you", "response_type": "ephemeral"}, ["just you"], ["card"], id="ephemeral"),
        pytest.param({"text": "everyone", "response_type": "in_channel"}, [], ["card", "everyone"], id="in-channel"),
        pytest.param({"text": "edited", "replace_original": True}, [], ["edited"], id="replace-original"),
        pytest.param({"delete_original": "true"}, [], [], id="delete-original"),
    ],
)
def test_response_url_posts(
    ls: LocalSlack,
    web: WebClient,
    receiver: Receiver,
    body: dict[str, Any],
    ephemeral_texts: list[str],
    channel_texts: list[str],
) -> None:
    _, url = response_url_from_click(ls, web, receiver)
    answer = httpx.post(url, json=body)
    assert answer.status_code == 200
    assert [e.text for e in ls.ephemerals(TRIAGER)] == ephemeral_texts
    assert all(e.source == "response_url" for e in ls.ephemerals(TRIAGER))
    assert [m.text for m in ls.messages(TRIAGE)] == channel_texts
    assert [(p.method, p.ok) for p in ls.response_posts] == [("response_url", True)]


def test_response_url_refuses_bad_blocks_and_wears_out(
    ls: LocalSlack, web: WebClient, receiver: Receiver, fake_clock: WorkspaceClock
) -> None:
    _, url = response_url_from_click(ls, web, receiver)
    bad = httpx.post(url, json={"text": "x", "blocks": [{"type": "nope"}]})
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_blocks")
    for n in range(5):
        assert httpx.post(url, json={"text": f"n{n}"}).status_code == 200
    assert httpx.post(url, json={"text": "sixth"}).json()["error"] == "used_url"
    _, fresh = response_url_from_click(ls, web, receiver)
    fake_clock.advance(30 * 60 + 1)
    assert httpx.post(fresh, json={"text": "late"}).json()["error"] == "expired_url"
    assert [e.text for e in ls.ephemerals(TRIAGER)] == [f"n{n}" for n in range(5)]


# ---------------------------------------------------------------- housekeeping


def test_snapshot_is_json_and_served_over_http(ls: LocalSlack, web: WebClient) -> None:
    parent = web.chat_postMessage(channel=TRIAGE, text="parent")["ts"]
    web.chat_postMessage(channel=TRIAGE, text="reply", thread_ts=parent)
    web.views_publish(user_id=REPORTER, view={"type": "home", "blocks": [section("home")]})
    snap = json.loads(json.dumps(ls.snapshot()))
    served = httpx.get(ls.url + "/localslack/snapshot").json()
    triage = next(c for c in served["channels"] if c["id"] == TRIAGE)
    assert [m["text"] for m in triage["messages"]] == ["parent"]
    assert [m["text"] for m in triage["threads"][parent]] == ["reply"]
    assert served["homes"][REPORTER]["blocks"][0]["text"]["text"] == "home"
    assert len(snap["calls"]) == len(served["calls"]) == 3


def test_reset_keeps_people_and_channels_only(ls: LocalSlack, web: WebClient) -> None:
    web.chat_postMessage(channel=TRIAGE, text="x")
    ls.fail("chat.postMessage", error="channel_not_found")
    ls.reset()
    assert ls.messages(TRIAGE) == [] and ls.calls == []
    assert web.chat_postMessage(channel=TRIAGE, text="after reset")["ok"] is True
    assert web.users_info(user=REPORTER)["user"]["name"] == "rita"


def test_wait_for_call_sees_calls_made_on_another_thread(ls: LocalSlack, web: WebClient) -> None:
    worker = threading.Thread(target=lambda: web.chat_postMessage(channel=TRIAGE, text="from a thread"))
    worker.start()
    call = ls.wait_for_call("chat.postMessage", timeout=10)
    worker.join()
    assert (call.ok, call.args["text"]) == (True, "from a thread")
    with pytest.raises(TimeoutError):
        ls.wait_for(lambda: ls.calls_to("chat.delete"), timeout=0.05)
