"""A real slack_bolt app against localslack: Bolt verifies the signatures and parses every payload."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from slack_bolt import Ack, App, Respond
from slack_bolt.adapter.starlette import SlackRequestHandler
from slack_sdk import WebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from localslack import BackgroundServer, LocalSlack

from .conftest import REPORTER, SECRET, TOKEN, TRIAGE, TRIAGER, button, modal, section, text_input


def build_bolt_app(client: WebClient) -> App:
    """A miniature incident bot: /incident opens a form, the form posts a card, the card's button answers."""
    app = App(signing_secret=SECRET, client=client, process_before_response=True)

    @app.command("/incident")
    def open_form(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.views_open(
            trigger_id=body["trigger_id"],
            view=modal(
                "Report", blocks=[text_input("title")], callback_id="report", private_metadata=body["channel_id"]
            ),
        )

    @app.view("report")
    def submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        title = view["state"]["values"]["title"]["value"]["value"]
        if len(title) < 5:
            ack(response_action="errors", errors={"title": "Say a bit more"})
            return
        ack()
        client.chat_postMessage(
            channel=view["private_metadata"],
            text=title,
            blocks=[section(title), {"type": "actions", "elements": [button("ack", "1", "Acknowledge")]}],
        )

    @app.action("ack")
    def acknowledged(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ack()
        message = body["message"]
        client.chat_update(channel=body["channel"]["id"], ts=message["ts"], text=f"acked by {body['user']['id']}")
        respond(text="You acknowledged it", response_type="ephemeral", replace_original=False)

    @app.event("app_home_opened")
    def home(event: dict[str, Any], client: WebClient) -> None:
        client.views_publish(
            user_id=event["user"], view={"type": "home", "blocks": [section(f"Hello <@{event['user']}>")]}
        )

    return app


@pytest.fixture
def bolt(ls: LocalSlack) -> Iterator[App]:
    """The Bolt app on its own port, set as localslack's request_url."""
    app = build_bolt_app(WebClient(token=TOKEN, base_url=ls.api_url))
    handler = SlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    server = BackgroundServer(Starlette(routes=[Route("/slack/events", events, methods=["POST"])]))
    server.start()
    ls.request_url = server.url + "/slack/events"
    yield app
    server.stop()


def test_bolt_checked_its_token_against_auth_test(ls: LocalSlack, bolt: App) -> None:
    assert [(c.method, c.ok) for c in ls.calls] == [("auth.test", True)]


def test_a_whole_incident_round_trip_through_bolt(ls: LocalSlack, bolt: App) -> None:
    assert ls.slash_command(REPORTER, "new", channel_id=TRIAGE).status_code == 200
    [form] = ls.open_views(REPORTER)
    assert (form.callback_id, form.private_metadata) == ("report", TRIAGE)

    assert ls.submit_view(REPORTER, form.id, {"title": {"value": "bad"}}).status_code == 200
    [still_open] = ls.open_views(REPORTER)
    assert still_open.errors == {"title": "Say a bit more"}

    ls.submit_view(REPORTER, form.id, {"title": {"value": "Model leaked a key"}})
    assert ls.open_views(REPORTER) == []
    [posted] = ls.messages(TRIAGE)
    assert posted.text == "Model leaked a key"

    assert ls.click_button(TRIAGER, TRIAGE, posted.ts, "ack").status_code == 200
    updated = ls.message(TRIAGE, posted.ts)
    assert (updated.text, updated.edited) == (f"acked by {TRIAGER}", True)
    assert [e.text for e in ls.ephemerals(TRIAGER)] == ["You acknowledged it"]
    assert [c.method for c in ls.calls] == ["auth.test", "views.open", "chat.postMessage", "chat.update"]
    assert [p.ok for p in ls.response_posts] == [True]


def test_app_home_opened_reaches_bolt_as_an_event(ls: LocalSlack, bolt: App) -> None:
    assert ls.app_home_opened(REPORTER).status_code == 200
    home = ls.home_view(REPORTER)
    assert home is not None and home.blocks[0]["text"]["text"] == f"Hello <@{REPORTER}>"


def test_bolt_refuses_a_stale_or_forged_delivery(ls: LocalSlack, bolt: App) -> None:
    assert ls.slash_command(REPORTER, "new", channel_id=TRIAGE, timestamp=int(time.time()) - 600).status_code == 401
    ls.signing_secret = "not-the-secret"
    assert ls.slash_command(REPORTER, "new", channel_id=TRIAGE).status_code == 401
    assert ls.open_views(REPORTER) == []
