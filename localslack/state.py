"""The in-memory workspace: users, conversations, messages, views and what the bot did.

Everything lives in one :class:`Workspace` guarded by a single re-entrant lock. The
server thread mutates it while answering Web API calls; the test thread reads it
through :class:`localslack.LocalSlack`, which hands out deep copies. All records are
dataclasses that convert to plain JSON-able dicts (``to_dict``) so a browser page can
render the same state later.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Clock = Callable[[], float]
T = TypeVar("T")

TRIGGER_LIFETIME = 3.0
RESPONSE_URL_LIFETIME = 30 * 60.0
RESPONSE_URL_MAX_USES = 5
MODAL_STACK_LIMIT = 3
# Bumped when Workspace.dump changes shape, so an older file is refused rather than misread.
DUMP_FORMAT = 1
# The bot token's scopes: those bot/slack/manifest.py asks for (a test keeps the two equal); tests take some away
# (`LocalSlack.scopes`) to see what an app missing them meets.
DEFAULT_SCOPES = frozenset(
    {
        "commands",
        "chat:write",
        "chat:write.public",
        "im:write",
        "users:read",
        "channels:read",
        "groups:read",
        "channels:history",
        "groups:history",
        "im:history",
        "files:write",
    }
)

_TZ_LABELS = {
    "GMT": "Greenwich Mean Time",
    "BST": "British Summer Time",
    "UTC": "Coordinated Universal Time",
    "CET": "Central European Time",
    "CEST": "Central European Summer Time",
    "EET": "Eastern European Time",
    "EEST": "Eastern European Summer Time",
    "EST": "Eastern Standard Time",
    "EDT": "Eastern Daylight Time",
    "CST": "Central Standard Time",
    "CDT": "Central Daylight Time",
    "MST": "Mountain Standard Time",
    "MDT": "Mountain Daylight Time",
    "PST": "Pacific Standard Time",
    "PDT": "Pacific Daylight Time",
    "JST": "Japan Standard Time",
    "IST": "India Standard Time",
}


class SlackError(Exception):
    """A Web API failure answered as ``{"ok": false, "error": code}``."""

    def __init__(self, code: str, messages: list[str] | None = None, status: int = 200) -> None:
        super().__init__(code if not messages else f"{code}: {'; '.join(messages)}")
        self.code = code
        self.messages = messages or []
        self.status = status

    def body(self) -> dict[str, Any]:
        """Return the JSON body Slack would send for this error."""
        out: dict[str, Any] = {"ok": False, "error": self.code}
        if self.messages:
            out["response_metadata"] = {"messages": list(self.messages)}
        return out


class WorkspaceClock:
    """A clock that only moves when told to; pass it as ``LocalSlack(clock=...)``."""

    def __init__(self, start: float = 1763942400.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward and return the new time."""
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, now: float) -> None:
        """Jump the clock to an absolute time."""
        with self._lock:
            self._now = float(now)


class Record:
    """Mixin giving dataclass records dict-style reads and a JSON-able dump."""

    def __getitem__(self, key: str) -> Any:
        if not any(f.name == key for f in dataclasses.fields(self)):  # type: ignore[arg-type]
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """Return a field value, or ``default`` when there is no such field."""
        try:
            return self[key]
        except KeyError:
            return default

    def to_dict(self) -> dict[str, Any]:
        """Return the record as plain JSON-able data."""
        return dataclasses.asdict(self)  # type: ignore[call-overload, no-any-return]


# ---------------------------------------------------------------- records


@dataclass
class User(Record):
    """A workspace member (human or the bot)."""

    id: str
    name: str
    real_name: str
    tz: str = "Etc/UTC"
    is_admin: bool = False
    is_owner: bool = False
    is_bot: bool = False
    deleted: bool = False
    email: str | None = None
    display_name: str = ""

    def to_slack(self, team_id: str, now: float) -> dict[str, Any]:
        """Return the user object shape of users.info / users.list."""
        offset, abbreviation = _zone_details(self.tz, now)
        profile: dict[str, Any] = {
            "real_name": self.real_name,
            "real_name_normalized": self.real_name,
            "display_name": self.display_name,
            "display_name_normalized": self.display_name,
            "team": team_id,
            "image_48": "",
        }
        if self.email:
            profile["email"] = self.email
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": _TZ_LABELS.get(abbreviation, abbreviation),
            "tz_offset": offset,
            "profile": profile,
            "is_admin": self.is_admin,
            "is_owner": self.is_owner,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": int(now),
        }

    def payload_user(self, team_id: str) -> dict[str, Any]:
        """Return the short user object used in interactivity payloads."""
        return {"id": self.id, "username": self.name, "name": self.name, "team_id": team_id}


