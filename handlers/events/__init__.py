"""Events API listeners."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.incidents.service import IncidentService
from bot.policy.oncall import roster
from bot.slack.modals import home_view
from bot.slack.replies import deadlines_text, oncall_text


def handle_app_home_opened(event: dict[str, Any], client: WebClient, incidents: IncidentService) -> None:
    """Publish the person's App Home: what waits on them, their incidents, who is on call, the deadlines running."""
    if event.get("tab", "home") != "home":
        return
    home = incidents.home(user=event["user"])
    view = home_view(
        waiting=home.waiting,
        now=incidents.now(),
        reported=home.reported,
        assigned=home.assigned,
        on_call=oncall_text(roster(incidents.policy, at=incidents.now())),
        deadlines=deadlines_text(home.deadlines),
    )
    client.views_publish(user_id=event["user"], view=view)


def register(app: App) -> None:
    """Listen for App Home."""
    app.event("app_home_opened")(handle_app_home_opened)
