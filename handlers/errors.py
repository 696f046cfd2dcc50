"""One error handler: a domain error becomes an ephemeral message to the person who acted."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltResponse, Respond
from slack_sdk import WebClient

from bot.common.errors import TripwireError
from bot.slack.replies import error_text

log = logging.getLogger(__name__)


def handle_error(error: Exception, body: dict[str, Any], respond: Respond, client: WebClient) -> BoltResponse | None:
    """Tell the user what to fix (domain errors) or that something broke (logged with its trace)."""
    if isinstance(error, TripwireError):
        text = error_text(error)
    else:
        log.error("unhandled error in a Slack listener", exc_info=error)
        text = "Something went wrong on Tripwire's side; nothing was changed. The error is logged."
    user = body.get("user_id") or body.get("user", {}).get("id")
    if body.get("response_url"):
        respond(text=text, response_type="ephemeral", replace_original=False)
    elif user:
        client.chat_postMessage(channel=user, text=text)
    # A domain error was answered to the person: the request itself succeeded. Anything else stays a 500.
    return BoltResponse(status=200, body="") if isinstance(error, TripwireError) else None


def register(app: App) -> None:
    """Install the handler."""
    app.error(handle_error)
