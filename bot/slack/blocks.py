"""Typed Block Kit builders. slack_sdk validates element limits; this module adds Slack's block-count limits."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.common.limits import HEADER_TEXT_MAX, MESSAGE_BLOCKS_MAX, SECTION_TEXT_MAX, truncate
from bot.common.messages import IncidentBrief, PageUpdate
from bot.common.vocabulary import CLOSED, Action, Status
from bot.slack.ids import ActionId, BlockId
from bot.slack.text import channel_link, crosswalk_line, mention, render, slack_date, slack_due, slack_escape
from db.models import Incident, IncidentDeadline, TimelineEntry

# A message ts as Slack writes it: seconds, a dot, six digits.
_TS = re.compile(r"\d+\.\d{6}")
SEVERITY_BADGE = {"sev1": "🔴", "sev2": "🟠", "sev3": "🟡", "sev4": "🔵"}


class BlockLimitError(ValueError):
    """A message or view would break one of Slack's block limits."""


def as_dicts(blocks: Sequence[Block], *, limit: int = MESSAGE_BLOCKS_MAX) -> list[dict[str, Any]]:
    """Validate every block (slack_sdk checks lengths) and the block count, and return JSON-ready dicts."""
    if len(blocks) > limit:
        raise BlockLimitError(f"{len(blocks)} blocks, Slack allows {limit}")
    return [block.to_dict() for block in blocks]


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=truncate(text, SECTION_TEXT_MAX)))


def card_text(incident: Incident, *, redacted: bool = False) -> str:
    """The notification text of the card (what phones and screen readers show)."""
    return render("slack/card_fallback.j2", incident=incident, redacted=redacted)


def incident_card(
    incident: Incident,
    *,
    deadlines: Sequence[IncidentDeadline] = (),
    now: datetime | None = None,
    redacted: bool = False,
    crosswalk: Mapping[str, Any] | None = None,
    snoozable: bool = True,
) -> list[dict[str, Any]]:
    """The incident card: everything a triager needs at a glance, with the buttons its status allows.

    Every time on it is a Slack date token, shown in the reader's zone with a countdown their client works out,
    so nothing on it goes stale between edits; `now` only decides what has already passed (an overdue ack). The
    card is edited again when that changes: a deadline falls due, a page moves the ack deadline, a status changes.
    `crosswalk` is what the policy mapped the incident's level to when it was opened (`crosswalk_of`).
    `snoozable` is False where the policy in force forbids snoozing the incident's level (`snooze.forbidden_levels`):
    the card then offers no Snooze button.
    """
    now = now or incident.updated_at
    if redacted:
        return _redacted_card(incident)
    badge = SEVERITY_BADGE.get(incident.severity, "⚪")
    lock = "🔒 " if incident.restricted else ""
    header = truncate(f"{badge} {lock}{incident.ref} · {incident.title}", HEADER_TEXT_MAX)
    model = slack_escape(incident.model or "—")
    if incident.checkpoint:
        model += f" @ {slack_escape(incident.checkpoint)}"
    status = incident.status
    if incident.snoozed_until and incident.snoozed_until > now:
        status += f" · snoozed until {slack_date(incident.snoozed_until)}"
    level = f"{incident.level or '—'} · {slack_escape(incident.category)}"
    ack = "—"
    if incident.status == "triggered" and incident.ack_due_at:
        overdue = incident.ack_due_at <= now
        ack = ("🚨 " if overdue else "") + due_text(incident.ack_due_at, overdue=overdue)
    elif incident.acknowledged_at:
        ack = f"acknowledged {slack_date(incident.acknowledged_at)}"
    paged = ", ".join(mention(user) for user in incident.paged[:8]) or "nobody yet"
    fields = [
        f"*Severity*\n{incident.severity}",
        f"*Status*\n{truncate(status, 1900)}",
        f"*Level · category*\n{truncate(level, 1900)}",
        f"*Model*\n{truncate(model, 1900)}",
        f"*Assignee*\n{mention(incident.assignee)}",
        f"*Paged*\n{truncate(paged, 1900)}",
        f"*Ack due*\n{ack}",
        f"*Policy*\n{slack_escape(incident.policy_version or 'none')} · step {incident.escalation_level + 1}",
    ]
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=header, emoji=True)),
        SectionBlock(fields=[MarkdownTextObject(text=field) for field in fields]),
    ]
    if deadlines:
        blocks.append(section("\n".join(deadline_line(deadline, now) for deadline in deadlines[:10])))
    if incident.description:
        note = f"… _(truncated: {len(incident.description):,} characters in all; `show {incident.ref}`)_"
        blocks.append(section(truncate(slack_escape(incident.description), SECTION_TEXT_MAX, note)))
    if incident.actions:
        actions = "\n".join(f"• {slack_escape(action)}" for action in incident.actions[:10])
        blocks.append(section(truncate("*Required actions*\n" + actions, SECTION_TEXT_MAX)))
    if incident.links:
        links = " · ".join(slack_escape(link) for link in incident.links[:5])
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=truncate("Links: " + links, 2000))]))
    if incident.result_count and incident.last_value is not None and incident.worst_value is not None:
        grouped = (
            f"*{incident.result_count:,} results* · last {incident.last_value:.4g} · worst {incident.worst_value:.4g}"
        )
        if incident.last_seen_at:
            grouped += f" · last seen {slack_date(incident.last_seen_at)}"
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=grouped)]))
    maps = crosswalk_line(crosswalk)
    if maps:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=truncate(maps, 2000))]))
    context = f"Reported by {mention(incident.reporter)} · opened {slack_date(incident.created_at)}"
    if incident.deployment:
        context += f" · {slack_escape(incident.deployment)}"
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=truncate(context, 2000))]))
    if incident.explanation:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=truncate(slack_escape(incident.explanation), 2000))])
        )
    buttons = card_buttons(incident, snoozable=snoozable)
    if buttons:
        blocks.append(ActionsBlock(block_id=BlockId.CARD_ACTIONS, elements=buttons))
    return as_dicts(blocks)


