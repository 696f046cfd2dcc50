"""A click's card edit goes out through the click's response_url (replace_original), outside chat.update's Tier 3
quota, sent by the thread that ran the click as soon as its change commits (claimed in that transaction, so no outbox
pass is waited for, and no other worker takes it); a response_url Slack refuses, one too old, or one whose answer is
lost hands the edit to chat.update, and the card ends right, once. Over signed HTTP against localslack, on SQLite and
PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from slack_sdk import WebClient
from sqlmodel import Session, col, select

from bot.app.asgi import Tripwire
from bot.common.clock import ManualClock
from bot.common.messages import CardUpdate
from bot.slack.ids import ActionId
from bot.slack.outbox import Outbox
from bot.slack.pacing import METHOD_LIMITS
from db import queues
from db.models import OutboxMessage
from localslack import BackgroundServer, LocalSlack
from tests.conftest import BOT_TOKEN, TRIAGE_CHANNEL, TRIAGER, open_bot
from tests.integration import test_outbox_once
from tests.integration.test_idempotency import resend
from tests.integration.test_incident_lifecycle import card_text, file_incident, incidents, timeline
from tests.support.environment import wait_until
from tests.support.serve import start_serve, wait_gone

ACK = ActionId.ACKNOWLEDGE.value


def card_edits(bot: Tripwire, incident_id: int = 1) -> list[OutboxMessage]:
    with Session(bot.engine) as session:
        rows = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
    return [row for row in rows if row.kind == CardUpdate.kind and row.incident_id == incident_id]


def edits_of(slack: LocalSlack, ts: str) -> list[str]:
    """How each edit of the message at `ts` went: `response_url` (a replace) or `chat.update`, refused ones too."""
    replaces = [
        ("response_url", post.at, post.ok) for post in slack.response_posts if post.args.get("replace_original")
    ]
    updates = [("chat.update", call.at, call.ok) for call in slack.calls_to("chat.update") if call.args["ts"] == ts]
    return [f"{how}:{'ok' if ok else 'refused'}" for how, _, ok in sorted(replaces + updates, key=lambda e: e[1])]


def shows_acknowledged(slack: LocalSlack, ts: str) -> bool:
    text = card_text(slack.message(TRIAGE_CHANNEL, ts))
    return "acknowledged" in text and f"<@{TRIAGER}>" in text


def queue_bot_edit(bot: Tripwire, clock: ManualClock, incident_id: int = 1) -> None:
    """Queue the bot's own refresh of a card (a storm's counts, say): no response_url, it goes by chat.update."""
    with bot.uow() as session:
        edit = CardUpdate(incident_id=incident_id, channel=TRIAGE_CHANNEL)
        queues.enqueue_message(session=session, message=edit, now=clock())


def click_behind_a_queued_edit(slack: LocalSlack, bot: Tripwire, clock: ManualClock, ts: str) -> None:
    """Acknowledge a card while the bot's own edit of it is still queued: the click's edit may not overtake that one,
    so it is not sent by the click's thread but waits in the card's edit lane for the outbox."""
    queue_bot_edit(bot, clock)
    assert slack.click_button(TRIAGER, TRIAGE_CHANNEL, ts, ACK).status_code == 200
    assert [row.status for row in card_edits(bot)] == ["pending", "pending"]


def spend_chat_update(bot: Tripwire, clock: ManualClock, incident_id: int) -> int:
    """Edit another card by command (no response_url), one edit at a time, past chat.update's Tier 3 burst; the bot's
    clock stands still, so no token comes back. Then queue three more edits of it: the two older ones are superseded
    (skipped, no call), the newest waits for a token. How many stay queued."""
    for _ in range(int(METHOD_LIMITS["chat.update"].burst) + 1):
        with bot.uow() as session:
            edit = CardUpdate(incident_id=incident_id, channel=TRIAGE_CHANNEL, by_person=True)
            queues.enqueue_message(session=session, message=edit, now=clock())
        bot.outbox.drain()
    with bot.uow() as session:
        for _ in range(3):
            edit = CardUpdate(incident_id=incident_id, channel=TRIAGE_CHANNEL, by_person=True)
            queues.enqueue_message(session=session, message=edit, now=clock())
    bot.outbox.drain()
    return sum(1 for row in card_edits(bot, incident_id) if row.status in queues.UNSENT)


def test_click_edits_the_card_through_its_response_url_with_chat_update_spent(
    slack: LocalSlack, bot: Tripwire, clock: ManualClock
) -> None:
    card = file_incident(slack, bot)
    file_incident(slack, bot, title="Busy card")
    updates_before = len(slack.calls_to("chat.update"))
    waiting = spend_chat_update(bot, clock, incident_id=2)
    spent = len(slack.calls_to("chat.update")) - updates_before
    # Every token went to an edit; the superseded ones went without a call, and the newest waits for a token.
    assert waiting == 1 and spent == METHOD_LIMITS["chat.update"].burst

    assert slack.click_button(TRIAGER, TRIAGE_CHANNEL, card.ts, ACK).status_code == 200
    [edit] = card_edits(bot)
    assert CardUpdate.from_row(edit).response_url is not None
    bot.outbox.drain()

    assert edits_of(slack, card.ts) == ["response_url:ok"]
    assert shows_acknowledged(slack, card.ts)
    [post] = slack.response_posts
    assert post.args["replace_original"] is True and post.args["blocks"] and post.args["text"]
    assert [row.status for row in card_edits(bot)] == ["sent"]
    # chat.update is still out of tokens: the other card's edits still wait.
    assert sum(1 for row in card_edits(bot, 2) if row.status in queues.UNSENT) == waiting


def test_click_is_not_held_behind_a_paced_background_edit_of_its_card(
    slack: LocalSlack, bot: Tripwire, clock: ManualClock
) -> None:
    card = file_incident(slack, bot)
    file_incident(slack, bot, title="Busy card")
    spend_chat_update(bot, clock, incident_id=2)
    # The bot's own refresh of the clicked card (a storm's counts, say) waits for a chat.update token...
    queue_bot_edit(bot, clock)
    bot.outbox.drain()
    [background] = card_edits(bot)
    assert background.status == "pending"

    # ...and a click's edit queued behind it in the card's lane goes at once: the older edit is superseded (the
    # newer one draws the whole card as it is now), so it is skipped without a call instead of holding the click.
    assert slack.click_button(TRIAGER, TRIAGE_CHANNEL, card.ts, ACK).status_code == 200
    bot.outbox.drain()

    assert edits_of(slack, card.ts) == ["response_url:ok"]
    assert shows_acknowledged(slack, card.ts)
    older, click = card_edits(bot)
    assert (older.status, older.last_error) == ("sent", "superseded by a newer card update")
    assert click.status == "sent" and CardUpdate.from_row(click).response_url is not None


def test_click_edits_its_card_before_any_outbox_pass(slack: LocalSlack, bot: Tripwire) -> None:
    card = file_incident(slack, bot)
    calls_before = len(slack.calls)
    assert slack.click_button(TRIAGER, TRIAGE_CHANNEL, card.ts, ACK).status_code == 200

    # The outbox was never run: the click's own thread replaced the card and wrote down that it did.
    assert edits_of(slack, card.ts) == ["response_url:ok"]
    assert shows_acknowledged(slack, card.ts)
    [edit] = card_edits(bot)
    assert (edit.status, edit.attempts, edit.outcome_unknown) == ("sent", 1, False)
    # The rest of the click's news (its thread line) is left to the outbox: no Web API call was made for it.
    assert len(slack.calls) == calls_before
    assert bot.outbox.drain().sent >= 1
    assert [row.status for row in card_edits(bot)] == ["sent"]
    assert edits_of(slack, card.ts) == ["response_url:ok"]


def test_clicks_at_once_on_many_cards_each_edit_their_card_once_before_any_outbox_pass(
    slack: LocalSlack, bot: Tripwire
) -> None:
    cards = [file_incident(slack, bot, title=f"Card {n}") for n in range(6)]
    start = threading.Barrier(len(cards))

    def click(ts: str) -> int:
        start.wait(10)
        return slack.click_button(TRIAGER, TRIAGE_CHANNEL, ts, ACK).status_code

    with ThreadPoolExecutor(len(cards)) as pool:
        assert list(pool.map(click, [card.ts for card in cards])) == [200] * len(cards)

    assert all(shows_acknowledged(slack, card.ts) for card in cards)
    replaces = [post for post in slack.response_posts if post.args.get("replace_original")]
    assert len(replaces) == len(cards) and all(post.ok for post in replaces)
    edits = [edit for n in range(1, len(cards) + 1) for edit in card_edits(bot, n)]
    assert [(edit.status, edit.attempts) for edit in edits] == [("sent", 1)] * len(cards)
    assert not slack.calls_to("chat.update")


@contextmanager
def acknowledged_with_its_replace_held(slack: LocalSlack, ts: str) -> Iterator[None]:
    """Acknowledge the card in another thread; the click's replace takes effect, its answer is held until the end."""
    hold = slack.hold("response_url", seconds=None)
    # The click's own thread sends its edit and waits for the held answer.
    clicker = threading.Thread(target=slack.click_button, args=(TRIAGER, TRIAGE_CHANNEL, ts, ACK))
    clicker.start()
    try:
        assert hold.reached.wait(10)
        yield
    finally:
        hold.release()
        clicker.join(30)


def test_second_click_on_a_card_whose_first_edit_is_in_flight_waits_behind_it(slack: LocalSlack, bot: Tripwire) -> None:
    card = file_incident(slack, bot)
    with acknowledged_with_its_replace_held(slack, card.ts):
        # The first click's replace is in flight: the second click's edit must not overtake it, so its own thread
        # leaves it queued in the card's lane instead of sending it.
        assert slack.click_button(TRIAGER, TRIAGE_CHANNEL, card.ts, ActionId.RESOLVE.value).status_code == 200
        assert [row.status for row in card_edits(bot)] == ["sending", "pending"]
        assert len(slack.response_posts) == 1
    bot.outbox.drain()

    assert incidents(bot)[0].status == "resolved"
    assert edits_of(slack, card.ts) == ["response_url:ok", "response_url:ok"]
    assert "resolved" in card_text(slack.message(TRIAGE_CHANNEL, card.ts)).lower()
    assert [row.status for row in card_edits(bot)] == ["sent", "sent"]


def test_response_url_slack_refuses_falls_back_to_chat_update(slack: LocalSlack, bot: Tripwire) -> None:
    card = file_incident(slack, bot)
    # Slack refuses the click's URL (someone used up its five POSTs before the bot did, say).
    slack.fail("response_url", error="used_url", status=404)
    assert slack.click_button(TRIAGER, TRIAGE_CHANNEL, card.ts, ACK).status_code == 200
    # The click's thread tried it; the chat.update that follows is the outbox's, paced like any other.
    assert edits_of(slack, card.ts) == ["response_url:refused"]
    bot.outbox.drain()

    assert edits_of(slack, card.ts) == ["response_url:refused", "chat.update:ok"]
    assert [post.error for post in slack.response_posts][-1] == "used_url"
    assert shows_acknowledged(slack, card.ts)
    [edit] = card_edits(bot)
    assert edit.status == "sent" and CardUpdate.from_row(edit).response_url is None  # it went as a plain edit


