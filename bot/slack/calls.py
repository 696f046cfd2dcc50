"""The one table from outbox message kind to Web API call, and what each answer changes in the database."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.client import HTTPException
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from sqlmodel import Session

from bot.common.limits import FILES_PER_UPLOAD_MAX
from bot.common.messages import (
    CardPost,
    CardUpdate,
    DigestCharts,
    DigestPublish,
    DigestRefresh,
    DigestReview,
    PageDM,
    PageUpdate,
    ParkedNotice,
    PolicyRefusedNotice,
    ReminderDM,
    ThreadLine,
)
from bot.slack.blocks import card_link, card_text, crosswalk_of, incident_card, page_dm
from bot.slack.modals import published_digest
from bot.slack.pacing import RESPOND, UPLOAD
from bot.slack.text import render
from db import queues
from db import repositories as repo
from db.models import Digest, Incident, OutboxMessage

log = logging.getLogger(__name__)
# After auth.test fails, messages go out with the channel link for this long before it is asked again.
WORKSPACE_URL_RETRY_SECONDS = 60.0


class Park(Exception):
    """The call can never succeed as it is."""


class Skip(Exception):
    """Nothing needs sending any more (a newer message does the job); the message counts as sent."""


@dataclass(frozen=True)
class SlackCall:
    """One Web API method and its arguments; `files_upload_v2` names the SDK's several-call upload."""

    method: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Outgoing:
    """An outbox row being turned into a call, in the transaction that reads what the call shows."""

    session: Session
    row: OutboxMessage
    now: datetime
    # The levels the policy in force forbids snoozing: their cards offer no Snooze button.
    snooze_forbidden: Collection[str] = ()
    # The workspace's URL (`WorkspaceUrl`), for permalinks; None links to a channel instead.
    workspace_url: str | None = None