def _zone_details(tz: str, now: float) -> tuple[int, str]:
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return 0, "UTC"
    moment = datetime.fromtimestamp(now, zone)
    delta = moment.utcoffset()
    return (int(delta.total_seconds()) if delta else 0, moment.tzname() or "UTC")


@dataclass
class Channel(Record):
    """A conversation: public/private channel, DM (``D…``) or group DM."""

    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    is_mpim: bool = False
    user: str | None = None
    members: list[str] = field(default_factory=list)
    everyone: bool = False
    created: int = 0
    is_archived: bool = False
    topic: str = ""
    purpose: str = ""

    def to_slack(self, bot_user_id: str) -> dict[str, Any]:
        """Return the conversation object shape of conversations.info."""
        if self.is_im:
            return {
                "id": self.id,
                "created": self.created,
                "is_im": True,
                "is_org_shared": False,
                "user": self.user,
                "is_user_deleted": False,
                "priority": 0,
            }
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not self.is_private and not self.is_mpim,
            "is_group": self.is_private and not self.is_mpim,
            "is_im": False,
            "is_mpim": self.is_mpim,
            "is_private": self.is_private,
            "created": self.created,
            "is_archived": self.is_archived,
            "is_general": False,
            "unlinked": 0,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": bot_user_id in self.members,
            "num_members": len(self.members),
            "topic": {"value": self.topic, "creator": "", "last_set": 0},
            "purpose": {"value": self.purpose, "creator": "", "last_set": 0},
        }


@dataclass
class Message(Record):
    """A message in a channel or thread, as the bot or a human posted it."""

    channel: str
    ts: str
    user: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    reply_count: int = 0
    reply_users: list[str] = field(default_factory=list)
    latest_reply: str | None = None
    edited: bool = False
    edited_ts: str | None = None
    bot_id: str | None = None
    app_id: str | None = None
    subtype: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    reactions: list[dict[str, Any]] = field(default_factory=list)
    unfurl_links: bool | None = None
    unfurl_media: bool | None = None

    @property
    def is_reply(self) -> bool:
        """True for a thread reply (not the parent)."""
        return self.thread_ts is not None and self.thread_ts != self.ts

    def to_slack(self, team_id: str) -> dict[str, Any]:
        """Return the message object shape Slack uses in API answers and payloads."""
        out: dict[str, Any] = {"type": "message", "ts": self.ts, "user": self.user, "text": self.text}
        out["team"] = team_id
        if self.subtype:
            out["subtype"] = self.subtype
        if self.bot_id:
            out["bot_id"] = self.bot_id
            out["app_id"] = self.app_id
        if self.blocks:
            out["blocks"] = copy.deepcopy(self.blocks)
        if self.attachments:
            out["attachments"] = copy.deepcopy(self.attachments)
        if self.files:
            out["files"] = copy.deepcopy(self.files)
            out["upload"] = True
        if self.metadata is not None:
            out["metadata"] = copy.deepcopy(self.metadata)
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.thread_ts == self.ts:
            out["reply_count"] = self.reply_count
            out["reply_users"] = list(self.reply_users)
            out["reply_users_count"] = len(self.reply_users)
            out["latest_reply"] = self.latest_reply
        if self.edited:
            out["edited"] = {"user": self.user, "ts": self.edited_ts}
        if self.reactions:
            out["reactions"] = copy.deepcopy(self.reactions)
        return out


@dataclass
class Ephemeral(Record):
    """A message only one user sees (chat.postEphemeral or a response_url answer)."""

    channel: str
    user: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    source: str = "chat.postEphemeral"
    replaced: bool = False
    attachments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def message_ts(self) -> str:
        """Alias for ``ts`` matching chat.postEphemeral's answer field."""
        return self.ts

    def to_slack(self, bot_user_id: str, bot_id: str, app_id: str) -> dict[str, Any]:
        """Return the ephemeral as a message object."""
        out: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "ts": self.ts,
            "user": bot_user_id,
            "bot_id": bot_id,
            "app_id": app_id,
            "text": self.text,
            "is_ephemeral": True,
        }
        if self.blocks:
            out["blocks"] = copy.deepcopy(self.blocks)
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        return out