def test_response_url_past_its_lifetime_is_not_tried(slack: LocalSlack, bot: Tripwire, clock: ManualClock) -> None:
    card = file_incident(slack, bot)
    click_behind_a_queued_edit(slack, bot, clock, card.ts)
    clock.advance(minutes=29)  # the edit waited (the bot was down, say): Slack would refuse the URL any moment now
    bot.outbox.drain()

    # The bot's older edit is superseded by the click's (skipped, no call), which goes by chat.update.
    assert edits_of(slack, card.ts) == ["chat.update:ok"]
    assert shows_acknowledged(slack, card.ts)


def test_response_url_answering_500_ends_with_one_right_card(
    slack: LocalSlack, bot: Tripwire, clock: ManualClock
) -> None:
    card = file_incident(slack, bot)
    slack.fail("response_url", status=500)
    assert slack.click_button(TRIAGER, TRIAGE_CHANNEL, card.ts, ACK).status_code == 200
    assert edits_of(slack, card.ts) == ["response_url:refused"]
    # The outcome is unknown: chat.update follows after the usual backoff, not at once.
    [edit] = card_edits(bot)
    assert edit.status == "pending" and edit.next_attempt_at > clock()
    clock.advance(seconds=60)
    bot.outbox.drain()

    assert edits_of(slack, card.ts) == ["response_url:refused", "chat.update:ok"]
    assert shows_acknowledged(slack, card.ts)
    assert [m.ts for m in slack.messages(TRIAGE_CHANNEL)] == [card.ts]  # one card, edited in place


