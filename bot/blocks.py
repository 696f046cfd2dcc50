"""Typed Block Kit builders. slack_sdk validates element limits; this module adds Slack's block-count limits."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.lifecycle import CLOSED, Status
from bot.policy import Policy
from bot.render import channel_link, mention, render, slack_date, slack_escape, truncate
from bot.slack_ids import INPUT_ACTION, ActionId, BlockId, CallbackId
from db.models import Incident, IncidentDeadline

MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
SECTION_TEXT_MAX = 3000
HEADER_TEXT_MAX = 150
SEVERITY_BADGE = {"sev1": "🔴", "sev2": "🟠", "sev3": "🟡", "sev4": "🔵"}


class BlockLimitError(ValueError):
    """A message or view would break one of Slack's block limits."""


def as_dicts(blocks: Sequence[Block], *, limit: int = MESSAGE_BLOCKS_MAX) -> list[dict[str, Any]]:
    """Validate every block (slack_sdk checks lengths) and the block count, and return JSON-ready dicts."""
    if len(blocks) > limit:
        raise BlockLimitError(f"{len(blocks)} blocks, Slack allows {limit}")
    return [block.to_dict() for block in blocks]


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=truncate(text, SECTION_TEXT_MAX)))


def card_text(incident: Incident, *, redacted: bool = False) -> str:
    """The notification text of the card (what phones and screen readers show)."""
    return render("slack/card_fallback.j2", incident=incident, redacted=redacted)


def relative(due: datetime, now: datetime) -> str:
    """'in 3h 20m' or 'overdue by 2d 1h': a countdown as of `now` (the card is re-rendered when timers fire)."""
    seconds = int((due - now).total_seconds())
    minutes = abs(seconds) // 60
    days, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
    parts = [f"{days}d"] if days else []
    if hours or days:
        parts.append(f"{hours}h")
    if not days:
        parts.append(f"{mins}m")
    span = " ".join(parts)
    return f"in {span}" if seconds >= 0 else f"overdue by {span}"


def incident_card(
    incident: Incident,
    *,
    deadlines: Sequence[IncidentDeadline] = (),
    now: datetime | None = None,
    redacted: bool = False,
) -> list[dict[str, Any]]:
    """The incident card: everything a triager needs at a glance, with the buttons its status allows."""
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
        ack = f"{slack_date(incident.ack_due_at)} ({relative(incident.ack_due_at, now)})"
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
        lines = [
            f"{'⏰' if d.status == 'running' else '🚨' if d.status == 'overdue' else '✅'} *{slack_escape(d.name)}* — "
            + (
                f"due {slack_date(d.due_at)} ({relative(d.due_at, now)})"
                if d.status in ("running", "overdue")
                else d.status
            )
            for d in deadlines[:10]
        ]
        blocks.append(_section("\n".join(lines)))
    if incident.description:
        note = f"… _(truncated: {len(incident.description):,} characters in all; `show {incident.ref}`)_"
        blocks.append(_section(truncate(slack_escape(incident.description), SECTION_TEXT_MAX, note)))
    if incident.actions:
        actions = "\n".join(f"• {slack_escape(action)}" for action in incident.actions[:10])
        blocks.append(_section(truncate("*Required actions*\n" + actions, SECTION_TEXT_MAX)))
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
    context = f"Reported by {mention(incident.reporter)} · opened {slack_date(incident.created_at)}"
    if incident.deployment:
        context += f" · {slack_escape(incident.deployment)}"
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=truncate(context, 2000))]))
    if incident.explanation:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=truncate(slack_escape(incident.explanation), 2000))])
        )
    buttons = card_buttons(incident)
    if buttons:
        blocks.append(ActionsBlock(block_id=BlockId.CARD_ACTIONS, elements=buttons))
    return as_dicts(blocks)


def _redacted_card(incident: Incident) -> list[dict[str, Any]]:
    """What channels other than the private route see of a restricted incident: that it exists, and where."""
    badge = SEVERITY_BADGE.get(incident.severity, "⚪")
    text = (
        f"A restricted incident ({incident.severity}, {incident.status}). Its details are only in "
        f"{channel_link(incident.channel_id)}; ask the safety lead for access."
    )
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=f"{badge} 🔒 {incident.ref} · restricted incident", emoji=True)),
        _section(text),
    ]
    return as_dicts(blocks)


def card_buttons(incident: Incident) -> list[ButtonElement]:
    """The buttons that make sense for the incident's status."""
    value = str(incident.id)
    status = Status(incident.status)
    if status in CLOSED:
        return [ButtonElement(text="Reopen", action_id=ActionId.REOPEN, value=value)]
    buttons = []
    if status == Status.TRIGGERED:
        buttons.append(ButtonElement(text="Acknowledge", action_id=ActionId.ACKNOWLEDGE, value=value, style="primary"))
    if status in (Status.TRIGGERED, Status.ACKNOWLEDGED):
        buttons.append(ButtonElement(text="Escalate", action_id=ActionId.ESCALATE, value=value))
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
    return as_dicts([_section(section) for section in sections[:MESSAGE_BLOCKS_MAX]])


def _option(value: str, label: str) -> Option:
    return Option(value=value, label=label)


def _input(
    block_id: BlockId, label: str, element: Any, *, optional: bool = False, hint: str | None = None
) -> InputBlock:
    return InputBlock(block_id=block_id, label=label, element=element, optional=optional, hint=hint)


def category_choices(policy: Policy) -> list[tuple[str, str]]:
    """The policy's categories as (id, label) options for the report form."""
    return [(key, category.name) for key, category in policy.categories.items()]


