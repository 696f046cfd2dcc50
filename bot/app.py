"""The app factory: one ASGI app (Starlette) around the sync Bolt app, the services, and the outbox worker."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from slack_bolt import App, BoltContext
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.incidents import IncidentService
from bot.outbox import Outbox
from db.engine import UnitOfWork, make_engine
from db.migrate import current_revision, head_revision, upgrade
from handlers import register_all

log = logging.getLogger(__name__)


class BodyTooLarge(Exception):
    """The request body is over the configured limit."""


@dataclass
class Tripwire:
    """Everything one running bot is made of; tests build one per test."""

    settings: Settings
    engine: Engine
    uow: UnitOfWork
    bolt: App
    incidents: IncidentService
    outbox: Outbox
    asgi: Starlette


async def read_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing it as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    settings: Settings,
    client: WebClient | None = None,
    *,
    clock: Clock = system_clock,
    start_worker: bool = True,
) -> Tripwire:
    """Build the bot: migrate the database, wire services into Bolt, and mount the HTTP routes."""
    engine = make_engine(settings.database_url)
    upgrade(engine)
    uow = UnitOfWork(engine)
    if client is None:
        client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    # The outbox handles 429 itself (it reschedules instead of sleeping), so it gets a client without that handler.
    outbox_client = WebClient(token=client.token, base_url=client.base_url, timeout=15)
    outbox = Outbox(uow=uow, client=outbox_client, clock=clock, channel_interval=settings.channel_interval_seconds)
    incidents = IncidentService(uow=uow, clock=clock, triage_channel=settings.triage_channel, on_commit=outbox.wake)

    bolt = App(
        client=client,
        signing_secret=settings.slack_signing_secret,
        process_before_response=settings.process_before_response,
        token_verification_enabled=False,
    )

    @bolt.middleware
    def inject_services(context: BoltContext, next: Callable[[], Any]) -> None:
        context["incidents"] = incidents
        context["settings"] = settings
        next()

    register_all(bolt, command=settings.command)

    async def slack_events(request: Request) -> Response:
        try:
            body = await read_body(request, settings.max_body_bytes)
        except BodyTooLarge:
            return JSONResponse({"error": "body too large", "field": None}, status_code=413)
        bolt_request = to_bolt_request(request, body)
        # Bolt's App is synchronous: run it off the event loop so one slow listener blocks nobody else.
        bolt_response = await anyio.to_thread.run_sync(bolt.dispatch, bolt_request)
        return to_starlette_response(bolt_response)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"ok": True})

    async def readyz(_: Request) -> Response:
        def check() -> tuple[bool, dict[str, Any]]:
            try:
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                current, head = current_revision(engine), head_revision()
            except Exception as exc:  # a broken database is exactly what this endpoint reports
                return False, {"database": f"unreachable: {type(exc).__name__}"}
            return current == head, {"database": "ok", "schema": current, "expected": head}

        ok, details = await anyio.to_thread.run_sync(check)
        return JSONResponse({"ok": ok, **details}, status_code=200 if ok else 503)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if start_worker:
            outbox.start()
        try:
            yield
        finally:
            outbox.stop()

    asgi = Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
    )
    return Tripwire(settings=settings, engine=engine, uow=uow, bolt=bolt, incidents=incidents, outbox=outbox, asgi=asgi)
