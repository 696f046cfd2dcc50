"""Slack mrkdwn text: the one escaping filter for user text, dates, mentions, and templates/ rendered with them."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from bot.common.limits import truncate
from bot.common.templates import Templates


def slack_escape(value: object) -> str:
    """Escape the three characters mrkdwn treats as control characters, so user text can't mention @channel."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_date(value: datetime | None, fmt: str = "{date_short_pretty} {time}") -> str:
    """A date Slack shows in each reader's own time zone, with a UTC fallback."""
    if value is None:
        return "—"
    fallback = value.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(value.timestamp())}^{fmt}|{fallback}>"


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
            "mention": mention,
            "channel_link": channel_link,
            "truncate_to": truncate,
        }
    )


def render(name: str, **context: Any) -> str:
    """Render templates/<name> with the mrkdwn filters and strip surrounding blank space."""
    return _templates().render(name, **context)
