"""The "Report safety incident" message shortcut."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.incidents.service import IncidentService
from bot.slack.ids import CallbackId
from bot.slack.modals import category_choices, new_incident_modal


def handle_report_shortcut(ack: Ack, shortcut: dict[str, Any], client: WebClient, incidents: IncidentService) -> None:
    """Open the report form prefilled from the message and linked to it."""
    ack()
    message, channel = shortcut.get("message", {}), shortcut.get("channel", {}).get("id", "")
    text = str(message.get("text", ""))
    permalink = client.chat_getPermalink(channel=channel, message_ts=message["ts"])["permalink"]
    view = new_incident_modal(
        categories=category_choices(incidents.policy),
        title=text.splitlines()[0] if text else "",
        description=text,
        links=str(permalink),
        metadata={"channel": channel},
    )
    client.views_open(trigger_id=shortcut["trigger_id"], view=view)


def register(app: App) -> None:
    """Listen for the message shortcut."""
    app.shortcut(CallbackId.REPORT_SHORTCUT.value)(handle_report_shortcut)
