"""The app factory: the bot from wiring.py, mounted as one ASGI app (Starlette) around the sync Bolt app."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from prometheus_client import CollectorRegistry
from slack_bolt import BoltResponse
from slack_bolt.adapter.starlette.handler import to_starlette_response
from slack_sdk import WebClient
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.app import logs, metrics
from bot.app.admission import busy_answer
from bot.app.config import Settings
from bot.app.listener_process import ListenerGone
from bot.app.slack_edge import SlackRequest, read_slack_request, slack_signature_problem
from bot.app.wiring import Core, OnceApp, build_bolt, build_core, edge_acks
from bot.common.clock import Clock, system_clock
from db.engine import UnitOfWork
from db.migrate import current_revision, head_revision
from db.queues import count_outbox, oldest_outbox
from handlers import webhooks
from handlers.http import BodyTooLarge, error, read_body

log = logging.getLogger(__name__)
# The busy answer, encoded once: under a flood it is most of what the edge sends.
BUSY_BODY = json.dumps(busy_answer()).encode()


class SlackEdge:
    """What /slack/events does with a request it has checked: who answers it, and where its work runs.

    The work always goes to the listener pool (bot/app/admission.py), which runs `dispatch`: this process's Bolt app,
    or, under `tripwire serve`, the listener process (bot/app/listener_process.py) that runs the same app beside it.
    """

    def __init__(self, bolt: OnceApp, *, command: str, process_before_response: bool) -> None:
        self.pool = bolt.listeners
        self._command = command
        self.dispatch: Callable[[SlackRequest], BoltResponse] = lambda request: bolt.dispatch(request.bolt())
        self._answer_first = not process_before_response

    def run_in(self, dispatch: Callable[[SlackRequest], BoltResponse]) -> None:
        """Run every request through `dispatch` from now on (the listener process's)."""
        self.dispatch = dispatch

    async def handle(self, request: SlackRequest) -> Response:
        """Answer at once when the answer says nothing but "received" (the work is queued); else the listener's."""
        body = request.body
        # Only the bot's own command: another (a misconfigured app) goes to Bolt, which answers it 404 where it is seen.
        if self._answer_first and body.get("command") == self._command:
            # Refused at once, visibly, when the pool could not answer the command in time (never a drop).
            if not self.pool.submit_command(self._run_answered, request):
                return Response(BUSY_BODY, media_type="application/json")
            return Response(status_code=200)
        if self._answer_first and not body.get("command") and edge_acks(body):
            self.pool.submit_dispatch(self._run_answered, request)
            return Response(status_code=200)
        # A form's ack carries its fate (errors, the next view): the listener runs first, off the event loop.
        try:
            response = await asyncio.wrap_future(self.pool.submit_dispatch(self.dispatch, request))
        except ListenerGone as exc:
            return error(503, str(exc), "listener")
        return to_starlette_response(response)

    def _run_answered(self, request: SlackRequest) -> None:
        """Run a request Slack was already answered for; what Bolt answers goes nowhere, so a refusal is logged."""
        try:
            response = self.dispatch(request)
        except ListenerGone:
            log.error("the listener process is gone: a request Slack was told was received was not run")
            return
        if response.status >= 300:
            log.warning("a request acked at the edge was answered %d by Bolt", response.status)


@dataclass
class Tripwire(Core):
    """Everything one running bot is made of; tests build one per test."""

    bolt: OnceApp
    edge: SlackEdge
    metrics: CollectorRegistry
    asgi: ASGIApp


def create_app(
    settings: Settings,
    client: WebClient | None = None,
    *,
    clock: Clock = system_clock,
    start_worker: bool = True,
) -> Tripwire:
    """Build the bot once and mount its HTTP routes; with `start_worker` the ASGI lifespan runs its background work."""
    logs.install_request_ids()
    core = build_core(settings, clock=clock, client=client)
    bolt = build_bolt(core)
    edge = SlackEdge(bolt, command=settings.command, process_before_response=settings.process_before_response)
    registry = metrics.build_registry(
        uow=core.uow, timers=core.timers, policies=core.policies, commands_shed=lambda: bolt.listeners.shed
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if not start_worker:
            yield
            return
        with core.running():
            try:
                yield
            finally:
                # Commands the edge acked may still be queued: run them (their answers go out) before the background
                # work stops, rather than drop what a person was told was received.
                await anyio.to_thread.run_sync(edge.pool.shutdown)

    # Slack's Request URL is answered before Starlette's middleware and router: under a flood of commands those layers
    # took about a quarter of the event loop's time per ack. Every request gets its id first.
    routes = Starlette(routes=http_routes(core, registry), lifespan=lifespan)
    asgi = logs.RequestIdMiddleware(SlackFirst(routes, slack_events(core.settings, edge)))
    return Tripwire(**vars(core), bolt=bolt, edge=edge, metrics=registry, asgi=asgi)


def parked(uow: UnitOfWork) -> dict[str, Any]:
    """How many outbox messages are parked (failed for good), and the oldest one's error, for /readyz."""
    with uow() as session:
        count = count_outbox(session=session, status="failed")
        oldest = oldest_outbox(session=session, status="failed")
    if oldest is None:
        return {"parked": count}
    return {
        "parked": count,
        "oldest_parked": {
            "id": oldest.id,
            "kind": oldest.kind,
            "channel": oldest.channel,
            "error": oldest.last_error,
            "created_at": oldest.created_at.isoformat(),
        },
    }


class SlackFirst:
    """POST /slack/events straight to its handler; any other request (and the lifespan) to `app`."""

    def __init__(self, app: ASGIApp, slack_events: Callable[[Request], Awaitable[Response]]) -> None:
        self.app = app
        self.slack_events = slack_events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer Slack here, or pass the request on."""
        if scope["type"] == "http" and scope["path"] == "/slack/events":
            if scope["method"] != "POST":
                response: Response = PlainTextResponse("Method Not Allowed", 405, headers={"Allow": "POST"})
            else:
                response = await self.slack_events(Request(scope, receive))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def slack_events(settings: Settings, edge: SlackEdge) -> Callable[[Request], Awaitable[Response]]:
    """Slack's Request URL: the signature, then the body's shape, then the edge."""

    async def answer(request: Request) -> Response:
        try:
            body = await read_body(request, settings.max_body_bytes)
        except BodyTooLarge:
            return error(413, f"body is over {settings.max_body_bytes} bytes", "body")
        # The signature first, on the raw bytes: nothing unsigned is parsed, dispatched or logged (body included).
        problem = slack_signature_problem(request.headers, body, secret=settings.slack_signing_secret, now=time.time())
        if problem is not None:
            log.warning("refused a request to /slack/events: %s", problem)
            return error(401, problem, "X-Slack-Signature")
        # Slack sends no query string: the parsed one is built only when there is one.
        query = request.query_params if request.scope["query_string"] else {}
        slack_request, malformed = read_slack_request(body, request.headers, query)
        if slack_request is None:
            log.warning("refused a signed request to /slack/events: %s", malformed)
            return error(400, str(malformed), "body")
        return await edge.handle(slack_request)

    return answer


def http_routes(core: Core, registry: CollectorRegistry) -> list[Route]:
    """Health, readiness, metrics and the pipeline webhooks (Slack's Request URL is `SlackFirst`'s)."""
    settings, engine = core.settings, core.engine

    async def healthz(_: Request) -> Response:
        return JSONResponse({"ok": True})

    async def metrics_endpoint(_: Request) -> Response:
        # The collector reads the database, so the scrape runs off the event loop.
        body = await anyio.to_thread.run_sync(metrics.render, registry)
        return Response(body, media_type=metrics.CONTENT_TYPE)

    async def readyz(_: Request) -> Response:
        def check() -> tuple[bool, dict[str, Any]]:
            try:
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                current, head = current_revision(engine), head_revision()
            except Exception as exc:  # a broken database is exactly what this endpoint reports
                return False, {"database": f"unreachable: {type(exc).__name__}"}
            # Parked messages are shown, not judged: readiness stays about the database (another replica may help).
            return current == head, {"database": "ok", "schema": current, "expected": head, **parked(core.uow)}

        ok, details = await anyio.to_thread.run_sync(check)
        return JSONResponse({"ok": ok, **details}, status_code=200 if ok else 503)

    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        *webhooks.routes(ingest=core.ingest, settings=settings),
    ]
