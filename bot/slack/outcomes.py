"""What became of a claimed outbox message, written down: sent or skipped (in transactions shared between deliveries),
put back for a retry, sent on by chat.update, or parked with a word to the admins."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlmodel import Session

from bot.common.clock import Clock
from bot.common.group import GroupWriter, Pending
from bot.common.messages import CardUpdate, ParkedNotice
from bot.slack.calls import Record
from bot.slack.failures import backoff
from db import queues
from db.engine import UnitOfWork

log = logging.getLogger(__name__)

# One outcome's writes, made in a transaction shared with others'.
Change = Callable[[Session], None]


class Outcomes:
    """Writes the outbox's outcomes; `sent` and `skipped` share a transaction among deliveries that end together."""

    def __init__(self, *, uow: UnitOfWork, clock: Clock, admins: Callable[[], Sequence[str]], group: int) -> None:
        self._uow = uow
        self._clock = clock
        self._admins = admins
        # A burst of clicks is three calls each, and SQLite has one writer, for whom the clicks' own transactions and
        # the outbox's claims wait too: outcomes that come in together take one turn of the write lock, one commit.
        self._writer: GroupWriter[Change, None] = GroupWriter(
            write=self._write, name="tripwire-outbox-record", max_size=group
        )

    def sent(self, message_id: int, response: dict[str, Any], keep: Record | None) -> None:
        """Slack took the message: where it is (a post's channel and ts) and, for kinds that keep something of Slack's
        answer (a card's channel and ts, say), `keep` in the same transaction. Returns once committed."""

        def change(session: Session) -> None:
            queues.mark_sent(
                session=session,
                message_id=message_id,
                at=self._clock(),
                slack_channel=_text(response.get("channel")),
                slack_ts=_text(response.get("ts")),
            )
            if keep is not None:
                message = queues.get_outbox(session=session, message_id=message_id)
                assert message is not None
                keep(session, message, response)

        self._shared(change)

    def skipped(self, message_id: int, reason: str) -> None:
        """The message needed no call (a newer edit superseded it, say), and why. Returns once committed."""
        self._shared(
            lambda session: queues.mark_skipped(session=session, message_id=message_id, at=self._clock(), reason=reason)
        )

    def _shared(self, change: Change) -> None:
        # In a transaction shared with other deliveries' outcomes, in a savepoint of its own (one that fails, fails
        # alone); back once committed.
        self._writer.submit(change).result()

    def stop(self) -> None:
        """Write what is queued, then let the writer thread go."""
        self._writer.stop()

    def _write(self, group: list[Pending[Change, None]]) -> None:
        try:
            errors = self._uow.apply_each([pending.item for pending in group])
        except Exception as exc:  # the transaction failed: nothing of the group was written
            for pending in group:
                pending.future.set_exception(exc)
            return
        for pending, error in zip(group, errors, strict=True):
            if error is not None:
                pending.future.set_exception(error)
            else:
                pending.future.set_result(None)

    def reschedule(self, message_id: int, error: str, delay: float, *, unknown: bool) -> None:
        """Put the message back to be tried again after `delay` seconds (0: the backoff for its attempts)."""
        with self._uow() as session:
            message = queues.get_outbox(session=session, message_id=message_id)
            assert message is not None
            if delay <= 0:
                delay = backoff(message.attempts)
            message.status = "pending"
            message.next_attempt_at = self._clock() + timedelta(seconds=delay)
            message.last_error = error
            message.outcome_unknown = unknown

    def fall_back(self, message_id: int, error: str, *, unknown: bool) -> None:
        """Send a card edit whose response_url did not take it by chat.update (paced, in the card's edit lane)."""
        with self._uow() as session:
            message = queues.get_outbox(session=session, message_id=message_id)
            assert message is not None
            card = CardUpdate.from_row(message)
            message.payload = replace(card, response_url=None, clicked_at=None).payload()
            # Not a blind repeat: neither a replace nor chat.update posts anything, and both write the whole card as it
            # is at delivery. Should a replace whose answer was lost have landed, chat.update writes the same card (or a
            # newer one) over it, and one card stays. The row keeps its place in the edit lane, so no later edit of the
            # card overtakes it; after an unknown outcome it waits the usual backoff, which leaves a late replace time
            # to land before chat.update writes over it.
            delay = backoff(message.attempts) if unknown else 0
            message.status = "pending"
            message.next_attempt_at = self._clock() + timedelta(seconds=delay)
            message.last_error = error
            message.outcome_unknown = False
        log.info("outbox message %s goes by chat.update: %s", message_id, error)

    def park(self, message_id: int, error: str) -> None:
        """Mark the message failed and, in the same transaction, queue one notice to each admin."""
        with self._uow() as session:
            message = queues.get_outbox(session=session, message_id=message_id)
            assert message is not None
            message.status, message.last_error, message.sent_at = "failed", error, None
            if message.kind == ParkedNotice.kind:
                return  # a notice about a notice that cannot be delivered would never end
            for admin in self._admins():
                notice = ParkedNotice(
                    admin=admin,
                    outbox_id=message_id,
                    message_kind=message.kind,
                    message_channel=message.channel,
                    error=error,
                )
                queues.enqueue_message(session=session, message=notice, now=self._clock())


def _text(value: Any) -> str | None:
    return str(value) if value else None


__all__ = ["Change", "Outcomes"]
