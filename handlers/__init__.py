"""Thin Slack adapters: each folder registers its listeners on the Bolt app."""

from __future__ import annotations

from slack_bolt import App

from handlers import actions, commands, digests, errors, events, shortcuts, views


def register_all(app: App, *, command: str) -> None:
    """Register every listener kind on the app."""
    commands.register(app, command=command)
    actions.register(app)
    views.register(app)
    shortcuts.register(app)
    events.register(app)
    digests.register(app)
    errors.register(app)