def new_incident_modal(
    *,
    categories: Sequence[tuple[str, str]],
    title: str = "",
    description: str = "",
    links: str = "",
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The report form: opened by `/incident new` and by the message shortcut."""
    severities = [
        _option("sev1", "sev1 — critical"),
        _option("sev2", "sev2 — high"),
        _option("sev3", "sev3 — moderate"),
        _option("sev4", "sev4 — low"),
    ]
    options = [_option(value, truncate(label, 75)) for value, label in categories[:100]]
    default = next((o for o in options if o.value == "unclassified"), options[-1])
    blocks = [
        _input(
            BlockId.TITLE,
            "Title",
            PlainTextInputElement(action_id=INPUT_ACTION, initial_value=truncate(title, 150) or None, max_length=150),
        ),
        _input(
            BlockId.DESCRIPTION,
            "What happened",
            PlainTextInputElement(
                action_id=INPUT_ACTION, multiline=True, initial_value=truncate(description, 3000) or None
            ),
            optional=True,
        ),
        _input(
            BlockId.CATEGORY,
            "Category",
            StaticSelectElement(action_id=INPUT_ACTION, options=options, initial_option=default),
        ),
        _input(
            BlockId.SEVERITY,
            "Severity",
            StaticSelectElement(action_id=INPUT_ACTION, options=severities, initial_option=severities[2]),
        ),
        _input(BlockId.MODEL, "Model", PlainTextInputElement(action_id=INPUT_ACTION), optional=True),
        _input(BlockId.CHECKPOINT, "Checkpoint", PlainTextInputElement(action_id=INPUT_ACTION), optional=True),
        _input(
            BlockId.DEPLOYMENT,
            "Deployment",
            PlainTextInputElement(action_id=INPUT_ACTION, placeholder="e.g. internal research, public API"),
            optional=True,
        ),
        _input(
            BlockId.LINKS,
            "Links",
            PlainTextInputElement(action_id=INPUT_ACTION, multiline=True, initial_value=links or None),
            optional=True,
            hint="One http(s) URL per line: transcripts, eval runs, dashboards.",
        ),
    ]
    view = View(
        type="modal",
        callback_id=CallbackId.NEW_INCIDENT,
        title="Report incident",
        submit="File incident",
        close="Cancel",
        private_metadata=json.dumps(metadata or {}),
        blocks=blocks,
    )
    return _view_dict(view)


def filed_modal(text: str) -> dict[str, Any]:
    """What the form turns into once the incident is stored."""
    view = View(type="modal", title="Incident filed", close="Done", blocks=[_section(text)])
    return _view_dict(view)


def home_view(
    *,
    reported: Sequence[Incident],
    assigned: Sequence[Incident],
    on_call: str = "",
    deadlines: str = "",
) -> dict[str, Any]:
    """App Home: my open incidents, those assigned to me, who is on call, and the deadlines running."""
    blocks: list[Block] = [HeaderBlock(text="Tripwire")]
    for heading, incidents in (("Assigned to you", assigned), ("Reported by you, still open", reported)):
        blocks.append(_section(f"*{heading}*"))
        if not incidents:
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text="Nothing here.")]))
        for incident in incidents:
            blocks.append(_section(render("slack/incident_line.j2", incident=incident)))
        blocks.append(DividerBlock())
    for text in (on_call, deadlines):
        if text:
            blocks.append(_section(text))
            blocks.append(DividerBlock())
    return _view_dict(View(type="home", blocks=blocks[:VIEW_BLOCKS_MAX]), limit=VIEW_BLOCKS_MAX)


SNOOZE_CHOICES = ("30m", "1h", "2h", "4h", "8h", "24h")


def snooze_modal(incident: Incident, *, max_duration: str) -> dict[str, Any]:
    """Ask for how long and why before snoozing an incident."""
    options = [_option(choice, choice) for choice in SNOOZE_CHOICES]
    view = View(
        type="modal",
        callback_id=CallbackId.SNOOZE,
        title="Snooze incident",
        submit="Snooze",
        close="Cancel",
        private_metadata=json.dumps({"incident_id": incident.id}),
        blocks=[
            _section(
                f"Snoozing holds paging and reminders for *{incident.ref}* until it ends (at most {max_duration}). "
                "The reason goes on the timeline."
            ),
            _input(
                BlockId.DURATION,
                "For how long",
                StaticSelectElement(action_id=INPUT_ACTION, options=options, initial_option=options[1]),
            ),
            _input(BlockId.REASON, "Why", PlainTextInputElement(action_id=INPUT_ACTION, multiline=True)),
        ],
    )
    return _view_dict(view)


def _view_dict(view: View, *, limit: int = VIEW_BLOCKS_MAX) -> dict[str, Any]:
    if len(view.blocks or []) > limit:
        raise BlockLimitError(f"{len(view.blocks or [])} blocks, Slack allows {limit} in a view")
    return view.to_dict()


def published_digest(*, title: str, text: str) -> list[dict[str, Any]]:
    """The digest as leadership reads it: the title and the whole Slack text, within Slack's limits."""
    header = as_dicts([HeaderBlock(text=PlainTextObject(text=truncate(title, HEADER_TEXT_MAX)))])
    return header + text_blocks(text)[: MESSAGE_BLOCKS_MAX - 1]


def digest_edit_modal(*, digest_id: int, summary: str) -> dict[str, Any]:
    """Edit a draft digest's summary."""
    view = View(
        type="modal",
        callback_id=CallbackId.DIGEST_EDIT,
        title="Edit digest",
        submit="Save",
        close="Cancel",
        private_metadata=json.dumps({"digest_id": digest_id}),
        blocks=[
            _input(
                BlockId.SUMMARY,
                "Summary for leadership",
                PlainTextInputElement(
                    action_id=INPUT_ACTION, multiline=True, initial_value=truncate(summary, 3000) or None
                ),
            )
        ],
    )
    return _view_dict(view)
