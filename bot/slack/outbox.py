"""Delivers queued messages as Slack calls (bot/slack/calls.py): in order and paced per channel, retried while
Slack is slow or down, parked when Slack refuses them for good."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.common.clock import Clock
from bot.slack.calls import CALLS, Outgoing, Park, Skip, SlackCall
from db import repositories as repo
from db.engine import UnitOfWork

log = logging.getLogger(__name__)

# Slack errors that retrying cannot fix: the message is parked as failed and logged.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "no_text",
        "invalid_arguments",
        "not_in_channel",
        "is_archived",
        "cant_update_message",
        "message_not_found",
        "user_not_found",
    }
)
LEASE = timedelta(seconds=60)
MAX_BACKOFF_SECONDS = 300


class Retry(Exception):
    """Slack could not take the call now; try again after `delay` seconds."""

    def __init__(self, reason: str, delay: float) -> None:
        super().__init__(reason)
        self.delay = delay


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
    ) -> None:
        self._uow = uow
        self._client = client
        self._clock = clock
        self._interval = channel_interval
        self._batch = batch
        self._last_sent: dict[str, float] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Tell the worker something was queued."""
        self._wake.set()

    def start(self) -> None:
        """Run the delivery loop in a background thread."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="tripwire-outbox", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the loop and wait for the current pass to finish."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                result = self.deliver_due()
            except Exception:  # the loop must outlive a database hiccup; the error is logged with its trace
                log.exception("outbox pass failed")
                result = PassResult()
            if result.touched == 0:
                self._wake.wait(timeout=min(1.0, max(self._interval, 0.05)))
                self._wake.clear()

    def drain(self, max_passes: int = 1000) -> PassResult:
        """Deliver everything that is due now (used by tests and the CLI); stops when a pass does nothing."""
        total = PassResult()
        for _ in range(max_passes):
            result = self.deliver_due()
            total.sent += result.sent
            total.retried += result.retried
            total.failed += result.failed
            total.errors += result.errors
            if result.touched == 0:
                break
        return total

    def deliver_due(self) -> PassResult:
        """One pass: claim due messages (one per channel), call Slack outside any transaction, record the outcome."""
        result = PassResult()
        for message_id in self._claim():
            try:
                self._deliver(message_id)
            except Retry as exc:
                self._reschedule(message_id, str(exc), exc.delay)
                result.retried += 1
                result.errors.append(str(exc))
            except Park as exc:
                self._finish(message_id, status="failed", error=str(exc))
                log.error("outbox message %s parked: %s", message_id, exc)
                result.failed += 1
                result.errors.append(str(exc))
            else:
                result.sent += 1
        return result

    def _claim(self) -> list[int]:
        now = self._clock()
        claimed: list[int] = []
        channels: set[str] = set()
        mono = time.monotonic()
        with self._uow() as session:
            for message in repo.claim_due_outbox(session=session, now=now, limit=self._batch):
                assert message.id is not None
                if message.channel in channels:
                    continue
                channels.add(message.channel)
                if mono - self._last_sent.get(message.channel, -1e9) < self._interval:
                    continue
                if repo.earlier_unsent_in_channel(session=session, channel=message.channel, before_id=message.id):
                    continue
                message.status = "sending"
                message.next_attempt_at = now + LEASE
                message.attempts += 1
                claimed.append(message.id)
        return claimed

    def _deliver(self, message_id: int) -> None:
        with self._uow() as session:
            message = repo.get_outbox(session=session, message_id=message_id)
            assert message is not None
            route = CALLS.get(message.kind)
            if route is None:
                raise Park(f"unknown outbox kind {message.kind!r}")
            try:
                call = route.build(Outgoing(session=session, row=message, now=self._clock()))
            except Skip as exc:
                message.status, message.sent_at, message.last_error = "sent", self._clock(), str(exc)
                return
            channel = message.channel
        response = self._call(call)
        self._last_sent[channel] = time.monotonic()
        with self._uow() as session:
            message = repo.get_outbox(session=session, message_id=message_id)
            assert message is not None
            message.status, message.sent_at, message.last_error = "sent", self._clock(), ""
            if route.record is not None:
                route.record(session, message, response)

    def _call(self, call: SlackCall) -> dict[str, Any]:
        method = call.method
        try:
            if method == "files_upload_v2":
                response = self._client.files_upload_v2(**call.args)
            else:
                response = self._client.api_call(method, json=call.args)
        except SlackApiError as exc:
            status = exc.response.status_code
            error = str(exc.response.get("error") or "") if isinstance(exc.response.data, dict) else ""
            if status == 429:
                retry_after = float(exc.response.headers.get("Retry-After", exc.response.headers.get("retry-after", 1)))
                raise Retry(f"{method}: rate limited, retry after {retry_after:g}s", retry_after) from None
            if status < 500 and error in PERMANENT_ERRORS:
                raise Park(f"{method}: {error}") from None
            raise Retry(f"{method}: HTTP {status} {error or 'error'}", 0) from None
        except (OSError, TimeoutError) as exc:
            raise Retry(f"{method}: {type(exc).__name__}: {exc}", 0) from None
        return dict(response.data) if isinstance(response.data, dict) else {}

    def _reschedule(self, message_id: int, error: str, delay: float) -> None:
        with self._uow() as session:
            message = repo.get_outbox(session=session, message_id=message_id)
            assert message is not None
            if delay <= 0:
                delay = min(2 ** min(message.attempts, 12), MAX_BACKOFF_SECONDS)
            message.status = "pending"
            message.next_attempt_at = self._clock() + timedelta(seconds=delay)
            message.last_error = error

    def _finish(self, message_id: int, *, status: str, error: str) -> None:
        with self._uow() as session:
            message = repo.get_outbox(session=session, message_id=message_id)
            assert message is not None
            message.status, message.last_error = status, error
            message.sent_at = self._clock() if status == "sent" else None
