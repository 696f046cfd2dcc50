"""Reading a conversation back (oldest/latest/limit, metadata only on request) and scripted slow answers."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from localslack import LocalSlack, WorkspaceClock

from .conftest import TOKEN, TRIAGE

TAG = {"event_type": "tripwire_outbox", "event_payload": {"outbox_id": 7}}


def client(ls: LocalSlack, **options: Any) -> WebClient:
    return WebClient(token=TOKEN, base_url=ls.api_url, retry_handlers=[], **options)


def post_three(ls: LocalSlack, clock: WorkspaceClock) -> list[str]:
    web = client(ls)
    stamps = []
    for index in range(3):
        stamps.append(str(web.chat_postMessage(channel=TRIAGE, text=f"m{index}", metadata=TAG)["ts"]))
        clock.advance(10)
    return stamps


def test_history_keeps_metadata_back_unless_include_all_metadata(ls: LocalSlack, fake_clock: WorkspaceClock) -> None:
    post_three(ls, fake_clock)
    web = client(ls)
    plain = web.conversations_history(channel=TRIAGE)["messages"]
    tagged = web.conversations_history(channel=TRIAGE, include_all_metadata=True)["messages"]
    assert [m.get("metadata") for m in plain] == [None, None, None]
    assert [m["metadata"] for m in tagged] == [TAG, TAG, TAG]


def test_history_honours_oldest_latest_inclusive_and_limit(ls: LocalSlack, fake_clock: WorkspaceClock) -> None:
    first, _, third = post_three(ls, fake_clock)
    web = client(ls)

    def texts(**args: Any) -> list[str]:
        return [m["text"] for m in web.conversations_history(channel=TRIAGE, **args)["messages"]]

    assert texts() == ["m2", "m1", "m0"]
    assert texts(oldest=first) == ["m2", "m1"]
    assert texts(oldest=first, inclusive=True) == ["m2", "m1", "m0"]
    assert texts(latest=third) == ["m1", "m0"]
    assert texts(oldest=first, latest=third, inclusive=True) == ["m2", "m1", "m0"]
    page = web.conversations_history(channel=TRIAGE, limit=2)
    assert [m["text"] for m in page["messages"]] == ["m2", "m1"] and page["has_more"] is True
    rest = web.conversations_history(channel=TRIAGE, limit=2, cursor=page["response_metadata"]["next_cursor"])
    assert [m["text"] for m in rest["messages"]] == ["m0"] and rest["has_more"] is False


def test_replies_filter_by_oldest_and_show_metadata_on_request(ls: LocalSlack, fake_clock: WorkspaceClock) -> None:
    web = client(ls)
    parent = str(web.chat_postMessage(channel=TRIAGE, text="card")["ts"])
    fake_clock.advance(10)
    early = str(web.chat_postMessage(channel=TRIAGE, text="r0", thread_ts=parent)["ts"])
    fake_clock.advance(10)
    web.chat_postMessage(channel=TRIAGE, text="r1", thread_ts=parent, metadata=TAG)
    replies = web.conversations_replies(channel=TRIAGE, ts=parent, oldest=early, include_all_metadata=True)
    assert [(m["text"], m.get("metadata")) for m in replies["messages"]] == [("card", None), ("r1", TAG)]
    plain = web.conversations_replies(channel=TRIAGE, ts=parent)["messages"]
    assert [m["text"] for m in plain] == ["card", "r0", "r1"] and all("metadata" not in m for m in plain)


@pytest.mark.parametrize(
    "metadata",
    [
        pytest.param({"event_type": "x"}, id="no-payload"),
        pytest.param({"event_payload": {}}, id="no-type"),
        pytest.param({"event_type": "x", "event_payload": "y"}, id="payload-not-object"),
    ],
)
def test_malformed_metadata_is_refused_and_posts_nothing(ls: LocalSlack, metadata: dict[str, Any]) -> None:
    with pytest.raises(SlackApiError) as caught:
        client(ls).chat_postMessage(channel=TRIAGE, text="x", metadata=metadata)
    assert caught.value.response["error"] == "invalid_metadata_format"
    assert ls.messages(TRIAGE) == []


def test_held_answer_times_the_client_out_but_the_message_is_posted(ls: LocalSlack) -> None:
    hold = ls.hold("chat.postMessage", channel=TRIAGE)
    with pytest.raises(TimeoutError):
        client(ls, timeout=0.5).chat_postMessage(channel=TRIAGE, text="slow")
    assert hold.reached.is_set() and hold.held == 1
    assert [m.text for m in ls.messages(TRIAGE)] == ["slow"]
    hold.release()
    # Only one use was scripted: the next answer comes at once.
    assert client(ls, timeout=5).chat_postMessage(channel=TRIAGE, text="fast")["ok"]


def test_held_answer_does_not_stall_other_calls(ls: LocalSlack) -> None:
    hold = ls.hold("chat.postMessage", channel=TRIAGE)
    answered = threading.Event()

    def slow_post() -> None:
        client(ls, timeout=30).chat_postMessage(channel=TRIAGE, text="slow")
        answered.set()

    worker = threading.Thread(target=slow_post)
    worker.start()
    assert hold.reached.wait(5)
    assert client(ls, timeout=5).auth_test()["ok"]  # answered while the post's answer is held
    assert not answered.is_set()
    hold.release()
    worker.join(10)
    assert answered.is_set()


def test_failure_scoped_to_a_channel_leaves_other_channels_alone(ls: LocalSlack) -> None:
    web = client(ls)
    other = str(web.conversations_open(users="U_REPORTER")["channel"]["id"])
    ls.fail("chat.postMessage", error="not_in_channel", channel=TRIAGE)
    assert web.chat_postMessage(channel=other, text="fine")["ok"]
    with pytest.raises(SlackApiError) as caught:
        web.chat_postMessage(channel=TRIAGE, text="refused")
    assert caught.value.response["error"] == "not_in_channel"
    assert ls.messages(TRIAGE) == []
