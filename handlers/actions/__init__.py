"""Buttons on the incident card and in page DMs (the same verbs, the incident id as their value)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.common.messages import ResponseUrl
from bot.incidents.service import IncidentService
from bot.policy.values import format_duration
from bot.slack.ids import ActionId
from bot.slack.modals import snooze_modal


def handle_card_button(ack: Ack, action: dict[str, Any], body: dict[str, Any], incidents: IncidentService) -> None:
    """Ack, then apply the button's verb; the card and its thread are updated through the outbox."""
    ack()
    verbs = {
        ActionId.ACKNOWLEDGE: incidents.acknowledge,
        ActionId.ESCALATE: incidents.escalate,
        ActionId.RESOLVE: incidents.resolve,
        ActionId.REOPEN: incidents.reopen,
    }
    verbs[ActionId(action["action_id"])](
        incident_id=int(action["value"]), actor=body["user"]["id"], via=clicked_message(body)
    )


def clicked_message(body: dict[str, Any]) -> ResponseUrl | None:
    """The click's response_url and the message it can replace (none for a click on an ephemeral message)."""
    container = body.get("container") or {}
    url, channel, ts = body.get("response_url"), container.get("channel_id"), container.get("message_ts")
    if container.get("type") != "message" or container.get("is_ephemeral") or not (url and channel and ts):
        return None
    return ResponseUrl(url=str(url), channel=str(channel), ts=str(ts))


def handle_snooze_button(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], client: WebClient, incidents: IncidentService
) -> None:
    """Open the snooze form (how long, why) for the card's incident."""
    ack()
    incident = incidents.get(incident_id=int(action["value"])).incident
    view = snooze_modal(incident, max_duration=format_duration(incidents.policy.snooze.max))
    client.views_open(trigger_id=body["trigger_id"], view=view)


def handle_link_button(ack: Ack) -> None:
    """A page DM's link to the card: Slack opens the link itself and sends the click, which needs only its ack."""
    ack()


def register(app: App) -> None:
    """One listener for the verbs (on the card and in page DMs), one for the snooze form, one for links."""
    for action_id in (ActionId.ACKNOWLEDGE, ActionId.ESCALATE, ActionId.RESOLVE, ActionId.REOPEN):
        app.action(action_id.value)(handle_card_button)
    app.action(ActionId.SNOOZE.value)(handle_snooze_button)
    app.action(ActionId.OPEN_CARD.value)(handle_link_button)
