"""The outbox paces itself per Slack method: a channel's 429s hold back that channel alone, and a card edit goes at
once, past a backlog of posts to the same channel, while posts keep their order. Read from localslack's call log (seq
order). On SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from slack_sdk import WebClient
from sqlmodel import Session, col, select

from bot.app.asgi import Tripwire
from bot.common.clock import Clock, ManualClock, system_clock
from bot.common.messages import CardPost, CardUpdate, ThreadLine
from bot.incidents.lifecycle import validate_draft
from bot.slack.ids import ActionId
from bot.slack.outbox import Outbox
from bot.slack.pacing import POST_BURST
from db import queues
from db.models import Incident, OutboxMessage
from localslack import BackgroundServer, LocalSlack
from localslack.state import Call
from tests.conftest import BOT_TOKEN, GENERAL, ONCALL, REPORTER, TRIAGE_CHANNEL, TRIAGER, open_bot
from tests.integration import test_outbox_once
from tests.integration.test_incident_lifecycle import card_text, file_incident
from tests.support.environment import wait_until
from tests.support.serve import start_serve

BACKLOG = 8
# `tripwire serve` subprocesses, stopped at the end (the fixture of the exactly-once tests).
serve = test_outbox_once.serve


def queue(bot: Tripwire, channel: str, *texts: str) -> list[int]:
    """Queue plain text posts to a channel, in order, due at once (whatever the bot's clock says)."""
    now = datetime(2000, 1, 1, tzinfo=UTC)
    with bot.uow() as session:
        rows = [
            OutboxMessage(kind="message", channel=channel, payload={"text": text}, created_at=now, next_attempt_at=now)
            for text in texts
        ]
        session.add_all(rows)
        session.flush()
        return [row.id or 0 for row in rows]


def report(bot: Tripwire, title: str) -> Incident:
    draft, _ = validate_draft(title=title, category="cyber", severity="sev3")
    assert draft is not None
    return bot.incidents.report(draft=draft, reporter=REPORTER)


def rows(bot: Tripwire, kind: str | None = None) -> list[OutboxMessage]:
    with Session(bot.engine) as session:
        found = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
    return [row for row in found if kind is None or row.kind == kind]


def incident(bot: Tripwire, incident_id: int) -> Incident:
    with Session(bot.engine) as session:
        found = session.get(Incident, incident_id)
    assert found is not None
    return found


def update_card(bot: Tripwire, clock: Clock, incident_id: int, channel: str) -> None:
    with bot.uow() as session:
        queues.enqueue_message(
            session=session, message=CardUpdate(incident_id=incident_id, channel=channel), now=clock()
        )


def log(slack: LocalSlack, channel: str) -> list[Call]:
    """The calls that reached `channel` (posts and edits, refused ones too), in the order Slack saw them."""
    calls = [
        c for c in slack.calls if c.method in ("chat.postMessage", "chat.update") and c.args.get("channel") == channel
    ]
    return sorted(calls, key=lambda call: call.seq)


def posted(slack: LocalSlack, channel: str) -> list[str]:
    """The texts posted to `channel`, in call log order."""
    return [str(c.args.get("text")) for c in log(slack, channel) if c.ok and c.method == "chat.postMessage"]


def head(bot: Tripwire, channel: str) -> tuple[str, int]:
    """The status and attempts of the oldest message to `channel`."""
    first = next(row for row in rows(bot) if row.channel == channel)
    return first.status, first.attempts


def unsent(bot: Tripwire) -> int:
    return sum(1 for row in rows(bot) if row.status in queues.UNSENT)


def paced_outbox(bot: Tripwire, slack: LocalSlack, clock: ManualClock) -> Outbox:
    """An outbox on the bot's database that paces posts to one a second per channel (the production setting)."""
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])
    return Outbox(uow=bot.uow, client=client, clock=clock, channel_interval=1.0)


def drain_second_by_second(outbox: Outbox, clock: ManualClock, bot: Tripwire, limit: int = 120) -> None:
    """Deliver everything, letting the bot's clock run a second at a time for the per-channel pacing."""
    for _ in range(limit):
        outbox.drain()
        if unsent(bot) == 0:
            return
        clock.advance(seconds=1)
    raise AssertionError(f"{unsent(bot)} messages still unsent")


