"""Requests from Slack to the bot: payload builders, v0 signing and the HTTP post.

The builders are pure functions over plain dicts, so they can be checked without a
server. :class:`localslack.LocalSlack` gathers the pieces from the workspace (under its
lock) and then posts outside the lock, because the bot will call back into the Web API
while it handles the request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from localslack.blockkit import iter_elements

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

TEXT_INPUT_TYPES = frozenset({"plain_text_input", "email_text_input", "url_text_input", "number_input"})
_SINGLE_OPTION = frozenset({"static_select", "external_select", "radio_buttons"})
_MULTI_OPTION = frozenset({"multi_static_select", "multi_external_select", "checkboxes"})
_SELECTED_KEY = {
    "users_select": ("selected_user", "initial_user"),
    "multi_users_select": ("selected_users", "initial_users"),
    "conversations_select": ("selected_conversation", "initial_conversation"),
    "multi_conversations_select": ("selected_conversations", "initial_conversations"),
    "channels_select": ("selected_channel", "initial_channel"),
    "multi_channels_select": ("selected_channels", "initial_channels"),
    "datepicker": ("selected_date", "initial_date"),
    "timepicker": ("selected_time", "initial_time"),
    "datetimepicker": ("selected_date_time", "initial_date_time"),
}


def sign_request(secret: str, body: bytes | str, timestamp: int) -> dict[str, str]:
    """Return the X-Slack-Request-Timestamp and v0 X-Slack-Signature headers for a body."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    base = b"v0:" + str(timestamp).encode("ascii") + b":" + raw
    digest = hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


@dataclass(frozen=True)
class AppIdentity:
    """Who the app and workspace are, as stamped on every delivery."""

    team_id: str
    team_domain: str
    app_id: str
    bot_user_id: str
    verification_token: str


def _team(ident: AppIdentity) -> dict[str, Any]:
    return {"id": ident.team_id, "domain": ident.team_domain}


def _common(ident: AppIdentity, kind: str, user: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": kind,
        "token": ident.verification_token,
        "team": _team(ident),
        "user": dict(user),
        "api_app_id": ident.app_id,
        "is_enterprise_install": False,
        "enterprise": None,
    }


# ---------------------------------------------------------------- bodies


def form_body(fields: Mapping[str, str]) -> bytes:
    """Encode fields as application/x-www-form-urlencoded."""
    return urlencode(dict(fields)).encode("utf-8")


def interactive_body(payload: Mapping[str, Any]) -> bytes:
    """Encode an interactivity payload as Slack does: form field ``payload`` holding JSON."""
    return form_body({"payload": json.dumps(payload, separators=(",", ":"))})


def json_body(payload: Mapping[str, Any]) -> bytes:
    """Encode an Events API envelope."""
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


# ---------------------------------------------------------------- payload builders


