"""The app factory: the bot from wiring.py, mounted as one ASGI app (Starlette) around the sync Bolt app."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from prometheus_client import CollectorRegistry
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk import WebClient
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.app import logs, metrics
from bot.app.admission import busy_answer
from bot.app.config import Settings
from bot.app.slack_edge import slack_body_problem, slack_signature_problem
from bot.app.wiring import Core, OnceApp, acks_empty, build_bolt, build_core
from bot.common.clock import Clock, system_clock
from db.engine import UnitOfWork
from db.migrate import current_revision, head_revision
from db.queues import count_outbox, oldest_outbox
from handlers import webhooks
from handlers.http import BodyTooLarge, error, read_body

log = logging.getLogger(__name__)


@dataclass
class Tripwire(Core):
    """Everything one running bot is made of; tests build one per test."""

    bolt: OnceApp
    metrics: CollectorRegistry
    asgi: Starlette


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
                await anyio.to_thread.run_sync(bolt.listeners.shutdown)

    asgi = Starlette(
        routes=http_routes(core, bolt, registry), lifespan=lifespan, middleware=[Middleware(logs.RequestIdMiddleware)]
    )
    return Tripwire(**vars(core), bolt=bolt, metrics=registry, asgi=asgi)


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


def http_routes(core: Core, bolt: OnceApp, registry: CollectorRegistry) -> list[Route]:
    """Slack's Request URL, health, readiness, metrics and the pipeline webhooks."""
    settings, engine = core.settings, core.engine

    async def slack_events(request: Request) -> Response:
        try:
            body = await read_body(request, settings.max_body_bytes)
        except BodyTooLarge:
            return error(413, f"body is over {settings.max_body_bytes} bytes", "body")
        # The signature first, on the raw bytes: nothing unsigned is parsed, dispatched or logged (body included).
        problem = slack_signature_problem(request.headers, body, secret=settings.slack_signing_secret, now=time.time())
        if problem is not None:
            log.warning("refused a request to /slack/events: %s", problem)
            return error(401, problem, "X-Slack-Signature")
        malformed = slack_body_problem(body, request.headers.get("content-type"))
        if malformed is not None:
            log.warning("refused a signed request to /slack/events: %s", malformed)
            return error(400, malformed, "body")
        bolt_request = to_bolt_request(request, body)
        if not settings.process_before_response and bolt_request.body.get("command") == settings.command:
            # The ack of a slash command says nothing, so it is given here, and the whole dispatch (Bolt's middleware,
            # the listener) runs on the listener pool: no ack waits on another request's work. Unless the pool could
            # not answer in time: then the person is told at once to try again (a refusal they see, never a drop).
            if not bolt.listeners.submit_command(bolt.dispatch_acked, bolt_request):
                return JSONResponse(busy_answer())
            return Response(status_code=200)
        if not settings.process_before_response and acks_empty(bolt_request.body):
            # A click or shortcut is acked by the middleware before any work, and its listener goes to Bolt's pool:
            # dispatching it here costs no I/O, and saves a hop to another thread that competes for the GIL.
            return to_starlette_response(bolt.dispatch(bolt_request))
        # Bolt's App is synchronous: run it off the event loop so one slow listener blocks nobody else.
        bolt_response = await anyio.to_thread.run_sync(bolt.dispatch, bolt_request)
        return to_starlette_response(bolt_response)

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
        Route("/slack/events", slack_events, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        *webhooks.routes(ingest=core.ingest, settings=settings),
    ]