# ---------------------------------------------------------------- channels side by side


def test_channel_blocked_by_429s_waits_alone_and_keeps_its_order(
    slack: LocalSlack, bot: Tripwire, clock: ManualClock
) -> None:
    queue(bot, GENERAL, "g1", "g2", "g3")
    queue(bot, ONCALL, *(f"o{index}" for index in range(1, 7)))
    slack.fail("chat.postMessage", status=429, retry_after=30, channel=GENERAL, times=2)
    bot.outbox.start()
    try:
        wait_until(
            lambda: posted(slack, ONCALL) == [f"o{i}" for i in range(1, 7)] and head(bot, GENERAL) == ("pending", 1),
            30,
            "the other channel, and the first refusal",
        )
        # Still blocked: one refused call and nothing posted; the 429 is waited out, not hammered.
        assert [(c.status, c.ok) for c in log(slack, GENERAL)] == [(429, False)]
        assert [row.status for row in rows(bot) if row.channel == GENERAL] == ["pending"] * 3
        clock.advance(seconds=31)  # Retry-After is over; Slack refuses once more
        # Moving the clock again before the refusal is recorded would push the next attempt out with it.
        wait_until(lambda: head(bot, GENERAL) == ("pending", 2), 30, "the second attempt to be refused")
        assert len(log(slack, GENERAL)) == 2 and posted(slack, GENERAL) == []
        clock.advance(seconds=31)
        wait_until(lambda: posted(slack, GENERAL) == ["g1", "g2", "g3"], 30, "the blocked channel to catch up")
    finally:
        bot.outbox.stop()
    assert [c.status for c in log(slack, GENERAL)] == [429, 429, 200, 200, 200]
    assert all(row.status == "sent" for row in rows(bot))


def test_429_on_card_edits_leaves_posts_alone(slack: LocalSlack, bot: Tripwire, clock: ManualClock) -> None:
    filed = report(bot, "Edit refused")
    bot.outbox.drain()
    channel = incident(bot, filed.id or 0).channel_id or ""
    update_card(bot, clock, filed.id or 0, channel)
    queue(bot, channel, "p1", "p2")
    slack.fail("chat.update", status=429, retry_after=20)
    first = bot.outbox.drain()
    assert (first.sent, first.retried) == (2, 1)
    assert posted(slack, channel)[-2:] == ["p1", "p2"]
    clock.advance(seconds=21)
    assert bot.outbox.drain().sent == 1
    assert [c.status for c in slack.calls_to("chat.update")] == [429, 200]


# ---------------------------------------------------------------- card edits at once


def test_card_edit_goes_before_a_backlog_of_posts_to_its_channel(
    slack: LocalSlack, bot: Tripwire, clock: ManualClock
) -> None:
    outbox = paced_outbox(bot, slack, clock)
    filed = report(bot, "Backlog")
    outbox.drain()
    channel = incident(bot, filed.id or 0).channel_id or ""
    queue(bot, channel, *(f"p{index}" for index in range(1, BACKLOG + 1)))
    update_card(bot, clock, filed.id or 0, channel)  # queued after the whole backlog
    outbox.drain()
    assert [c.ok for c in slack.calls_to("chat.update")] == [True]
    assert len(posted(slack, channel)) < BACKLOG  # the backlog is still draining at one a second
    drain_second_by_second(outbox, clock, bot)
    seq = {str(c.args.get("text")): c.seq for c in log(slack, channel) if c.method == "chat.postMessage"}
    [edit] = slack.calls_to("chat.update")
    # The posts past the channel's burst went out a second apart, all of them after the edit.
    assert all(edit.seq < seq[f"p{i}"] for i in range(POST_BURST + 1, BACKLOG + 1))
    assert posted(slack, channel)[1:] == [f"p{i}" for i in range(1, BACKLOG + 1)]  # after the card, in order