@dataclass
class View(Record):
    """A modal in a user's stack, or a user's App Home."""

    id: str
    user_id: str
    type: str
    blocks: list[dict[str, Any]]
    hash: str
    title: dict[str, Any] | None = None
    submit: dict[str, Any] | None = None
    close: dict[str, Any] | None = None
    callback_id: str = ""
    private_metadata: str = ""
    external_id: str = ""
    notify_on_close: bool = False
    clear_on_close: bool = False
    submit_disabled: bool = False
    root_view_id: str | None = None
    previous_view_id: str | None = None
    errors: dict[str, str] | None = None
    delivery_error: str | None = None
    state_values: dict[str, Any] = field(default_factory=dict)

    def to_slack(self, team_id: str, app_id: str, bot_id: str) -> dict[str, Any]:
        """Return the view object shape of views.* answers and payloads."""
        out: dict[str, Any] = {
            "id": self.id,
            "team_id": team_id,
            "type": self.type,
            "blocks": copy.deepcopy(self.blocks),
            "private_metadata": self.private_metadata,
            "callback_id": self.callback_id,
            "state": {"values": copy.deepcopy(self.state_values)},
            "hash": self.hash,
            "clear_on_close": self.clear_on_close,
            "notify_on_close": self.notify_on_close,
            "close": copy.deepcopy(self.close),
            "submit": copy.deepcopy(self.submit),
            "previous_view_id": self.previous_view_id,
            "root_view_id": self.root_view_id,
            "app_id": app_id,
            "external_id": self.external_id,
            "app_installed_team_id": team_id,
            "bot_id": bot_id,
        }
        if self.title is not None:
            out["title"] = copy.deepcopy(self.title)
        return out


@dataclass
class Call(Record):
    """One Web API call (or response_url POST) the bot made, with its outcome."""

    method: str
    args: dict[str, Any]
    ok: bool
    error: str | None
    status: int
    response: dict[str, Any] | None = None
    seq: int = 0
    # Wall-clock arrival (time.time(), not the workspace clock, which tests may freeze): latency benchmarks need it.
    at: float = 0.0


@dataclass
class Delivery(Record):
    """One request localslack sent to the bot, and how the bot answered."""

    kind: str
    payload: dict[str, Any]
    status: int | None = None
    response_body: str = ""
    error: str | None = None


@dataclass
class Trigger(Record):
    """A trigger_id handed to the bot; exchangeable once within three seconds."""

    id: str
    user_id: str
    issued_at: float
    used: bool = False


@dataclass
class ResponseUrl(Record):
    """A response_url handed to the bot, tied to where the interaction happened."""

    id: str
    user_id: str
    channel_id: str | None
    message_ts: str | None
    is_ephemeral: bool
    thread_ts: str | None
    issued_at: float
    uses: int = 0


@dataclass
class FileRecord(Record):
    """A file uploaded through files.getUploadURLExternal and its upload URL."""

    id: str
    name: str
    length: int
    upload_token: str
    user: str
    created: int
    title: str = ""
    content: bytes | None = None
    mimetype: str = "application/octet-stream"
    channels: list[str] = field(default_factory=list)
    completed: bool = False
    alt_txt: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the record without its bytes (JSON-able)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "content"}
        out["channels"] = list(self.channels)
        out["uploaded"] = self.content is not None
        return out

    def to_slack(self, base_url: str) -> dict[str, Any]:
        """Return the file object shape of files.completeUploadExternal."""
        return {
            "id": self.id,
            "created": self.created,
            "timestamp": self.created,
            "name": self.name,
            "title": self.title or self.name,
            "mimetype": self.mimetype,
            "filetype": self.name.rsplit(".", 1)[-1] if "." in self.name else "binary",
            "user": self.user,
            "size": len(self.content) if self.content is not None else 0,
            "url_private": f"{base_url}/files/{self.id}/{self.name}",
            "permalink": f"{base_url}/files/{self.id}",
            "channels": list(self.channels),
            "is_external": False,
        }


@dataclass
class Failure(Record):
    """A scripted failure for the next ``remaining`` calls of a method (None: any), to a channel (None: any)."""

    method: str | None
    error: str | None
    status: int
    retry_after: int | None
    remaining: int
    channel: str | None = None


@dataclass
class Hold:
    """A scripted slow answer: the next ``remaining`` matching calls take effect, but their answers wait.

    This is how Slack looks when the answer is lost or slower than the client's timeout: the message is there, the
    caller does not know it. ``seconds=None`` holds each answer until :meth:`release` (or a reset).
    """

    method: str | None
    channel: str | None
    seconds: float | None
    remaining: int
    held: int = 0
    released: threading.Event = field(default_factory=threading.Event)
    reached: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        """Let every held answer (and any later one) go."""
        self.released.set()

    def wait(self) -> None:
        """Block the answer until released or for ``seconds`` (called outside the workspace lock)."""
        self.released.wait(self.seconds)


# ---------------------------------------------------------------- the workspace