def due_text(due: datetime, *, overdue: bool) -> str:
    """'due Today 4:29 AM (in 13 minutes)', or 'overdue: was due …' once `due` has passed."""
    return f"overdue: was due {slack_due(due)}" if overdue else f"due {slack_due(due)}"


def deadline_line(deadline: IncidentDeadline, now: datetime) -> str:
    """One deadline clock on the card: running, overdue (the deadline_due timer edits the card), met or waived."""
    name = f"*{slack_escape(deadline.name)}*"
    if deadline.status in ("running", "overdue"):
        overdue = deadline.status == "overdue" or deadline.due_at <= now
        return f"{'🚨' if overdue else '⏰'} {name} — {due_text(deadline.due_at, overdue=overdue)}"
    return f"✅ {name} — {slack_escape(deadline.status)}"


def crosswalk_of(timeline: Sequence[TimelineEntry]) -> dict[str, Any] | None:
    """The crosswalk the policy gave the incident when it was opened (stored on its `create` entry)."""
    for entry in timeline:
        if entry.action == Action.CREATE:
            found = entry.after.get("crosswalk")
            return found if isinstance(found, dict) else None
    return None


def _redacted_card(incident: Incident) -> list[dict[str, Any]]:
    """What channels other than the private route see of a restricted incident: that it exists, and where."""
    badge = SEVERITY_BADGE.get(incident.severity, "⚪")
    text = (
        f"A restricted incident ({incident.severity}, {incident.status}). Its details are only in "
        f"{channel_link(incident.channel_id)}; ask the safety lead for access."
    )
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=f"{badge} 🔒 {incident.ref} · restricted incident", emoji=True)),
        section(text),
    ]
    return as_dicts(blocks)