def test_card_edit_is_claimed_before_older_post_heads(slack: LocalSlack, bot: Tripwire, clock: ManualClock) -> None:
    filed = report(bot, "Claimed first")
    bot.outbox.drain()
    channel = incident(bot, filed.id or 0).channel_id or ""
    queue(bot, GENERAL, "g1")
    queue(bot, ONCALL, "o1")
    update_card(bot, clock, filed.id or 0, channel)
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])
    one_at_a_time = Outbox(uow=bot.uow, client=client, clock=clock, channel_interval=0, batch=1)
    assert one_at_a_time.deliver_due().sent == 1
    assert [c.method for c in slack.calls if c.method.startswith("chat.")][-1] == "chat.update"
    one_at_a_time.drain()
    assert (posted(slack, GENERAL), posted(slack, ONCALL)) == (["g1"], ["o1"])


def test_card_edit_waits_for_its_card_to_be_posted(slack: LocalSlack, bot: Tripwire, clock: ManualClock) -> None:
    filed = report(bot, "Not yet posted")
    [card] = rows(bot, CardPost.kind)
    update_card(bot, clock, filed.id or 0, card.channel)
    hold = slack.hold("chat.postMessage", channel=card.channel, seconds=None)
    bot.outbox.start()
    try:
        assert hold.reached.wait(10)
        assert not slack.calls_to("chat.update")  # the card is in flight: its edit waits
        hold.release()
        wait_until(lambda: [c.ok for c in slack.calls_to("chat.update")] == [True], 10, "the edit")
    finally:
        bot.outbox.stop()
    [post, edit] = log(slack, incident(bot, filed.id or 0).channel_id or "")
    assert (post.method, edit.method) == ("chat.postMessage", "chat.update")
    assert edit.args["ts"] == (post.response or {}).get("ts")
    assert [row.status for row in rows(bot, CardUpdate.kind)] == ["sent"]


def test_edits_of_one_card_keep_their_order_or_collapse(slack: LocalSlack, bot: Tripwire, clock: ManualClock) -> None:
    filed = report(bot, "Edited twice")
    bot.outbox.drain()
    channel = incident(bot, filed.id or 0).channel_id or ""
    update_card(bot, clock, filed.id or 0, channel)
    update_card(bot, clock, filed.id or 0, channel)
    first = bot.outbox.drain()
    assert (first.sent, first.retried, first.failed) == (2, 0, 0)
    # The first was superseded by the second before any call: one edit, showing the card as it is now.
    assert [c.ok for c in slack.calls_to("chat.update")] == [True]
    assert [(row.status, row.last_error) for row in rows(bot, CardUpdate.kind)] == [
        ("sent", "superseded by a newer card update"),
        ("sent", ""),
    ]


