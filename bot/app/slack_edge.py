"""The edge of /slack/events: a request is Slack's (signed, fresh) and has the shape Bolt reads, or it is refused.

Checked before Bolt parses anything, so junk never reaches a traceback and no unverified body reaches the log.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt import BoltRequest
from slack_bolt.request.internals import parse_body

SIGNATURE_WINDOW_SECONDS = 300


def slack_signature_problem(headers: Mapping[str, str], body: bytes, *, secret: str, now: float) -> str | None:
    """Why the request is not signed by Slack (v0, five-minute window), or None when it is."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not timestamp or not signature:
        return "missing X-Slack-Request-Timestamp or X-Slack-Signature"
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        return "X-Slack-Request-Timestamp is not a Unix time"
    if abs(now - int(timestamp)) > SIGNATURE_WINDOW_SECONDS:
        return "X-Slack-Request-Timestamp is outside the five-minute window"
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    expected = "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    # Headers arrive as latin-1 text; compare bytes, which accepts any character without raising.
    if not hmac.compare_digest(expected.encode("latin-1"), signature.encode("latin-1", "replace")):
        return "X-Slack-Signature does not match"
    return None


@dataclass(frozen=True)
class SlackRequest:
    """A request /slack/events has checked: its text (what Bolt verifies and parses again where it runs), the body
    as Bolt parses it (what the edge decides by), and the headers and query Bolt reads."""

    text: str
    body: dict[str, Any]
    headers: dict[str, str]
    query: dict[str, str]

    def bolt(self) -> BoltRequest:
        """The request as Bolt's App takes it."""
        return BoltRequest(body=self.text, query=self.query, headers=dict(self.headers))


def read_slack_request(
    body: bytes, headers: Mapping[str, str], query: Mapping[str, str]
) -> tuple[SlackRequest | None, str | None]:
    """The request, parsed once, or why a signed body is not something Slack sends (UTF-8 JSON, or a form with an
    optional JSON payload)."""
    content_type = headers.get("content-type")
    try:
        text = body.decode("utf-8")
        # Parse as Bolt will, so whatever reaches it parses.
        parsed = parse_body(text, content_type.split(";")[0].strip() if content_type else None)
    except UnicodeDecodeError:
        return None, "body is not UTF-8"
    except ValueError:
        return None, "body is not the JSON or form Slack sends"
    if not isinstance(parsed, dict):
        return None, "body is not a JSON object"
    problem = shape_problem(parsed)
    if problem is not None:
        return None, problem
    return SlackRequest(text=text, body=parsed, headers=dict(headers), query=dict(query)), None


# Fields Bolt reads without checking their type (when present), with the type Slack sends them as.
TEXT_FIELDS = ("type", "token", "team_id", "user_id", "channel_id", "enterprise_id", "api_app_id", "event_id")
OBJECT_FIELDS = ("user", "channel", "container", "message", "view", "event", "function_data", "workflow_step")
OPTIONAL_OBJECT_FIELDS = ("team", "enterprise")
LIST_OF_OBJECTS_FIELDS = ("actions", "authorizations")


def shape_problem(body: dict[str, Any]) -> str | None:
    """Why a signed payload does not have Slack's shape where Bolt relies on it, or None."""
    for name in TEXT_FIELDS:
        if name in body and not isinstance(body[name], str):
            return f"{name} is not text"
    for name in OBJECT_FIELDS + OPTIONAL_OBJECT_FIELDS:
        if (
            name in body
            and not isinstance(body[name], dict)
            and not (name in OPTIONAL_OBJECT_FIELDS and body[name] is None)
        ):
            return f"{name} is not an object"
    for name in LIST_OF_OBJECTS_FIELDS:
        value = body.get(name, [{}])
        if not (isinstance(value, list) and value and all(isinstance(item, dict) for item in value)):
            return f"{name} is not a list of objects"
    return None
