"""Slack without sockets: signed requests dispatched straight to the Bolt app, and a Web API answered in-process.

The bot's side is the real thing: `create_app` with a plain slack_sdk `WebClient`. Bolt builds a fresh WebClient
for every request (copying base_url, not the object), and `respond()` posts with a WebhookClient, so a WebClient
subclass handed to `create_app` would never see a listener's calls. Both clients send through urllib's `urlopen`,
so `answer_in_process` installs a urllib handler for LocalSlack's host (`http://localslack.invalid`, what an
unstarted LocalSlack calls itself): each call goes to localslack's own Web API and response_url code, which
records it in `workspace.calls` / `workspace.response_posts` and refuses what Slack refuses (a missing or used
trigger_id, an unknown channel, invalid blocks). Any other host is refused, so nothing leaves the process.

Requests into the bot are built like bolt-python's scenario tests: a body (from localslack's payload builders),
v0-signed with the signing secret, wrapped in a `BoltRequest` and passed to `App.dispatch`.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import urllib.response
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.client import HTTPMessage
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from slack_bolt import App, BoltRequest, BoltResponse

from localslack import LocalSlack
from localslack.delivery import (
    FORM,
    block_actions_payload,
    build_state_values,
    button_action,
    find_element,
    form_body,
    interactive_body,
    sign_request,
    slash_command_fields,
    view_submission_payload,
)
from localslack.state import View
from localslack.webapi import Answer, dispatch, handle_response_url, parse_multipart

LOCAL_HOST = "localslack.invalid"


class InProcessSlackHandler(urllib.request.HTTPHandler):
    """Answers http://localslack.invalid/api/<method> and /response/<id> from a LocalSlack workspace."""

    def __init__(self, slack: LocalSlack) -> None:
        super().__init__()
        self.slack = slack

    def http_open(self, req: urllib.request.Request) -> urllib.response.addinfourl:  # type: ignore[override]
        """Serve one request without a socket; any host but LocalSlack's is an error."""
        url = urlsplit(req.full_url)
        if url.hostname != LOCAL_HOST:
            raise urllib.error.URLError(f"in-process Slack tests make no network calls (asked for {req.full_url})")
        raw = req.data if isinstance(req.data, bytes) else b""
        content_type = req.get_header("Content-type") or ""
        ws = self.slack.workspace
        if url.path.startswith("/api/"):
            args = _web_api_args(url.query, raw, content_type)
            answer = dispatch(ws, url.path.removeprefix("/api/"), args, _token(req, args))
        elif url.path.startswith("/response/"):
            answer = handle_response_url(ws, unquote(url.path.removeprefix("/response/")), raw, content_type)
        else:
            answer = Answer(404, {"ok": False, "error": "no_such_path", "path": url.path})
        return _http_response(answer, req.full_url)


class _RefuseHTTPS(urllib.request.HTTPSHandler):
    """Takes the place of urllib's HTTPS handler: Slack's real host (or any https URL) is out of bounds here."""

    def https_open(self, req: urllib.request.Request) -> urllib.response.addinfourl:  # type: ignore[override]
        raise urllib.error.URLError(f"in-process Slack tests make no network calls (asked for {req.full_url})")


@contextmanager
def answer_in_process(slack: LocalSlack) -> Iterator[LocalSlack]:
    """While open, every urllib request (WebClient, respond()) to LocalSlack's host is answered in-process.

    `slack` must not be started: a started LocalSlack gives out its real http://127.0.0.1 URL instead.
    """
    if slack.workspace.base_url != f"http://{LOCAL_HOST}":
        raise RuntimeError(f"answer_in_process needs an unstarted LocalSlack, not one at {slack.workspace.base_url}")
    handler = InProcessSlackHandler(slack)
    # An empty ProxyHandler: a developer's HTTP(S)_PROXY must not reroute these requests.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), handler, _RefuseHTTPS())
    urllib.request.install_opener(opener)
    try:
        yield slack
    finally:
        urllib.request.install_opener(None)  # None: urlopen builds its default opener again


def api_url(slack: LocalSlack) -> str:
    """The base_url to give the bot's WebClient."""
    return f"{slack.workspace.base_url}/api/"


# ---------------------------------------------------------------- requests into the bot


def signed_request(
    body: str, secret: str, *, timestamp: int, content_type: str = FORM, signature: str | None = None
) -> BoltRequest:
    """A BoltRequest as Slack sends it: the body with X-Slack-Request-Timestamp and a v0 X-Slack-Signature.

    `signature` replaces the computed one (to test refusals).
    """
    headers = {"Content-Type": content_type, **sign_request(secret, body, timestamp)}
    if signature is not None:
        headers["X-Slack-Signature"] = signature
    return BoltRequest(body=body, headers={name: [value] for name, value in headers.items()}, mode="http")