def test_two_replicas_deliver_posts_and_edits_once_in_order(
    slack: LocalSlack, bot: Tripwire, clock: ManualClock
) -> None:
    filed = report(bot, "Two replicas")
    bot.outbox.drain()
    channel = incident(bot, filed.id or 0).channel_id or ""
    queue(bot, channel, *(f"p{index}" for index in range(6)))
    update_card(bot, clock, filed.id or 0, channel)
    queue(bot, GENERAL, *(f"g{index}" for index in range(6)))
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])
    other = Outbox(uow=bot.uow, client=client, clock=clock, channel_interval=0)
    start = threading.Barrier(2)

    def drain(outbox: Outbox) -> None:
        start.wait(5)
        outbox.drain()

    workers = [threading.Thread(target=drain, args=(outbox,)) for outbox in (bot.outbox, other)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert posted(slack, channel)[1:] == [f"p{index}" for index in range(6)]
    assert posted(slack, GENERAL) == [f"g{index}" for index in range(6)]
    assert len(slack.calls_to("chat.update")) == 1
    assert all(row.status == "sent" for row in rows(bot))


# ---------------------------------------------------------------- a click, end to end


@pytest.fixture
def paced_bot(slack: LocalSlack, database_url: str, clock: ManualClock) -> Iterator[Tripwire]:
    """The bot on a real HTTP port with production pacing (one post a second per channel)."""
    with open_bot(database_url, slack_url=slack.api_url, clock=clock, TRIPWIRE_CHANNEL_INTERVAL=1.0) as tripwire:
        server = BackgroundServer(tripwire.asgi)
        server.start()
        slack.request_url = server.url + "/slack/events"
        yield tripwire
        server.stop()


def test_click_edits_its_card_past_a_backlog_and_threads_its_reply_after_it(
    slack: LocalSlack, paced_bot: Tripwire, clock: ManualClock
) -> None:
    bot = paced_bot
    card = file_incident(slack, bot)
    channel = incident(bot, 1).channel_id or ""
    assert channel == TRIAGE_CHANNEL
    queue(bot, channel, *(f"p{index}" for index in range(1, BACKLOG + 1)))
    bot.outbox.start()
    try:
        wait_until(lambda: len(posted(slack, channel)) > 1, 10, "the backlog to start")
        response = slack.click_button(TRIAGER, TRIAGE_CHANNEL, card.ts, ActionId.ACKNOWLEDGE.value)
        assert response.status_code == 200
        # The bot's clock stands still, so the backlog cannot move on: only the edit can reach Slack, through the
        # click's response_url.
        wait_until(lambda: [p.ok for p in slack.response_posts] == [True], 10, "the card edit")
        edited_at = slack.response_posts[0].at
        assert unsent(bot) > 1
    finally:
        bot.outbox.stop()
    drain_second_by_second(bot.outbox, clock, bot)
    calls = log(slack, channel)
    backlog = [c.seq for c in calls if c.method == "chat.postMessage" and not c.args.get("thread_ts")][1:]
    replies = [c.seq for c in calls if c.ok and c.args.get("thread_ts") == card.ts]
    assert len(backlog) == BACKLOG and replies
    assert min(replies) > max(backlog)  # the click's thread reply kept its place behind the backlog
    assert not [c for c in calls if c.method == "chat.update"]
    assert edited_at < max(c.at for c in calls if c.seq in backlog)
    assert "acknowledged" in card_text(slack.message(channel, card.ts))
    assert [row.status for row in rows(bot, ThreadLine.kind)] == ["sent"] * len(replies)
    assert bot.incidents.get(incident_id=1).incident.status == "acknowledged"


# ---------------------------------------------------------------- kill -9 mid-edit


def test_kill_nine_mid_edit_blocks_no_posts_and_the_edit_is_sent_again(
    slack: LocalSlack, database_url: str, serve: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    with open_bot(database_url, slack_url=slack.api_url) as seeded:
        filed = report(seeded, "Killed mid-edit")
        seeded.outbox.drain()
        channel = incident(seeded, filed.id or 0).channel_id or ""
        update_card(seeded, system_clock, filed.id or 0, channel)
        hold = slack.hold("chat.update")
        serve.append(start_serve(slack, database_url, tmp_path / "first.log").process)
        assert hold.reached.wait(60), (tmp_path / "first.log").read_text()[-3000:]
        serve[0].kill()
        serve[0].wait(timeout=30)
        hold.release()
        [in_flight] = rows(seeded, CardUpdate.kind)
        assert in_flight.status == "sending"
        queue(seeded, channel, "p1", "p2")
        serve.append(start_serve(slack, database_url, tmp_path / "second.log").process)
        # The edit's lease has not run out: its card waits, the channel's posts do not.
        wait_until(lambda: posted(slack, channel)[-2:] == ["p1", "p2"], 60, "the posts behind a stuck edit")
        assert len(slack.calls_to("chat.update")) == 1
        with seeded.uow() as session:
            lapsed = queues.get_outbox(session=session, message_id=in_flight.id or 0)
            assert lapsed is not None
            lapsed.next_attempt_at = lapsed.created_at
        wait_until(lambda: rows(seeded, CardUpdate.kind)[0].status == "sent", 60, "the edit to be sent again")
        assert [c.ok for c in slack.calls_to("chat.update")] == [True, True]  # repeated: an edit is idempotent
        assert not slack.calls_to("conversations.history")
        assert posted(slack, channel).count("p1") == 1
