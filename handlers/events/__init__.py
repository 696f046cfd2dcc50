"""Events API listeners."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.blocks import home_view
from bot.incidents import IncidentService


def handle_app_home_opened(event: dict[str, Any], client: WebClient, incidents: IncidentService) -> None:
    """Publish the person's App Home: their open incidents and those assigned to them."""
    if event.get("tab", "home") != "home":
        return
    home = incidents.home(user=event["user"])
    client.views_publish(user_id=event["user"], view=home_view(reported=home.reported, assigned=home.assigned))


def register(app: App) -> None:
    """Listen for App Home."""
    app.event("app_home_opened")(handle_app_home_opened)
