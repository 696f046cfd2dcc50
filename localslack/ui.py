"""The browser side of localslack: a Slack look-alike page and the JSON actions behind it.

The page (``static/index.html`` and ``static/app.js``) long-polls ``/localslack/ui/state`` for what
one acting user can see, and posts that person's actions to ``/localslack/ui/<action>``. Every action
goes through the :class:`~localslack.server.LocalSlack` facade, the same path a test takes, so the bot
receives exactly the signed deliveries it would get from Slack. An action answers with the bot's HTTP
status and any delivery error, so the page can say plainly when the bot answered 500.

A message permalink (``/archives/<channel>/p<ts digits>``, what ``chat.getPermalink`` answers) opened in a browser
lands on the page with that message highlighted; one to no such message is a 404 page.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import httpx
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from localslack.state import Channel, User, Workspace

if TYPE_CHECKING:
    from localslack.server import LocalSlack

STATIC_DIR = Path(__file__).parent / "static"
NO_STORE = {"Cache-Control": "no-store"}
# Slack shows an error when the app takes longer than this to answer an interaction.
SLACK_TIMEOUT_SECONDS = 3.0
# A long poll never outlives uvicorn's 2 s graceful shutdown, so stopping never waits on a browser tab.
MAX_POLL_WAIT = 1.5
BODY_PREVIEW = 2000
# A permalink's last part: "p" and the message's ts without its dot (seconds, then six digits).
PERMALINK_STAMP = re.compile(r"p(\d+)(\d{6})")


@dataclass(frozen=True)
class SlashCommand:
    """A slash command the app declares (shown as a suggestion in the composer)."""

    command: str
    description: str = ""
    usage_hint: str = ""
    # Slack then sends @mentions and #channels in the text as <@U123|name> and <#C123|name>.
    should_escape: bool = False


@dataclass(frozen=True)
class MessageShortcut:
    """A message shortcut the app declares (shown in each message's menu)."""

    callback_id: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class AppFeatures:
    """What the app's manifest declares that the page needs to offer: commands, shortcuts, App Home tabs."""

    slash_commands: tuple[SlashCommand, ...] = ()
    message_shortcuts: tuple[MessageShortcut, ...] = ()
    home_tab_enabled: bool = True
    messages_tab_read_only: bool = False

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> AppFeatures:
        """Read the features section of a Slack app manifest."""
        features = manifest.get("features") or {}
        home = features.get("app_home") or {}
        commands = tuple(
            SlashCommand(
                command=str(item["command"]),
                description=str(item.get("description", "")),
                usage_hint=str(item.get("usage_hint", "")),
                should_escape=bool(item.get("should_escape", False)),
            )
            for item in features.get("slash_commands") or []
        )
        shortcuts = tuple(
            MessageShortcut(
                callback_id=str(item["callback_id"]),
                name=str(item["name"]),
                description=str(item.get("description", "")),
            )
            for item in features.get("shortcuts") or []
            if item.get("type") == "message"
        )
        return cls(
            slash_commands=commands,
            message_shortcuts=shortcuts,
            home_tab_enabled=bool(home.get("home_tab_enabled", True)),
            messages_tab_read_only=bool(home.get("messages_tab_read_only_enabled", False)),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the features as JSON-able data for the page."""
        return asdict(self)


class BadInput(Exception):
    """The page sent something that does not name a real user, channel, message, view or element."""


@dataclass
class Outcome:
    """What happened when an action was delivered to the bot."""

    delivered: bool
    status: int | None = None
    error: str | None = None
    elapsed_ms: int = 0
    body: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON answer of an action endpoint."""
        ok = self.error is None and (self.status is None or self.status == 200)
        out: dict[str, Any] = {
            "ok": ok,
            "delivered": self.delivered,
            "status": self.status,
            "error": self.error,
            "elapsed_ms": self.elapsed_ms,
            "slow": self.elapsed_ms > SLACK_TIMEOUT_SECONDS * 1000,
            "body": self.body,
        }
        out.update(self.extra)
        return out


# ---------------------------------------------------------------- what one user sees


def _is_visible(channel: Channel, user_id: str) -> bool:
    if channel.is_im:
        return channel.user == user_id
    return not channel.is_private or user_id in channel.members


def _user_summary(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "real_name": user.real_name,
        "display_name": user.display_name,
        "tz": user.tz,
        "is_bot": user.is_bot,
    }


def humans(ws: Workspace) -> list[User]:
    """Return the people one can act as: every user who is not a bot and not deleted."""
    with ws.lock:
        return [u for u in ws.users.values() if not u.is_bot and not u.deleted]


def view_state(slack: LocalSlack, user_id: str) -> dict[str, Any]:
    """Return what ``user_id`` can see: their channels and DM with the app, ephemerals, open modal and App Home."""
    ws = slack.workspace
    with ws.lock:
        user = ws.users.get(user_id)
        if user is None or user.is_bot or user.deleted:
            raise BadInput(f"unknown user {user_id!r}; people here: {[u.id for u in humans(ws)]}")
        dm = ws.dm_channel(user_id)  # the app's Messages tab exists for everyone, as in Slack
        channels = []
        for channel in ws.channels.values():
            if not _is_visible(channel, user_id):
                continue
            top = ws.top_level(channel.id)
            channels.append(
                {
                    "id": channel.id,
                    "name": channel.name,
                    "is_private": channel.is_private,
                    "is_im": channel.is_im,
                    "is_archived": channel.is_archived,
                    "topic": channel.topic,
                    "purpose": channel.purpose,
                    "messages": [m.to_dict() for m in top],
                    "threads": {m.ts: [r.to_dict() for r in ws.thread(channel.id, m.ts)] for m in top if m.reply_count},
                }
            )
        stack = ws.modal_stacks.get(user_id, [])
        home = ws.home_views.get(user_id)
        failed_calls = [c for c in ws.calls if not c.ok][-5:]
        return {
            "version": ws.version,
            "team": {"id": ws.team_id, "name": ws.team_name, "domain": ws.team_domain},
            "app": {"bot_user_id": ws.bot_user_id, "name": ws.bot_name, "app_id": ws.app_id, "dm": dm.id},
            "features": slack.app_features.to_dict(),
            "me": _user_summary(user),
            "users": [_user_summary(u) for u in ws.users.values()],
            "channels": channels,
            "ephemerals": [e.to_dict() for e in ws.ephemerals if e.user == user_id],
            "modal": stack[-1].to_dict() if stack else None,
            "modal_depth": len(stack),
            "home": home.to_dict() if home is not None else None,
            "bot_connected": bool(slack.request_url),
            "api_errors": [
                {"seq": c.seq, "method": c.method, "error": c.error, "status": c.status} for c in failed_calls
            ],
        }


# ---------------------------------------------------------------- actions


def deliver(slack: LocalSlack, send: Callable[[], httpx.Response | None]) -> Outcome:
    """Run one facade call that posts to the bot, and report the bot's status and any delivery error."""
    ws = slack.workspace
    with ws.lock:
        before = len(ws.deliveries)
    started = time.perf_counter()
    try:
        response = send()
    except httpx.HTTPError as exc:
        return Outcome(delivered=False, error=f"could not reach the bot: {type(exc).__name__}: {exc}")
    except RuntimeError as exc:
        if slack.request_url:
            raise
        return Outcome(delivered=False, error=f"no bot is connected: {exc}")
    elapsed_ms = round((time.perf_counter() - started) * 1000)
    if response is None:  # e.g. closing a modal that does not ask to be told
        return Outcome(delivered=False, elapsed_ms=elapsed_ms)
    with ws.lock:
        noted = [d.error for d in ws.deliveries[before:] if d.error]
    error = noted[0] if noted else None
    if response.status_code != 200:
        error = f"the bot answered HTTP {response.status_code}" + (f" ({error})" if error else "")
    return Outcome(
        delivered=True,
        status=response.status_code,
        error=error,
        elapsed_ms=elapsed_ms,
        body=response.text[:BODY_PREVIEW],
    )


def _text(body: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise BadInput(f"missing {name!r}")
        return None
    if not isinstance(value, str):
        raise BadInput(f"{name!r} must be a string")
    return value


def _required(body: Mapping[str, Any], name: str) -> str:
    value = _text(body, name)
    assert value is not None
    return value


def _values(body: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    values = body.get("values")
    if values is None:
        return {}
    if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
        raise BadInput("'values' must look like {block_id: {action_id: value}}")
    return values


def split_command(text: str) -> tuple[str, str]:
    """Split ``/incident new title`` into ``("/incident", "new title")``."""
    head, _, rest = text.strip().partition(" ")
    if len(head) < 2 or not head.startswith("/"):
        raise BadInput(f"not a slash command: {text!r}")
    return head, rest.strip()


def run_command(slack: LocalSlack, user: str, body: Mapping[str, Any]) -> Outcome:
    """Run a slash command typed in the composer."""
    channel = _required(body, "channel")
    command, rest = split_command(_required(body, "text"))
    slack.workspace.channel(channel)
    return deliver(slack, lambda: slack.slash_command(user, rest, command=command, channel_id=channel))


def post_message(slack: LocalSlack, user: str, body: Mapping[str, Any]) -> Outcome:
    """Store a message the person wrote (Slack would deliver no event to Tripwire for it)."""
    text = _required(body, "text")
    if not text.strip():
        raise BadInput("the message is empty")
    message = slack.post_user_message(
        user, _required(body, "channel"), text, thread_ts=_text(body, "thread_ts", required=False)
    )
    return Outcome(delivered=False, extra={"ts": message.ts})


def click(slack: LocalSlack, user: str, body: Mapping[str, Any]) -> Outcome:
    """Click a button on a message, in an open modal, or on App Home."""
    action_id = _required(body, "action_id")
    value = _text(body, "value", required=False)
    container = body.get("container", "message")
    if container == "message":
        channel, ts = _required(body, "channel"), _required(body, "ts")
        slack.workspace.channel(channel)
        return deliver(slack, lambda: slack.click_button(user, channel, ts, action_id, value))
    if container == "view":
        view_id, values = _required(body, "view_id"), _values(body)
        return deliver(slack, lambda: slack.click_view_button(user, view_id, action_id, value, values=values))
    if container == "home":
        return deliver(slack, lambda: slack.click_home_button(user, action_id, value))
    raise BadInput(f"unknown container {container!r}; use message, view or home")


def submit(slack: LocalSlack, user: str, body: Mapping[str, Any]) -> Outcome:
    """Submit the open modal with what the person entered (strictly: empty required inputs are refused)."""
    view_id, values = _required(body, "view_id"), _values(body)
    return deliver(slack, lambda: slack.submit_view(user, view_id, values, strict=True))


def close(slack: LocalSlack, user: str, body: Mapping[str, Any]) -> Outcome:
    """Close the open modal as its close button or the Escape key would."""
    view_id = _required(body, "view_id")
    return deliver(slack, lambda: slack.close_view(user, view_id))


def shortcut(slack: LocalSlack, user: str, body: Mapping[str, Any]) -> Outcome:
    """Run a message shortcut from a message's menu."""
    channel, ts, callback_id = _required(body, "channel"), _required(body, "ts"), _required(body, "callback_id")
    slack.workspace.channel(channel)
    return deliver(slack, lambda: slack.message_shortcut(user, channel, ts, callback_id))


def open_home(slack: LocalSlack, user: str, body: Mapping[str, Any]) -> Outcome:
    """Tell the app the person opened its Home tab."""
    return deliver(slack, lambda: slack.app_home_opened(user))


Action = Callable[["LocalSlack", str, Mapping[str, Any]], Outcome]
ACTIONS: dict[str, Action] = {
    "command": run_command,
    "message": post_message,
    "click": click,
    "submit": submit,
    "close": close,
    "shortcut": shortcut,
    "home": open_home,
}


def _acting_user(ws: Workspace, user_id: Any) -> str:
    if not isinstance(user_id, str) or not user_id:
        raise BadInput("say who is acting: 'as' must be a user id")
    with ws.lock:
        user = ws.users.get(user_id)
        if user is None or user.is_bot or user.deleted:
            raise BadInput(f"unknown user {user_id!r}; people here: {[u.id for u in humans(ws)]}")
    return user_id


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400, headers=NO_STORE)


def _reason(exc: Exception) -> str:
    # KeyError's str() wraps the message in quotes; the first argument is the readable text.
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


class PageRoute(Route):
    """A route only a browser asking for a page (``Accept: text/html``) takes."""

    # Other clients fall through to the routes after it: webapi answers the same permalink path with JSON for tests.

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """Match as a Route would, but only for a request that accepts HTML."""
        accept = dict(scope.get("headers") or []).get(b"accept", b"")
        if scope.get("type") == "http" and b"text/html" not in accept:
            return Match.NONE, {}
        return super().matches(scope)


def permalink_target(ws: Workspace, channel_id: str, stamp: str, query: Mapping[str, str]) -> str | None:
    """Where the page shows a permalink's message (``/?channel=…&message=…``), or None where Slack finds none."""
    # None for an unknown channel or ts, and for a ``thread_ts`` or ``cid`` that does not hold the message.
    found = PERMALINK_STAMP.fullmatch(stamp)
    if found is None:
        return None
    ts = f"{found[1]}.{found[2]}"
    with ws.lock:
        message = ws.find_message(channel_id, ts) if channel_id in ws.channels else None
    if message is None:
        return None
    thread = message.thread_ts if message.is_reply else None
    if query.get("thread_ts", thread or ts) != (thread or ts) or query.get("cid", channel_id) != channel_id:
        return None
    params = {"channel": channel_id, "message": ts}
    if thread:
        params["thread"] = thread
    if query.get("as"):  # not Slack's: lets a test or a bookmark say who opens it
        params["as"] = query["as"]
    return "/?" + str(httpx.QueryParams(params))


def _not_found(what: str) -> HTMLResponse:
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Not found · LocalSlack</title></head>'
        f'<body><h1 data-testid="not-found">This message could not be found</h1><p>{html.escape(what)}</p>'
        '<p><a href="/">Open the workspace</a></p></body></html>'
    )
    return HTMLResponse(body, status_code=404, headers=NO_STORE)


def build_ui_routes(slack: LocalSlack) -> list[BaseRoute]:
    """Return the page at ``/``, its static files and the ``/localslack/ui/*`` JSON endpoints."""
    ws = slack.workspace

    async def page(request: Request) -> Response:
        """Serve the workspace page."""
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=NO_STORE)

    async def state(request: Request) -> Response:
        """Answer what one user sees; with ``since``, wait up to ``wait`` seconds for a newer version."""
        params = request.query_params
        people = humans(ws)
        user_id = params.get("as") or (people[0].id if people else "")
        try:
            since = int(params.get("since", "-1"))
            wait = min(max(float(params.get("wait", "0")), 0.0), MAX_POLL_WAIT)
        except ValueError:
            return _bad("'since' must be an integer and 'wait' a number of seconds")
        deadline = time.monotonic() + wait
        while ws.version <= since and time.monotonic() < deadline:
            await anyio.sleep(0.05)
        if ws.version <= since:
            return JSONResponse({"version": ws.version, "unchanged": True}, headers=NO_STORE)
        try:
            data = view_state(slack, user_id)
        except BadInput as exc:
            return _bad(str(exc))
        return JSONResponse(data, headers=NO_STORE)

    async def permalink(request: Request) -> Response:
        """Open a message's permalink in the page: its channel (and thread), the message highlighted."""
        channel_id, stamp = request.path_params["channel"], request.path_params["stamp"]
        target = permalink_target(ws, channel_id, stamp, request.query_params)
        if target is None:
            return _not_found(f"No message {stamp} in channel {channel_id} (or it was deleted).")
        return RedirectResponse(target, status_code=302, headers=NO_STORE)

    def action_endpoint(name: str, action: Action) -> Route:
        async def endpoint(request: Request) -> Response:
            try:
                body = await request.json()
            except ValueError:
                return _bad("the body must be JSON")
            if not isinstance(body, dict):
                return _bad("the body must be a JSON object")
            try:
                user = _acting_user(ws, body.get("as"))
                # Off the event loop: the bot calls back into this server's Web API while it handles the delivery.
                outcome = await anyio.to_thread.run_sync(partial(action, slack, user, body))
            except (BadInput, LookupError, ValueError) as exc:
                return _bad(_reason(exc))
            return JSONResponse(outcome.to_dict(), headers=NO_STORE)

        endpoint.__doc__ = action.__doc__
        return Route(f"/localslack/ui/{name}", endpoint, methods=["POST"], name=f"localslack-ui-{name}")

    return [
        Route("/", page, methods=["GET"], name="localslack-ui-page"),
        Mount("/localslack/static", StaticFiles(directory=STATIC_DIR), name="localslack-static"),
        Route("/localslack/ui/state", state, methods=["GET"], name="localslack-ui-state"),
        PageRoute("/archives/{channel}/{stamp}", permalink, methods=["GET"], name="localslack-ui-permalink"),
        *(action_endpoint(name, action) for name, action in ACTIONS.items()),
    ]
