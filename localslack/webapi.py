"""The Slack Web API, response_url and file-upload endpoints, as Starlette routes.

Method handlers are plain functions ``(Workspace, Args) -> dict`` registered in
:data:`METHODS`; :func:`dispatch` wraps them with Slack's envelope (auth, scripted
failures, ``ok``/``error``) and records every call. :func:`build_app` puts them behind
HTTP; extra routes (a browser page, say) can be passed in.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from localslack.access import MAX_FILES_PER_UPLOAD, channel_by_id, check_scopes, require_member
from localslack.blockkit import validate_message_blocks, validate_message_text, validate_view
from localslack.state import (
    RESPONSE_URL_LIFETIME,
    RESPONSE_URL_MAX_USES,
    Call,
    Channel,
    Ephemeral,
    FileRecord,
    Hold,
    Message,
    ResponseUrl,
    SlackError,
    View,
    Workspace,
)

Handler = Callable[[Workspace, "Args"], dict[str, Any]]
METHODS: dict[str, Handler] = {}
NO_AUTH_METHODS = frozenset({"api.test"})
JSON_ARGS = ("blocks", "attachments", "view", "metadata", "files")


# ---------------------------------------------------------------- arguments


class Args:
    """Typed access to a Web API call's arguments (form fields or JSON body)."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = dict(raw)

    def has(self, name: str) -> bool:
        """Whether the argument was sent at all."""
        return name in self.raw

    def text(self, name: str) -> str | None:
        """Return an argument as a string, or None when absent."""
        value = self.raw.get(name)
        if value is None:
            return None
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return value
        return json.dumps(value) if isinstance(value, (dict, list)) else str(value)

    def required(self, name: str) -> str:
        """Return a non-empty argument or fail with invalid_arguments."""
        value = self.text(name)
        if not value:
            raise SlackError("invalid_arguments", [f"[ERROR] missing required field: {name}"])
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        """Return a boolean argument (accepts true/false/1/0)."""
        value = self.opt_flag(name)
        return default if value is None else value

    def opt_flag(self, name: str) -> bool | None:
        """Return a boolean argument, or None when absent."""
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("1", "true", "yes")

    def integer(self, name: str, default: int) -> int:
        """Return an integer argument or fail with invalid_arguments."""
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments", [f"[ERROR] must be an integer [json-pointer:/{name}]"]) from None

    def json(self, name: str, error: str = "invalid_arguments") -> Any:
        """Return a JSON argument decoded (strings are parsed, lists/dicts pass through)."""
        value = self.raw.get(name)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            if value.strip() == "":
                return None
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                raise SlackError(error, [f"[ERROR] {name} is not valid JSON"]) from None
        return value


