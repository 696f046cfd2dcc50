"""Buttons on the incident card."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.incidents import IncidentService
from bot.slack_ids import ActionId


def handle_card_button(ack: Ack, action: dict[str, Any], body: dict[str, Any], incidents: IncidentService) -> None:
    """Ack, then apply the button's verb; the card and its thread are updated through the outbox."""
    ack()
    verbs = {
        ActionId.ACKNOWLEDGE: incidents.acknowledge,
        ActionId.ESCALATE: incidents.escalate,
        ActionId.RESOLVE: incidents.resolve,
        ActionId.REOPEN: incidents.reopen,
    }
    verbs[ActionId(action["action_id"])](incident_id=int(action["value"]), actor=body["user"]["id"])


def register(app: App) -> None:
    """One listener for every card button."""
    for action_id in ActionId:
        app.action(action_id.value)(handle_card_button)
