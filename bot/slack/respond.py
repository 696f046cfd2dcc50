"""A card edit through a click's response_url: replace_original with the whole card, no Web API method, no tier.

Slack takes up to five POSTs per URL within 30 minutes; what it does not take goes by chat.update (`FallBack`).
"""

from __future__ import annotations

import json
from http.client import HTTPException
from typing import Any

from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot.slack.calls import SlackCall
from bot.slack.pacing import RESPOND


class FallBack(Exception):
    """A click's response_url did not take the card edit: it goes by chat.update (`unknown`: it may have taken it)."""

    def __init__(self, reason: str, *, unknown: bool) -> None:
        super().__init__(reason)
        self.unknown = unknown


def post_response(call: SlackCall, client: WebClient) -> dict[str, Any]:
    """POST a card edit to a click's response_url (the client's timeout, TLS, proxy); FallBack unless Slack took it."""
    body = dict(call.args)
    url = str(body.pop("url"))
    # No retries of its own: a POST that failed is not repeated here but turned into a chat.update.
    webhook = WebhookClient(url, timeout=client.timeout, ssl=client.ssl, proxy=client.proxy, retry_handlers=[])
    try:
        answer = webhook.send_dict(body)
    except (OSError, HTTPException) as exc:  # URLError is an OSError: refused, reset, timed out
        raise FallBack(f"{RESPOND}: {type(exc).__name__}: {exc}", unknown=True) from None
    if answer.status_code == 200 and answer_ok(answer.body):
        return {}
    # 404 expired_url / used_url / invalid_url, a 4xx for the body, a 429: Slack did not replace the card. A 5xx:
    # it may have.
    reason = f"{RESPOND}: HTTP {answer.status_code} {answer.body[:200]}"
    raise FallBack(reason, unknown=answer.status_code >= 500)


def answer_ok(body: str) -> bool:
    """Whether a response_url's 200 answer says it took the message (Slack answers `ok`, or JSON with ok true)."""
    try:
        data = json.loads(body)
    except ValueError:
        return True  # plain text, as Slack's webhooks answer "ok"
    return not isinstance(data, dict) or data.get("ok") is not False