def test_response_url_timing_out_after_it_replaced_the_card_ends_with_one_right_card(
    slack: LocalSlack, bot: Tripwire, clock: ManualClock
) -> None:
    card = file_incident(slack, bot)
    click_behind_a_queued_edit(slack, bot, clock, card.ts)
    # The replace lands, but its answer does not come back before the client gives up.
    hold = slack.hold("response_url", seconds=None)
    impatient = Outbox(
        uow=bot.uow,
        client=WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[], timeout=1),
        clock=clock,
        channel_interval=0,
    )
    try:
        assert impatient.drain().retried == 1
        assert hold.held == 1 and shows_acknowledged(slack, card.ts)
        clock.advance(seconds=60)
        impatient.drain()
    finally:
        hold.release()
    assert edits_of(slack, card.ts) == ["response_url:ok", "chat.update:ok"]
    assert shows_acknowledged(slack, card.ts)
    assert [m.ts for m in slack.messages(TRIAGE_CHANNEL)] == [card.ts]
    assert [row.status for row in card_edits(bot)] == ["sent", "sent"]


def test_click_delivered_twice_acknowledges_once_and_replaces_the_card_once(slack: LocalSlack, bot: Tripwire) -> None:
    card = file_incident(slack, bot)
    assert slack.click_button(TRIAGER, TRIAGE_CHANNEL, card.ts, ACK).status_code == 200
    delivery = slack.deliveries[-1]
    retry = resend(slack, delivery, timestamp=int(time.time()), headers={"X-Slack-Retry-Num": "1"})
    assert retry.status_code == 200
    bot.outbox.drain()

    assert [entry.action for entry in timeline(bot)].count("acknowledge") == 1
    assert len(card_edits(bot)) == 1
    assert edits_of(slack, card.ts) == ["response_url:ok"]
    assert shows_acknowledged(slack, card.ts)


def test_card_edit_by_command_goes_by_chat_update(slack: LocalSlack, bot: Tripwire) -> None:
    """A slash command's response_url is for the channel it was typed in, not the card: the edit is a chat.update."""
    card = file_incident(slack, bot)
    slack.slash_command(TRIAGER, "ack INC-1", channel_id=TRIAGE_CHANNEL)
    bot.outbox.drain()

    [edit] = card_edits(bot)
    assert CardUpdate.from_row(edit).response_url is None
    assert [c.ok for c in slack.calls_to("chat.update") if c.args["ts"] == card.ts] == [True]
    assert not [post for post in slack.response_posts if post.args.get("replace_original")]
    assert shows_acknowledged(slack, card.ts)


