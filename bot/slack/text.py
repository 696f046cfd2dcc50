"""Slack mrkdwn text: the one escaping filter for user text, dates, mentions, and templates/ rendered with them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from bot.common.limits import truncate
from bot.common.templates import Templates


def slack_escape(value: object) -> str:
    """Escape the three characters mrkdwn treats as control characters, so user text can't mention @channel."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# Slack date tokens: each reader sees the time in their own zone. `{ago}` ("in 13 minutes", "2 hours ago") is
# worked out by the reader's client when the message is shown, so a countdown written with it stays true after the
# moment passes; a countdown computed here would be stale from the moment it was sent.
WHEN = "{date_short_pretty} {time}"
WHEN_RELATIVE = "{date_short_pretty} {time} ({ago})"


def slack_date(value: datetime | str | None, fmt: str = WHEN) -> str:
    """A date Slack shows in each reader's own time zone, with a UTC fallback; ISO text (from JSON) is accepted."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:  # stored times are UTC; a naive one must not be read in the server's zone
        value = value.replace(tzinfo=UTC)
    fallback = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(value.timestamp())}^{fmt}|{fallback}>"


def slack_due(value: datetime | str | None) -> str:
    """A date with a countdown the reader's client keeps true: 'Today 4:29 AM (in 13 minutes)'."""
    return slack_date(value, WHEN_RELATIVE)


def crosswalk_line(crosswalk: Mapping[str, Any] | None) -> str:
    """'Maps to CBRN-3 (Anthropic RSP 2.2) · …': the framework names the policy gives the incident's level.

    A level without its own crosswalk falls back to its category's, which names the hazard, not the level: the
    line says so rather than claim a level the policy never mapped.
    """
    if not crosswalk or not crosswalk.get("maps"):
        return ""
    names = " · ".join(
        f"{', '.join(slack_escape(name) for name in item['names'])} ({slack_escape(item['framework'])})"
        for item in crosswalk["maps"]
    )
    if crosswalk.get("of") == "level":
        return f"*Framework levels:* {names}"
    return f"*Framework categories* (no level crosswalk in the policy): {names}"


def mention(user: str | None) -> str:
    """`<@U123>` for a Slack user id, the escaped text for anything else (a pipeline's name)."""
    if not user:
        return "nobody"
    if user[:1] in ("U", "W") and user.isalnum():
        return f"<@{user}>"
    return slack_escape(user)


def channel_link(channel: str | None) -> str:
    """`<#C123>` for a channel id, the escaped name otherwise."""
    if channel and channel[:1] in ("C", "G") and channel.isalnum():
        return f"<#{channel}>"
    return slack_escape(channel or "the triage channel")


@cache
def _templates() -> Templates:
    """templates/ with the mrkdwn filters."""
    return Templates(
        filters={
            "slack_escape": slack_escape,
            "slack_date": slack_date,
            "slack_due": slack_due,
            "crosswalk_line": crosswalk_line,
            "mention": mention,
            "channel_link": channel_link,
            "truncate_to": truncate,
        }
    )


def render(name: str, **context: Any) -> str:
    """Render templates/<name> with the mrkdwn filters and strip surrounding blank space."""
    return _templates().render(name, **context)
