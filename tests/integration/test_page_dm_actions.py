"""Page DMs you can act on, over signed HTTP against the local Slack (SQLite and PostgreSQL): a click in the DM
acknowledges the incident, then the card and the DM are both edited in place; a second click is one effect; a click
on the card edits the DM too. The workspace URL their card permalinks are built from comes from auth.test, once."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from sqlmodel import Session, select

from bot.app.asgi import Tripwire
from bot.common.messages import PageUpdate
from bot.slack.calls import WORKSPACE_URL_RETRY_SECONDS, WorkspaceUrl
from db.models import OutboxMessage
from localslack import LocalSlack
from tests.conftest import BOT_TOKEN, TRIAGE_CHANNEL, TRIAGER
from tests.integration.test_incident_lifecycle import _field, card_text, file_incident, timeline
from tests.integration.test_policy_triage import incident, tick


def paged(slack: LocalSlack, bot: Tripwire) -> tuple[str, str, str]:
    """File an incident and fire its first page: (card ts, the triager's DM channel, the page DM's ts)."""
    card = file_incident(slack, bot)
    tick(bot)  # step 1 of the triage route pages the triager
    channel = slack.dm_channel(TRIAGER)
    [page] = slack.messages(channel)
    assert "You are paged for *INC-1*" in page.text
    return _field(card, "ts"), channel, page.ts


def buttons(message: Any) -> list[str]:
    """The action ids of a message's buttons as the local Slack holds it."""
    return [
        element["action_id"]
        for block in message.blocks
        if block.get("type") == "actions"
        for element in block.get("elements", [])
    ]


def updates_of(slack: LocalSlack, since: int) -> dict[str, dict[str, Any]]:
    """The chat.update calls the bot made after the first `since`, by the ts they edited."""
    return {str(call.args["ts"]): call.args for call in slack.calls_to("chat.update")[since:]}


def test_acknowledge_from_the_page_dm_edits_the_card_and_the_dm(slack: LocalSlack, bot: Tripwire) -> None:
    card_ts, dm, page_ts = paged(slack, bot)
    assert buttons(slack.message(dm, page_ts)) == ["incident_acknowledge", "incident_escalate", "page_open_card"]
    before = len(slack.calls_to("chat.update"))

    response = slack.click_button(TRIAGER, dm, page_ts, "incident_acknowledge")
    assert response.status_code == 200
    bot.outbox.drain()

    found = incident(bot)
    assert (found.status, found.assignee) == ("acknowledged", TRIAGER)
    edited = updates_of(slack, before)
    assert set(edited) == {card_ts, page_ts}
    assert edited[page_ts]["channel"] == dm and edited[card_ts]["channel"] == TRIAGE_CHANNEL
    card = slack.message(TRIAGE_CHANNEL, card_ts)
    assert "acknowledged" in card_text(card) and "incident_acknowledge" not in buttons(card)
    page = slack.message(dm, page_ts)
    assert f"Acknowledged by <@{TRIAGER}> <!date^" in page.text
    assert buttons(page) == ["incident_escalate", "page_open_card"]
    assert len(slack.messages(dm)) == 1  # edited in place, nothing new posted to the person


def test_a_second_click_on_the_page_dm_is_one_effect(slack: LocalSlack, bot: Tripwire) -> None:
    card_ts, dm, page_ts = paged(slack, bot)
    before = len(slack.calls_to("chat.update"))
    # Both clicks on the DM as it was, before its edit went out (a double click, or Slack retrying the request).
    first = slack.click_button(TRIAGER, dm, page_ts, "incident_acknowledge")
    second = slack.click_button(TRIAGER, dm, page_ts, "incident_acknowledge")
    assert (first.status_code, second.status_code) == (200, 200)
    bot.outbox.drain()

    actions = [entry.action for entry in timeline(bot)]
    assert actions.count("acknowledge") == 1 and "refused" not in actions
    assert sorted(call["ts"] for call in [*updates_of(slack, before).values()]) == sorted([card_ts, page_ts])
    assert len(slack.calls_to("chat.update")) - before == 2  # one edit of the card, one of the DM
    assert not slack.ephemerals(TRIAGER)  # nobody was told the second click failed: it did nothing


