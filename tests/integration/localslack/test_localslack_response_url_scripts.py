"""Scripted failures and slow answers for response_url POSTs: only those that name `response_url` apply to them, a
5xx leaves the message as it was, a held answer has already replaced it."""

from __future__ import annotations

import threading

import httpx
from slack_sdk import WebClient

from localslack import LocalSlack

from .conftest import TRIAGE, Receiver
from .test_localslack_webapi import response_url_from_click


def test_response_url_failure_scripted_by_name_answers_500_and_changes_nothing(
    ls: LocalSlack, web: WebClient, receiver: Receiver
) -> None:
    _, url = response_url_from_click(ls, web, receiver)
    ls.fail("response_url", status=500)
    answer = httpx.post(url, json={"text": "edited", "replace_original": True}, trust_env=False)
    assert answer.status_code == 500
    assert [m.text for m in ls.messages(TRIAGE)] == ["card"]
    [post] = ls.response_posts
    assert (post.ok, post.status, post.args["text"]) == (False, 500, "edited")
    # A refused POST is not one of the URL's five uses: the next one goes through.
    assert httpx.post(url, json={"text": "edited", "replace_original": True}, trust_env=False).status_code == 200
    assert [m.text for m in ls.messages(TRIAGE)] == ["edited"]


def test_failure_for_any_method_leaves_response_url_posts_alone(
    ls: LocalSlack, web: WebClient, receiver: Receiver
) -> None:
    _, url = response_url_from_click(ls, web, receiver)
    ls.fail(None, status=500)
    assert httpx.post(url, json={"text": "edited", "replace_original": True}, trust_env=False).status_code == 200
    assert [m.text for m in ls.messages(TRIAGE)] == ["edited"]


def test_held_response_url_answer_comes_after_the_message_is_replaced(
    ls: LocalSlack, web: WebClient, receiver: Receiver
) -> None:
    _, url = response_url_from_click(ls, web, receiver)
    hold = ls.hold("response_url", seconds=None)
    answers: list[int] = []
    poster = threading.Thread(
        target=lambda: answers.append(
            httpx.post(url, json={"text": "edited", "replace_original": True}, trust_env=False, timeout=30).status_code
        )
    )
    poster.start()
    try:
        assert hold.reached.wait(10)
        assert [m.text for m in ls.messages(TRIAGE)] == ["edited"] and answers == []
    finally:
        hold.release()
        poster.join(30)
    assert answers == [200]
