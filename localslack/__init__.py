"""localslack: an in-process fake of the parts of Slack that Tripwire uses.

It serves a Slack Web API for slack_sdk's WebClient and delivers signed slash
commands, interactivity payloads and events to the bot's Request URL.
"""

from localslack.blockkit import validate_blocks, validate_message_blocks, validate_view
from localslack.delivery import build_state_values, sign_request
from localslack.server import BackgroundServer, LocalSlack
from localslack.state import (
    Call,
    Channel,
    Delivery,
    Ephemeral,
    Hold,
    Message,
    SlackError,
    User,
    View,
    Workspace,
    WorkspaceClock,
)

__all__ = [
    "BackgroundServer",
    "Call",
    "Channel",
    "Delivery",
    "Ephemeral",
    "Hold",
    "LocalSlack",
    "Message",
    "SlackError",
    "User",
    "View",
    "Workspace",
    "WorkspaceClock",
    "build_state_values",
    "sign_request",
    "validate_blocks",
    "validate_message_blocks",
    "validate_view",
]
