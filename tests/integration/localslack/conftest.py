"""Fixtures for localslack's own tests: a fresh fake Slack, a WebClient on it, and a recording bot endpoint."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pytest
from slack_sdk import WebClient
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from localslack import BackgroundServer, LocalSlack, WorkspaceClock

SECRET = "s3cret"
TOKEN = "xoxb-local"
REPORTER, TRIAGER, OUTSIDER = "U_REPORTER", "U_TRIAGER", "U_OUTSIDER"
TRIAGE, PRIVATE, SECRET_ROOM = "C_TRIAGE", "G_PRIVATE", "G_SECRET"
START = 1763942400.0  # 2025-11-24 00:00:00 UTC


@dataclass
class Received:
    """One request the fake bot endpoint got."""

    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        """The Content-Type header."""
        return self.headers.get("content-type", "")

    def form(self) -> dict[str, str]:
        """The body decoded as form fields."""
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    def payload(self) -> dict[str, Any]:
        """The interactivity payload (form field ``payload`` holding JSON)."""
        decoded: dict[str, Any] = json.loads(self.form()["payload"])
        return decoded

    def json(self) -> dict[str, Any]:
        """The body decoded as JSON (Events API)."""
        decoded: dict[str, Any] = json.loads(self.body)
        return decoded


Reply = tuple[int, bytes, str]


@dataclass
class Receiver:
    """A stand-in for the bot's Request URL: records requests and answers from a script."""

    received: list[Received] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    on_request: Callable[[Received], Reply | None] | None = None

    def reply_json(self, body: dict[str, Any], status: int = 200) -> None:
        """Answer the next request with JSON."""
        self.replies.append((status, json.dumps(body).encode(), "application/json"))

    def reply_text(self, text: str, status: int = 200) -> None:
        """Answer the next request with plain text."""
        self.replies.append((status, text.encode(), "text/plain"))

    @property
    def last(self) -> Received:
        """The most recent request."""
        assert self.received, "the bot endpoint received nothing"
        return self.received[-1]

    async def handle(self, request: Request) -> Response:
        """Record the request and answer it."""
        received = Received(headers=dict(request.headers), body=await request.body())
        self.received.append(received)
        reply: Reply | None = None
        if self.on_request is not None:
            reply = await run_in_threadpool(self.on_request, received)
        if reply is None:
            reply = self.replies.pop(0) if self.replies else (200, b"", "text/plain")
        status, body, content_type = reply
        return Response(body, status_code=status, media_type=content_type)


@pytest.fixture
def fake_clock() -> WorkspaceClock:
    """The workspace clock, moved by hand."""
    return WorkspaceClock(START)


@pytest.fixture
def ls(fake_clock: WorkspaceClock) -> Iterator[LocalSlack]:
    """A started fake Slack with three users, a public channel and two private ones."""
    slack = LocalSlack(signing_secret=SECRET, bot_token=TOKEN, clock=fake_clock)
    slack.add_user(REPORTER, name="rita", real_name="Rita Reporter", tz="Europe/London")
    slack.add_user(TRIAGER, name="tom", real_name="Tom Triager", tz="America/Los_Angeles", is_admin=True)
    slack.add_user(OUTSIDER, name="olga", real_name="Olga Outsider")
    slack.add_channel(TRIAGE, name="safety-triage", members=[REPORTER, TRIAGER])
    slack.add_channel(PRIVATE, name="leads", is_private=True, members=[TRIAGER])
    slack.add_channel(SECRET_ROOM, name="no-bots", is_private=True, members=[TRIAGER], bot_member=False)
    with slack:
        yield slack


@pytest.fixture
def web(ls: LocalSlack) -> WebClient:
    """A real slack_sdk WebClient pointed at the fake."""
    return WebClient(token=TOKEN, base_url=ls.api_url)


class ReceiverSwitch:
    """Routes the shared endpoint to the current test's Receiver."""

    def __init__(self) -> None:
        self.current = Receiver()

    async def handle(self, request: Request) -> Response:
        """Hand the request to the current Receiver."""
        return await self.current.handle(request)


@pytest.fixture(scope="session")
def receiver_endpoint() -> Iterator[tuple[ReceiverSwitch, str]]:
    """One bot endpoint server for the whole run (starting and stopping uvicorn costs ~0.2 s)."""
    switch = ReceiverSwitch()
    server = BackgroundServer(Starlette(routes=[Route("/slack/events", switch.handle, methods=["POST"])]))
    server.start()
    yield switch, server.url + "/slack/events"
    server.stop()


@pytest.fixture
def receiver(ls: LocalSlack, receiver_endpoint: tuple[ReceiverSwitch, str]) -> Receiver:
    """A fresh recording bot endpoint, set as the fake's request_url."""
    switch, url = receiver_endpoint
    switch.current = Receiver()
    ls.request_url = url
    return switch.current


def section(text: str, **extra: Any) -> dict[str, Any]:
    """A mrkdwn section block."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def button(action_id: str, value: str, label: str = "Go", **extra: Any) -> dict[str, Any]:
    """A button element."""
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": value,
        **extra,
    }


def text_input(block_id: str, label: str = "Title", *, optional: bool = False, **element: Any) -> dict[str, Any]:
    """An input block holding a plain_text_input with action_id ``value``."""
    return {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": label},
        "optional": optional,
        "element": {"type": "plain_text_input", "action_id": "value", **element},
    }


def modal(title: str = "Report", blocks: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    """A modal view with a submit button."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Send"},
        "blocks": blocks if blocks is not None else [text_input("title")],
        **extra,
    }
