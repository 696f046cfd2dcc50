"""Delivers queued messages as Slack calls (bot/slack/calls.py): channels side by side, each channel's posts in order
with one in flight, card edits beside them at once; paced to Slack's limits per method (bot/slack/pacing.py), retried
while Slack is slow or down, looked for (never blindly repeated) when an answer was lost, and parked with a word to
the admins when Slack refuses them for good. A card edit a click asked for goes through that click's response_url,
outside chat.update's quota (sent by the clicking thread itself when the click's transaction claimed it: `express`),
and by chat.update when the response_url does not take it. What became of each message is written by
bot/slack/outcomes.py."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from slack_sdk import WebClient
from sqlmodel import Session

from bot.common.clock import Clock, system_clock
from bot.common.messages import CardUpdate, PageUpdate
from bot.slack.calls import CALLS, Outgoing, Park, Skip, SlackCall, WorkspaceUrl
from bot.slack.failures import Retry, request
from bot.slack.lookup import find_posted, tagged
from bot.slack.outcomes import Outcomes
from bot.slack.pacing import EDIT_RESERVE, RESPOND, UPLOAD, Pacer
from bot.slack.respond import FallBack, post_response
from db import queues
from db.engine import UnitOfWork
from db.models import OutboxMessage

log = logging.getLogger(__name__)
T = TypeVar("T")

WORKERS = 8
# With nothing to do the loop looks again this often: for retries coming due and rows other replicas queued (a row
# this process queues wakes it at once).
POLL_SECONDS = 0.25


@dataclass
class PassResult:
    """What one delivery pass did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def touched(self) -> int:
        """How many messages this pass dealt with in any way."""
        return self.sent + self.retried + self.failed

    def add(self, other: PassResult) -> None:
        """Count another pass's (or one message's) outcome in this one."""
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.skipped += other.skipped
        self.errors += other.errors


