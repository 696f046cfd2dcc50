"""The :class:`LocalSlack` facade: a fake Slack on a background uvicorn thread.

Tests seed users and channels, point the bot's WebClient at :attr:`LocalSlack.api_url`,
deliver slash commands, clicks and submissions to the bot's Request URL, then read back
what the bot did. Readers return deep copies, so what a test holds never changes under it.
"""

from __future__ import annotations

import copy
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx
import uvicorn
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from localslack.blockkit import validate_view
from localslack.delivery import (
    FORM,
    JSON,
    AppIdentity,
    block_actions_payload,
    build_state_values,
    button_action,
    decode_json_response,
    event_envelope,
    find_element,
    form_body,
    global_shortcut_payload,
    interactive_body,
    json_body,
    message_action_payload,
    post_signed,
    sign_request,
    slash_command_fields,
    url_verification_payload,
    view_closed_payload,
    view_submission_payload,
)
from localslack.state import (
    Call,
    Channel,
    Clock,
    Delivery,
    Ephemeral,
    Failure,
    FileRecord,
    Hold,
    Message,
    SlackError,
    User,
    View,
    Workspace,
)
from localslack.ui import AppFeatures, build_ui_routes
from localslack.webapi import apply_response_message, build_app

T = TypeVar("T")


class _NotifyingServer(uvicorn.Server):
    """A uvicorn server that sets an event once it is accepting connections."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start as uvicorn does, then signal readiness (even if startup failed)."""
        try:
            await super().startup(sockets=sockets)
        finally:
            self._ready.set()


