"""Delivers queued Slack calls: in order per channel, paced per channel, retried while Slack is slow or down."""

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
from bot.slack.blocks import card_text, incident_card
from bot.slack.modals import published_digest
from bot.slack.text import render
from db import repositories as repo
from db.engine import UnitOfWork
from db.models import OutboxMessage

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


class Park(Exception):
    """The call can never succeed as it is."""


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
            incident = None
            if message.incident_id is not None:
                incident = repo.get_incident(session=session, incident_id=message.incident_id)
            if message.kind == "card.update" and repo.later_unsent_card_update(
                session=session, incident_id=message.incident_id or 0, channel=message.channel, after_id=message_id
            ):
                message.status, message.sent_at = "sent", self._clock()
                message.last_error = "superseded by a newer card update"
                return
            call = self._build_call(session, message, incident)
        response = self._call(*call)
        self._last_sent[message.channel] = time.monotonic()
        with self._uow() as session:
            message = repo.get_outbox(session=session, message_id=message_id)
            assert message is not None
            message.status, message.sent_at, message.last_error = "sent", self._clock(), ""
            if message.kind in ("digest.review", "digest.publish"):
                digest = repo.get_digest(session=session, digest_id=int(message.payload["id"]), for_update=True)
                assert digest is not None
                if message.kind == "digest.review":
                    digest.review_channel, digest.review_ts = str(response.get("channel")), str(response.get("ts"))
                else:
                    digest.publish_channel, digest.publish_ts = str(response.get("channel")), str(response.get("ts"))
            if message.kind == "card.post" and message.incident_id is not None:
                incident = repo.get_incident(session=session, incident_id=message.incident_id, for_update=True)
                assert incident is not None
                channel, ts = str(response.get("channel") or message.channel), str(response.get("ts"))
                if message.payload.get("redacted"):
                    incident.redacted_channel_id, incident.redacted_ts = channel, ts
                else:
                    incident.channel_id, incident.card_ts = channel, ts
                # Later messages about this card were queued under the channel's configured name; move them to the
                # id Slack answered with, keeping their order.
                repo.rekey_outbox(session=session, incident_id=incident.id or 0, old=message.channel, new=channel)

    def _build_call(self, session: Any, message: OutboxMessage, incident: Any) -> tuple[str, dict[str, Any]]:
        if message.kind in ("card.post", "card.update"):
            if incident is None:
                raise Park(f"{message.kind}: incident {message.incident_id} is gone")
            redacted = bool(message.payload.get("redacted"))
            deadlines = repo.list_deadlines(session=session, incident_id=incident.id)
            blocks = incident_card(incident, deadlines=deadlines, now=self._clock(), redacted=redacted)
            args: dict[str, Any] = {"text": card_text(incident, redacted=redacted), "blocks": blocks}
            if message.kind == "card.post":
                return "chat.postMessage", {"channel": message.channel, "unfurl_links": False, **args}
            channel, ts = (
                (incident.redacted_channel_id, incident.redacted_ts)
                if redacted
                else (incident.channel_id, incident.card_ts)
            )
            if not ts:
                raise Park(f"card.update: the card of {incident.ref} was never posted")
            return "chat.update", {"channel": channel, "ts": ts, **args}
        if message.kind == "thread.reply":
            if incident is None or not incident.card_ts:
                raise Park(f"thread.reply: the card of incident {message.incident_id} was never posted")
            entry = repo.get_timeline_entry(session=session, entry_id=int(message.payload["timeline_entry_id"]))
            if entry is None:
                raise Park("thread.reply: the timeline entry is gone")
            text = render("slack/thread_line.j2", entry=entry, incident=incident)
            return "chat.postMessage", {
                "channel": incident.channel_id,
                "thread_ts": incident.card_ts,
                "text": text,
            }
        if message.kind in ("digest.review", "digest.refresh", "digest.publish"):
            digest = repo.get_digest(session=session, digest_id=int(message.payload["id"]))
            if digest is None or digest.id is None:
                raise Park(f"{message.kind}: digest {message.payload.get('id')} is gone")
            title = str(digest.data.get("title") or f"{digest.kind} digest")
            if message.kind == "digest.publish":
                blocks = published_digest(title=title, text=digest.text_slack)
            else:
                blocks = digest.blocks[digest.status]
            args = {"text": title, "blocks": blocks, "unfurl_links": False}
            if message.kind == "digest.refresh":
                if not digest.review_ts:
                    raise Park("digest.refresh: the draft was never posted")
                return "chat.update", {"channel": digest.review_channel, "ts": digest.review_ts, **args}
            return "chat.postMessage", {"channel": message.channel, **args}
        if message.kind == "digest.charts":
            return self._chart_upload(session, message)
        if message.kind == "message":
            return "chat.postMessage", {"channel": message.channel, **message.payload}
        raise Park(f"unknown outbox kind {message.kind!r}")

    def _chart_upload(self, session: Any, message: OutboxMessage) -> tuple[str, dict[str, Any]]:
        digest = repo.get_digest(session=session, digest_id=int(message.payload["id"]))
        if digest is None or digest.id is None:
            raise Park("digest.charts: the digest is gone")
        review = message.payload.get("target") == "review"
        channel, thread = (
            (digest.review_channel, digest.review_ts) if review else (digest.publish_channel, digest.publish_ts)
        )
        if not thread:
            raise Park("digest.charts: the digest message was never posted")
        charts = repo.list_charts(session=session, digest_id=digest.id)
        # files_upload_v2 is several Web API calls (get an upload URL per file, upload, complete); a failure
        # anywhere retries the whole upload.
        return "files_upload_v2", {
            "channel": channel,
            "thread_ts": thread,
            "file_uploads": [
                {"content": chart.png, "filename": f"{chart.metric_id}.png", "title": chart.title} for chart in charts
            ],
        }

    def _call(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        try:
            if method == "files_upload_v2":
                response = self._client.files_upload_v2(**args)
            else:
                response = self._client.api_call(method, json=args)
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
