"""The report form's submission."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.blocks import filed_modal
from bot.config import Settings
from bot.incidents import IncidentService
from bot.lifecycle import validate_draft
from bot.render import render
from bot.slack_ids import CallbackId


def form_values(view: dict[str, Any]) -> dict[str, str]:
    """Flatten view.state.values into {block_id: text}, whatever element type held the value."""
    values: dict[str, str] = {}
    for block_id, elements in view.get("state", {}).get("values", {}).items():
        for element in elements.values():
            selected = element.get("selected_option") or {}
            values[block_id] = str(element.get("value") or selected.get("value") or "")
    return values


def handle_new_incident_submission(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], incidents: IncidentService, settings: Settings
) -> None:
    """Validate field by field; store the incident, then turn the form into its confirmation."""
    draft, errors = validate_draft(**form_values(view))
    if draft is None:
        ack(response_action="errors", errors=errors)
        return
    incident = incidents.report(draft=draft, reporter=body["user"]["id"])
    text = render("slack/filed.j2", incident=incident, command=settings.command)
    ack(response_action="update", view=filed_modal(text))


def register(app: App) -> None:
    """Listen for the report form."""
    app.view(CallbackId.NEW_INCIDENT.value)(handle_new_incident_submission)
