"""The `/incident` slash command."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.common.errors import InvalidInput
from bot.incidents import commands as slash
from bot.incidents.lifecycle import UNSTORABLE
from bot.incidents.service import IncidentService
from bot.slack.modals import category_choices, new_incident_modal
from bot.slack.replies import command_reply


def handle_incident_command(
    ack: Ack, command: dict[str, Any], client: WebClient, respond: Respond, incidents: IncidentService
) -> None:
    """Ack at once, then open the form or run the subcommand and answer ephemerally."""
    ack()
    text = command.get("text", "")
    if UNSTORABLE.search(text):
        raise InvalidInput("Remove the control characters from the command (a NUL cannot be stored).", field="text")
    parsed = slash.parse(text, command["command"])
    if parsed.name == "new":
        view = new_incident_modal(
            categories=category_choices(incidents.policy),
            title=parsed.rest,
            metadata={"channel": command["channel_id"]},
        )
        client.views_open(trigger_id=command["trigger_id"], view=view)
        return
    outcome = slash.execute(
        parsed,
        actor=command["user_id"],
        incidents=incidents,
        now=incidents.now(),
        channel=command.get("channel_id", ""),
        command=command["command"],
    )
    respond(**command_reply(outcome).as_kwargs())


def register(app: App, *, command: str) -> None:
    """Listen for the configured command name."""
    app.command(command)(handle_incident_command)
