"""Slack calls effectively once: a lost answer is looked for, not repeated; channels never wait on each other; a
message Slack refuses is parked, tells the admins, and blocks nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import event
from sqlmodel import Session, select

from bot.app.asgi import Tripwire
from bot.app.wiring import slack_clients
from bot.common.clock import ManualClock
from bot.common.messages import CardPost, CardUpdate, PageUpdate, ParkedNotice, ThreadLine
from bot.incidents.lifecycle import validate_draft
from bot.slack.outbox import Outbox
from db import queues
from db import repositories as repo
from db.engine import UnitOfWork, make_engine
from db.migrate import upgrade
from db.models import Incident, OutboxMessage
from localslack import LocalSlack
from tests.conftest import (
    ADMIN,
    BOT_TOKEN,
    GENERAL,
    ONCALL,
    REPORTER,
    make_settings,
    open_bot,
)
from tests.support.environment import wait_until
from tests.support.serve import start_serve

ROOT = Path(__file__).resolve().parents[2]


def report(bot: Tripwire, title: str = "Lost answer") -> Incident:
    """File an incident through the service: its card is queued to the routed channel."""
    draft, _ = validate_draft(title=title, category="cyber", severity="sev3")
    assert draft is not None
    return bot.incidents.report(draft=draft, reporter=REPORTER)


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


def impatient(bot: Tripwire, slack: LocalSlack, clock: ManualClock) -> Outbox:
    """An outbox on the bot's database whose client gives up after a second (Slack "slower than the timeout")."""
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url, timeout=1, retry_handlers=[])
    return Outbox(uow=bot.uow, client=client, clock=clock, channel_interval=0)


def rows(bot: Tripwire, kind: str | None = None) -> list[OutboxMessage]:
    with Session(bot.engine) as session:
        statement = select(OutboxMessage).order_by(OutboxMessage.id)  # type: ignore[arg-type]
        found = session.exec(statement).all()
    return [row for row in found if kind is None or row.kind == kind]


def incident(bot: Tripwire, incident_id: int) -> Incident:
    with Session(bot.engine) as session:
        found = session.get(Incident, incident_id)
    assert found is not None
    return found


def texts(slack: LocalSlack, channel: str) -> list[str]:
    return [message.text for message in slack.messages(channel)]


def posts_to(slack: LocalSlack, channel: str) -> int:
    return sum(1 for call in slack.calls_to("chat.postMessage") if call.ok and call.args.get("channel") == channel)


# ---------------------------------------------------------------- an answer lost to a timeout


def test_card_answered_after_the_client_timeout_is_adopted_not_posted_again(
    slack: LocalSlack, bot: Tripwire, clock: ManualClock
) -> None:
    filed = report(bot)
    [card] = rows(bot, CardPost.kind)
    outbox = impatient(bot, slack, clock)
    hold = slack.hold("chat.postMessage", channel=card.channel)
    first = outbox.drain()
    assert (first.sent, first.retried) == (0, 1) and "TimeoutError" in first.errors[0]
    assert [row.outcome_unknown for row in rows(bot, CardPost.kind)] == [True]
    hold.release()
    clock.advance(seconds=300)
    outbox.drain()
    [posted] = slack.messages(card.channel)
    assert posts_to(slack, card.channel) == 1
    assert slack.calls_to("conversations.history"), "the unknown outcome was not looked up"
    [row] = rows(bot, CardPost.kind)
    assert (row.status, row.slack_channel, row.slack_ts, row.outcome_unknown) == (
        "sent",
        card.channel,
        posted.ts,
        False,
    )
    assert incident(bot, filed.id or 0).card_ts == posted.ts  # the recorder ran as if Slack had answered


def test_unknown_outcome_with_nothing_posted_is_posted_once(
    slack: LocalSlack, bot: Tripwire, clock: ManualClock
) -> None:
    report(bot)
    [card] = rows(bot, CardPost.kind)
    slack.fail("chat.postMessage", status=503, channel=card.channel)  # a 5xx: Slack may or may not have posted
    assert bot.outbox.drain().retried == 1
    clock.advance(seconds=300)
    bot.outbox.drain()
    assert len(slack.messages(card.channel)) == 1
    assert len(slack.calls_to("conversations.history")) == 1
    assert rows(bot, CardPost.kind)[0].slack_ts == slack.messages(card.channel)[0].ts