def card_buttons(incident: Incident, *, snoozable: bool = True) -> list[ButtonElement]:
    """The buttons that make sense for the incident's status (and Snooze only where the policy allows it).

    One card is shared by everyone in the channel, so a button can depend on the incident (its status, its level)
    but never on who looks at it: whether this person's role may snooze is decided when the form is submitted.
    """
    value = str(incident.id)
    status = Status(incident.status)
    if status in CLOSED:
        return [ButtonElement(text="Reopen", action_id=ActionId.REOPEN, value=value)]
    buttons = []
    if status == Status.TRIGGERED:
        buttons.append(ButtonElement(text="Acknowledge", action_id=ActionId.ACKNOWLEDGE, value=value, style="primary"))
    if status in (Status.TRIGGERED, Status.ACKNOWLEDGED):
        buttons.append(ButtonElement(text="Escalate", action_id=ActionId.ESCALATE, value=value))
        if snoozable:
            buttons.append(ButtonElement(text="Snooze", action_id=ActionId.SNOOZE, value=value))
    buttons.append(
        ButtonElement(
            text="Resolve",
            action_id=ActionId.RESOLVE,
            value=value,
            style="danger",
            confirm=ConfirmObject(
                title="Resolve incident?",
                text=f"Resolve {incident.ref}? It can be reopened later.",
                confirm="Resolve",
                deny="Cancel",
            ),
        )
    )
    return buttons


def page_dm(
    brief: IncidentBrief, *, incident_id: int, card_url: str | None, acted: PageUpdate | None = None
) -> dict[str, Any]:
    """A page DM's text and blocks: what was paged, then (once someone acted) what was done, by whom and when.

    Its buttons are the card's verbs the incident still allows (they send the card's action ids, so one listener and
    one idempotency key serve both), and `card_url` (see `card_link`) when there is one.
    """
    text = render("slack/page_dm.j2", incident=brief, acted=acted)
    status = Status(acted.status) if acted is not None else Status.TRIGGERED
    value = str(incident_id)
    buttons: list[ButtonElement] = []
    if status == Status.TRIGGERED:
        buttons.append(ButtonElement(text="Acknowledge", action_id=ActionId.ACKNOWLEDGE, value=value, style="primary"))
    if status in (Status.TRIGGERED, Status.ACKNOWLEDGED):
        buttons.append(ButtonElement(text="Escalate", action_id=ActionId.ESCALATE, value=value))
    if card_url:
        buttons.append(ButtonElement(text="Open the card", action_id=ActionId.OPEN_CARD, value=value, url=card_url))
    blocks: list[Block] = [section(text)]
    if buttons:
        blocks.append(ActionsBlock(block_id=BlockId.PAGE_ACTIONS, elements=buttons))
    return {"text": text, "blocks": as_dicts(blocks)}


def card_link(channel: str | None, *, ts: str | None = None, workspace_url: str | None = None) -> str | None:
    """A link to the card: its message's permalink once the card is posted and the workspace's URL is known.

    Otherwise the card's channel, through Slack's documented app_redirect (it needs no workspace URL); nothing for a
    channel known only by name.
    """
    if not (channel and channel[:1] in ("C", "G") and channel.isalnum()):
        return None
    if ts and workspace_url and _TS.fullmatch(ts):
        # Slack's permalink form, as chat.getPermalink answers it: the ts without its dot.
        return f"{workspace_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"
    return f"https://slack.com/app_redirect?channel={channel}"


def text_blocks(text: str) -> list[dict[str, Any]]:
    """Long mrkdwn text split into sections at line breaks, within Slack's limits."""
    sections: list[str] = []
    current = ""
    for line in text.splitlines():
        if len(current) + len(line) + 1 > SECTION_TEXT_MAX:
            sections.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        sections.append(current)
    return as_dicts([section(part) for part in sections[:MESSAGE_BLOCKS_MAX]])
