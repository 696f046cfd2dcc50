"""Jinja2 for Slack text, with the one escaping filter for user text."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


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


def truncate(text: str, limit: int, note: str = "…") -> str:
    """Cut text to `limit` characters, ending with `note` when something was cut."""
    return text if len(text) <= limit else text[: max(0, limit - len(note))] + note


@cache
def environment() -> Environment:
    """The shared Jinja environment (templates/)."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,
    )
    env.filters["slack_escape"] = slack_escape
    env.filters["slack_date"] = slack_date
    env.filters["mention"] = mention
    env.filters["channel_link"] = channel_link
    env.filters["truncate_to"] = truncate
    return env


def render(name: str, **context: Any) -> str:
    """Render templates/<name> and strip surrounding blank space."""
    return environment().get_template(name).render(**context).strip()