def test_thread_reply_whose_answer_was_lost_is_found_in_the_thread(
    slack: LocalSlack, bot: Tripwire, clock: ManualClock
) -> None:
    filed = report(bot)
    bot.outbox.drain()
    [card] = rows(bot, CardPost.kind)
    with bot.uow() as session:
        entry = repo.list_timeline(session=session, incident_id=filed.id or 0)[0]
        line = ThreadLine(incident_id=filed.id or 0, channel=card.channel, timeline_entry_id=entry.id or 0)
        queues.enqueue_message(session=session, message=line, now=clock())
    outbox = impatient(bot, slack, clock)
    hold = slack.hold("chat.postMessage", channel=card.channel)
    assert outbox.drain().retried == 1
    hold.release()
    clock.advance(seconds=300)
    assert outbox.drain().sent == 1
    [reply] = slack.replies(card.channel, card.slack_ts or "")
    assert len(slack.calls_to("conversations.replies")) == 1 and not slack.calls_to("conversations.history")
    assert [(row.status, row.slack_ts) for row in rows(bot, ThreadLine.kind)] == [("sent", reply.ts)]


def test_direct_message_whose_answer_was_lost_is_found_in_the_im(
    slack: LocalSlack, bot: Tripwire, clock: ManualClock
) -> None:
    queue(bot, ADMIN, "you are paged")
    outbox = impatient(bot, slack, clock)
    hold = slack.hold("chat.postMessage", channel=ADMIN)
    assert outbox.drain().retried == 1
    hold.release()
    clock.advance(seconds=300)
    assert outbox.drain().sent == 1
    im = slack.dm_channel(ADMIN)
    assert texts(slack, im) == ["you are paged"]
    assert [call.args.get("users") for call in slack.calls_to("conversations.open")] == [ADMIN]
    assert [(row.slack_channel, row.slack_ts) for row in rows(bot)] == [(im, slack.messages(im)[0].ts)]


def test_card_update_repeated_after_a_timeout_is_harmless(slack: LocalSlack, bot: Tripwire, clock: ManualClock) -> None:
    filed = report(bot)
    bot.outbox.drain()
    [card] = rows(bot, CardPost.kind)
    with bot.uow() as session:
        update = CardUpdate(incident_id=filed.id or 0, channel=card.slack_channel or card.channel)
        queues.enqueue_message(session=session, message=update, now=clock())
    outbox = impatient(bot, slack, clock)
    hold = slack.hold("chat.update")
    assert outbox.drain().retried == 1
    hold.release()
    clock.advance(seconds=300)
    assert outbox.drain().sent == 1
    assert [call.ok for call in slack.calls_to("chat.update")] == [True, True]
    assert not slack.calls_to("conversations.history")  # an update is repeated, never looked for
    assert len(slack.messages(card.slack_channel or "")) == 1
    assert [row.status for row in rows(bot, CardUpdate.kind)] == ["sent"]


# ---------------------------------------------------------------- channels side by side


def test_slow_channel_never_delays_another_and_order_is_kept(slack: LocalSlack, bot: Tripwire) -> None:
    queue(bot, GENERAL, "g1", "g2", "g3")
    queue(bot, ONCALL, "o1", "o2", "o3")
    hold = slack.hold("chat.postMessage", channel=GENERAL)
    bot.outbox.start()
    try:
        wait_until(lambda: texts(slack, ONCALL) == ["o1", "o2", "o3"], 10, "the other channel to be delivered")
        assert not hold.released.is_set()
        assert texts(slack, GENERAL) == ["g1"] and posts_to(slack, GENERAL) == 1  # one call in flight there
        hold.release()
        wait_until(lambda: texts(slack, GENERAL) == ["g1", "g2", "g3"], 10, "the slow channel to catch up")
    finally:
        bot.outbox.stop()
    assert [row.status for row in rows(bot)] == ["sent"] * 6


