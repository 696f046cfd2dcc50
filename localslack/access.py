"""Where Slack refuses a bot: scopes its token lacks, channels it is not in, names where an ID is required."""

from __future__ import annotations

from typing import Any

from localslack.state import Channel, SlackError, Workspace

_READ = ("channels:read", "groups:read", "im:read", "mpim:read")
_HISTORY = ("channels:history", "groups:history", "im:history", "mpim:history")
# The bot-token scopes each method accepts (any one will do), from each method's page at docs.slack.dev.
# Methods not listed (api.test, auth.test, chat.getPermalink, views.*) need no scope.
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.delete": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "conversations.open": ("im:write", "mpim:write", "channels:manage", "groups:write"),
    "conversations.info": _READ,
    "conversations.list": _READ,
    "conversations.members": _READ,
    "conversations.history": _HISTORY,
    "conversations.replies": _HISTORY,
    "users.info": ("users:read",),
    "users.list": ("users:read",),
    "users.lookupByEmail": ("users:read.email",),
    "reactions.add": ("reactions:write",),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
}
# Slack shows at most ten files in one message; Tripwire must never ask to share more in one call.
MAX_FILES_PER_UPLOAD = 10


class MissingScope(SlackError):
    """`missing_scope`, with the scopes the method needed and those the token has, as Slack answers it."""

    def __init__(self, needed: tuple[str, ...], provided: set[str]) -> None:
        super().__init__("missing_scope")
        self.needed = ",".join(needed)
        self.provided = ",".join(sorted(provided))

    def body(self) -> dict[str, Any]:
        """The error body with `needed` and `provided`."""
        return {**super().body(), "needed": self.needed, "provided": self.provided}


def check_scopes(ws: Workspace, method: str) -> None:
    """Refuse a call whose method needs a scope the workspace did not grant the bot."""
    needed = METHOD_SCOPES.get(method, ())
    if needed and not ws.scopes.intersection(needed):
        raise MissingScope(needed, ws.scopes)


def channel_by_id(ws: Workspace, ref: str | None) -> Channel:
    """A conversation named by its ID only (chat.update, files.completeUploadExternal): a `#name` is not found."""
    channel = ws.channels.get(ref or "")
    if channel is None or not ws.bot_can_see(channel):
        raise SlackError("channel_not_found")
    if channel.is_archived:
        raise SlackError("is_archived")
    return channel


def require_member(ws: Workspace, channel: Channel, *, public_scope: str | None = None) -> None:
    """`not_in_channel` unless the bot is a member (or, for a public channel, holds `public_scope`)."""
    if ws.bot_user_id in channel.members or channel.is_im:
        return
    if public_scope is not None and not channel.is_private and public_scope in ws.scopes:
        return
    raise SlackError("not_in_channel")