class SlackUser:
    """Builds what Slack would send when this person acts, with real trigger_ids and response_urls."""

    def __init__(self, slack: LocalSlack, user_id: str) -> None:
        self.slack = slack
        self.user_id = user_id

    def slash_command(self, text: str, *, channel_id: str, command: str = "/incident") -> str:
        """The form-encoded body of `/incident <text>` typed in `channel_id`."""
        ws = self.slack.workspace
        with ws.lock:
            user, channel = ws.user(self.user_id), ws.channel(channel_id)
            trigger = ws.issue_trigger(self.user_id)
            target = ws.issue_response_url(self.user_id, channel.id)
            fields = slash_command_fields(
                self.slack.identity,
                user_id=user.id,
                user_name=user.name,
                channel_id=channel.id,
                channel_name=channel.name,
                command=command,
                text=text,
                trigger_id=trigger.id,
                response_url=ws.response_url(target),
            )
        return form_body(fields).decode()

    def click_button(self, channel_id: str, message_ts: str, action_id: str) -> str:
        """The body of a click on a button of a message as the workspace holds it now."""
        ws = self.slack.workspace
        with ws.lock:
            user, channel = ws.user(self.user_id), ws.channel(channel_id)
            message = ws.find_message(channel.id, message_ts)
            if message is None:
                raise LookupError(f"no message {message_ts} in {channel_id}")
            block_id, element = find_element(message.blocks, action_id, None)
            trigger = ws.issue_trigger(self.user_id)
            target = ws.issue_response_url(self.user_id, channel.id, message_ts)
            payload = block_actions_payload(
                self.slack.identity,
                user=user.payload_user(ws.team_id),
                action=button_action(block_id, element, ws.next_ts()),
                trigger_id=trigger.id,
                container={"type": "message", "message_ts": message_ts, "channel_id": channel.id},
                channel={"id": channel.id, "name": channel.name},
                message=message.to_slack(ws.team_id),
                response_url=ws.response_url(target),
            )
        return interactive_body(payload).decode()

    def submit_view(self, view: View, values: Mapping[str, Mapping[str, Any]]) -> str:
        """The body of submitting an open modal with `{block_id: {action_id: value}}` filled in.

        Unlike Slack's client this submits an empty required input too (the bot must refuse it anyway).
        """
        ws = self.slack.workspace
        with ws.lock:
            user = ws.user(self.user_id)
            view.state_values = build_state_values(view.blocks, values, strict=False)
            payload = view_submission_payload(
                self.slack.identity,
                user=user.payload_user(ws.team_id),
                view=view.to_slack(ws.team_id, ws.app_id, ws.bot_id),
                trigger_id=ws.issue_trigger(self.user_id).id,
            )
        return interactive_body(payload).decode()


def dispatch_signed(app: App, body: str, secret: str, *, timestamp: int) -> BoltResponse:
    """Sign `body` and hand it to the Bolt app, as the HTTP adapter would."""
    return app.dispatch(signed_request(body, secret, timestamp=timestamp))


def json_body(response: BoltResponse) -> dict[str, Any]:
    """The bot's answer to Slack, decoded."""
    decoded = json.loads(response.body)
    assert isinstance(decoded, dict), response.body
    return decoded


# ---------------------------------------------------------------- internals


def _web_api_args(query: str, raw: bytes, content_type: str) -> dict[str, Any]:
    """A Web API call's arguments from the query string and the body, as localslack's HTTP route reads them."""
    args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    if not raw:
        return args
    if content_type.startswith("application/json"):
        args.update(json.loads(raw))
    elif content_type.startswith("multipart/form-data"):
        args.update(parse_multipart(raw, content_type))
    else:
        args.update(parse_qsl(raw.decode(), keep_blank_values=True))
    return args


def _token(req: urllib.request.Request, args: Mapping[str, Any]) -> str | None:
    header = req.get_header("Authorization") or ""
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    token = args.get("token")
    return str(token) if token else None


def _http_response(answer: Answer, url: str) -> urllib.response.addinfourl:
    """Answer as urllib's response object (urllib's error processor turns non-2xx into HTTPError, as on the wire)."""
    if isinstance(answer.body, dict):
        payload, media_type = json.dumps(answer.body).encode(), "application/json"
    else:
        payload, media_type = answer.body.encode(), answer.media_type
    headers = HTTPMessage()
    headers["Content-Type"] = f"{media_type}; charset=utf-8"
    for name, value in answer.headers.items():
        headers[name] = value
    response = urllib.response.addinfourl(io.BytesIO(payload), headers, url, answer.status)
    response.msg = "OK" if answer.status < 400 else "Error"  # type: ignore[attr-defined]
    return response
