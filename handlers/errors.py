"""One error handler: a domain error becomes an ephemeral message to the person who acted."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.common.errors import AlreadyDone, TripwireError
from bot.slack.replies import error_text

log = logging.getLogger(__name__)


def handle_error(
    error: Exception,
    body: dict[str, Any],
    request: BoltRequest,
    response: BoltResponse | None,
    respond: Respond,
    client: WebClient,
) -> BoltResponse | None:
    """Tell the user what to fix (domain errors) or that something broke (logged with its trace); keep any ack."""
    if isinstance(error, AlreadyDone):
        # A retry, a replay, a second click or submission: the first one acted and was answered.
        pass
    elif isinstance(error, TripwireError):
        _tell(body, respond, client, error_text(error))
    else:
        log.error("unhandled error in a Slack listener", exc_info=error)
        _tell(
            body, respond, client, "Something went wrong on Tripwire's side; nothing was changed. The error is logged."
        )
    if response is None:
        # The listener ran after Bolt answered Slack (its ack is sent): there is no answer left to set.
        return None
    # Bolt answers with what this returns, even after the listener acked: keep the ack that was given.
    sent = request.context.ack.response if request.context.ack is not None else None
    if sent is not None:
        return BoltResponse(status=sent.status, body=sent.body, headers=sent.headers)
    if isinstance(error, TripwireError):
        # The person has been told what to fix: the request itself is answered.
        return BoltResponse(status=200, body="")
    # Nothing was answered and something broke: a 500 keeps a form open with what the person typed, and makes
    # Slack retry an event.
    return BoltResponse(status=500, body="")


def _tell(body: dict[str, Any], respond: Respond, client: WebClient, text: str) -> None:
    who = body.get("user")
    user = body.get("user_id") or (who.get("id") if isinstance(who, dict) else None)
    try:
        if body.get("response_url"):
            respond(text=text, response_type="ephemeral", replace_original=False)
        elif user:
            client.chat_postMessage(channel=user, text=text)
    except (SlackClientError, OSError) as exc:
        # Slack is unreachable or refused: the error itself is already logged or was the person's to fix.
        log.warning("could not tell %s about an error: %s", user or "the sender", type(exc).__name__)


def register(app: App) -> None:
    """Install the handler."""
    app.error(handle_error)
