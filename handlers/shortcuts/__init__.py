"""The "Report safety incident" message shortcut."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.incidents.service import IncidentService
from bot.slack.ids import CallbackId
from bot.slack.modals import category_choices, new_incident_modal

NO_LINK = (
    "Tripwire can't see this conversation ({error}), so the link to the message is not filled in: "
    "copy the message's link into Links if it should be on the record."
)


def handle_report_shortcut(ack: Ack, shortcut: dict[str, Any], client: WebClient, incidents: IncidentService) -> None:
    """Open the report form prefilled from the message and linked to it (unlinked, saying why, if the bot can't)."""
    ack()
    message, channel = shortcut.get("message", {}), shortcut.get("channel", {}).get("id", "")
    text = str(message.get("text", ""))
    links, note = "", ""
    try:
        links = str(client.chat_getPermalink(channel=channel, message_ts=message["ts"])["permalink"])
    except SlackApiError as exc:
        # A DM or private channel the bot is not in (not_in_channel, channel_not_found): the report still matters.
        data = exc.response.data
        note = NO_LINK.format(error=data.get("error", "refused") if isinstance(data, dict) else "refused")
    view = new_incident_modal(
        categories=category_choices(incidents.policy),
        title=text.splitlines()[0] if text else "",
        description=text,
        links=links,
        metadata={"channel": channel},
        note=note,
    )
    client.views_open(trigger_id=shortcut["trigger_id"], view=view)


def register(app: App) -> None:
    """Listen for the message shortcut."""
    app.shortcut(CallbackId.REPORT_SHORTCUT.value)(handle_report_shortcut)