def test_rate_limited_channel_waits_alone(slack: LocalSlack, bot: Tripwire, clock: ManualClock) -> None:
    queue(bot, GENERAL, "g1", "g2")
    queue(bot, ONCALL, "o1", "o2")
    slack.fail("chat.postMessage", status=429, retry_after=30, channel=GENERAL)
    first = bot.outbox.drain()
    assert (first.sent, first.retried) == (2, 1)
    assert (texts(slack, GENERAL), texts(slack, ONCALL)) == ([], ["o1", "o2"])
    clock.advance(seconds=31)
    bot.outbox.drain()
    assert texts(slack, GENERAL) == ["g1", "g2"]
    assert not slack.calls_to("conversations.history")  # a 429 is a known refusal: nothing to look for


def test_two_workers_deliver_each_message_once_in_order(slack: LocalSlack, bot: Tripwire, clock: ManualClock) -> None:
    for channel in (GENERAL, ONCALL):
        queue(bot, channel, *(f"{channel}-{index}" for index in range(5)))
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])
    other = Outbox(uow=bot.uow, client=client, clock=clock, channel_interval=0)  # a second replica
    start = threading.Barrier(2)

    def drain(outbox: Outbox) -> None:
        start.wait(5)
        outbox.drain()

    workers = [threading.Thread(target=drain, args=(outbox,)) for outbox in (bot.outbox, other)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    for channel in (GENERAL, ONCALL):
        assert texts(slack, channel) == [f"{channel}-{index}" for index in range(5)]
    assert len(slack.calls_to("chat.postMessage")) == 10


def test_a_head_another_replica_claims_between_look_and_claim_is_left_out(bot: Tripwire, clock: ManualClock) -> None:
    first, second = queue(bot, GENERAL, "a", "b")
    [other] = queue(bot, ONCALL, "c")
    now = clock()
    # The look (read-only) sees each channel's head.
    with bot.uow.read() as session:
        looked = [row.id for row in queues.due_outbox_heads(session=session, now=now, limit=50) if row.id is not None]
    assert sorted(looked) == sorted([first, other])
    # Another replica claims one of them before this one does...
    with bot.uow() as session:
        [taken] = queues.due_outbox_heads(session=session, now=now, limit=1, ids=[first])
        taken.status, taken.next_attempt_at = "sending", now + queues.CLAIM_LEASE
    # ...so the claim by id leaves it out, and the next post of its channel is no head while it is unsent.
    with bot.uow() as session:
        assert [row.id for row in queues.due_outbox_heads(session=session, now=now, limit=2, ids=looked)] == [other]
        assert queues.due_outbox_heads(session=session, now=now, limit=2, ids=[second]) == []


def test_a_card_edit_is_in_the_look_ahead_of_a_page_of_page_dm_edits(bot: Tripwire) -> None:
    """Page-DM edits wait for chat.update's quota; a page of them queued first must not hide a click's card edit from
    the outbox's look (at most `limit` heads), which then only finds it once they have drained."""
    now = datetime(2000, 1, 1, tzinfo=UTC)
    with bot.uow() as session:
        session.add_all(
            OutboxMessage(kind=PageUpdate.kind, channel=f"U{n:04d}", created_at=now, next_attempt_at=now)
            for n in range(60)
        )
        session.add(OutboxMessage(kind=CardUpdate.kind, channel="C0TRIAGE", created_at=now, next_attempt_at=now))
    with bot.uow.read() as session:
        look = queues.due_outbox_heads(session=session, now=now, limit=50)
    assert len(look) == 50
    assert look[0].kind == CardUpdate.kind and [m.kind for m in look[1:]] == [PageUpdate.kind] * 49


@pytest.mark.parametrize("by_id", [pytest.param(False, id="look"), pytest.param(True, id="claim")])
def test_outbox_heads_are_found_by_the_unsent_index_on_sqlite(tmp_path: Path, by_id: bool) -> None:
    """Each lane's earlier unsent messages are read from the partial index of unsent messages, not scanned for: the
    statement writes the unsent statuses in, as the index's condition does (SQLite's plan; PostgreSQL plans by
    statistics)."""
    engine = make_engine(f"sqlite:///{tmp_path}/plan.db")
    upgrade(engine)
    captured: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        captured.append((args[2], args[3]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with UnitOfWork(engine).read() as session:
            queues.due_outbox_heads(session=session, now=datetime.now(UTC), limit=50, ids=[1, 2] if by_id else None)
        ((sql, params),) = [c for c in captured if "outbox_message" in c[0]]
        with engine.connect() as connection:
            plan = [row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)]
    finally:
        event.remove(engine, "before_cursor_execute", record)
        engine.dispose()
    lanes = [step for step in plan if step.startswith("SEARCH outbox_message_1")]
    assert len(lanes) == 2 and all("USING INDEX ix_outbox_unsent_channel (channel=? AND id<?)" in s for s in lanes)


# ---------------------------------------------------------------- refused for good


def test_parked_message_blocks_nothing_and_tells_the_admins_once(slack: LocalSlack, bot: Tripwire) -> None:
    first, *_ = queue(bot, GENERAL, "refused", "next", "last")
    slack.fail("chat.postMessage", error="not_in_channel", channel=GENERAL)
    result = bot.outbox.drain()
    assert result.failed == 1
    assert texts(slack, GENERAL) == ["next", "last"]
    with bot.uow() as session:
        assert queues.count_outbox(session=session, status="failed") == 1
    [notice] = rows(bot, ParkedNotice.kind)
    assert (notice.channel, notice.payload["outbox_id"], notice.status) == (ADMIN, first, "sent")
    [dm] = slack.messages(slack.dm_channel(ADMIN))
    assert "not_in_channel" in dm.text and f"#{first}" in dm.text
    assert bot.outbox.drain().touched == 0  # a replayed pass queues no second notice
    assert len(rows(bot, ParkedNotice.kind)) == 1


def test_undeliverable_notice_is_parked_without_a_notice_about_itself(slack: LocalSlack, bot: Tripwire) -> None:
    queue(bot, GENERAL, "refused")
    slack.fail("chat.postMessage", error="not_in_channel", channel=GENERAL)
    slack.fail("chat.postMessage", error="user_not_found", channel=ADMIN)
    assert bot.outbox.drain().failed == 2
    assert [(row.kind, row.status) for row in rows(bot)] == [("message", "failed"), (ParkedNotice.kind, "failed")]


# ---------------------------------------------------------------- kill -9 mid-call


@pytest.fixture
def serve() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start `tripwire serve` processes on demand (append to the list); all are stopped at the end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def test_kill_nine_mid_post_then_restart_posts_each_card_once(
    slack: LocalSlack, database_url: str, serve: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    with open_bot(database_url, slack_url=slack.api_url) as seeded:
        filed = [report(seeded, title=f"Card {index}") for index in range(3)]
        cards = rows(seeded, CardPost.kind)
        channel = cards[0].channel
        hold = slack.hold("chat.postMessage", channel=channel)
        serve.append(start_serve(slack, database_url, tmp_path / "first.log").process)
        assert hold.reached.wait(60), (tmp_path / "first.log").read_text()[-3000:]
        assert len(slack.messages(channel)) == 1  # Slack took the first card; its answer never reaches the bot
        serve[0].kill()
        serve[0].wait(timeout=30)
        hold.release()
        [in_flight] = [row for row in rows(seeded, CardPost.kind) if row.status == "sending"]
        # Let the lease run out now rather than in 60 s: the second process finds a call it cannot know the end of.
        with seeded.uow() as session:
            lapsed = queues.get_outbox(session=session, message_id=in_flight.id or 0)
            assert lapsed is not None
            lapsed.next_attempt_at = lapsed.created_at
        serve.append(start_serve(slack, database_url, tmp_path / "second.log").process)
        wait_until(
            lambda: all(row.status == "sent" for row in rows(seeded, CardPost.kind)),
            60,
            "the restarted process to deliver every card",
        )
        posted = [message for message in slack.messages(channel) if message.blocks and not message.is_reply]
        assert sorted(next(i.title for i in filed if i.title in m.text) for m in posted) == [i.title for i in filed]
        assert len([c for c in slack.calls_to("chat.postMessage") if c.ok and "blocks" in c.args]) == len(filed)
        [adopted] = [row for row in rows(seeded, CardPost.kind) if row.id == in_flight.id]
        assert adopted.slack_ts == posted[0].ts and adopted.attempts == 2
        assert incident(seeded, filed[0].id or 0).card_ts == posted[0].ts


def test_outbox_client_never_resends_a_call_on_its_own(database_url: str) -> None:
    # slack_sdk's default handler resends after a reset connection: a second post whose first answer was lost.
    _, outbox_client = slack_clients(make_settings(database_url), None)
    assert outbox_client.retry_handlers == []
