"""The Slack app manifest for this configuration (paste it into api.slack.com/apps → Create from manifest)."""

from __future__ import annotations

from typing import Any, Protocol

from bot.slack.ids import CallbackId

BOT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "im:write",
    "users:read",
    "channels:read",
    "groups:read",
    # The outbox reads a conversation back to find a post whose answer was lost (bot/slack/lookup.py).
    "channels:history",
    "groups:history",
    "im:history",
    "files:write",
)


class Deployment(Protocol):
    """What the manifest needs of the configuration (bot.app.config.Settings is one)."""

    @property
    def public_url(self) -> str: ...

    @property
    def command(self) -> str: ...


def build_manifest(settings: Deployment, *, socket_mode: bool = False) -> dict[str, Any]:
    """A manifest whose command, shortcut, interactivity and events all point at this deployment."""
    events_url = settings.public_url.rstrip("/") + "/slack/events"
    command: dict[str, Any] = {
        "command": settings.command,
        "description": "File and work AI-safety incidents",
        "usage_hint": "new | list | show INC-42 | ack INC-42 | help",
        # Slack then sends mentions as <@U123|name>, which `assign` needs.
        "should_escape": True,
    }
    interactivity: dict[str, Any] = {"is_enabled": True}
    events: dict[str, Any] = {"bot_events": ["app_home_opened"]}
    if not socket_mode:
        command["url"] = events_url
        interactivity["request_url"] = events_url
        events["request_url"] = events_url
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": "Tripwire",
            "description": "AI-safety incidents, held against your safety policy.",
            "background_color": "#7a1f1f",
        },
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": True,
            },
            "bot_user": {"display_name": "tripwire", "always_online": True},
            "slash_commands": [command],
            "shortcuts": [
                {
                    "name": "Report safety incident",
                    "type": "message",
                    "callback_id": CallbackId.REPORT_SHORTCUT.value,
                    "description": "File an AI-safety incident about this message",
                }
            ],
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }
