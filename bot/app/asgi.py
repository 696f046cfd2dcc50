"""The app factory: one ASGI app (Starlette) around the sync Bolt app, the services, and the outbox worker."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from apscheduler.schedulers.background import BackgroundScheduler
from slack_bolt import App, BoltContext
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.app.config import Settings
from bot.app.jobs import build_scheduler
from bot.app.leader import Leader
from bot.app.wiring import Core, build_core
from bot.common.clock import Clock, system_clock
from db.migrate import current_revision, head_revision
from db.repositories import count_incidents_by_status, count_outbox
from handlers import register_all, webhooks
from handlers.http import BodyTooLarge, error, read_body

log = logging.getLogger(__name__)


@dataclass
class Tripwire(Core):
    """Everything one running bot is made of; tests build one per test."""

    bolt: App
    scheduler: BackgroundScheduler
    asgi: Starlette

    def start_background(self) -> None:
        """Start the outbox worker and the scheduler (timers, policy reload)."""
        self.outbox.start()
        if not self.scheduler.running:
            self.scheduler.start()

    def stop_background(self) -> None:
        """Stop the scheduler and the outbox worker."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.outbox.stop()


def create_app(
    settings: Settings,
    client: WebClient | None = None,
    *,
    clock: Clock = system_clock,
    start_worker: bool = True,
) -> Tripwire:
    """Build the bot: migrate the database, wire services into Bolt, and mount the HTTP routes."""
    core = build_core(settings, clock=clock, client=client)
    policies, incidents, ingest, timers = core.policies, core.incidents, core.ingest, core.timers
    engine = core.engine
    if client is None:
        client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    scheduler = build_scheduler(
        timers=timers,
        policies=policies,
        digests=core.digests,
        leader=Leader(engine),
        timer_seconds=settings.timer_interval_seconds,
        policy_seconds=settings.policy_reload_seconds,
    )

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
        context["policies"] = policies
        context["digests"] = core.digests
        next()

    register_all(bolt, command=settings.command)

    async def slack_events(request: Request) -> Response:
        try:
            body = await read_body(request, settings.max_body_bytes)
        except BodyTooLarge:
            return error(413, f"body is over {settings.max_body_bytes} bytes", "body")
        bolt_request = to_bolt_request(request, body)
        # Bolt's App is synchronous: run it off the event loop so one slow listener blocks nobody else.
        bolt_response = await anyio.to_thread.run_sync(bolt.dispatch, bolt_request)
        return to_starlette_response(bolt_response)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"ok": True})

    async def metrics(_: Request) -> Response:
        text_ = await anyio.to_thread.run_sync(lambda: render_metrics(tripwire))
        return PlainTextResponse(text_, media_type="text/plain; version=0.0.4")

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
            tripwire.start_background()
        try:
            yield
        finally:
            tripwire.stop_background()

    asgi = Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            *webhooks.routes(ingest=ingest, settings=settings),
        ],
        lifespan=lifespan,
    )
    tripwire = Tripwire(**vars(core), bolt=bolt, scheduler=scheduler, asgi=asgi)
    return tripwire


def render_metrics(tripwire: Tripwire) -> str:
    """Prometheus text: outbox backlog, incidents by status, timer passes, the policy in force."""
    lines = [
        "# HELP tripwire_timer_passes_total Timer runs by this process.",
        "# TYPE tripwire_timer_passes_total counter",
        f"tripwire_timer_passes_total {tripwire.timers.passes}",
        "# HELP tripwire_outbox_messages Slack outbox messages by status.",
        "# TYPE tripwire_outbox_messages gauge",
    ]
    with tripwire.uow() as session:
        for status in ("pending", "sending", "sent", "failed"):
            lines.append(
                f'tripwire_outbox_messages{{status="{status}"}} {count_outbox(session=session, status=status)}'
            )
        lines += ["# HELP tripwire_incidents Incidents by status.", "# TYPE tripwire_incidents gauge"]
        for status, count in sorted(count_incidents_by_status(session=session).items()):
            lines.append(f'tripwire_incidents{{status="{status}"}} {count}')
    lines += [
        "# TYPE tripwire_policy_info gauge",
        f'tripwire_policy_info{{version="{tripwire.policies.current.version}"}} 1',
    ]
    return "\n".join(lines) + "\n"