def _method(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        METHODS[name] = handler
        return handler

    return register


# ---------------------------------------------------------------- shared checks


def _channel(ws: Workspace, args: Args, name: str = "channel") -> Channel:
    ref = args.text(name)
    if not ref:
        raise SlackError("channel_not_found")
    channel = ws.resolve_channel(ref)
    if channel is None or not ws.bot_can_see(channel):
        raise SlackError("channel_not_found")
    if channel.is_archived:
        raise SlackError("is_archived")
    return channel


def _message(ws: Workspace, channel: Channel, ts: str) -> Message:
    message = ws.find_message(channel.id, ts)
    if message is None or message.subtype == "tombstone":
        raise SlackError("message_not_found")
    return message


def parse_blocks(value: Any) -> list[dict[str, Any]] | None:
    """Decode and validate message blocks, raising invalid_blocks(_format) like Slack."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise SlackError("invalid_blocks_format") from None
    if not isinstance(value, list):
        raise SlackError("invalid_blocks_format")
    problems = validate_message_blocks(value)
    if problems:
        raise SlackError("invalid_blocks", problems)
    return value


def _attachments(args: Args) -> list[dict[str, Any]] | None:
    value = args.json("attachments", error="invalid_attachments")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(a, dict) for a in value):
        raise SlackError("invalid_attachments")
    if len(value) > 100:
        raise SlackError("too_many_attachments")
    return value


@dataclass
class Content:
    """The visible parts of a message sent to chat.* or a response_url."""

    text: str | None
    blocks: list[dict[str, Any]] | None
    attachments: list[dict[str, Any]] | None = None

    @property
    def empty(self) -> bool:
        """True when there is nothing to show."""
        return not self.text and not self.blocks and not self.attachments


def _content(args: Args, *, require: bool) -> Content:
    text = args.text("text")
    code = validate_message_text(text)
    if code:
        raise SlackError(code)
    content = Content(text=text, blocks=parse_blocks(args.raw.get("blocks")), attachments=_attachments(args))
    if require and content.empty:
        raise SlackError("no_text")
    return content


def _metadata(args: Args) -> dict[str, Any] | None:
    value = args.json("metadata", error="invalid_metadata_format")
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("event_type"), str)
        or not isinstance(value.get("event_payload"), dict)
    ):
        raise SlackError("invalid_metadata_format")
    return value


def _timeline(messages: list[Message], args: Args) -> list[Message]:
    """Keep the messages between ``oldest`` and ``latest`` (exclusive unless ``inclusive``), as Slack does."""
    try:
        oldest = float(args.text("oldest") or 0)
        latest = float(args.text("latest") or "inf")
    except ValueError:
        raise SlackError("invalid_ts_oldest" if args.has("oldest") else "invalid_ts_latest") from None
    if args.flag("inclusive"):
        return [m for m in messages if oldest <= float(m.ts) <= latest]
    return [m for m in messages if oldest < float(m.ts) < latest]


def _listed(ws: Workspace, message: Message, args: Args) -> dict[str, Any]:
    """A message as conversations.history/replies list it: metadata only when asked for with include_all_metadata."""
    out = message.to_slack(ws.team_id)
    if not args.flag("include_all_metadata"):
        out.pop("metadata", None)
    return out


def _view_payload(args: Args, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not args.has("view") or args.raw.get("view") in ("", None):
        raise SlackError("invalid_arguments", ["[ERROR] missing required field: view"])
    payload = args.json("view")
    problems = validate_view(payload, allowed_types=allowed)
    if problems:
        raise SlackError("invalid_arguments", problems)
    assert isinstance(payload, dict)
    return payload


def _view_answer(ws: Workspace, view: View) -> dict[str, Any]:
    return {"view": view.to_slack(ws.team_id, ws.app_id, ws.bot_id)}


def _page(items: list[Any], args: Args, default_limit: int = 100) -> tuple[list[Any], str]:
    limit = args.integer("limit", default_limit) or default_limit
    cursor = args.text("cursor") or ""
    start = 0
    if cursor:
        if not cursor.startswith("offset:") or not cursor[7:].isdigit():
            raise SlackError("invalid_cursor")
        start = int(cursor[7:])
    end = start + max(1, limit)
    return items[start:end], (f"offset:{end}" if end < len(items) else "")


def permalink(ws: Workspace, message: Message) -> str:
    """Return a message's permalink under the server's own URL."""
    link = f"{ws.base_url}/archives/{message.channel}/p{message.ts.replace('.', '')}"
    if message.is_reply:
        link += f"?thread_ts={message.thread_ts}&cid={message.channel}"
    return link


# ---------------------------------------------------------------- auth and api


@_method("api.test")
def api_test(ws: Workspace, args: Args) -> dict[str, Any]:
    """Echo the arguments back, like Slack's api.test."""
    return {"args": {k: v for k, v in args.raw.items() if k != "token"}}


@_method("auth.test")
def auth_test(ws: Workspace, args: Args) -> dict[str, Any]:
    """Describe the bot token's identity."""
    return {
        "url": f"{ws.base_url}/",
        "team": ws.team_name,
        "user": ws.bot_name,
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "app_id": ws.app_id,
        "is_enterprise_install": False,
    }


# ---------------------------------------------------------------- chat


@_method("chat.postMessage")
def chat_post_message(ws: Workspace, args: Args) -> dict[str, Any]:
    """Post a bot message to a channel, DM (by D or U id) or thread."""
    channel = _channel(ws, args)
    require_member(ws, channel, public_scope="chat:write.public")
    content = _content(args, require=True)
    message = ws.post_message(
        channel.id,
        user=ws.bot_user_id,
        text=content.text or "",
        blocks=content.blocks,
        attachments=content.attachments,
        thread_ts=args.text("thread_ts") or None,
        reply_broadcast=args.flag("reply_broadcast"),
        metadata=_metadata(args),
        unfurl_links=args.opt_flag("unfurl_links"),
        unfurl_media=args.opt_flag("unfurl_media"),
    )
    return {"channel": channel.id, "ts": message.ts, "message": message.to_slack(ws.team_id)}


@_method("chat.update")
def chat_update(ws: Workspace, args: Args) -> dict[str, Any]:
    """Edit a bot message in place; fields left out keep their old values."""
    channel = channel_by_id(ws, args.text("channel"))
    message = _message(ws, channel, args.required("ts"))
    if message.user != ws.bot_user_id:
        raise SlackError("cant_update_message")
    content = _content(args, require=False)
    if not (args.has("text") or args.has("blocks") or args.has("attachments")):
        raise SlackError("no_text")
    if content.text is not None:
        message.text = content.text
    if args.has("blocks"):
        message.blocks = ws.fill_ids(content.blocks or [])
    if content.attachments is not None:
        message.attachments = content.attachments
    metadata = _metadata(args)
    if metadata is not None:
        message.metadata = metadata
    message.edited = True
    message.edited_ts = ws.next_ts()
    ws.touch()
    return {"channel": channel.id, "ts": message.ts, "text": message.text, "message": message.to_slack(ws.team_id)}


@_method("chat.postEphemeral")
def chat_post_ephemeral(ws: Workspace, args: Args) -> dict[str, Any]:
    """Show a message to one member of a conversation."""
    channel = _channel(ws, args)
    user_id = args.required("user")
    if user_id not in ws.users:
        raise SlackError("user_not_found")
    if user_id not in channel.members:
        raise SlackError("user_not_in_channel")
    content = _content(args, require=True)
    ephemeral = ws.add_ephemeral(
        Ephemeral(
            channel=channel.id,
            user=user_id,
            ts=ws.next_ts(),
            text=content.text or "",
            blocks=content.blocks or [],
            attachments=content.attachments or [],
            thread_ts=args.text("thread_ts") or None,
        )
    )
    return {"message_ts": ephemeral.ts}


@_method("chat.getPermalink")
def chat_get_permalink(ws: Workspace, args: Args) -> dict[str, Any]:
    """Return a link to a message."""
    channel = channel_by_id(ws, args.text("channel"))
    message = _message(ws, channel, args.required("message_ts"))
    return {"channel": channel.id, "permalink": permalink(ws, message)}


@_method("chat.delete")
def chat_delete(ws: Workspace, args: Args) -> dict[str, Any]:
    """Delete a bot message."""
    channel = channel_by_id(ws, args.text("channel"))
    message = _message(ws, channel, args.required("ts"))
    if message.user != ws.bot_user_id:
        raise SlackError("cant_delete_message")
    ws.delete_message(message)
    return {"channel": channel.id, "ts": message.ts}


# ---------------------------------------------------------------- views


@_method("views.open")
def views_open(ws: Workspace, args: Args) -> dict[str, Any]:
    """Open a modal for the user behind a trigger_id."""
    payload = _view_payload(args, ("modal",))
    trigger = ws.exchange_trigger(args.text("trigger_id") or args.text("interactivity_pointer"))
    return _view_answer(ws, ws.open_modal(trigger.user_id, payload))


@_method("views.push")
def views_push(ws: Workspace, args: Args) -> dict[str, Any]:
    """Push a modal on top of the user's open one."""
    payload = _view_payload(args, ("modal",))
    trigger = ws.exchange_trigger(args.text("trigger_id") or args.text("interactivity_pointer"))
    return _view_answer(ws, ws.push_modal(trigger.user_id, payload))


@_method("views.update")
def views_update(ws: Workspace, args: Args) -> dict[str, Any]:
    """Replace an open view found by view_id or external_id, honouring hash."""
    view_id = args.text("view_id")
    external_id = args.text("external_id")
    if not view_id and not external_id:
        raise SlackError("invalid_arguments", ["[ERROR] either view_id or external_id is required"])
    payload = _view_payload(args, ("modal", "home"))
    target = ws.find_view(view_id=view_id, external_id=external_id)
    if target is None:
        raise SlackError("not_found")
    if payload.get("type") != target.type:
        raise SlackError("invalid_arguments", [f"[ERROR] must be {target.type} [json-pointer:/view/type]"])
    wanted_hash = args.text("hash")
    if wanted_hash and wanted_hash != target.hash:
        raise SlackError("hash_conflict")
    return _view_answer(ws, ws.replace_view(target, payload))


@_method("views.publish")
def views_publish(ws: Workspace, args: Args) -> dict[str, Any]:
    """Publish a user's App Home view."""
    user_id = args.required("user_id")
    payload = _view_payload(args, ("home",))
    if user_id not in ws.users or ws.users[user_id].is_bot:
        raise SlackError("user_not_found")
    current = ws.home_views.get(user_id)
    wanted_hash = args.text("hash")
    if wanted_hash and current is not None and wanted_hash != current.hash:
        raise SlackError("hash_conflict")
    return _view_answer(ws, ws.publish_home(user_id, payload))


# ---------------------------------------------------------------- conversations


@_method("conversations.open")
def conversations_open(ws: Workspace, args: Args) -> dict[str, Any]:
    """Open (or find) the bot's DM or group DM with the given users."""
    if args.text("channel"):
        channel = _channel(ws, args)
        return {"channel": {"id": channel.id}, "no_op": True, "already_open": True}
    users = [u.strip() for u in (args.text("users") or "").split(",") if u.strip()]
    if not users:
        raise SlackError("users_list_not_supplied")
    for user_id in users:
        if user_id not in ws.users:
            raise SlackError("user_not_found")
    existed: bool
    if len(users) == 1:
        existed = users[0] in ws.dms
        channel = ws.dm_channel(users[0])
    else:
        wanted = {*users, ws.bot_user_id}
        found = next((c for c in ws.channels.values() if c.is_mpim and set(c.members) == wanted), None)
        existed = found is not None
        channel = found or ws.add_channel(
            Channel(
                id=ws.new_id("G"),
                name="mpdm-" + "--".join(ws.users[u].name for u in users) + "-1",
                is_private=True,
                is_mpim=True,
                members=sorted(wanted),
            )
        )
    out: dict[str, Any] = {
        "channel": channel.to_slack(ws.bot_user_id) if args.flag("return_im") else {"id": channel.id}
    }
    if existed:
        out["no_op"] = True
        out["already_open"] = True
    return out


@_method("conversations.info")
def conversations_info(ws: Workspace, args: Args) -> dict[str, Any]:
    """Describe one conversation."""
    return {"channel": _channel(ws, args).to_slack(ws.bot_user_id)}


@_method("conversations.list")
def conversations_list(ws: Workspace, args: Args) -> dict[str, Any]:
    """List conversations of the requested types, with cursor paging."""
    types = {t.strip() for t in (args.text("types") or "public_channel").split(",") if t.strip()}
    exclude_archived = args.flag("exclude_archived")

    def kind(channel: Channel) -> str:
        if channel.is_im:
            return "im"
        if channel.is_mpim:
            return "mpim"
        return "private_channel" if channel.is_private else "public_channel"

    matching = [
        c
        for c in ws.channels.values()
        if kind(c) in types
        and not (exclude_archived and c.is_archived)
        and (kind(c) == "public_channel" or ws.bot_user_id in c.members)
    ]
    page, cursor = _page(matching, args)
    return {
        "channels": [c.to_slack(ws.bot_user_id) for c in page],
        "response_metadata": {"next_cursor": cursor},
    }


@_method("conversations.members")
def conversations_members(ws: Workspace, args: Args) -> dict[str, Any]:
    """List member ids of a conversation, with cursor paging."""
    channel = _channel(ws, args)
    page, cursor = _page(list(channel.members), args)
    return {"members": page, "response_metadata": {"next_cursor": cursor}}


@_method("conversations.history")
def conversations_history(ws: Workspace, args: Args) -> dict[str, Any]:
    """Return a conversation's top-level messages, newest first (Slack takes its ID here, not a `#name`)."""
    channel = channel_by_id(ws, args.text("channel"))
    require_member(ws, channel)  # reading a conversation needs membership, public or not
    messages = [_listed(ws, m, args) for m in reversed(_timeline(ws.top_level(channel.id), args))]
    page, cursor = _page(messages, args)
    return {"messages": page, "has_more": bool(cursor), "response_metadata": {"next_cursor": cursor}}


@_method("conversations.replies")
def conversations_replies(ws: Workspace, args: Args) -> dict[str, Any]:
    """Return a thread: its parent first, then the replies between oldest and latest, oldest first (by channel ID)."""
    channel = channel_by_id(ws, args.text("channel"))
    require_member(ws, channel)  # reading a conversation needs membership, public or not
    parent = _message(ws, channel, args.required("ts"))
    root_ts = parent.thread_ts if parent.is_reply and parent.thread_ts else parent.ts
    root = _message(ws, channel, root_ts)
    replies = _timeline(ws.thread(channel.id, root_ts), args)
    messages = [_listed(ws, root, args)] + [_listed(ws, m, args) for m in replies]
    page, cursor = _page(messages, args, default_limit=1000)
    return {"messages": page, "has_more": bool(cursor), "response_metadata": {"next_cursor": cursor}}


# ---------------------------------------------------------------- users and reactions


@_method("users.info")
def users_info(ws: Workspace, args: Args) -> dict[str, Any]:
    """Describe one user, with time zone details."""
    user = ws.users.get(args.required("user"))
    if user is None:
        raise SlackError("user_not_found")
    return {"user": user.to_slack(ws.team_id, ws.now())}


@_method("users.list")
def users_list(ws: Workspace, args: Args) -> dict[str, Any]:
    """List users, with cursor paging."""
    now = ws.now()
    page, cursor = _page(list(ws.users.values()), args)
    return {
        "members": [u.to_slack(ws.team_id, now) for u in page],
        "cache_ts": int(now),
        "response_metadata": {"next_cursor": cursor},
    }


@_method("users.lookupByEmail")
def users_lookup_by_email(ws: Workspace, args: Args) -> dict[str, Any]:
    """Find a user by email address."""
    email = args.required("email").lower()
    for user in ws.users.values():
        if user.email and user.email.lower() == email:
            return {"user": user.to_slack(ws.team_id, ws.now())}
    raise SlackError("users_not_found")


@_method("reactions.add")
def reactions_add(ws: Workspace, args: Args) -> dict[str, Any]:
    """Add the bot's emoji reaction to a message."""
    channel = _channel(ws, args)
    message = _message(ws, channel, args.required("timestamp"))
    name = (args.text("name") or "").strip(":")
    if not name:
        raise SlackError("invalid_name")
    for reaction in message.reactions:
        if reaction["name"] == name:
            if ws.bot_user_id in reaction["users"]:
                raise SlackError("already_reacted")
            reaction["users"].append(ws.bot_user_id)
            reaction["count"] += 1
            break
    else:
        message.reactions.append({"name": name, "users": [ws.bot_user_id], "count": 1})
    ws.touch()
    return {}


# ---------------------------------------------------------------- files


@_method("files.getUploadURLExternal")
def files_get_upload_url_external(ws: Workspace, args: Args) -> dict[str, Any]:
    """Reserve a file id and hand out a URL to POST its bytes to."""
    filename = args.required("filename")
    length = args.integer("length", 0)
    if length <= 0:
        raise SlackError("invalid_arguments", ["[ERROR] length must be a positive integer"])
    file_id = ws.new_id("F")
    token = ws.new_id("u").lower()
    ws.files[file_id] = FileRecord(
        id=file_id,
        name=filename,
        length=length,
        upload_token=token,
        user=ws.bot_user_id,
        created=int(ws.now()),
        alt_txt=args.text("alt_txt"),
        mimetype=_guess_mimetype(filename),
    )
    ws.touch()
    return {"upload_url": f"{ws.base_url}/upload/v1/{token}", "file_id": file_id}


def _guess_mimetype(filename: str) -> str:
    import mimetypes

    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


@_method("files.completeUploadExternal")
def files_complete_upload_external(ws: Workspace, args: Args) -> dict[str, Any]:
    """Finish uploads and, when a channel is given, share them in one message."""
    listed = args.json("files")
    if not isinstance(listed, list) or not listed:
        raise SlackError("invalid_arguments", ["[ERROR] missing required field: files"])
    if len(listed) > MAX_FILES_PER_UPLOAD:
        raise SlackError("invalid_arguments", [f"[ERROR] at most {MAX_FILES_PER_UPLOAD} files per call: files"])
    records: list[FileRecord] = []
    for item in listed:
        file_id = item.get("id") if isinstance(item, dict) else None
        record = ws.files.get(str(file_id))
        if record is None:
            raise SlackError("file_not_found")
        if record.content is None:
            raise SlackError("invalid_arguments", [f"[ERROR] file {file_id} was never uploaded"])
        if isinstance(item, dict) and item.get("title"):
            record.title = str(item["title"])
        records.append(record)
    # Shares take channel IDs (no names), and the bot must be in each channel: chat:write.public does not cover files.
    refs = [args.text("channel_id") or "", *(args.text("channels") or "").split(",")]
    targets = [channel_by_id(ws, ref.strip()) for ref in refs if ref.strip()]
    for channel in targets:
        require_member(ws, channel)
    comment = args.text("initial_comment") or ""
    if validate_message_text(comment):
        raise SlackError("msg_too_long")
    for record in records:
        record.completed = True
        record.channels.extend(c.id for c in targets if c.id not in record.channels)
    for channel in targets:
        ws.post_message(
            channel.id,
            user=ws.bot_user_id,
            text=comment,
            files=[r.to_slack(ws.base_url) for r in records],
            thread_ts=args.text("thread_ts") or None,
            blocks=parse_blocks(args.raw.get("blocks")),
        )
    ws.touch()
    return {"files": [{"id": r.id, "title": r.title or r.name} for r in records]}


# ---------------------------------------------------------------- dispatch


@dataclass
class Answer:
    """An HTTP answer: status, JSON (or text) body and extra headers."""

    status: int
    body: dict[str, Any] | str
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = "application/json"
    # A scripted slow answer: the call took effect, but the answer waits (see LocalSlack.hold).
    hold: Hold | None = None

    def to_response(self) -> Response:
        """Turn the answer into a Starlette response."""
        if isinstance(self.body, dict):
            return JSONResponse(self.body, status_code=self.status, headers=self.headers)
        return Response(self.body, status_code=self.status, headers=self.headers, media_type=self.media_type)


def loggable_args(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Copy call arguments for the call log: token dropped, JSON fields decoded, bytes summarised."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "token":
            continue
        if isinstance(value, bytes):
            out[key] = f"<{len(value)} bytes>"
        elif key in JSON_ARGS and isinstance(value, str):
            try:
                out[key] = json.loads(value)
            except json.JSONDecodeError:
                out[key] = value
        else:
            out[key] = copy.deepcopy(value)
    return out


def _failure_answer(status: int, error: str | None, retry_after: int | None) -> Answer:
    if status >= 500:
        text = f"<html><head><title>{status}</title></head><body><h1>{status} Service Unavailable</h1></body></html>"
        return Answer(status, text, media_type="text/html")
    headers: dict[str, str] = {}
    if status == 429:
        headers["Retry-After"] = str(retry_after if retry_after is not None else 1)
    return Answer(status, {"ok": False, "error": error or "fatal_error"}, headers)


def dispatch(ws: Workspace, method: str, raw: Mapping[str, Any], token: str | None) -> Answer:
    """Answer one Web API call the way Slack would and record it."""
    with ws.lock:
        logged = loggable_args(raw)
        failure = ws.take_failure(method, raw.get("channel"))
        if failure is not None:
            answer = _failure_answer(failure.status, failure.error, failure.retry_after)
            error = failure.error or f"http_{failure.status}"
            ws.record_call(
                Call(
                    method, logged, False, error, failure.status, answer.body if isinstance(answer.body, dict) else None
                )
            )
            return answer
        handler = METHODS.get(method)
        try:
            if handler is None:
                raise SlackError("unknown_method")
            if method not in NO_AUTH_METHODS:
                if not token:
                    raise SlackError("not_authed")
                if token != ws.bot_token:
                    raise SlackError("invalid_auth")
                check_scopes(ws, method)
            body: dict[str, Any] = {"ok": True, **handler(ws, Args(raw))}
            # Slack names the token's scopes on every answer; apps read them from auth.test.
            scopes = {"x-oauth-scopes": ",".join(sorted(ws.scopes))}
            answer = Answer(200, body, scopes, hold=ws.take_hold(method, raw.get("channel")))
            ws.record_call(Call(method, logged, True, None, 200, body))
        except SlackError as exc:
            error_body = exc.body()
            if exc.code == "unknown_method":
                error_body["req_method"] = method
            answer = Answer(exc.status, error_body)
            ws.record_call(Call(method, logged, False, exc.code, exc.status, error_body))
        return answer


# ---------------------------------------------------------------- response_url


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def apply_response_message(ws: Workspace, target: ResponseUrl, body: Mapping[str, Any], *, source: str) -> None:
    """Apply a message sent to a response_url (or a slash command's inline answer)."""
    with ws.lock:
        if _truthy(body.get("delete_original")):
            _delete_original(ws, target)
            return
        text = body.get("text")
        if text is not None and not isinstance(text, str):
            raise SlackError("invalid_arguments")
        code = validate_message_text(text)
        if code:
            raise SlackError(code)
        blocks = parse_blocks(body.get("blocks"))
        attachments = body.get("attachments") if isinstance(body.get("attachments"), list) else None
        if not text and not blocks and not attachments:
            raise SlackError("no_text")
        if _truthy(body.get("replace_original")) and target.message_ts:
            _replace_original(ws, target, text or "", blocks, attachments)
            return
        thread_ts = body.get("thread_ts") or target.thread_ts
        channel_id = target.channel_id or ws.dm_channel(target.user_id).id
        if body.get("response_type") == "in_channel":
            ws.post_message(
                channel_id,
                user=ws.bot_user_id,
                text=text or "",
                blocks=blocks,
                attachments=attachments,
                thread_ts=str(thread_ts) if thread_ts else None,
            )
        else:
            ws.add_ephemeral(
                Ephemeral(
                    channel=channel_id,
                    user=target.user_id,
                    ts=ws.next_ts(),
                    text=text or "",
                    blocks=blocks or [],
                    attachments=attachments or [],
                    thread_ts=str(thread_ts) if thread_ts else None,
                    source=source,
                )
            )


def _delete_original(ws: Workspace, target: ResponseUrl) -> None:
    if not target.message_ts:
        raise SlackError("message_not_found")
    if target.is_ephemeral:
        found = ws.find_ephemeral(target.user_id, target.channel_id, target.message_ts)
        if found is None:
            raise SlackError("message_not_found")
        ws.ephemerals.remove(found)
        ws.touch()
        return
    message = ws.find_message(target.channel_id or "", target.message_ts)
    if message is None:
        raise SlackError("message_not_found")
    ws.delete_message(message)


def _replace_original(
    ws: Workspace,
    target: ResponseUrl,
    text: str,
    blocks: list[dict[str, Any]] | None,
    attachments: list[Any] | None,
) -> None:
    assert target.message_ts is not None
    if target.is_ephemeral:
        found = ws.find_ephemeral(target.user_id, target.channel_id, target.message_ts)
        if found is None:
            raise SlackError("message_not_found")
        found.text, found.blocks, found.replaced = text, ws.fill_ids(blocks or []), True
        found.attachments = attachments or []
    else:
        message = ws.find_message(target.channel_id or "", target.message_ts)
        if message is None:
            raise SlackError("message_not_found")
        message.text, message.blocks = text, ws.fill_ids(blocks or [])
        message.attachments = attachments or []
        # A replaced message is an edited message (Slack sends message_changed either way), as after chat.update.
        message.edited = True
        message.edited_ts = ws.next_ts()
    ws.touch()


def handle_response_url(ws: Workspace, token: str, raw: bytes, content_type: str) -> Answer:
    """Answer a POST to a response_url, apply it and log it in ``ws.response_posts``.

    ``LocalSlack.fail("response_url", ...)`` and ``hold("response_url", ...)`` script these POSTs (and only a failure
    or hold that names ``response_url`` does: they are not Web API calls).
    """
    with ws.lock:
        target = ws.response_urls.get(token)
        # What was sent is logged even when it is refused, so a test can tell whose POST Slack refused.
        body: Any = _decoded_or_none(raw, content_type)
        failure = ws.take_failure(RESPONSE_URL_METHOD, named=True)
        if failure is not None:
            answer = _failure_answer(failure.status, failure.error, failure.retry_after)
            error = failure.error or f"http_{failure.status}"
            refused = answer.body if isinstance(answer.body, dict) else None
            ws.record_response_post(
                Call(RESPONSE_URL_METHOD, _response_log(token, body), False, error, failure.status, refused)
            )
            return answer
        try:
            if target is None:
                raise SlackError("invalid_url", status=404)
            if ws.now() - target.issued_at > RESPONSE_URL_LIFETIME:
                raise SlackError("expired_url", status=404)
            if target.uses >= RESPONSE_URL_MAX_USES:
                raise SlackError("used_url", status=404)
            body = _decode_response_body(raw, content_type)
            apply_response_message(ws, target, body, source="response_url")
            target.uses += 1
        except SlackError as exc:
            status = exc.status if exc.status != 200 else 400
            error_body = exc.body()
            ws.record_response_post(
                Call("response_url", _response_log(token, body), False, exc.code, status, error_body)
            )
            return Answer(status, error_body)
        ws.record_response_post(Call("response_url", _response_log(token, body), True, None, 200, {"ok": True}))
        return Answer(200, {"ok": True}, hold=ws.take_hold(RESPONSE_URL_METHOD, named=True))


# The name a response_url POST goes by in the log and in scripted failures and holds.
RESPONSE_URL_METHOD = "response_url"


def _decoded_or_none(raw: bytes, content_type: str) -> dict[str, Any] | None:
    try:
        return _decode_response_body(raw, content_type)
    except SlackError:
        return None


def _decode_response_body(raw: bytes, content_type: str) -> dict[str, Any]:
    text = raw.decode("utf-8", "replace")
    if "application/x-www-form-urlencoded" in content_type:
        fields = dict(parse_qsl(text, keep_blank_values=True))
        text = fields.get("payload", "")
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        raise SlackError("invalid_payload") from None
    if not isinstance(body, dict):
        raise SlackError("invalid_payload")
    return body


def _response_log(token: str, body: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"response_url_id": token}
    if isinstance(body, dict):
        out.update(copy.deepcopy(body))
    return out


# ---------------------------------------------------------------- uploads


def handle_upload(ws: Workspace, token: str, raw: bytes, content_type: str) -> Answer:
    """Store the bytes POSTed to an upload_url."""
    with ws.lock:
        record = next((f for f in ws.files.values() if f.upload_token == token), None)
        if record is None:
            return Answer(404, "upload_url not found", media_type="text/plain")
        data = raw
        if content_type.startswith("multipart/form-data"):
            parts = parse_multipart(raw, content_type)
            file_part = next((v for v in parts.values() if isinstance(v, bytes)), None)
            if file_part is None:
                return Answer(400, "no file part", media_type="text/plain")
            data = file_part
        record.content = data
        ws.touch()
        return Answer(200, f"OK - {len(data)}", media_type="text/plain")


# ---------------------------------------------------------------- HTTP plumbing


def parse_multipart(raw: bytes, content_type: str) -> dict[str, str | bytes]:
    """Split a multipart/form-data body into fields (str) and file parts (bytes)."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + raw
    )
    out: dict[str, str | bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        out[name] = data if part.get_filename() else data.decode("utf-8", "replace")
    return out


async def read_args(request: Request) -> dict[str, Any]:
    """Collect a Web API call's arguments from the query string and the body."""
    args: dict[str, Any] = dict(request.query_params)
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    if not raw:
        return args
    if content_type.startswith("application/json"):
        try:
            decoded = json.loads(raw)
        except json.JSONDecodeError:
            raise SlackError("invalid_json") from None
        if not isinstance(decoded, dict):
            raise SlackError("invalid_json")
        args.update(decoded)
    elif content_type.startswith("multipart/form-data"):
        args.update(parse_multipart(raw, content_type))
    else:
        args.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    return args


def bearer_token(request: Request, args: Mapping[str, Any]) -> str | None:
    """Return the token from ``Authorization: Bearer`` or the ``token`` argument."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    token = args.get("token")
    return str(token) if token else None


def build_routes(ws: Workspace) -> list[BaseRoute]:
    """Return localslack's HTTP routes bound to a workspace."""

    async def api(request: Request) -> Response:
        """Answer POST/GET /api/<method>."""
        method = request.path_params["method"]
        try:
            args = await read_args(request)
        except SlackError as exc:
            return JSONResponse(exc.body())
        answer = dispatch(ws, method, args, bearer_token(request, args))
        if answer.hold is not None:
            # Off the event loop and outside the workspace lock: other calls go on while this answer waits.
            await anyio.to_thread.run_sync(answer.hold.wait)
        return answer.to_response()

    async def response_url(request: Request) -> Response:
        """Answer a POST to a response_url."""
        raw = await request.body()
        answer = handle_response_url(ws, request.path_params["token"], raw, request.headers.get("content-type", ""))
        if answer.hold is not None:
            await anyio.to_thread.run_sync(answer.hold.wait)
        return answer.to_response()

    async def upload(request: Request) -> Response:
        """Store bytes POSTed to an upload_url."""
        raw = await request.body()
        answer = handle_upload(ws, request.path_params["token"], raw, request.headers.get("content-type", ""))
        return answer.to_response()

    async def snapshot(request: Request) -> Response:
        """Serve the workspace snapshot as JSON."""
        return JSONResponse(ws.snapshot())

    async def archived_message(request: Request) -> Response:
        """Serve the message a permalink points at, as JSON."""
        channel_id = request.path_params["channel"]
        stamp = request.path_params["stamp"].lstrip("p")
        ts = f"{stamp[:-6]}.{stamp[-6:]}" if len(stamp) > 6 else stamp
        with ws.lock:
            message = ws.find_message(channel_id, ts)
            if message is None:
                return JSONResponse({"ok": False, "error": "message_not_found"}, status_code=404)
            return JSONResponse({"ok": True, "channel": channel_id, "message": message.to_dict()})

    async def file_bytes(request: Request) -> Response:
        """Serve an uploaded file's bytes."""
        with ws.lock:
            record = ws.files.get(request.path_params["file_id"])
            if record is None or record.content is None:
                return PlainTextResponse("file not found", status_code=404)
            return Response(record.content, media_type=record.mimetype)

    return [
        Route("/api/{method}", api, methods=["GET", "POST"]),
        Route("/response/{token:path}", response_url, methods=["POST"]),
        Route("/upload/v1/{token}", upload, methods=["POST"]),
        Route("/localslack/snapshot", snapshot, methods=["GET"]),
        Route("/archives/{channel}/{stamp}", archived_message, methods=["GET"]),
        Route("/files/{file_id}", file_bytes, methods=["GET"]),
        Route("/files/{file_id}/{name}", file_bytes, methods=["GET"]),
    ]


def build_app(ws: Workspace, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """Return the ASGI app: extra routes first (so a UI can take ``/``), then localslack's own."""
    return Starlette(routes=[*extra_routes, *build_routes(ws)])
