"""Typed Block Kit builders. slack_sdk validates element limits; this module adds Slack's block-count limits."""

from __future__ import annotations

import json
from collections.abc import Sequence
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

from bot.lifecycle import CATEGORIES, CLOSED, Status
from bot.render import mention, render, slack_date, slack_escape, truncate
from bot.slack_ids import INPUT_ACTION, ActionId, BlockId, CallbackId
from db.models import Incident

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


def card_text(incident: Incident) -> str:
    """The notification text of the card (what phones and screen readers show)."""
    return render("slack/card_fallback.j2", incident=incident)


def incident_card(incident: Incident) -> list[dict[str, Any]]:
    """The incident card: everything a triager needs at a glance, with the buttons its status allows."""
    badge = SEVERITY_BADGE.get(incident.severity, "⚪")
    header = truncate(f"{badge} {incident.ref} · {incident.title}", HEADER_TEXT_MAX)
    model = slack_escape(incident.model or "—")
    if incident.checkpoint:
        model += f" @ {slack_escape(incident.checkpoint)}"
    fields = [
        f"*Severity*\n{incident.severity}",
        f"*Status*\n{incident.status}",
        f"*Category*\n{slack_escape(incident.category)}",
        f"*Model*\n{truncate(model, 1900)}",
        f"*Assignee*\n{mention(incident.assignee)}",
        f"*Reported by*\n{mention(incident.reporter)}",
        f"*Policy*\n{slack_escape(incident.policy_version or 'none yet')}",
        f"*Escalation level*\n{incident.escalation_level}",
    ]
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=header, emoji=True)),
        SectionBlock(fields=[MarkdownTextObject(text=field) for field in fields]),
    ]
    if incident.description:
        note = f"… _(truncated: {len(incident.description):,} characters in all; `show {incident.ref}`)_"
        blocks.append(_section(truncate(slack_escape(incident.description), SECTION_TEXT_MAX, note)))
    if incident.links:
        links = " · ".join(slack_escape(link) for link in incident.links[:5])
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=truncate("Links: " + links, 2000))]))
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"Opened {slack_date(incident.created_at)} · updated {slack_date(incident.updated_at)}"
                    + (f" · {slack_escape(incident.deployment)}" if incident.deployment else "")
                )
            ]
        )
    )
    buttons = card_buttons(incident)
    if buttons:
        blocks.append(ActionsBlock(block_id=BlockId.CARD_ACTIONS, elements=buttons))
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
    buttons.append(
        ButtonElement(
            text="Resolve",
            action_id=ActionId.RESOLVE,
            value=value,
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


def new_incident_modal(
    *, title: str = "", description: str = "", links: str = "", metadata: dict[str, str] | None = None
) -> dict[str, Any]:
    """The report form: opened by `/incident new` and by the message shortcut."""
    severities = [
        _option("sev1", "sev1 — critical"),
        _option("sev2", "sev2 — high"),
        _option("sev3", "sev3 — moderate"),
        _option("sev4", "sev4 — low"),
    ]
    categories = [_option(value, label) for value, label in CATEGORIES]
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
            StaticSelectElement(action_id=INPUT_ACTION, options=categories, initial_option=categories[-1]),
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


def home_view(*, reported: Sequence[Incident], assigned: Sequence[Incident]) -> dict[str, Any]:
    """App Home: my open incidents and the ones assigned to me."""
    blocks: list[Block] = [HeaderBlock(text="Tripwire")]
    for heading, incidents in (("Assigned to you", assigned), ("Reported by you, still open", reported)):
        blocks.append(_section(f"*{heading}*"))
        if not incidents:
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text="Nothing here.")]))
        for incident in incidents:
            blocks.append(_section(render("slack/incident_line.j2", incident=incident)))
        blocks.append(DividerBlock())
    return _view_dict(View(type="home", blocks=blocks), limit=VIEW_BLOCKS_MAX)


def _view_dict(view: View, *, limit: int = VIEW_BLOCKS_MAX) -> dict[str, Any]:
    if len(view.blocks or []) > limit:
        raise BlockLimitError(f"{len(view.blocks or [])} blocks, Slack allows {limit} in a view")
    return view.to_dict()
