"""Whatever a sender repeats acts once: replayed and retried requests, double clicks, double submissions."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text as sql
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from bot.app.asgi import Tripwire
from bot.common.clock import ManualClock
from bot.common.errors import AlreadyDone
from bot.incidents.lifecycle import validate_draft
from bot.slack.ids import ActionId
from db.idempotency import claim, once
from db.models import IdempotencyKey
from localslack import BackgroundServer, Delivery, LocalSlack
from localslack.delivery import form_body, interactive_body, json_body, post_signed
from tests.conftest import REPORTER, SIGNING_SECRET, TRIAGE_CHANNEL, TRIAGER, open_bot
from tests.integration.test_incident_lifecycle import (
    FORM,
    file_incident,
    incidents,
    open_form,
    submit_form,
    timeline,
)
from tests.support.environment import wait_until

BODIES: dict[str, Callable[[Mapping[str, Any]], bytes]] = {"slash_command": form_body, "event_callback": json_body}
CONTENT_TYPES = {"slash_command": "application/x-www-form-urlencoded", "event_callback": "application/json"}


def raw_body(delivery: Delivery) -> bytes:
    """The exact bytes localslack sent for a delivery (its encoders are deterministic)."""
    return BODIES.get(delivery.kind, interactive_body)(delivery.payload)


def resend(
    slack: LocalSlack, delivery: Delivery, *, timestamp: int, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    """Send a delivery's body again, signed at `timestamp` (the same timestamp replays the same signature)."""
    content_type = CONTENT_TYPES.get(delivery.kind, "application/x-www-form-urlencoded")
    with httpx.Client(timeout=30, trust_env=False) as client:
        return post_signed(
            client,
            str(slack.request_url),
            raw_body(delivery),
            content_type=content_type,
            secret=SIGNING_SECRET,
            timestamp=timestamp,
            extra_headers=headers,
        )


