"""Finding a post whose answer was lost: every outbox post carries its outbox id in Slack message metadata, so a
later attempt can look for it in the channel (or thread) instead of posting it twice."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient

from bot.slack.calls import SlackCall

EVENT_TYPE = "tripwire_outbox"
# Slack stamps a message with its own clock; look a little before the first attempt for clock skew between the two.
SKEW = timedelta(minutes=2)
PAGE = 200
# How far back to page through a busy channel; a post older than this many messages since its first attempt is
# not found and is posted again (Slack keeps ~1 message a second per channel, so this is minutes of backlog).
MAX_PAGES = 10
CONVERSATION_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def tagged(call: SlackCall, outbox_id: int) -> SlackCall:
    """The post with its outbox id in the message metadata."""
    metadata = {"event_type": EVENT_TYPE, "event_payload": {"outbox_id": outbox_id}}
    return replace(call, args={**call.args, "metadata": metadata})


def is_ours(message: dict[str, Any], outbox_id: int) -> bool:
    """Whether a listed message is the post of this outbox row."""
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return bool(metadata.get("event_type") == EVENT_TYPE and payload.get("outbox_id") == outbox_id)


def find_posted(client: WebClient, call: SlackCall, outbox_id: int, since: datetime) -> dict[str, Any] | None:
    """The answer chat.postMessage would have given, if the post tagged with `outbox_id` is in its conversation."""
    channel = conversation_id(client, str(call.args["channel"]))
    if channel is None:
        return None
    args: dict[str, Any] = {
        "channel": channel,
        "oldest": f"{(since - SKEW).timestamp():.6f}",
        "include_all_metadata": True,
        "limit": PAGE,
    }
    thread = call.args.get("thread_ts")
    cursor = ""
    for _ in range(MAX_PAGES):
        page = {**args, "cursor": cursor} if cursor else args
        if thread:
            response = client.conversations_replies(ts=str(thread), **page)
        else:
            response = client.conversations_history(**page)
        for message in response.get("messages") or []:
            if is_ours(message, outbox_id):
                return {"ok": True, "channel": channel, "ts": message["ts"], "message": message}
        cursor = str((response.get("response_metadata") or {}).get("next_cursor") or "")
        if not cursor:
            break
    return None


def conversation_id(client: WebClient, channel: str) -> str | None:
    """The conversation id a post to `channel` went to: itself, a person's DM, or a channel found by name."""
    if CONVERSATION_ID.match(channel):
        return channel
    if USER_ID.match(channel):
        # A post to a user id lands in the bot's DM with them; opening it again only returns its id.
        opened = client.conversations_open(users=channel)
        return str(opened["channel"]["id"])
    name = channel.removeprefix("#")
    cursor = ""
    for _ in range(MAX_PAGES):
        response = client.conversations_list(
            types="public_channel,private_channel", exclude_archived=True, limit=PAGE, cursor=cursor or None
        )
        for found in response.get("channels") or []:
            if found.get("name") == name:
                return str(found["id"])
        cursor = str((response.get("response_metadata") or {}).get("next_cursor") or "")
        if not cursor:
            break
    return None