def test_clicks_on_the_page_dm_at_once_are_one_effect(slack: LocalSlack, bot: Tripwire) -> None:
    _, dm, page_ts = paged(slack, bot)
    start = threading.Barrier(4)
    statuses: list[int] = []

    def click() -> None:
        start.wait()
        statuses.append(slack.click_button(TRIAGER, dm, page_ts, "incident_acknowledge").status_code)

    threads = [threading.Thread(target=click) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bot.outbox.drain()
    assert statuses == [200] * 4
    assert [entry.action for entry in timeline(bot)].count("acknowledge") == 1
    assert f"Acknowledged by <@{TRIAGER}>" in slack.message(dm, page_ts).text


def test_acknowledge_on_the_card_edits_the_page_dm_too(slack: LocalSlack, bot: Tripwire) -> None:
    card_ts, dm, page_ts = paged(slack, bot)
    slack.click_button(TRIAGER, TRIAGE_CHANNEL, card_ts, "incident_acknowledge")
    bot.outbox.drain()
    page = slack.message(dm, page_ts)
    assert f"Acknowledged by <@{TRIAGER}>" in page.text and "incident_acknowledge" not in buttons(page)
    # Resolving later edits it again; the edits went out in order, so the DM shows the latest.
    slack.slash_command(TRIAGER, "resolve INC-1")
    bot.outbox.drain()
    page = slack.message(dm, page_ts)
    assert f"Resolved by <@{TRIAGER}>" in page.text and buttons(page) == ["page_open_card"]
    with Session(bot.engine) as session:
        edits = session.exec(select(OutboxMessage).where(OutboxMessage.kind == PageUpdate.kind)).all()
    assert [edit.status for edit in edits] == ["sent", "sent"]


def test_the_link_button_in_a_page_dm_is_acked(slack: LocalSlack, bot: Tripwire) -> None:
    _, dm, page_ts = paged(slack, bot)
    response = slack.click_button(TRIAGER, dm, page_ts, "page_open_card")
    assert response.status_code == 200
    assert incident(bot).status == "triggered"


# -- the workspace URL behind a page's permalink to its card


def test_workspace_url_is_asked_of_auth_test_once_per_process(slack: LocalSlack) -> None:
    workspace = WorkspaceUrl(WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[]))
    assert workspace.learn() == workspace.learn() == slack.url + "/"
    assert len(slack.calls_to("auth.test")) == 1
    # The fake serves the permalink built from it, as Slack does: the page with that message.
    card = slack.post_user_message(TRIAGER, TRIAGE_CHANNEL, "the card").ts
    link = f"{workspace.learn()}archives/{TRIAGE_CHANNEL}/p{card.replace('.', '')}"
    page = httpx.get(link, headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 302 and page.headers["location"] == f"/?channel={TRIAGE_CHANNEL}&message={card}"


def test_workspace_url_refused_is_none_and_asked_again_only_after_a_while(slack: LocalSlack) -> None:
    now = [100.0]
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])
    workspace = WorkspaceUrl(client, monotonic=lambda: now[0])
    slack.fail("auth.test", error="invalid_auth")
    assert workspace.learn() is None
    assert workspace.learn() is None  # within the wait: not asked again, the message goes with the channel link
    assert len(slack.calls_to("auth.test")) == 1
    now[0] += WORKSPACE_URL_RETRY_SECONDS
    assert workspace.learn() == slack.url + "/"
    assert len(slack.calls_to("auth.test")) == 2


def test_a_thread_reply_permalink_opens_its_thread_with_the_reply(slack: LocalSlack) -> None:
    parent = slack.post_user_message(TRIAGER, TRIAGE_CHANNEL, "parent").ts
    reply = slack.post_user_message(TRIAGER, TRIAGE_CHANNEL, "reply", thread_ts=parent).ts
    link = f"{slack.url}/archives/{TRIAGE_CHANNEL}/p{reply.replace('.', '')}?thread_ts={parent}&cid={TRIAGE_CHANNEL}"
    page = httpx.get(link, headers={"Accept": "text/html"}, follow_redirects=True)
    assert page.status_code == 200 and page.url.params["thread"] == parent and page.url.params["message"] == reply
    assert 'id="app"' in page.text


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/archives/C0NOSUCH/p1763942400000100", id="unknown-channel"),
        pytest.param(f"/archives/{TRIAGE_CHANNEL}/p9000000009000009", id="unknown-message"),
        pytest.param(f"/archives/{TRIAGE_CHANNEL}/pnot-a-ts", id="not-a-stamp"),
        pytest.param("/archives/{channel}/{parent}?thread_ts=1.000001", id="another-thread"),
        pytest.param("/archives/{channel}/{parent}?cid=C0GENERAL", id="another-cid"),
    ],
)
def test_a_permalink_to_no_such_message_is_a_not_found_page(slack: LocalSlack, path: str) -> None:
    parent = slack.post_user_message(TRIAGER, TRIAGE_CHANNEL, "parent").ts
    url = slack.url + path.format(channel=TRIAGE_CHANNEL, parent="p" + parent.replace(".", ""))
    page = httpx.get(url, headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 404 and "This message could not be found" in page.text
    # An API client (no text/html) still gets webapi's JSON answer for the same path.
    assert httpx.get(url, headers={"Accept": "application/json"}).headers["content-type"] == "application/json"