class Outbox:
    """The worker behind the outbox table."""

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        client: WebClient,
        clock: Clock,
        channel_interval: float = 1.0,
        batch: int = 50,
        workers: int = WORKERS,
        admins: Callable[[], Sequence[str]] = tuple,
        snooze_forbidden: Callable[[], Collection[str]] = tuple,
        wall: Clock = system_clock,
    ) -> None:
        self._uow = uow
        # The client must not retry on its own (slack_sdk's default retries a reset connection): a repeated post
        # whose first answer was lost is exactly what this worker avoids.
        self._client = client
        self._clock = clock
        # Slack stamps messages with its own clock: when a call went out is wall time, whatever the bot's clock says.
        self._wall = wall
        # Buckets run on the bot's clock, like the rows' next attempts: a Retry-After is over for both at once.
        self._pacer = Pacer(clock=lambda: clock().timestamp(), post_interval=channel_interval)
        self._batch = batch
        self._workers = workers
        # Read at each render, like the admins: a card drawn after a policy reload offers what the new policy allows.
        self._snooze_forbidden = snooze_forbidden
        # Learned once (auth.test), outside any transaction: permalinks in messages cost no call of their own.
        self._workspace_url = WorkspaceUrl(client)
        self._in_flight: dict[int, Future[PassResult]] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        # How many times something was queued: a process that queues for another's outbox (serve's listener process)
        # compares it before and after a request to know whether to wake that one.
        self.wakes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._outcomes = Outcomes(uow=uow, clock=clock, admins=admins, group=workers)

    def wake(self) -> None:
        """Tell the worker something was queued."""
        self.wakes += 1
        self._wake.set()

    def start(self) -> None:
        """Run the delivery loop in a background thread."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="tripwire-outbox", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the loop and wait for the calls in flight to finish."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        self._outcomes.stop()

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="tripwire-outbox")
            return self._pool

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                started, paced = self._start_due()
            except Exception:  # the loop must outlive a database hiccup; the error is logged with its trace
                log.exception("outbox pass failed")
                started, paced = 0, None
            if started == 0:
                # Woken at once by a commit or a finished call; else when the first paced message may go.
                self._wake.wait(timeout=POLL_SECONDS if paced is None else min(POLL_SECONDS, paced))

    def _start_due(self) -> tuple[int, float | None]:
        """Start what is due and within Slack's limits on free workers, without waiting for any call to answer."""
        with self._lock:
            free = self._workers - len(self._in_flight)
        if free <= 0:
            return 0, None
        ids, paced = self._claim(limit=free)
        for message_id in ids:
            self._submit(message_id).add_done_callback(partial(self._on_done, message_id))
        return len(ids), paced

    def _submit(self, message_id: int) -> Future[PassResult]:
        pool = self._executor()
        with self._lock:
            future = pool.submit(self._deliver_one, message_id)
            self._in_flight[message_id] = future
        return future

    def _on_done(self, message_id: int, _future: Future[PassResult]) -> None:
        self._finished(message_id)

    def _finished(self, message_id: int) -> None:
        with self._lock:
            self._in_flight.pop(message_id, None)
        self._wake.set()

    def drain(self, max_passes: int = 1000) -> PassResult:
        """Deliver what is due and within Slack's limits now (tests, the CLI); stops when a pass does nothing."""
        total = PassResult()
        for _ in range(max_passes):
            result = self.deliver_due()
            total.add(result)
            if result.touched == 0:
                break
        return total

    def deliver_due(self) -> PassResult:
        """One pass: claim what is due and within Slack's limits, call Slack side by side, wait for every answer."""
        ids, _ = self._claim(limit=self._batch)
        futures = [self._submit(message_id) for message_id in ids]
        result = PassResult()
        for message_id, future in zip(ids, futures, strict=True):
            result.add(future.result())
            self._finished(message_id)
        return result

    def _claim(self, *, limit: int) -> tuple[list[int], float | None]:
        """Claim due heads Slack's limits let go now; the ids, and how soon a paced one may go (None: none paced).

        The heads are chosen in a read-only transaction, so a pass that sends nothing (everything paced or in flight)
        takes no write lock; only those chosen are claimed, by id, in a writing one.
        """
        now = self._clock()
        chosen: list[int] = []
        paced: float | None = None
        with self._lock:
            busy = set(self._in_flight)
        with self._uow.read() as session:
            for message in queues.due_outbox_heads(session=session, now=now, limit=self._batch):
                assert message.id is not None
                if len(chosen) >= limit:
                    break
                if message.id in busy:
                    continue
                wait = self._pace(session, message, now)
                if wait > 0:
                    paced = wait if paced is None else min(paced, wait)
                    continue
                chosen.append(message.id)
        if not chosen:
            return [], paced
        claimed: list[int] = []
        # A row another replica claimed meanwhile is left out here; the share of Slack's limits taken for it is
        # given back only as time passes (the limits err on the side of fewer calls).
        with self._uow() as session:
            for message in queues.due_outbox_heads(session=session, now=now, limit=len(chosen), ids=chosen):
                assert message.id is not None
                # A lease that ran out on a call in flight: that process died mid-call, so the outcome is unknown.
                if message.status == "sending" and message.attempts > 0:
                    message.outcome_unknown = True
                if message.first_attempt_at is None:
                    message.first_attempt_at = self._wall()
                message.status = "sending"
                message.next_attempt_at = now + queues.CLAIM_LEASE
                message.attempts += 1
                claimed.append(message.id)
        return claimed, paced

    def _pace(self, session: Session, message: OutboxMessage, now: datetime) -> float:
        """Take the message's share of Slack's limits (0), or how long until there is room for it."""
        route = CALLS.get(message.kind)
        if route is None:
            return 0.0  # parked on delivery without a call
        # The bot's own card edits, and the page-DM edits that follow any change, leave part of chat.update's quota for
        # the card edit a person is waiting to see (a command's; a click's goes by its response_url, unpaced).
        background = message.kind == PageUpdate.kind or (
            message.kind == CardUpdate.kind and not message.payload.get("by_person")
        )
        method = route.method_for(message, now)
        wait = self._pacer.acquire(method, message.channel, reserve=EDIT_RESERVE if background else 0.0)
        if wait > 0 and route.superseded is not None and route.superseded(session, message, now):
            # A newer edit of the same card is queued behind it: this one is skipped on delivery, without a call, so
            # it needs none of Slack's limits, and it must not hold the newer one (perhaps a click's) behind pacing.
            return 0.0
        return wait

    def express(self, message_ids: Sequence[int]) -> None:
        """Deliver, in this thread, messages claimed by the transaction that queued them (a click's card edit).

        No worker takes a claimed message while its claim holds, so the edit goes once, at once, after the commit that
        queued it. Should this process die before the outcome is written, the claim runs out and the outbox sends it
        again as an unknown outcome (a card edit writes the whole card: a repeat is harmless)."""
        for message_id in message_ids:
            try:
                self._deliver_one(message_id)
            except Exception:  # the change is committed and its caller must not fail: the claim runs out, and then
                # the outbox sends it
                log.exception("outbox message %s: sending it at once failed; the outbox takes it later", message_id)

    def _deliver_one(self, message_id: int) -> PassResult:
        """Deliver one claimed message and record the outcome; what happened, counted."""
        try:
            self._deliver(message_id)
        except Retry as exc:
            self._outcomes.reschedule(message_id, str(exc), exc.delay, unknown=exc.unknown)
            return PassResult(retried=1, errors=[str(exc)])
        except FallBack as exc:
            self._outcomes.fall_back(message_id, str(exc), unknown=exc.unknown)
            return PassResult(retried=1, errors=[str(exc)])
        except Park as exc:
            self._outcomes.park(message_id, str(exc))
            log.error("outbox message %s parked: %s", message_id, exc)
            return PassResult(failed=1, errors=[str(exc)])
        return PassResult(sent=1)

    def _deliver(self, message_id: int) -> None:
        # Building a call only reads (the row, the incident as it is now): a read-only transaction, which on SQLite
        # neither waits for nor holds the one write lock every commit queues on - one commit fewer per message.
        skipped: str | None = None
        workspace_url = self._workspace_url.learn()
        with self._uow.read() as session:
            message = queues.get_outbox(session=session, message_id=message_id)
            assert message is not None
            route = CALLS.get(message.kind)
            if route is None:
                raise Park(f"unknown outbox kind {message.kind!r}")
            try:
                outgoing = Outgoing(
                    session=session,
                    row=message,
                    now=self._clock(),
                    snooze_forbidden=self._snooze_forbidden(),
                    workspace_url=workspace_url,
                )
                call = route.build(outgoing)
            except Skip as exc:
                skipped = str(exc)
            channel, unknown, since = message.channel, message.outcome_unknown, message.first_attempt_at
        if skipped is not None:
            self._outcomes.skipped(message_id, skipped)
            return
        response: dict[str, Any] | None = None
        if call.method == "chat.postMessage":
            # Tag the post so that, should its answer be lost, it can be found instead of posted again.
            call = tagged(call, message_id)
            if unknown and since is not None:
                response = self._look_for(call, message_id, since, channel=channel)
        # chat.update is idempotent and a chart upload is repeated (see calls.py): both are simply called again.
        if call.method == RESPOND:
            # Sent again only when a lease ran out mid-POST (the process died): the same whole card, harmless, and one
            # of the five POSTs Slack allows per URL.
            response = post_response(call, self._client)
        elif response is None:
            response = self._request(call.method, lambda: self._call(call), channel=channel)
        else:
            log.warning(
                "outbox message %s was posted before its answer was lost; adopting ts %s", message_id, response["ts"]
            )
        self._outcomes.sent(message_id, response, route.record)

    def _look_for(self, call: SlackCall, message_id: int, since: datetime, *, channel: str) -> dict[str, Any] | None:
        """The post's answer rebuilt from the channel, if an earlier attempt did post it."""
        # A look-up reads the channel's history (or the thread's replies): paced like any other call.
        reads = "conversations.replies" if call.args.get("thread_ts") else "conversations.history"
        try:
            wait = self._pacer.acquire(reads, channel)
            if wait > 0:
                raise Retry(f"look-up: {reads} paced for {wait:.3g}s", wait)
            return self._request("look-up", lambda: find_posted(self._client, call, message_id, since), channel=channel)
        except Retry as exc:
            exc.unknown = True  # still not known whether the earlier attempt posted
            raise

    def _call(self, call: SlackCall) -> dict[str, Any]:
        if call.method == UPLOAD:
            response = self._client.files_upload_v2(**call.args)
        else:
            response = self._client.api_call(call.method, json=call.args)
        return dict(response.data) if isinstance(response.data, dict) else {}

    def _request(self, method: str, send: Callable[[], T], *, channel: str) -> T:
        """`failures.request`, a 429 closing the refused method (in this channel, for a per-channel one)."""

        def closed(refused: str, seconds: float) -> None:
            self._pacer.rate_limited(refused, channel, seconds)

        return request(method, send, rate_limited=closed)


__all__ = ["FallBack", "Outbox", "PassResult", "Retry"]