class Workspace:
    """All state of one fake Slack workspace, guarded by ``self.lock``."""

    def __init__(
        self,
        *,
        team_id: str,
        team_domain: str,
        team_name: str,
        bot_user_id: str,
        bot_id: str,
        bot_name: str,
        app_id: str,
        bot_token: str,
        clock: Clock,
    ) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.team_id = team_id
        self.team_domain = team_domain
        self.team_name = team_name
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.app_id = app_id
        self.bot_token = bot_token
        self.clock: Clock = clock
        self.base_url = "http://localslack.invalid"
        self.version = 0
        self._counter = 0
        self._last_ts_micros = 0
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.dms: dict[str, str] = {}
        self.history: dict[str, list[Message]] = {}
        self.ephemerals: list[Ephemeral] = []
        self.modal_stacks: dict[str, list[View]] = {}
        self.home_views: dict[str, View] = {}
        self.calls: list[Call] = []
        self.response_posts: list[Call] = []
        self.deliveries: list[Delivery] = []
        self.failures: list[Failure] = []
        self.holds: list[Hold] = []
        self.triggers: dict[str, Trigger] = {}
        self.response_urls: dict[str, ResponseUrl] = {}
        self.files: dict[str, FileRecord] = {}
        self.scopes: set[str] = set(DEFAULT_SCOPES)
        self.users[bot_user_id] = User(id=bot_user_id, name=bot_name, real_name=bot_name, is_bot=True)

    # ------------------------------------------------------------ bookkeeping

    def touch(self) -> None:
        """Mark the state as changed and wake anyone waiting in :meth:`wait_for`."""
        with self.changed:
            self.version += 1
            self.changed.notify_all()

    def wait_for(self, predicate: Callable[[], T], timeout: float) -> T:
        """Block until ``predicate()`` is truthy (re-checked on every change) and return it."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                result = predicate()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"condition not met within {timeout} seconds")
                self.changed.wait(remaining)

    def now(self) -> float:
        """Return the workspace clock's current time."""
        return float(self.clock())

    def new_id(self, prefix: str) -> str:
        """Return a fresh Slack-looking id such as ``V00000000A1``."""
        with self.lock:
            self._counter += 1
            return f"{prefix}{_base36(self._counter).rjust(10, '0')}"

    def next_ts(self) -> str:
        """Return a message timestamp strictly greater than every earlier one."""
        with self.lock:
            micros = round(self.now() * 1_000_000)
            if micros <= self._last_ts_micros:
                micros = self._last_ts_micros + 1
            self._last_ts_micros = micros
            return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def reset(self) -> None:
        """Forget messages, ephemerals, views, calls, deliveries, files and failures."""
        with self.lock:
            for channel_id in self.history:
                self.history[channel_id] = []
            self.ephemerals.clear()
            self.modal_stacks.clear()
            self.home_views.clear()
            self.calls.clear()
            self.response_posts.clear()
            self.deliveries.clear()
            self.failures.clear()
            for hold in self.holds:
                hold.release()
            self.holds.clear()
            self.triggers.clear()
            self.response_urls.clear()
            self.files.clear()
            self.scopes = set(DEFAULT_SCOPES)
        self.touch()

    # ------------------------------------------------------------ people and places

    def add_user(self, user: User) -> User:
        """Add (or replace) a user and join them to every open-membership channel."""
        with self.lock:
            self.users[user.id] = user
            for channel in self.channels.values():
                if channel.everyone and user.id not in channel.members:
                    channel.members.append(user.id)
        self.touch()
        return user

    def add_channel(self, channel: Channel) -> Channel:
        """Add (or replace) a channel."""
        with self.lock:
            channel.created = channel.created or int(self.now())
            self.channels[channel.id] = channel
            self.history.setdefault(channel.id, [])
        self.touch()
        return channel

    def user(self, user_id: str) -> User:
        """Return a user or raise KeyError naming the known ones."""
        with self.lock:
            try:
                return self.users[user_id]
            except KeyError:
                raise KeyError(f"unknown user {user_id!r}; known: {sorted(self.users)}") from None

    def channel(self, channel_id: str) -> Channel:
        """Return a conversation or raise KeyError naming the known ones."""
        with self.lock:
            try:
                return self.channels[channel_id]
            except KeyError:
                raise KeyError(f"unknown channel {channel_id!r}; known: {sorted(self.channels)}") from None

    def dm_channel(self, user_id: str) -> Channel:
        """Return the bot's DM with a user, creating it on first use."""
        with self.lock:
            existing = self.dms.get(user_id)
            if existing is not None:
                return self.channels[existing]
            channel = Channel(
                id=self.new_id("D"),
                name="directmessage",
                is_private=True,
                is_im=True,
                user=user_id,
                members=[user_id, self.bot_user_id],
            )
            self.dms[user_id] = channel.id
            self.add_channel(channel)
            return channel

    def resolve_channel(self, ref: str) -> Channel | None:
        """Map a channel argument (C/G/D id, user id, ``#name`` or name) to a conversation."""
        with self.lock:
            if ref in self.channels:
                return self.channels[ref]
            if ref in self.users and not self.users[ref].is_bot:
                return self.dm_channel(ref)
            name = ref[1:] if ref.startswith("#") else ref
            for channel in self.channels.values():
                if not channel.is_im and channel.name == name:
                    return channel
            return None

    def bot_can_see(self, channel: Channel) -> bool:
        """Whether the bot may act in a conversation (public, or it is a member)."""
        return not channel.is_private or self.bot_user_id in channel.members

    # ------------------------------------------------------------ messages

    def channel_history(self, channel_id: str) -> list[Message]:
        """Return every stored message (parents and replies) of a channel, in ts order."""
        with self.lock:
            return self.history.setdefault(channel_id, [])

    def find_message(self, channel_id: str, ts: str) -> Message | None:
        """Return the message with this ts in this channel, if any."""
        with self.lock:
            for message in self.history.get(channel_id, []):
                if message.ts == ts:
                    return message
            return None

    def post_message(
        self,
        channel_id: str,
        *,
        user: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
        attachments: list[dict[str, Any]] | None = None,
        files: list[dict[str, Any]] | None = None,
        metadata: dict[str, Any] | None = None,
        unfurl_links: bool | None = None,
        unfurl_media: bool | None = None,
    ) -> Message:
        """Store a new message (top level or thread reply) and return it."""
        with self.lock:
            parent: Message | None = None
            if thread_ts:
                parent = self.find_message(channel_id, thread_ts)
                if parent is None:
                    raise SlackError("thread_not_found")
                if parent.is_reply and parent.thread_ts:
                    parent = self.find_message(channel_id, parent.thread_ts) or parent
            is_bot = user == self.bot_user_id
            message = Message(
                channel=channel_id,
                ts=self.next_ts(),
                user=user,
                text=text,
                blocks=self.fill_ids(blocks or []),
                thread_ts=parent.ts if parent else None,
                bot_id=self.bot_id if is_bot else None,
                app_id=self.app_id if is_bot else None,
                subtype="thread_broadcast" if parent and reply_broadcast else None,
                attachments=list(attachments or []),
                files=list(files or []),
                metadata=metadata,
                unfurl_links=unfurl_links,
                unfurl_media=unfurl_media,
            )
            if parent is not None:
                parent.thread_ts = parent.ts
                parent.reply_count += 1
                parent.latest_reply = message.ts
                if user not in parent.reply_users:
                    parent.reply_users.append(user)
            self.channel_history(channel_id).append(message)
        self.touch()
        return message

    def delete_message(self, message: Message) -> None:
        """Remove a message; a parent with replies becomes a tombstone like in Slack."""
        with self.lock:
            history = self.channel_history(message.channel)
            if message.thread_ts == message.ts and message.reply_count > 0:
                message.subtype = "tombstone"
                message.text = "This message was deleted."
                message.blocks = []
                message.attachments = []
                message.files = []
            else:
                history.remove(message)
                if message.is_reply and message.thread_ts:
                    parent = self.find_message(message.channel, message.thread_ts)
                    if parent is not None:
                        parent.reply_count = max(0, parent.reply_count - 1)
                        remaining = [m for m in history if m.thread_ts == parent.ts and m.ts != parent.ts]
                        parent.latest_reply = remaining[-1].ts if remaining else None
                        parent.reply_users = list(dict.fromkeys(m.user for m in remaining))
        self.touch()

    def top_level(self, channel_id: str) -> list[Message]:
        """Return what the channel view shows: parents and broadcast replies."""
        with self.lock:
            return [m for m in self.history.get(channel_id, []) if not m.is_reply or m.subtype == "thread_broadcast"]

    def thread(self, channel_id: str, thread_ts: str) -> list[Message]:
        """Return the replies of a thread (without the parent)."""
        with self.lock:
            return [m for m in self.history.get(channel_id, []) if m.thread_ts == thread_ts and m.ts != thread_ts]

    def fill_ids(self, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Copy blocks, giving every block a block_id and every element an action_id, as Slack does."""
        out = copy.deepcopy(blocks)
        for block in out:
            if not isinstance(block, dict):
                continue
            if "block_id" not in block:
                block["block_id"] = self._short_id()
            for element in _interactive_elements(block):
                if "action_id" not in element:
                    element["action_id"] = self._short_id()
        return out

    def _short_id(self) -> str:
        with self.lock:
            self._counter += 1
            return _base36(self._counter).lower().rjust(5, "0")

    # ------------------------------------------------------------ ephemerals

    def add_ephemeral(self, ephemeral: Ephemeral) -> Ephemeral:
        """Store an ephemeral message for its recipient."""
        with self.lock:
            ephemeral.blocks = self.fill_ids(ephemeral.blocks)
            self.ephemerals.append(ephemeral)
        self.touch()
        return ephemeral

    def find_ephemeral(self, user_id: str, channel_id: str | None, ts: str) -> Ephemeral | None:
        """Return a user's ephemeral message by ts."""
        with self.lock:
            for item in self.ephemerals:
                if item.user == user_id and item.ts == ts and (channel_id is None or item.channel == channel_id):
                    return item
            return None

    # ------------------------------------------------------------ triggers and response URLs

    def issue_trigger(self, user_id: str) -> Trigger:
        """Mint a trigger_id for an interaction by this user."""
        with self.lock:
            now = self.now()
            self._counter += 1
            trigger = Trigger(id=f"{int(now)}.{self._counter}.{secrets.token_hex(16)}", user_id=user_id, issued_at=now)
            self.triggers[trigger.id] = trigger
            return trigger

    def exchange_trigger(self, trigger_id: str | None) -> Trigger:
        """Use up a trigger_id or raise the SlackError Slack would answer."""
        with self.lock:
            if not trigger_id:
                raise SlackError("invalid_arguments", ["[ERROR] missing required field: trigger_id"])
            trigger = self.triggers.get(trigger_id)
            if trigger is None:
                raise SlackError("invalid_trigger_id")
            if trigger.used:
                raise SlackError("exchanged_trigger_id")
            if self.now() - trigger.issued_at > TRIGGER_LIFETIME:
                raise SlackError("expired_trigger_id")
            trigger.used = True
            return trigger

    def issue_response_url(
        self,
        user_id: str,
        channel_id: str | None,
        message_ts: str | None = None,
        *,
        is_ephemeral: bool = False,
        thread_ts: str | None = None,
    ) -> ResponseUrl:
        """Mint a response_url for an interaction; :meth:`response_url` gives its address."""
        with self.lock:
            token = f"{self.team_id}/{self.new_id('')}/{secrets.token_hex(12)}"
            record = ResponseUrl(
                id=token,
                user_id=user_id,
                channel_id=channel_id,
                message_ts=message_ts,
                is_ephemeral=is_ephemeral,
                thread_ts=thread_ts,
                issued_at=self.now(),
            )
            self.response_urls[token] = record
            return record

    def response_url(self, record: ResponseUrl) -> str:
        """Return the URL the bot should POST to for a response_url record."""
        return f"{self.base_url}/response/{record.id}"

    # ------------------------------------------------------------ views

    def all_views(self) -> Iterator[View]:
        """Yield every open modal and every App Home view."""
        with self.lock:
            for stack in self.modal_stacks.values():
                yield from stack
            yield from self.home_views.values()

    def find_view(self, view_id: str | None = None, external_id: str | None = None) -> View | None:
        """Return an open view by id or external_id."""
        with self.lock:
            for view in self.all_views():
                if view_id and view.id == view_id:
                    return view
                if external_id and view.external_id == external_id:
                    return view
            return None

    def new_hash(self) -> str:
        """Return a fresh view hash."""
        return f"{int(self.now())}.{secrets.token_hex(4)}"

    def build_view(self, user_id: str, payload: dict[str, Any], *, view_id: str | None = None) -> View:
        """Make a View record from a validated view payload."""
        with self.lock:
            return View(
                id=view_id or self.new_id("V"),
                user_id=user_id,
                type=str(payload.get("type", "modal")),
                blocks=self.fill_ids(list(payload.get("blocks") or [])),
                hash=self.new_hash(),
                title=copy.deepcopy(payload.get("title")),
                submit=copy.deepcopy(payload.get("submit")),
                close=copy.deepcopy(payload.get("close")),
                callback_id=str(payload.get("callback_id") or ""),
                private_metadata=str(payload.get("private_metadata") or ""),
                external_id=str(payload.get("external_id") or ""),
                notify_on_close=bool(payload.get("notify_on_close", False)),
                clear_on_close=bool(payload.get("clear_on_close", False)),
                submit_disabled=bool(payload.get("submit_disabled", False)),
            )

    def check_external_id(self, payload: dict[str, Any], keep: View | None = None) -> None:
        """Refuse an external_id that another open view already uses."""
        external_id = payload.get("external_id")
        if not external_id:
            return
        other = self.find_view(external_id=str(external_id))
        if other is not None and other is not keep:
            raise SlackError("duplicate_external_id")

    def open_modal(self, user_id: str, payload: dict[str, Any]) -> View:
        """Replace the user's modal stack with a new root view."""
        with self.lock:
            self.check_external_id(payload)
            view = self.build_view(user_id, payload)
            view.root_view_id = view.id
            self.modal_stacks[user_id] = [view]
        self.touch()
        return view

    def push_modal(self, user_id: str, payload: dict[str, Any]) -> View:
        """Push a view on top of the user's open modal."""
        with self.lock:
            stack = self.modal_stacks.get(user_id) or []
            if not stack:
                raise SlackError("not_found")
            if len(stack) >= MODAL_STACK_LIMIT:
                raise SlackError("push_limit_reached")
            self.check_external_id(payload)
            view = self.build_view(user_id, payload)
            view.root_view_id = stack[0].id
            view.previous_view_id = stack[-1].id
            stack.append(view)
        self.touch()
        return view

    def replace_view(self, view: View, payload: dict[str, Any]) -> View:
        """Swap a view's content in place, keeping its id and position."""
        with self.lock:
            self.check_external_id(payload, keep=view)
            fresh = self.build_view(view.user_id, payload, view_id=view.id)
            fresh.root_view_id = view.root_view_id
            fresh.previous_view_id = view.previous_view_id
            if view.type == "home":
                self.home_views[view.user_id] = fresh
            else:
                stack = self.modal_stacks.get(view.user_id, [])
                for index, item in enumerate(stack):
                    if item.id == view.id:
                        stack[index] = fresh
        self.touch()
        return fresh

    def publish_home(self, user_id: str, payload: dict[str, Any]) -> View:
        """Set a user's App Home (the view id stays the same across publishes)."""
        with self.lock:
            current = self.home_views.get(user_id)
            view = self.build_view(user_id, payload, view_id=current.id if current else None)
            self.home_views[user_id] = view
        self.touch()
        return view

    def close_modal(self, user_id: str, view_id: str, *, everything: bool = False) -> list[View]:
        """Close a view and those above it (or the whole stack); return what closed."""
        with self.lock:
            stack = self.modal_stacks.get(user_id, [])
            index = next((i for i, v in enumerate(stack) if v.id == view_id), None)
            if index is None:
                return []
            cut = 0 if everything else index
            closed = stack[cut:]
            del stack[cut:]
            if not stack:
                self.modal_stacks.pop(user_id, None)
        self.touch()
        return closed

    # ------------------------------------------------------------ failures and calls

    def _addressed_to(self, wanted: str | None, ref: Any) -> bool:
        if wanted is None:
            return True
        if not isinstance(ref, str) or not ref:
            return False
        channel = self.resolve_channel(ref) if ref != wanted else None
        return ref == wanted or (channel is not None and channel.id == wanted)

    def take_failure(self, method: str, channel: Any = None, *, named: bool = False) -> Failure | None:
        """Consume one use of the first scripted failure that matches this method (and channel argument).

        ``named``: only a failure scripted for this very method matches (a response_url POST is no Web API call).
        """
        with self.lock:
            for failure in self.failures:
                if (
                    failure.remaining > 0
                    and failure.method in ((method,) if named else (None, method))
                    and self._addressed_to(failure.channel, channel)
                ):
                    failure.remaining -= 1
                    return dataclasses.replace(failure)
            return None

    def take_hold(self, method: str, channel: Any = None, *, named: bool = False) -> Hold | None:
        """Consume one use of the first scripted slow answer that matches this method (and channel argument)."""
        with self.lock:
            for hold in self.holds:
                wanted = (method,) if named else (None, method)
                if hold.remaining > 0 and hold.method in wanted and self._addressed_to(hold.channel, channel):
                    hold.remaining -= 1
                    hold.held += 1
                    hold.reached.set()
                    return hold
            return None

    def record_call(self, call: Call) -> Call:
        """Append a Web API call to the call log."""
        with self.lock:
            call.seq = len(self.calls) + 1
            call.at = time.time()
            self.calls.append(call)
        self.touch()
        return call

    def record_response_post(self, call: Call) -> Call:
        """Append a response_url POST to its own log (kept out of the Web API call log)."""
        with self.lock:
            call.seq = len(self.response_posts) + 1
            call.at = time.time()
            self.response_posts.append(call)
        self.touch()
        return call

    # ------------------------------------------------------------ dump and restore (a workspace kept across restarts)

    def dump(self) -> dict[str, Any]:
        """Return what a restart must keep (people, conversations, messages, App Homes, files) as JSON-able data.

        Not kept: ephemerals, open modals, triggers and response URLs (Slack lets none outlive the moment), the
        call and delivery logs, and the tokens: a restart may hand the bot a new token and signing secret.
        """
        with self.lock:
            return {
                "format": DUMP_FORMAT,
                "team_id": self.team_id,
                "bot_user_id": self.bot_user_id,
                "base_url": self.base_url,
                "version": self.version,
                "counter": self._counter,
                "last_ts_micros": self._last_ts_micros,
                "users": [u.to_dict() for u in self.users.values()],
                "channels": [c.to_dict() for c in self.channels.values()],
                "dms": dict(self.dms),
                "messages": [m.to_dict() for history in self.history.values() for m in history],
                "homes": [v.to_dict() for v in self.home_views.values()],
                "files": [
                    {
                        **{f.name: copy.deepcopy(getattr(r, f.name)) for f in dataclasses.fields(r)},
                        "content": None if r.content is None else base64.b64encode(r.content).decode("ascii"),
                    }
                    for r in self.files.values()
                ],
            }

    def restore(self, data: Any) -> None:
        """Put back what :meth:`dump` returned, over what is here; raise ValueError (changing nothing) if unusable."""
        try:
            if not isinstance(data, dict) or data.get("format") != DUMP_FORMAT:
                raise ValueError(f"not a workspace dump of format {DUMP_FORMAT}")
            if (data["team_id"], data["bot_user_id"]) != (self.team_id, self.bot_user_id):
                raise ValueError(f"the dump is of workspace {data['team_id']} (bot {data['bot_user_id']})")
            users = [User(**item) for item in data["users"]]
            channels = [Channel(**item) for item in data["channels"]]
            messages = sorted((Message(**item) for item in data["messages"]), key=lambda m: _ts_key(m.ts))
            homes = [View(**item) for item in data["homes"]]
            files = [FileRecord(**{**item, "content": _decode(item["content"])}) for item in data["files"]]
            dms = {str(user): str(channel) for user, channel in dict(data["dms"]).items()}
            counter, last_ts, version = int(data["counter"]), int(data["last_ts_micros"]), int(data["version"])
            old_base = str(data["base_url"])
            for message in messages:
                # File links were made with the address of the earlier run; the port may differ now.
                for shared in message.files:
                    for key in ("url_private", "permalink"):
                        link = shared.get(key)
                        if isinstance(link, str) and link.startswith(old_base):
                            shared[key] = self.base_url + link[len(old_base) :]
        except (KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise ValueError(f"not a usable workspace dump: {exc!r}") from exc
        known = {c.id for c in channels}
        stray = sorted({m.channel for m in messages} - known) or sorted(set(dms.values()) - known)
        if stray:
            raise ValueError(f"the dump has messages or DMs in unknown conversations {stray}")
        with self.lock:
            for user in users:
                self.users[user.id] = user
            for channel in channels:
                self.channels[channel.id] = channel
                self.history[channel.id] = []
            for message in messages:
                self.history[message.channel].append(message)
            self.dms.update(dms)
            for view in homes:
                self.home_views[view.user_id] = view
            for record in files:
                self.files[record.id] = record
            self._counter = max(self._counter, counter)
            self._last_ts_micros = max(self._last_ts_micros, last_ts)
            # A page still open from before the restart asks for changes newer than the version it saw.
            self.version = max(self.version, version)
        self.touch()

    # ------------------------------------------------------------ snapshot

    def snapshot(self) -> dict[str, Any]:
        """Return the whole workspace as plain JSON-able data."""
        with self.lock:
            return {
                "team": {
                    "id": self.team_id,
                    "domain": self.team_domain,
                    "name": self.team_name,
                    "bot_user_id": self.bot_user_id,
                    "app_id": self.app_id,
                },
                "version": self.version,
                "users": [u.to_dict() for u in self.users.values()],
                "channels": [
                    {
                        **c.to_dict(),
                        "messages": [m.to_dict() for m in self.top_level(c.id)],
                        "threads": {
                            m.ts: [r.to_dict() for r in self.thread(c.id, m.ts)]
                            for m in self.top_level(c.id)
                            if m.reply_count
                        },
                    }
                    for c in self.channels.values()
                ],
                "ephemerals": [e.to_dict() for e in self.ephemerals],
                "modals": {user: [v.to_dict() for v in stack] for user, stack in self.modal_stacks.items()},
                "homes": {user: v.to_dict() for user, v in self.home_views.items()},
                "files": [f.to_dict() for f in self.files.values()],
                "calls": [c.to_dict() for c in self.calls],
                "response_posts": [c.to_dict() for c in self.response_posts],
                "deliveries": [d.to_dict() for d in self.deliveries],
            }


def _interactive_elements(block: dict[str, Any]) -> list[dict[str, Any]]:
    kind = block.get("type")
    found: list[Any] = []
    if kind == "actions":
        found = list(block.get("elements") or [])
    elif kind == "section" and isinstance(block.get("accessory"), dict):
        found = [block["accessory"]]
    elif kind == "input" and isinstance(block.get("element"), dict):
        found = [block["element"]]
    return [e for e in found if isinstance(e, dict) and e.get("type") not in (None, "image")]


def _decode(content: str | None) -> bytes | None:
    return None if content is None else base64.b64decode(content, validate=True)


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros or 0)


def _base36(number: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out