def test_later_chat_update_of_the_card_does_not_overtake_its_response_url_edit(
    slack: LocalSlack, bot: Tripwire, clock: ManualClock
) -> None:
    card = file_incident(slack, bot)
    with acknowledged_with_its_replace_held(slack, card.ts):
        # A bot edit of the same card, queued behind the click's.
        queue_bot_edit(bot, clock)
        # While the replace is in flight, an outbox (this replica's or another's) sends the click's thread line but
        # nothing of this card.
        other = Outbox(
            uow=bot.uow,
            client=WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[]),
            clock=clock,
            channel_interval=0,
        )
        other.drain()
        assert [row.status for row in card_edits(bot)] == ["sending", "pending"]
        assert not [c for c in slack.calls_to("chat.update") if c.args["ts"] == card.ts]
    bot.outbox.drain()
    assert edits_of(slack, card.ts) == ["response_url:ok", "chat.update:ok"]
    assert [row.status for row in card_edits(bot)] == ["sent", "sent"]
    assert shows_acknowledged(slack, card.ts)


def test_clicked_at_is_the_click_time_on_the_bot_clock(slack: LocalSlack, bot: Tripwire, clock: ManualClock) -> None:
    card = file_incident(slack, bot)
    clock.advance(minutes=3)
    assert slack.click_button(TRIAGER, TRIAGE_CHANNEL, card.ts, ACK).status_code == 200
    [edit] = card_edits(bot)
    clicked = CardUpdate.from_row(edit).clicked_at
    assert clicked is not None and abs(clicked - clock()) < timedelta(seconds=1)


serve = test_outbox_once.serve  # `tripwire serve` subprocesses, stopped at the end


def test_kill_nine_mid_replace_then_restart_leaves_one_acknowledged_card(
    slack: LocalSlack, database_url: str, serve: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """The worst moment for the response_url lane: the click's thread (in serve's listener process) replaced the
    card, and both processes die before its answer comes back."""
    with open_bot(database_url, slack_url=slack.api_url) as seeded:
        server = BackgroundServer(seeded.asgi)
        server.start()
        slack.request_url = server.url + "/slack/events"
        try:
            card = file_incident(slack, seeded)
        finally:
            server.stop()
        first = start_serve(slack, database_url, tmp_path / "first.log")
        serve.append(first.process)
        slack.request_url = first.url + "/slack/events"
        hold = slack.hold("response_url")
        assert slack.click_button(TRIAGER, TRIAGE_CHANNEL, card.ts, ACK).status_code == 200  # acked at serve's edge
        assert hold.reached.wait(60), first.output()
        listener = first.listener_pid()
        os.kill(listener, signal.SIGKILL)
        first.process.kill()
        first.process.wait(timeout=30)
        wait_gone(listener, 30)
        hold.release()
        [in_flight] = card_edits(seeded)
        assert CardUpdate.from_row(in_flight).response_url is not None
        assert (in_flight.status, in_flight.attempts) == ("sending", 1)  # claimed by the click's own transaction
        with seeded.uow() as session:
            lapsed = queues.get_outbox(session=session, message_id=in_flight.id or 0)
            assert lapsed is not None
            lapsed.next_attempt_at = lapsed.created_at  # the dead process's claim, run out
        serve.append(start_serve(slack, database_url, tmp_path / "second.log").process)
        wait_until(lambda: card_edits(seeded)[0].status == "sent", 60, "the card edit after the restart")
    assert shows_acknowledged(slack, card.ts)
    # Sent again whole (the replace, or chat.update after it), never posted again: one card in the channel.
    assert edits_of(slack, card.ts)[-1].endswith(":ok") and len(edits_of(slack, card.ts)) >= 2
    cards = [
        call
        for call in slack.calls_to("chat.postMessage")
        if call.ok
        and call.args.get("channel") == TRIAGE_CHANNEL
        and call.args.get("blocks")
        and not call.args.get("thread_ts")
    ]
    assert len(cards) == 1