class BackgroundServer:
    """Serve an ASGI app with uvicorn on a daemon thread, on an ephemeral localhost port."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.port = 0
        self._server: _NotifyingServer | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        """Return ``http://host:port`` once started."""
        if not self.port:
            raise RuntimeError("server is not running; call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> None:
        """Bind, start serving and return once connections are accepted."""
        if self.running:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.requested_port))
        self.port = sock.getsockname()[1]
        ready = threading.Event()
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            http="h11",
            timeout_graceful_shutdown=2,
        )
        server = _NotifyingServer(config, ready)
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"localslack-uvicorn-{self.port}",
            daemon=True,
        )
        self._server, self._thread, self._socket = server, thread, sock
        thread.start()
        if not ready.wait(timeout) or not server.started:
            self.stop()
            raise RuntimeError(f"uvicorn did not start on {self.host}:{self.port}")

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit and wait for its thread."""
        server, thread, sock = self._server, self._thread, self._socket
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout)
        if sock is not None:
            sock.close()
        self._server = self._thread = self._socket = None
        self.port = 0


class LocalSlack:
    """A fake Slack workspace: Web API server, bot-facing deliveries and inspectable state."""

    def __init__(
        self,
        signing_secret: str = "s3cret",
        bot_token: str = "xoxb-local",
        request_url: str | None = None,
        team_id: str = "T0LOCAL",
        bot_user_id: str = "UBOT",
        *,
        team_domain: str = "localslack",
        team_name: str = "LocalSlack",
        app_id: str = "A0LOCAL",
        bot_id: str = "B0LOCAL",
        bot_name: str = "tripwire",
        verification_token: str = "localslack-verification-token",
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        delivery_timeout: float = 10.0,
        extra_routes: Sequence[BaseRoute] = (),
    ) -> None:
        self.signing_secret = signing_secret
        self.request_url = request_url
        self.verification_token = verification_token
        self.delivery_timeout = delivery_timeout
        self.workspace = Workspace(
            team_id=team_id,
            team_domain=team_domain,
            team_name=team_name,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            bot_name=bot_name,
            app_id=app_id,
            bot_token=bot_token,
            clock=clock or time.time,
        )
        self.identity = AppIdentity(
            team_id=team_id,
            team_domain=team_domain,
            app_id=app_id,
            bot_user_id=bot_user_id,
            verification_token=verification_token,
        )
        # What the app's manifest declares (commands, shortcuts); the browser page offers these.
        self.app_features = AppFeatures()
        self.app = build_app(self.workspace, [*extra_routes, *build_ui_routes(self)])
        self._server = BackgroundServer(self.app, host=host, port=port)
        self._http: httpx.Client | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> LocalSlack:
        """Start serving on an ephemeral port; returns once connections are accepted."""
        self._server.start()
        self.workspace.base_url = self._server.url
        return self

    def stop(self) -> None:
        """Stop the server and close the delivery client."""
        with self.workspace.lock:
            client, self._http = self._http, None
            for hold in self.workspace.holds:
                hold.release()
        if client is not None:
            client.close()
        self._server.stop()

    def __enter__(self) -> LocalSlack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Return ``http://127.0.0.1:PORT``."""
        return self._server.url

    @property
    def api_url(self) -> str:
        """Return the base_url to give slack_sdk's WebClient."""
        return f"{self.url}/api/"

    @property
    def port(self) -> int:
        """Return the listening port (0 before start)."""
        return self._server.port

    @property
    def bot_token(self) -> str:
        """Return the only token the Web API accepts."""
        return self.workspace.bot_token

    @property
    def team_id(self) -> str:
        """Return the workspace id."""
        return self.workspace.team_id

    @property
    def bot_user_id(self) -> str:
        """Return the bot's user id."""
        return self.workspace.bot_user_id

    @property
    def app_id(self) -> str:
        """Return the app id stamped on deliveries."""
        return self.workspace.app_id

    @property
    def clock(self) -> Clock:
        """Return the clock used for message ts, trigger and response_url expiry."""
        return self.workspace.clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        """Swap the workspace clock (e.g. for a WorkspaceClock)."""
        with self.workspace.lock:
            self.workspace.clock = clock

    # ------------------------------------------------------------ seeding

    def add_user(
        self,
        user_id: str,
        name: str,
        real_name: str | None = None,
        tz: str = "Etc/UTC",
        is_admin: bool = False,
        *,
        email: str | None = None,
        is_owner: bool = False,
        display_name: str = "",
    ) -> dict[str, Any]:
        """Add a human user and return its users.info shape."""
        user = User(
            id=user_id,
            name=name,
            real_name=real_name or name,
            tz=tz,
            is_admin=is_admin,
            is_owner=is_owner,
            email=email,
            display_name=display_name,
        )
        self.workspace.add_user(user)
        return user.to_slack(self.team_id, self.workspace.now())

    def add_channel(
        self,
        channel_id: str,
        name: str,
        is_private: bool = False,
        members: Sequence[str] | None = None,
        *,
        bot_member: bool = True,
        topic: str = "",
        purpose: str = "",
    ) -> dict[str, Any]:
        """Add a channel and return its conversations.info shape.

        ``members=None`` means everyone: every user, including ones added later.
        The bot is a member unless ``bot_member=False``.
        """
        ws = self.workspace
        with ws.lock:
            everyone = members is None
            listed = list(ws.users) if everyone else list(members or [])
            if bot_member and ws.bot_user_id not in listed:
                listed.append(ws.bot_user_id)
            if not bot_member and ws.bot_user_id in listed:
                listed.remove(ws.bot_user_id)
            channel = Channel(
                id=channel_id,
                name=name,
                is_private=is_private,
                members=listed,
                everyone=everyone,
                topic=topic,
                purpose=purpose,
            )
            ws.add_channel(channel)
            return channel.to_slack(ws.bot_user_id)

    def reset(self) -> None:
        """Clear messages, ephemerals, views, calls, deliveries, files and failures; keep people and channels."""
        self.workspace.reset()

    def fail(
        self,
        method: str | None,
        error: str | None = None,
        status: int | None = None,
        retry_after: int | None = None,
        times: int = 1,
        channel: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (None: any method) fail like Slack.

        ``error="ratelimited"`` (or ``status=429``) answers 429 with Retry-After; a 5xx status
        answers a non-JSON HTML page; any other error answers 200 with ``ok: false``.
        ``channel`` (an id) limits the failure to calls addressed there.
        """
        if error is None and status is None:
            raise ValueError("fail() needs an error code, an HTTP status, or both")
        if status is None:
            status = 429 if error == "ratelimited" else 200
        if status == 429:
            error = error or "ratelimited"
            retry_after = 1 if retry_after is None else retry_after
        with self.workspace.lock:
            self.workspace.failures.append(Failure(method, error, status, retry_after, times, channel))

    def hold(
        self, method: str | None, *, channel: str | None = None, seconds: float | None = None, times: int = 1
    ) -> Hold:
        """Let the next ``times`` calls of ``method`` (to ``channel``) take effect but hold their answers back.

        The answer waits ``seconds``, or until ``Hold.release()`` (or a reset) when None: a caller whose timeout is
        shorter sees a timeout although the call worked, and one killed meanwhile never learns the outcome.
        ``Hold.reached`` is set once a call is held.
        """
        hold = Hold(method, channel, seconds, times)
        with self.workspace.lock:
            self.workspace.holds.append(hold)
        return hold

    # ------------------------------------------------------------ reading what the bot did

    @property
    def calls(self) -> list[Call]:
        """Return every Web API call the bot made, oldest first (response_url POSTs are in response_posts)."""
        with self.workspace.lock:
            return copy.deepcopy(self.workspace.calls)

    def calls_to(self, method: str) -> list[Call]:
        """Return the calls of one method, oldest first."""
        with self.workspace.lock:
            return copy.deepcopy([c for c in self.workspace.calls if c.method == method])

    @property
    def response_posts(self) -> list[Call]:
        """Return every POST the bot made to a response_url (method ``response_url``), oldest first."""
        with self.workspace.lock:
            return copy.deepcopy(self.workspace.response_posts)

    @property
    def deliveries(self) -> list[Delivery]:
        """Return every request sent to the bot, with its answer."""
        with self.workspace.lock:
            return copy.deepcopy(self.workspace.deliveries)

    def messages(self, channel_id: str) -> list[Message]:
        """Return a channel's top-level messages, oldest first."""
        with self.workspace.lock:
            return copy.deepcopy(self.workspace.top_level(self._channel_id(channel_id)))

    def replies(self, channel_id: str, thread_ts: str) -> list[Message]:
        """Return a thread's replies (without the parent), oldest first."""
        with self.workspace.lock:
            return copy.deepcopy(self.workspace.thread(self._channel_id(channel_id), thread_ts))

    def message(self, channel_id: str, ts: str) -> Message:
        """Return one message (top level or reply), or raise KeyError."""
        with self.workspace.lock:
            found = self.workspace.find_message(self._channel_id(channel_id), ts)
            if found is None:
                raise KeyError(f"no message {ts} in {channel_id}")
            return copy.deepcopy(found)

    def ephemerals(self, user_id: str, channel_id: str | None = None) -> list[Ephemeral]:
        """Return ephemeral messages shown to a user, oldest first."""
        with self.workspace.lock:
            return copy.deepcopy(
                [
                    e
                    for e in self.workspace.ephemerals
                    if e.user == user_id and (channel_id is None or e.channel == channel_id)
                ]
            )

    def home_view(self, user_id: str) -> View | None:
        """Return the user's published App Home, or None."""
        with self.workspace.lock:
            return copy.deepcopy(self.workspace.home_views.get(user_id))

    def open_views(self, user_id: str) -> list[View]:
        """Return the user's modal stack, root first."""
        with self.workspace.lock:
            return copy.deepcopy(self.workspace.modal_stacks.get(user_id, []))

    def view(self, view_id: str) -> View:
        """Return an open modal or home view by id, or raise KeyError."""
        with self.workspace.lock:
            found = self.workspace.find_view(view_id=view_id)
            if found is None:
                raise KeyError(f"no open view {view_id}")
            return copy.deepcopy(found)

    def dm_channel(self, user_id: str) -> str:
        """Return the id of the bot's DM with a user (created on demand)."""
        self.workspace.user(user_id)
        return self.workspace.dm_channel(user_id).id

    def files(self) -> list[dict[str, Any]]:
        """Return uploaded files' metadata (without bytes)."""
        with self.workspace.lock:
            return [f.to_dict() for f in self.workspace.files.values()]

    def file_content(self, file_id: str) -> bytes:
        """Return the bytes uploaded for a file id, or raise KeyError."""
        with self.workspace.lock:
            record: FileRecord | None = self.workspace.files.get(file_id)
            if record is None or record.content is None:
                raise KeyError(f"no uploaded content for {file_id}")
            return record.content

    def snapshot(self) -> dict[str, Any]:
        """Return the whole workspace as JSON-able data (also served at /localslack/snapshot)."""
        return self.workspace.snapshot()

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Wait until ``predicate()`` returns something truthy (re-checked on each change) and return it."""
        return self.workspace.wait_for(predicate, timeout)

    def wait_for_call(self, method: str, count: int = 1, timeout: float = 5.0) -> Call:
        """Wait until ``method`` has been called ``count`` times and return that call."""

        def nth() -> Call | None:
            matching = [c for c in self.workspace.calls if c.method == method]
            return copy.deepcopy(matching[count - 1]) if len(matching) >= count else None

        found = self.workspace.wait_for(nth, timeout)
        assert found is not None
        return found

    def sign(self, body: bytes | str, timestamp: int | None = None) -> dict[str, str]:
        """Return signature headers for a body using this workspace's signing secret."""
        return sign_request(self.signing_secret, body, int(time.time()) if timestamp is None else timestamp)

    # ------------------------------------------------------------ humans acting in Slack

    def post_user_message(self, user_id: str, channel_id: str, text: str, thread_ts: str | None = None) -> Message:
        """Store a message a human wrote (no event is delivered)."""
        ws = self.workspace
        ws.user(user_id)
        channel = ws.resolve_channel(channel_id)
        if channel is None:
            raise KeyError(f"unknown channel {channel_id!r}")
        return copy.deepcopy(ws.post_message(channel.id, user=user_id, text=text, thread_ts=thread_ts))

    def slash_command(
        self,
        user_id: str,
        text: str,
        command: str = "/incident",
        channel_id: str | None = None,
        *,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """Invoke a slash command; an inline JSON/text answer is shown like Slack shows it.

        Without ``channel_id`` the command runs in ``C_TRIAGE`` if it exists, else in the
        first public channel that was added.
        """
        ws = self.workspace
        with ws.lock:
            user = ws.user(user_id)
            channel = self._command_channel(channel_id)
            trigger = ws.issue_trigger(user_id)
            target = ws.issue_response_url(user_id, channel.id)
            fields = slash_command_fields(
                self.identity,
                user_id=user_id,
                user_name=user.name,
                channel_id=channel.id,
                channel_name=channel.name,
                command=command,
                text=text,
                trigger_id=trigger.id,
                response_url=ws.response_url(target),
            )
        response = self._deliver("slash_command", dict(fields), form_body(fields), FORM, timestamp)
        if response.status_code == 200 and response.content.strip():
            answer = decode_json_response(response) or {"text": response.text}
            if answer.get("text") or answer.get("blocks"):
                try:
                    apply_response_message(ws, target, answer, source="slash_command")
                except SlackError as exc:
                    self._note_delivery_error(f"inline answer rejected: {exc}")
        return response

    def click_button(
        self,
        user_id: str,
        channel_id: str,
        message_ts: str,
        action_id: str,
        value: str | None = None,
        *,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """Click a button on a message (or on the user's ephemeral message) as it is now."""
        ws = self.workspace
        with ws.lock:
            user = ws.user(user_id)
            channel = ws.channel(channel_id)
            message = ws.find_message(channel.id, message_ts)
            ephemeral = None if message is not None else ws.find_ephemeral(user_id, channel.id, message_ts)
            if message is None and ephemeral is None:
                raise KeyError(f"no message {message_ts} in {channel_id} visible to {user_id}")
            blocks = message.blocks if message is not None else ephemeral.blocks if ephemeral else []
            block_id, element = find_element(blocks, action_id, value)
            thread_ts = message.thread_ts if message is not None and message.is_reply else None
            trigger = ws.issue_trigger(user_id)
            target = ws.issue_response_url(
                user_id, channel.id, message_ts, is_ephemeral=ephemeral is not None, thread_ts=thread_ts
            )
            container: dict[str, Any] = {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel.id,
                "is_ephemeral": ephemeral is not None,
            }
            if thread_ts:
                container["thread_ts"] = thread_ts
            payload = block_actions_payload(
                self.identity,
                user=user.payload_user(ws.team_id),
                action=button_action(block_id, element, self._action_ts()),
                trigger_id=trigger.id,
                container=container,
                channel={"id": channel.id, "name": channel.name},
                message=message.to_slack(ws.team_id) if message is not None else None,
                response_url=ws.response_url(target),
                state_values=build_state_values(blocks, {}, strict=False),
            )
        return self._deliver("block_actions", payload, interactive_body(payload), FORM, timestamp)

    def click_view_button(
        self,
        user_id: str,
        view_id: str,
        action_id: str,
        value: str | None = None,
        *,
        values: Mapping[str, Mapping[str, Any]] | None = None,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """Click a button inside an open modal; ``values`` fills the view's state first."""
        ws = self.workspace
        with ws.lock:
            view = self._open_modal(user_id, view_id)
            payload = self._view_click_payload(user_id, view, action_id, value, values or {})
        return self._deliver("block_actions", payload, interactive_body(payload), FORM, timestamp)

    def click_home_button(
        self, user_id: str, action_id: str, value: str | None = None, *, timestamp: int | None = None
    ) -> httpx.Response:
        """Click a button on the user's App Home."""
        ws = self.workspace
        with ws.lock:
            view = ws.home_views.get(user_id)
            if view is None:
                raise KeyError(f"{user_id} has no published App Home")
            payload = self._view_click_payload(user_id, view, action_id, value, {})
        return self._deliver("block_actions", payload, interactive_body(payload), FORM, timestamp)

    def submit_view(
        self,
        user_id: str,
        view_id: str,
        values: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        strict: bool = True,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """Submit an open modal with ``{block_id: {action_id: value}}`` and apply the bot's response_action."""
        ws = self.workspace
        with ws.lock:
            user = ws.user(user_id)
            view = self._open_modal(user_id, view_id)
            view.state_values = build_state_values(view.blocks, values or {}, strict=strict)
            trigger = ws.issue_trigger(user_id)
            payload = view_submission_payload(
                self.identity,
                user=user.payload_user(ws.team_id),
                view=view.to_slack(ws.team_id, ws.app_id, ws.bot_id),
                trigger_id=trigger.id,
            )
            ws.touch()
        response = self._deliver("view_submission", payload, interactive_body(payload), FORM, timestamp)
        self._apply_submission_answer(user_id, view_id, response)
        return response

    def close_view(self, user_id: str, view_id: str, *, timestamp: int | None = None) -> httpx.Response | None:
        """Close a modal as its close button would; tells the bot only if notify_on_close is set."""
        ws = self.workspace
        with ws.lock:
            user = ws.user(user_id)
            view = self._open_modal(user_id, view_id)
            ws.close_modal(user_id, view_id, everything=view.clear_on_close)
            if not view.notify_on_close:
                return None
            payload = view_closed_payload(
                self.identity,
                user=user.payload_user(ws.team_id),
                view=view.to_slack(ws.team_id, ws.app_id, ws.bot_id),
                is_cleared=view.clear_on_close,
            )
        return self._deliver("view_closed", payload, interactive_body(payload), FORM, timestamp)

    def message_shortcut(
        self, user_id: str, channel_id: str, message_ts: str, callback_id: str, *, timestamp: int | None = None
    ) -> httpx.Response:
        """Run a message shortcut on a message."""
        ws = self.workspace
        with ws.lock:
            user = ws.user(user_id)
            channel = ws.channel(channel_id)
            message = ws.find_message(channel.id, message_ts)
            if message is None:
                raise KeyError(f"no message {message_ts} in {channel_id}")
            trigger = ws.issue_trigger(user_id)
            target = ws.issue_response_url(user_id, channel.id)
            payload = message_action_payload(
                self.identity,
                user=user.payload_user(ws.team_id),
                channel={"id": channel.id, "name": channel.name},
                message=message.to_slack(ws.team_id),
                callback_id=callback_id,
                trigger_id=trigger.id,
                response_url=ws.response_url(target),
                action_ts=self._action_ts(),
            )
        return self._deliver("message_action", payload, interactive_body(payload), FORM, timestamp)

    def global_shortcut(self, user_id: str, callback_id: str, *, timestamp: int | None = None) -> httpx.Response:
        """Run a global shortcut."""
        ws = self.workspace
        with ws.lock:
            user = ws.user(user_id)
            trigger = ws.issue_trigger(user_id)
            payload = global_shortcut_payload(
                self.identity,
                user=user.payload_user(ws.team_id),
                callback_id=callback_id,
                trigger_id=trigger.id,
                action_ts=self._action_ts(),
            )
        return self._deliver("shortcut", payload, interactive_body(payload), FORM, timestamp)

    def app_home_opened(self, user_id: str, tab: str = "home", *, timestamp: int | None = None) -> httpx.Response:
        """Deliver the app_home_opened event for a user opening the app."""
        ws = self.workspace
        with ws.lock:
            ws.user(user_id)
            event: dict[str, Any] = {
                "type": "app_home_opened",
                "user": user_id,
                "channel": ws.dm_channel(user_id).id,
                "tab": tab,
                "event_ts": self._action_ts(),
            }
            home = ws.home_views.get(user_id)
            if home is not None and tab == "home":
                event["view"] = home.to_slack(ws.team_id, ws.app_id, ws.bot_id)
        return self.send_event(event, timestamp=timestamp)

    def send_event(self, event: Mapping[str, Any], *, timestamp: int | None = None) -> httpx.Response:
        """Deliver any event inside an Events API envelope."""
        ws = self.workspace
        with ws.lock:
            envelope = event_envelope(self.identity, event=event, event_id=ws.new_id("Ev"), event_time=int(ws.now()))
        return self._deliver("event_callback", envelope, json_body(envelope), JSON, timestamp)

    def url_verification(
        self, challenge: str = "localslack-challenge", *, timestamp: int | None = None
    ) -> httpx.Response:
        """Send the url_verification handshake."""
        payload = url_verification_payload(self.identity, challenge)
        return self._deliver("url_verification", payload, json_body(payload), JSON, timestamp)

    # ------------------------------------------------------------ internals

    def _command_channel(self, channel_id: str | None) -> Channel:
        ws = self.workspace
        if channel_id is not None:
            return ws.resolve_channel(channel_id) or ws.channel(channel_id)
        if "C_TRIAGE" in ws.channels:
            return ws.channels["C_TRIAGE"]
        public = [c for c in ws.channels.values() if not c.is_private and not c.is_im and not c.is_mpim]
        if not public:
            raise KeyError("slash_command needs a channel: pass channel_id or add a public channel")
        return public[0]

    def _channel_id(self, channel_ref: str) -> str:
        channel = self.workspace.resolve_channel(channel_ref)
        return channel.id if channel is not None else channel_ref

    def _action_ts(self) -> str:
        return f"{self.workspace.now():.6f}"

    def _open_modal(self, user_id: str, view_id: str) -> View:
        for view in self.workspace.modal_stacks.get(user_id, []):
            if view.id == view_id:
                return view
        open_ids = [v.id for v in self.workspace.modal_stacks.get(user_id, [])]
        raise KeyError(f"{user_id} has no open modal {view_id}; open: {open_ids}")

    def _view_click_payload(
        self,
        user_id: str,
        view: View,
        action_id: str,
        value: str | None,
        values: Mapping[str, Mapping[str, Any]],
    ) -> dict[str, Any]:
        ws = self.workspace
        user = ws.user(user_id)
        block_id, element = find_element(view.blocks, action_id, value)
        view.state_values = build_state_values(view.blocks, values, strict=False)
        trigger = ws.issue_trigger(user_id)
        return block_actions_payload(
            self.identity,
            user=user.payload_user(ws.team_id),
            action=button_action(block_id, element, self._action_ts()),
            trigger_id=trigger.id,
            container={"type": "view", "view_id": view.id},
            view=view.to_slack(ws.team_id, ws.app_id, ws.bot_id),
            state_values=view.state_values,
        )

    def _client(self) -> httpx.Client:
        with self.workspace.lock:
            if self._http is None:
                self._http = httpx.Client(timeout=self.delivery_timeout, trust_env=False)
            return self._http

    def _deliver(
        self, kind: str, payload: dict[str, Any], body: bytes, content_type: str, timestamp: int | None
    ) -> httpx.Response:
        url = self.request_url
        if not url:
            raise RuntimeError("LocalSlack.request_url is not set; point it at the bot's /slack/events")
        record = Delivery(kind=kind, payload=copy.deepcopy(payload))
        try:
            response = post_signed(
                self._client(),
                url,
                body,
                content_type=content_type,
                secret=self.signing_secret,
                timestamp=int(time.time()) if timestamp is None else timestamp,
            )
        except httpx.HTTPError as exc:
            record.error = f"{type(exc).__name__}: {exc}"
            self._record_delivery(record)
            raise
        record.status = response.status_code
        record.response_body = response.text[:20_000]
        self._record_delivery(record)
        return response

    def _record_delivery(self, record: Delivery) -> None:
        with self.workspace.lock:
            self.workspace.deliveries.append(record)
        self.workspace.touch()

    def _note_delivery_error(self, error: str) -> None:
        with self.workspace.lock:
            if self.workspace.deliveries:
                self.workspace.deliveries[-1].error = error
        self.workspace.touch()

    def _apply_submission_answer(self, user_id: str, view_id: str, response: httpx.Response) -> None:
        ws = self.workspace
        with ws.lock:
            stack = ws.modal_stacks.get(user_id, [])
            view = next((v for v in stack if v.id == view_id), None)
            if view is None:
                return
            view.errors = None
            view.delivery_error = None
            if response.status_code != 200:
                view.delivery_error = f"the app answered HTTP {response.status_code}"
                ws.touch()
                return
            answer = decode_json_response(response) or {}
            action = answer.get("response_action")
            if action is None:
                ws.close_modal(user_id, view_id)
            elif action == "errors":
                self._apply_errors(view, answer.get("errors"))
            elif action in ("update", "push"):
                self._apply_new_view(user_id, view, str(action), answer.get("view"))
            elif action == "clear":
                ws.close_modal(user_id, stack[0].id, everything=True)
            else:
                view.delivery_error = f"unknown response_action {action!r}"
            ws.touch()

    def _apply_errors(self, view: View, errors: Any) -> None:
        if not isinstance(errors, dict) or not errors:
            view.delivery_error = "response_action errors needs a non-empty errors object"
            return
        view.errors = {str(k): str(v) for k, v in errors.items()}
        inputs = {b.get("block_id") for b in view.blocks if b.get("type") == "input"}
        stray = sorted(k for k in view.errors if k not in inputs)
        if stray:
            view.delivery_error = f"errors name blocks that are not input blocks: {stray}"

    def _apply_new_view(self, user_id: str, view: View, action: str, payload: Any) -> None:
        problems = validate_view(payload, allowed_types=("modal",))
        if problems:
            view.delivery_error = f"response_action {action} carried an invalid view: " + "; ".join(problems)
            return
        assert isinstance(payload, dict)
        try:
            if action == "update":
                self.workspace.replace_view(view, payload)
            else:
                self.workspace.push_modal(user_id, payload)
        except SlackError as exc:
            view.delivery_error = f"response_action {action} failed: {exc.code}"
