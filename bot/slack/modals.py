"""Block Kit views: the report form, the snooze form, App Home, the digest edit form."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.common.limits import (
    HEADER_TEXT_MAX,
    INPUT_TEXT_MAX,
    MESSAGE_BLOCKS_MAX,
    SECTION_TEXT_MAX,
    VIEW_BLOCKS_MAX,
    truncate,
)
from bot.incidents.lifecycle import CHECKPOINT_MAX, DEPLOYMENT_MAX, MODEL_MAX
from bot.policy.document import Policy
from bot.policy.values import parse_duration
from bot.slack.blocks import BlockLimitError, as_dicts, section, text_blocks
from bot.slack.ids import INPUT_ACTION, BlockId, CallbackId
from bot.slack.text import render
from db.models import Incident


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
    note: str = "",
) -> dict[str, Any]:
    """The report form: opened by `/incident new` and by the message shortcut; `note` says what could not be filled."""
    severities = [
        _option("sev1", "sev1 — critical"),
        _option("sev2", "sev2 — high"),
        _option("sev3", "sev3 — moderate"),
        _option("sev4", "sev4 — low"),
    ]
    options = [_option(value, truncate(label, 75)) for value, label in categories[:100]]
    default = next((o for o in options if o.value == "unclassified"), options[-1])
    # Each input is capped where the database column (db/models.py Incident) is; validate_draft checks it again.
    blocks: list[Block] = [
        _input(
            BlockId.TITLE,
            "Title",
            PlainTextInputElement(action_id=INPUT_ACTION, initial_value=truncate(title, 150) or None, max_length=150),
        ),
        _input(
            BlockId.DESCRIPTION,
            "What happened",
            PlainTextInputElement(
                action_id=INPUT_ACTION,
                multiline=True,
                initial_value=truncate(description, INPUT_TEXT_MAX) or None,
                max_length=INPUT_TEXT_MAX,
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
        _input(
            BlockId.MODEL, "Model", PlainTextInputElement(action_id=INPUT_ACTION, max_length=MODEL_MAX), optional=True
        ),
        _input(
            BlockId.CHECKPOINT,
            "Checkpoint",
            PlainTextInputElement(action_id=INPUT_ACTION, max_length=CHECKPOINT_MAX),
            optional=True,
        ),
        _input(
            BlockId.DEPLOYMENT,
            "Deployment",
            PlainTextInputElement(
                action_id=INPUT_ACTION, placeholder="e.g. internal research, public API", max_length=DEPLOYMENT_MAX
            ),
            optional=True,
        ),
        _input(
            BlockId.LINKS,
            "Links",
            PlainTextInputElement(
                action_id=INPUT_ACTION, multiline=True, initial_value=links or None, max_length=INPUT_TEXT_MAX
            ),
            optional=True,
            hint="One http(s) URL per line: transcripts, eval runs, dashboards.",
        ),
    ]
    if note:
        blocks.insert(0, ContextBlock(elements=[MarkdownTextObject(text=truncate(note, SECTION_TEXT_MAX))]))
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


def filed_modal(incident: Incident, *, command: str) -> dict[str, Any]:
    """What the form turns into once the incident is stored: where its card goes, how to follow it."""
    text = render("slack/filed.j2", incident=incident, command=command)
    view = View(type="modal", title="Incident filed", close="Done", blocks=[section(text)])
    return _view_dict(view)


def home_view(
    *,
    reported: Sequence[Incident],
    assigned: Sequence[Incident],
    waiting: Sequence[Incident] = (),
    now: datetime | None = None,
    on_call: str = "",
    deadlines: str = "",
) -> dict[str, Any]:
    """App Home: what waits on me (paged, not acknowledged), my open incidents, those assigned to me, who is on call,
    and the deadlines running. `now` decides which acks are overdue (the due times are Slack date tokens)."""
    blocks: list[Block] = [HeaderBlock(text="Tripwire"), section("*Waiting on you*")]
    if not waiting:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text="Nothing waits on you.")]))
    for incident in waiting:
        overdue = incident.ack_due_at is not None and now is not None and incident.ack_due_at <= now
        blocks.append(section(render("slack/waiting_line.j2", incident=incident, overdue=overdue)))
    blocks.append(DividerBlock())
    for heading, incidents in (("Assigned to you", assigned), ("Reported by you, still open", reported)):
        blocks.append(section(f"*{heading}*"))
        if not incidents:
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text="Nothing here.")]))
        for incident in incidents:
            blocks.append(section(render("slack/incident_line.j2", incident=incident)))
        blocks.append(DividerBlock())
    for text in (on_call, deadlines):
        if text:
            blocks.append(section(text))
            blocks.append(DividerBlock())
    return _view_dict(View(type="home", blocks=blocks[:VIEW_BLOCKS_MAX]), limit=VIEW_BLOCKS_MAX)


SNOOZE_CHOICES = ("30m", "1h", "2h", "4h", "8h", "24h")


def snooze_choices(max_duration: str) -> list[str]:
    """The form's durations: the usual ones the policy's limit allows, and the limit itself when it is not one."""
    limit = parse_duration(max_duration)
    choices = [choice for choice in SNOOZE_CHOICES if parse_duration(choice) <= limit]
    # Compared as spans: the policy's 24h is written "1d".
    return choices if choices and parse_duration(choices[-1]) == limit else [*choices, max_duration]


def snooze_modal(incident: Incident, *, max_duration: str) -> dict[str, Any]:
    """Ask for how long (only what the policy allows) and why before snoozing an incident."""
    options = [_option(choice, choice) for choice in snooze_choices(max_duration)]
    initial = options[min(1, len(options) - 1)]  # an hour, unless the policy allows less
    view = View(
        type="modal",
        callback_id=CallbackId.SNOOZE,
        title="Snooze incident",
        submit="Snooze",
        close="Cancel",
        private_metadata=json.dumps({"incident_id": incident.id}),
        blocks=[
            section(
                f"Snoozing holds paging and reminders for *{incident.ref}* until it ends (at most {max_duration}). "
                "The reason goes on the timeline."
            ),
            _input(
                BlockId.DURATION,
                "For how long",
                StaticSelectElement(action_id=INPUT_ACTION, options=options, initial_option=initial),
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
                    action_id=INPUT_ACTION, multiline=True, initial_value=truncate(summary, INPUT_TEXT_MAX) or None
                ),
            )
        ],
    )
    return _view_dict(view)