class WorkspaceUrl:
    """The workspace's URL (`https://acme.slack.com/`), learned from auth.test once per process.

    Permalinks are built from it and a message's ts, so a message linking to another costs no chat.getPermalink.
    """

    def __init__(self, client: WebClient, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._monotonic = monotonic
        self._url: str | None = None
        self._next_ask = 0.0
        self._lock = threading.Lock()

    def learn(self) -> str | None:
        """The URL, asking auth.test unless known or refused a moment ago; None while Slack will not say."""
        with self._lock:
            if self._url is not None or self._monotonic() < self._next_ask:
                return self._url
            try:
                url = self._client.auth_test().get("url")
            except (SlackClientError, OSError, HTTPException) as exc:
                # Only a link is at stake: the message goes out with the channel link rather than wait or park.
                log.warning("auth.test failed (%s): links point at channels, not messages, for now", exc)
                url = None
            if isinstance(url, str) and url.startswith(("https://", "http://")):
                self._url = url
            else:
                self._next_ask = self._monotonic() + WORKSPACE_URL_RETRY_SECONDS
            return self._url


Build = Callable[[Outgoing], SlackCall]
Record = Callable[[Session, OutboxMessage, dict[str, Any]], None]
Lane = Callable[[OutboxMessage, datetime], str]
Superseded = Callable[[Session, OutboxMessage, datetime], bool]


@dataclass(frozen=True)
class CallPlan:
    """How one kind becomes a call of `method`, and what Slack's answer to it changes (the posted message's ts, say).

    The method is known before the call is built, so the outbox can pace a message before claiming it.
    """

    method: str
    build: Build
    record: Record | None = None
    # For a kind that can go by more than one method (a card edit: a click's response_url, or chat.update), the
    # method one row goes by now.
    lane: Lane | None = None
    # For a card edit: whether a newer edit of the same card makes this one needless now (it is skipped, no call).
    superseded: Superseded | None = None

    def method_for(self, row: OutboxMessage, now: datetime) -> str:
        """The method this row's call will be, to pace it before it is claimed."""
        return self.method if self.lane is None else self.lane(row, now)


# -- incident cards, threads and direct messages


def _incident(outgoing: Outgoing) -> Incident | None:
    incident_id = outgoing.row.incident_id
    return None if incident_id is None else repo.get_incident(session=outgoing.session, incident_id=incident_id)


def _card(outgoing: Outgoing, incident: Incident, *, redacted: bool) -> dict[str, Any]:
    deadlines = repo.list_deadlines(session=outgoing.session, incident_id=incident.id or 0)
    # Only an incident a policy level opened has a crosswalk, kept on its `create` entry.
    timeline = repo.list_timeline(session=outgoing.session, incident_id=incident.id or 0) if incident.level else ()
    blocks = incident_card(
        incident,
        deadlines=deadlines,
        now=outgoing.now,
        redacted=redacted,
        crosswalk=crosswalk_of(timeline),
        snoozable=incident.level not in outgoing.snooze_forbidden,
    )
    return {"text": card_text(incident, redacted=redacted), "blocks": blocks}


def _post_card(outgoing: Outgoing) -> SlackCall:
    card = CardPost.from_row(outgoing.row)
    incident = _incident(outgoing)
    if incident is None:
        raise Park(f"card.post: incident {outgoing.row.incident_id} is gone")
    args = _card(outgoing, incident, redacted=card.redacted)
    return SlackCall("chat.postMessage", {"channel": card.channel, "unfurl_links": False, **args})


def _record_card(session: Session, row: OutboxMessage, response: dict[str, Any]) -> None:
    card = CardPost.from_row(row)
    incident = repo.get_incident(session=session, incident_id=card.incident_id, for_update=True)
    assert incident is not None
    channel, ts = str(response.get("channel") or card.channel), str(response.get("ts"))
    if card.redacted:
        incident.redacted_channel_id, incident.redacted_ts = channel, ts
    else:
        incident.channel_id, incident.card_ts = channel, ts
    # Later messages about this card were queued under the channel's configured name; move them to the id Slack
    # answered with, keeping their order.
    queues.rekey_outbox(session=session, incident_id=card.incident_id, old=card.channel, new=channel)


# Slack takes a click's response_url for 30 minutes; an edit that goes later than this after the click goes by
# chat.update, so that a POST never races the URL's expiry.
RESPONSE_URL_LIFETIME = timedelta(minutes=29)


def card_edit_method(card: CardUpdate, now: datetime) -> str:
    """RESPOND while the click's response_url can still replace the card, else chat.update (paced, Tier 3)."""
    if card.response_url is None or card.clicked_at is None:
        return UPDATE
    return RESPOND if now - card.clicked_at < RESPONSE_URL_LIFETIME else UPDATE


def _card_edit_lane(row: OutboxMessage, now: datetime) -> str:
    return card_edit_method(CardUpdate.from_row(row), now)


def _card_superseded(session: Session, row: OutboxMessage, now: datetime) -> bool:
    card = CardUpdate.from_row(row)
    # A response_url edit costs none of chat.update's quota, so it goes even when a newer edit is queued behind it:
    # the click's card shows at once, and the newer edit follows in order.
    return card_edit_method(card, now) != RESPOND and queues.later_unsent_card_update(
        session=session, incident_id=card.incident_id, channel=card.channel, after_id=row.id or 0
    )


def _update_card(outgoing: Outgoing) -> SlackCall:
    card = CardUpdate.from_row(outgoing.row)
    respond = card_edit_method(card, outgoing.now) == RESPOND
    if _card_superseded(outgoing.session, outgoing.row, outgoing.now):
        raise Skip("superseded by a newer card update")
    incident = _incident(outgoing)
    if incident is None:
        raise Park(f"card.update: incident {outgoing.row.incident_id} is gone")
    channel, ts = (
        (incident.redacted_channel_id, incident.redacted_ts)
        if card.redacted
        else (incident.channel_id, incident.card_ts)
    )
    if not ts:
        raise Park(f"card.update: the card of {incident.ref} was never posted")
    args = _card(outgoing, incident, redacted=card.redacted)
    if respond:
        # replace_original swaps the clicked card for the card as it is now: the very edit chat.update would make.
        return SlackCall(RESPOND, {"url": card.response_url, "replace_original": True, **args})
    return SlackCall("chat.update", {"channel": channel, "ts": ts, **args})


def _post_thread_line(outgoing: Outgoing) -> SlackCall:
    incident = _incident(outgoing)
    if incident is None or not incident.card_ts:
        raise Park(f"thread.reply: the card of incident {outgoing.row.incident_id} was never posted")
    line = ThreadLine.from_row(outgoing.row)
    entry = repo.get_timeline_entry(session=outgoing.session, entry_id=line.timeline_entry_id)
    if entry is None:
        raise Park("thread.reply: the timeline entry is gone")
    text = render("slack/thread_line.j2", entry=entry, incident=incident)
    return SlackCall("chat.postMessage", {"channel": incident.channel_id, "thread_ts": incident.card_ts, "text": text})


def _page_card_url(outgoing: Outgoing, page: PageDM) -> str | None:
    incident = _incident(outgoing) if outgoing.workspace_url else None
    if incident is None:
        # No permalink to build: the channel the page named when it was queued.
        return card_link(page.incident.channel_id)
    # The incident as it is now: a page queued before its card was posted (its brief names the channel by name, with
    # no ts) links to the channel, or nowhere; a later edit of the page links to the card message.
    return card_link(incident.channel_id, ts=incident.card_ts, workspace_url=outgoing.workspace_url)


def _send_page(outgoing: Outgoing) -> SlackCall:
    page = PageDM.from_row(outgoing.row)
    message = page_dm(page.incident, incident_id=page.incident_id, card_url=_page_card_url(outgoing, page))
    return SlackCall("chat.postMessage", {"channel": page.channel, **message})


def _update_page(outgoing: Outgoing) -> SlackCall:
    update = PageUpdate.from_row(outgoing.row)
    if queues.later_unsent_page_update(
        session=outgoing.session,
        incident_id=update.incident_id,
        user=update.user,
        page_id=update.page_id,
        after_id=outgoing.row.id or 0,
    ):
        raise Skip("superseded by a newer edit of the page")
    row = queues.get_outbox(session=outgoing.session, message_id=update.page_id)
    # The edit waited for its page's post (the outbox's edit lane): a page that is not there was parked, and the
    # admins were told then; there is nothing to edit.
    if row is None or row.status != "sent" or not row.slack_ts:
        raise Skip("the page was never posted")
    page = PageDM.from_row(row)
    card_url = _page_card_url(outgoing, page)
    message = page_dm(page.incident, incident_id=page.incident_id, card_url=card_url, acted=update)
    return SlackCall("chat.update", {"channel": row.slack_channel or row.channel, "ts": row.slack_ts, **message})


def _send_reminder(outgoing: Outgoing) -> SlackCall:
    reminder = ReminderDM.from_row(outgoing.row)
    text = render("slack/reminder_dm.j2", incident=reminder.incident)
    return SlackCall("chat.postMessage", {"channel": reminder.channel, "text": text})


def _send_policy_refusal(outgoing: Outgoing) -> SlackCall:
    notice = PolicyRefusedNotice.from_row(outgoing.row)
    text = render("slack/policy_refused.j2", problems=notice.problems, path=notice.path, version=notice.version)
    return SlackCall("chat.postMessage", {"channel": notice.channel, "text": text})


def _send_parked_notice(outgoing: Outgoing) -> SlackCall:
    notice = ParkedNotice.from_row(outgoing.row)
    text = render(
        "slack/outbox_parked.j2",
        kind=notice.message_kind,
        channel=notice.message_channel,
        outbox_id=notice.outbox_id,
        error=notice.error,
    )
    return SlackCall("chat.postMessage", {"channel": notice.channel, "text": text})


def _post_text(outgoing: Outgoing) -> SlackCall:
    return SlackCall("chat.postMessage", {"channel": outgoing.row.channel, **outgoing.row.payload})


# -- digests


def _digest(outgoing: Outgoing, digest_id: int) -> Digest:
    digest = repo.get_digest(session=outgoing.session, digest_id=digest_id)
    if digest is None or digest.id is None:
        raise Park(f"{outgoing.row.kind}: digest {digest_id} is gone")
    return digest


def _title(digest: Digest) -> str:
    return str(digest.data.get("title") or f"{digest.kind} digest")


def _digest_message(digest: Digest, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"text": _title(digest), "blocks": blocks, "unfurl_links": False}


def _post_digest_review(outgoing: Outgoing) -> SlackCall:
    review = DigestReview.from_row(outgoing.row)
    digest = _digest(outgoing, review.digest_id)
    args = _digest_message(digest, digest.blocks[digest.status])
    return SlackCall("chat.postMessage", {"channel": review.channel, **args})


def _update_digest_review(outgoing: Outgoing) -> SlackCall:
    digest = _digest(outgoing, DigestRefresh.from_row(outgoing.row).digest_id)
    args = _digest_message(digest, digest.blocks[digest.status])
    if not digest.review_ts:
        raise Park("digest.refresh: the draft was never posted")
    return SlackCall("chat.update", {"channel": digest.review_channel, "ts": digest.review_ts, **args})


def _post_published_digest(outgoing: Outgoing) -> SlackCall:
    publish = DigestPublish.from_row(outgoing.row)
    digest = _digest(outgoing, publish.digest_id)
    blocks = published_digest(title=_title(digest), text=digest.text_slack)
    return SlackCall("chat.postMessage", {"channel": publish.channel, **_digest_message(digest, blocks)})


def _upload_charts(outgoing: Outgoing) -> SlackCall:
    charts = DigestCharts.from_row(outgoing.row)
    digest = repo.get_digest(session=outgoing.session, digest_id=charts.digest_id)
    if digest is None or digest.id is None:
        raise Park("digest.charts: the digest is gone")
    channel, thread = (
        (digest.review_channel, digest.review_ts)
        if charts.target == "review"
        else (digest.publish_channel, digest.publish_ts)
    )
    if not thread:
        raise Park("digest.charts: the digest message was never posted")
    # files_upload_v2 is several Web API calls (get an upload URL per file, upload, complete); a failure anywhere
    # retries the whole upload. Unlike a post it carries no metadata to look for, and Slack shares files into the
    # thread after the answer, so an upload whose answer was lost is repeated: at worst the charts show twice.
    files = [
        {"content": chart.png, "filename": f"{chart.metric_id}.png", "title": chart.title}
        for chart in repo.list_charts(session=outgoing.session, digest_id=digest.id)[
            charts.first : charts.first + FILES_PER_UPLOAD_MAX
        ]
    ]
    return SlackCall(UPLOAD, {"channel": channel, "thread_ts": thread, "file_uploads": files})


def _locked_digest(session: Session, digest_id: int) -> Digest:
    digest = repo.get_digest(session=session, digest_id=digest_id, for_update=True)
    assert digest is not None
    return digest


def _record_review(session: Session, row: OutboxMessage, response: dict[str, Any]) -> None:
    digest = _locked_digest(session, DigestReview.from_row(row).digest_id)
    digest.review_channel, digest.review_ts = str(response.get("channel")), str(response.get("ts"))


def _record_publish(session: Session, row: OutboxMessage, response: dict[str, Any]) -> None:
    digest = _locked_digest(session, DigestPublish.from_row(row).digest_id)
    digest.publish_channel, digest.publish_ts = str(response.get("channel")), str(response.get("ts"))


POST, UPDATE = "chat.postMessage", "chat.update"

CALLS: dict[str, CallPlan] = {
    CardPost.kind: CallPlan(POST, _post_card, record=_record_card),
    CardUpdate.kind: CallPlan(UPDATE, _update_card, lane=_card_edit_lane, superseded=_card_superseded),
    ThreadLine.kind: CallPlan(POST, _post_thread_line),
    PageDM.kind: CallPlan(POST, _send_page),
    PageUpdate.kind: CallPlan(UPDATE, _update_page),
    ReminderDM.kind: CallPlan(POST, _send_reminder),
    PolicyRefusedNotice.kind: CallPlan(POST, _send_policy_refusal),
    ParkedNotice.kind: CallPlan(POST, _send_parked_notice),
    DigestReview.kind: CallPlan(POST, _post_digest_review, record=_record_review),
    DigestRefresh.kind: CallPlan(UPDATE, _update_digest_review),
    DigestPublish.kind: CallPlan(POST, _post_published_digest, record=_record_publish),
    DigestCharts.kind: CallPlan(UPLOAD, _upload_charts),
    # Rows queued before direct messages were typed carry their finished text.
    "message": CallPlan(POST, _post_text),
}