def together(*calls: Any) -> list[Any]:
    """Run the calls in threads released at the same moment by a barrier; return their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait(timeout=10)
        try:
            results[index] = calls[index]()
        except BaseException as exc:  # re-raised in the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads), "a caller never finished"
    return results


def actions(bot: Tripwire, action: str) -> list[str]:
    return [entry.note for entry in timeline(bot) if entry.action == action]


def test_replayed_command_acts_once(slack: LocalSlack, bot: Tripwire) -> None:
    file_incident(slack, bot)
    now = int(time.time())
    for text in ("note INC-1 the classifier missed it", "escalate INC-1"):
        first = slack.slash_command(TRIAGER, text, channel_id=TRIAGE_CHANNEL, timestamp=now)
        assert first.status_code == 200
        delivery = slack.deliveries[-1]
        retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        assert resend(slack, delivery, timestamp=now, headers=retry).status_code == 200
        assert resend(slack, delivery, timestamp=now).status_code == 200
    assert actions(bot, "note") == ["the classifier missed it"]
    assert len(actions(bot, "escalate")) == 1


def test_replayed_command_that_failed_acts_when_repeated(slack: LocalSlack, bot: Tripwire) -> None:
    """The key is claimed with the effect: a request whose change rolled back left no key behind."""
    file_incident(slack, bot)
    now = int(time.time())
    slack.slash_command(TRIAGER, "resolve INC-1 fixed", channel_id=TRIAGE_CHANNEL, timestamp=now)
    refused = slack.slash_command(TRIAGER, "ack INC-1", channel_id=TRIAGE_CHANNEL, timestamp=now)
    assert refused.status_code == 200
    delivery = slack.deliveries[-1]
    posts_before = len(slack.response_posts)
    assert resend(slack, delivery, timestamp=now).status_code == 200
    # The replay was not swallowed as "already done": it ran, and was refused again for the same reason.
    assert len(slack.response_posts) == posts_before + 1
    assert "resolved" in str(slack.response_posts[-1].args)


def test_slack_retry_of_an_event_acts_once(slack: LocalSlack, bot: Tripwire) -> None:
    assert slack.app_home_opened(REPORTER).status_code == 200
    delivery = slack.deliveries[-1]
    assert len(slack.calls_to("views.publish")) == 1
    # Slack signs each retry afresh; only the event id is the same.
    retry = resend(slack, delivery, timestamp=int(time.time()) - 1, headers={"X-Slack-Retry-Num": "1"})
    assert retry.status_code == 200
    assert len(slack.calls_to("views.publish")) == 1


def test_double_click_on_escalate_escalates_once(slack: LocalSlack, bot: Tripwire) -> None:
    card = file_incident(slack, bot)

    def click() -> httpx.Response:
        return slack.click_button(TRIAGER, TRIAGE_CHANNEL, card.ts, ActionId.ESCALATE.value)

    responses = together(click, click)
    assert [r.status_code for r in responses] == [200, 200]
    assert len(actions(bot, "escalate")) == 1
    # Once the card shows the escalation, a new click on it acts again.
    bot.outbox.drain()
    assert click().status_code == 200
    assert len(actions(bot, "escalate")) == 2


def test_snooze_button_opens_its_form_again_after_the_form_was_closed(slack: LocalSlack, bot: Tripwire) -> None:
    card = file_incident(slack, bot)
    for _ in range(2):  # a person opens the form, closes it, and clicks Snooze again on the unchanged card
        assert slack.click_button(TRIAGER, TRIAGE_CHANNEL, card.ts, ActionId.SNOOZE.value).status_code == 200
    snooze_forms = [c for c in slack.calls_to("views.open") if c.args["view"]["title"]["text"] == "Snooze incident"]
    assert len(snooze_forms) == 2


def test_double_submission_files_one_incident(slack: LocalSlack, bot: Tripwire) -> None:
    view = open_form(slack)
    # A first submission the form refuses (nothing stored, nothing claimed) gives a real submission payload.
    refused = submit_form(slack, view, model="m" * 201)
    assert refused.status_code == 200 and incidents(bot) == []
    delivery = slack.deliveries[-1]
    values = delivery.payload["view"]["state"]["values"]
    for block_id, value in FORM.items():
        for element in values[block_id].values():
            if "selected_option" in element:
                element["selected_option"]["value"] = value
            else:
                element["value"] = value
    now = int(time.time())
    # Two deliveries of one submission, each signed on its own: only the view id and hash make them one.
    responses = together(
        lambda: resend(slack, delivery, timestamp=now), lambda: resend(slack, delivery, timestamp=now - 1)
    )
    assert [r.status_code for r in responses] == [200, 200]
    assert [i.title for i in incidents(bot)] == [FORM["title"]]
    assert resend(slack, delivery, timestamp=now - 2).status_code == 200
    assert len(incidents(bot)) == 1


def test_expired_keys_are_purged(slack: LocalSlack, bot: Tripwire, clock: ManualClock) -> None:
    file_incident(slack, bot)
    slack.slash_command(TRIAGER, "note INC-1 first", channel_id=TRIAGE_CHANNEL)
    with Session(bot.engine) as session:
        assert session.exec(select(IdempotencyKey)).all()
    clock.advance(hours=1)
    slack.slash_command(TRIAGER, "note INC-1 second", channel_id=TRIAGE_CHANNEL)
    assert bot.purge_expired_keys() > 0  # the scheduler's housekeeping job, off the request path
    with Session(bot.engine) as session:
        keys = session.exec(select(IdempotencyKey)).all()
    assert keys and all(key.created_at == clock() for key in keys)
    assert actions(bot, "note") == ["first", "second"]


def test_an_expired_key_is_claimed_again_without_a_purge(bot: Tripwire, clock: ManualClock) -> None:
    window = timedelta(minutes=10)
    with bot.uow() as session:
        assert claim(session=session, key="k", now=clock(), expires_at=clock() + window)
        assert not claim(session=session, key="k", now=clock(), expires_at=clock() + window)
    clock.advance(minutes=5)
    with bot.uow() as session:
        assert not claim(session=session, key="k", now=clock(), expires_at=clock() + window)
    clock.advance(minutes=6)
    with bot.uow() as session:
        assert claim(session=session, key="k", now=clock(), expires_at=clock() + window)
        [row] = session.exec(select(IdempotencyKey)).all()
        assert row.created_at == clock()


def test_replay_acts_once_when_listeners_run_after_the_ack(
    slack: LocalSlack, database_url: str, clock: ManualClock
) -> None:
    """In production Bolt acks first and runs the listener on its pool: the keys travel with it."""
    with open_bot(database_url, slack_url=slack.api_url, clock=clock, TRIPWIRE_PROCESS_BEFORE_RESPONSE=False) as bot:
        server = BackgroundServer(bot.asgi)
        server.start()
        try:
            slack.request_url = server.url + "/slack/events"
            draft, _ = validate_draft(title="Model gave synthesis route")
            assert draft is not None
            bot.incidents.report(draft=draft, reporter=REPORTER)
            now = int(time.time())
            slack.slash_command(TRIAGER, "note INC-1 seen twice", channel_id=TRIAGE_CHANNEL, timestamp=now)
            wait_until(lambda: len(actions(bot, "note")) == 1, timeout=10, what="the note")
            assert resend(slack, slack.deliveries[-1], timestamp=now).status_code == 200
            # The replay's listener runs after its answer: let every listener submitted so far finish.
            bot.bolt.listener_runner.listener_executor.shutdown(wait=True)
            assert actions(bot, "note") == ["seen twice"]
        finally:
            server.stop()


def test_a_read_claims_no_key_and_the_write_after_it_does(bot: Tripwire, clock: ManualClock) -> None:
    """A read-only unit of work waits on no writer, so it cannot claim; the request's first write claims instead."""
    window = timedelta(minutes=10)
    with once(["request:k"], now=clock(), ttl=window):
        with bot.uow.read() as session:
            assert session.exec(select(IdempotencyKey)).all() == []
        with bot.uow.read() as session:
            assert session.exec(select(IdempotencyKey)).all() == []
        with bot.uow() as session:
            pass
    with bot.uow.read() as session:
        assert [row.key for row in session.exec(select(IdempotencyKey)).all()] == ["request:k"]
    with once(["request:k"], now=clock(), ttl=window), pytest.raises(AlreadyDone), bot.uow():
        pass


def test_a_write_in_a_read_only_unit_of_work_fails(bot: Tripwire) -> None:
    draft, _ = validate_draft(title="Model gave synthesis route")
    assert draft is not None
    bot.incidents.report(draft=draft, reporter=REPORTER)
    with pytest.raises(DBAPIError), bot.uow.read() as session:
        session.exec(sql("UPDATE incident SET title = 'changed'"))  # type: ignore[call-overload]
    assert bot.incidents.get(incident_id=1).incident.title == "Model gave synthesis route"
