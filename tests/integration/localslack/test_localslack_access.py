"""localslack refuses where Slack does: missing scopes, channels without the bot, names for IDs, file counts."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from slack_sdk import WebClient

from bot.slack.manifest import BOT_SCOPES
from localslack import LocalSlack
from localslack.access import MAX_FILES_PER_UPLOAD
from localslack.state import DEFAULT_SCOPES

from .conftest import PRIVATE, SECRET_ROOM, TOKEN, TRIAGE, TRIAGER
from .test_localslack_webapi import error_of, refusal

OUTSIDE = "C_OUTSIDE"  # a public channel nobody invited the bot to


@pytest.fixture
def outside(ls: LocalSlack) -> str:
    ls.add_channel(OUTSIDE, name="random", members=[TRIAGER], bot_member=False)
    return OUTSIDE


def upload(web: WebClient, count: int = 1) -> list[dict[str, Any]]:
    """Reserve and send `count` one-line files; return the `files` argument that completes them."""
    files = []
    for index in range(count):
        reserved = web.files_getUploadURLExternal(filename=f"f{index}.txt", length=2)
        assert httpx.post(reserved["upload_url"], content=b"ok").status_code == 200
        files.append({"id": reserved["file_id"]})
    return files


# ---------------------------------------------------------------- scopes


def test_granted_scopes_are_the_manifests() -> None:
    assert set(BOT_SCOPES) == DEFAULT_SCOPES


@pytest.mark.parametrize(
    ("method", "arguments", "taken", "needed"),
    [
        pytest.param("chat.postMessage", {"channel": TRIAGE, "text": "x"}, "chat:write", "chat:write", id="post"),
        pytest.param("users.info", {"user": TRIAGER}, "users:read", "users:read", id="users"),
        pytest.param(
            "conversations.history",
            {"channel": TRIAGE},
            "channels:history",
            "channels:history,groups:history,im:history,mpim:history",
            id="history",
        ),
        pytest.param(
            "files.getUploadURLExternal", {"filename": "a", "length": 1}, "files:write", "files:write", id="files"
        ),
    ],
)
def test_a_method_without_its_scope_is_missing_scope(
    ls: LocalSlack, method: str, arguments: dict[str, Any], taken: str, needed: str
) -> None:
    # Take away every scope that would do, as an app installed from an older manifest would lack them.
    ls.workspace.scopes -= set(needed.split(","))
    answer = httpx.post(ls.api_url + method, data=arguments, headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert answer["ok"] is False and answer["error"] == "missing_scope"
    assert answer["needed"] == needed and taken not in answer["provided"].split(",")
    assert answer["provided"] == ",".join(sorted(ls.workspace.scopes))
    assert ls.messages(TRIAGE) == []


def test_a_method_with_its_scope_works(ls: LocalSlack, web: WebClient) -> None:
    assert web.users_info(user=TRIAGER)["user"]["id"] == TRIAGER
    assert web.chat_getPermalink(channel=TRIAGE, message_ts=web.chat_postMessage(channel=TRIAGE, text="x")["ts"])["ok"]


def test_reset_grants_the_manifests_scopes_again(ls: LocalSlack) -> None:
    ls.workspace.scopes.clear()
    ls.reset()
    assert ls.workspace.scopes == set(BOT_SCOPES)


# ---------------------------------------------------------------- membership


def test_public_channel_without_the_bot_needs_chat_write_public(ls: LocalSlack, web: WebClient, outside: str) -> None:
    assert web.chat_postMessage(channel=outside, text="with chat:write.public")["ok"]
    ls.workspace.scopes.discard("chat:write.public")
    assert error_of(web.chat_postMessage, channel=outside, text="without") == "not_in_channel"
    assert [m.text for m in ls.messages(outside)] == ["with chat:write.public"]


def test_private_channel_without_the_bot_is_not_found(ls: LocalSlack, web: WebClient) -> None:
    assert error_of(web.chat_postMessage, channel=SECRET_ROOM, text="x") == "channel_not_found"
    assert error_of(web.chat_postMessage, channel="#no-bots", text="x") == "channel_not_found"
    assert web.chat_postMessage(channel=PRIVATE, text="invited")["ok"]


def test_file_share_needs_membership_even_in_a_public_channel(ls: LocalSlack, web: WebClient, outside: str) -> None:
    files = upload(web)
    assert error_of(web.files_completeUploadExternal, files=files, channel_id=outside) == "not_in_channel"
    assert error_of(web.files_completeUploadExternal, files=files, channel_id=SECRET_ROOM) == "channel_not_found"
    assert error_of(web.files_completeUploadExternal, files=files, channels=[TRIAGE, outside]) == "not_in_channel"
    assert ls.messages(outside) == [] and ls.messages(TRIAGE) == []
    assert web.files_completeUploadExternal(files=files, channel_id=TRIAGE)["ok"]
    assert len(ls.messages(TRIAGE)) == 1


def test_reading_a_public_channel_needs_membership(ls: LocalSlack, web: WebClient, outside: str) -> None:
    ts = web.chat_postMessage(channel=outside, text="posted with chat:write.public")["ts"]
    assert error_of(web.conversations_history, channel=outside) == "not_in_channel"
    assert error_of(web.conversations_replies, channel=outside, ts=ts) == "not_in_channel"
    assert web.conversations_history(channel=TRIAGE)["ok"]


# ---------------------------------------------------------------- IDs, not names


@pytest.mark.parametrize("ref", ["#safety-triage", "safety-triage"])
def test_edits_and_links_need_the_channel_id(ls: LocalSlack, web: WebClient, ref: str) -> None:
    ts = web.chat_postMessage(channel=ref, text="posting by name works")["ts"]  # chat.postMessage takes names
    assert error_of(web.chat_update, channel=ref, ts=ts, text="edit") == "channel_not_found"
    assert error_of(web.chat_getPermalink, channel=ref, message_ts=ts) == "channel_not_found"
    assert error_of(web.chat_delete, channel=ref, ts=ts) == "channel_not_found"
    assert error_of(web.files_completeUploadExternal, files=upload(web), channel_id=ref) == "channel_not_found"
    assert [m.text for m in ls.messages(TRIAGE)] == ["posting by name works"]
    assert web.chat_update(channel=TRIAGE, ts=ts, text="edit")["ok"]


# ---------------------------------------------------------------- limits


def test_more_than_ten_files_in_one_upload_is_refused(ls: LocalSlack, web: WebClient) -> None:
    files = upload(web, MAX_FILES_PER_UPLOAD + 1)
    error = refusal(web.files_completeUploadExternal, files=files, channel_id=TRIAGE)
    assert error.response["error"] == "invalid_arguments"
    assert ls.messages(TRIAGE) == []
    shared = web.files_completeUploadExternal(files=files[:MAX_FILES_PER_UPLOAD], channel_id=TRIAGE)
    assert len(shared["files"]) == MAX_FILES_PER_UPLOAD == 10