def slash_command_fields(
    ident: AppIdentity,
    *,
    user_id: str,
    user_name: str,
    channel_id: str,
    channel_name: str,
    command: str,
    text: str,
    trigger_id: str,
    response_url: str,
) -> dict[str, str]:
    """Return the form fields of a slash command invocation."""
    return {
        "token": ident.verification_token,
        "team_id": ident.team_id,
        "team_domain": ident.team_domain,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": ident.app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def button_action(block_id: str | None, element: Mapping[str, Any], action_ts: str) -> dict[str, Any]:
    """Return the ``actions[0]`` entry for a click on a button element."""
    action: dict[str, Any] = {
        "type": element.get("type", "button"),
        "action_id": element.get("action_id"),
        "block_id": block_id,
        "text": element.get("text"),
        "action_ts": action_ts,
    }
    if "value" in element:
        action["value"] = element["value"]
    if "style" in element:
        action["style"] = element["style"]
    return action


def block_actions_payload(
    ident: AppIdentity,
    *,
    user: Mapping[str, Any],
    action: Mapping[str, Any],
    trigger_id: str,
    container: Mapping[str, Any],
    channel: Mapping[str, Any] | None = None,
    message: Mapping[str, Any] | None = None,
    view: Mapping[str, Any] | None = None,
    response_url: str | None = None,
    state_values: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return a block_actions payload for a message, modal or App Home click."""
    payload = _common(ident, "block_actions", user)
    payload["container"] = dict(container)
    payload["trigger_id"] = trigger_id
    if channel is not None:
        payload["channel"] = dict(channel)
    if message is not None:
        payload["message"] = dict(message)
    if view is not None:
        payload["view"] = dict(view)
    if response_url is not None:
        payload["response_url"] = response_url
    payload["state"] = {"values": dict(state_values or {})}
    payload["actions"] = [dict(action)]
    return payload


def view_submission_payload(
    ident: AppIdentity, *, user: Mapping[str, Any], view: Mapping[str, Any], trigger_id: str
) -> dict[str, Any]:
    """Return a view_submission payload (the view carries state.values)."""
    payload = _common(ident, "view_submission", user)
    payload["trigger_id"] = trigger_id
    payload["view"] = dict(view)
    payload["response_urls"] = []
    return payload


def view_closed_payload(
    ident: AppIdentity, *, user: Mapping[str, Any], view: Mapping[str, Any], is_cleared: bool
) -> dict[str, Any]:
    """Return a view_closed payload."""
    payload = _common(ident, "view_closed", user)
    payload["view"] = dict(view)
    payload["is_cleared"] = is_cleared
    return payload


def message_action_payload(
    ident: AppIdentity,
    *,
    user: Mapping[str, Any],
    channel: Mapping[str, Any],
    message: Mapping[str, Any],
    callback_id: str,
    trigger_id: str,
    response_url: str,
    action_ts: str,
) -> dict[str, Any]:
    """Return a message shortcut (``message_action``) payload."""
    payload = _common(ident, "message_action", user)
    payload.update(
        {
            "callback_id": callback_id,
            "trigger_id": trigger_id,
            "response_url": response_url,
            "action_ts": action_ts,
            "message_ts": message.get("ts"),
            "channel": dict(channel),
            "message": dict(message),
        }
    )
    return payload


def global_shortcut_payload(
    ident: AppIdentity, *, user: Mapping[str, Any], callback_id: str, trigger_id: str, action_ts: str
) -> dict[str, Any]:
    """Return a global shortcut (``shortcut``) payload."""
    payload = _common(ident, "shortcut", user)
    payload.update({"callback_id": callback_id, "trigger_id": trigger_id, "action_ts": action_ts})
    return payload


def event_envelope(ident: AppIdentity, *, event: Mapping[str, Any], event_id: str, event_time: int) -> dict[str, Any]:
    """Wrap an event in the Events API ``event_callback`` envelope."""
    return {
        "token": ident.verification_token,
        "team_id": ident.team_id,
        "api_app_id": ident.app_id,
        "event": dict(event),
        "type": "event_callback",
        "event_id": event_id,
        "event_time": event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": ident.team_id,
                "user_id": ident.bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{event_id}",
    }


def url_verification_payload(ident: AppIdentity, challenge: str) -> dict[str, Any]:
    """Return the url_verification handshake Slack sends when a Request URL is saved."""
    return {"token": ident.verification_token, "challenge": challenge, "type": "url_verification"}


# ---------------------------------------------------------------- blocks to payload pieces


def find_element(
    blocks: list[dict[str, Any]], action_id: str, value: str | None = None, *, kind: str | None = "button"
) -> tuple[str | None, dict[str, Any]]:
    """Find an interactive element by action_id (and value), or raise LookupError listing what exists."""
    available: list[str] = []
    for block_id, element in iter_elements(blocks):
        if kind is not None and element.get("type") != kind:
            continue
        available.append(f"{element.get('action_id')}={element.get('value')!r}")
        if element.get("action_id") == action_id and (value is None or element.get("value") == value):
            return block_id, element
    wanted = f"{kind or 'element'} action_id={action_id!r}" + (f" value={value!r}" if value is not None else "")
    raise LookupError(f"no {wanted} in these blocks; present: {available}")


def _option_for(element: Mapping[str, Any], chosen: Any) -> dict[str, Any]:
    if isinstance(chosen, dict):
        return dict(chosen)
    options: list[Any] = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    for option in options:
        if isinstance(option, dict) and option.get("value") == chosen:
            return dict(option)
    if element.get("type") in ("external_select", "multi_external_select"):
        return {"text": {"type": "plain_text", "text": str(chosen)}, "value": str(chosen)}
    values = [o.get("value") for o in options if isinstance(o, dict)]
    raise ValueError(f"{chosen!r} is not an option of {element.get('action_id')!r}; options: {values}")


def typed_state_value(element: Mapping[str, Any], value: Any, *, provided: bool) -> dict[str, Any]:
    """Return one ``state.values`` entry, typed per element like Slack sends it."""
    kind = str(element.get("type"))
    out: dict[str, Any] = {"type": kind}
    if kind in TEXT_INPUT_TYPES:
        out["value"] = value if provided else element.get("initial_value")
    elif kind in _SINGLE_OPTION:
        if provided:
            out["selected_option"] = None if value is None else _option_for(element, value)
        else:
            out["selected_option"] = element.get("initial_option")
    elif kind in _MULTI_OPTION:
        if provided:
            items = value if isinstance(value, list) else [value]
            out["selected_options"] = [_option_for(element, item) for item in items if item is not None]
        else:
            out["selected_options"] = list(element.get("initial_options") or [])
    elif kind in _SELECTED_KEY:
        key, initial = _SELECTED_KEY[kind]
        if provided:
            out[key] = value
        else:
            default: Any = [] if kind.startswith("multi_") else None
            out[key] = element.get(initial, default)
    elif provided:
        out["value"] = value
    return out


def _is_empty(entry: Mapping[str, Any]) -> bool:
    for key, value in entry.items():
        if key == "type":
            continue
        if value not in (None, "", []):
            return False
    return True


def build_state_values(
    blocks: list[dict[str, Any]], values: Mapping[str, Mapping[str, Any]], *, strict: bool = True
) -> dict[str, dict[str, Any]]:
    """Turn ``{block_id: {action_id: value}}`` into Slack's typed ``view.state.values``.

    Every stateful element appears; ones not given keep their initial value. Unknown
    block or action ids raise LookupError. With ``strict``, an empty required input
    raises ValueError, because Slack's client would not let the user submit.
    """
    known: dict[tuple[str, str], tuple[dict[str, Any], bool]] = {}
    for block in blocks:
        for block_id, element in iter_elements([block]):
            if element.get("type") in ("button", "overflow") or block_id is None:
                continue
            required = block.get("type") == "input" and not block.get("optional", False)
            known[(block_id, str(element.get("action_id")))] = (element, required)
    for block_id, actions in values.items():
        for action_id in actions:
            if (block_id, action_id) not in known:
                raise LookupError(f"no input {block_id!r}/{action_id!r} in this view; present: {sorted(known)}")
    state: dict[str, dict[str, Any]] = {}
    for (block_id, action_id), (element, required) in known.items():
        given = values.get(block_id, {})
        provided = action_id in given
        entry = typed_state_value(element, given.get(action_id), provided=provided)
        if strict and required and _is_empty(entry):
            raise ValueError(f"required input {block_id!r}/{action_id!r} is empty; Slack would not submit")
        state.setdefault(block_id, {})[action_id] = entry
    return state


# ---------------------------------------------------------------- posting


def post_signed(
    client: httpx.Client,
    url: str,
    body: bytes,
    *,
    content_type: str,
    secret: str,
    timestamp: int,
    extra_headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """POST a signed body to the bot and return its response."""
    headers = {"Content-Type": content_type, "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}
    headers.update(sign_request(secret, body, timestamp))
    headers.update(extra_headers or {})
    return client.post(url, content=body, headers=headers)


def decode_json_response(response: httpx.Response) -> dict[str, Any] | None:
    """Return the bot's JSON answer as a dict, or None when the body is empty or not JSON."""
    if not response.content.strip():
        return None
    try:
        decoded = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return decoded if isinstance(decoded, dict) else None
