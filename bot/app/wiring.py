"""Build the bot once: storage, the Slack clients, the services, the background work and the Bolt app.

The CLI's one-shot commands use `build_core` alone; `create_app` (asgi.py) adds the Bolt app and the HTTP routes.
Whatever serves the bot — uvicorn's lifespan, Socket Mode, `tripwire dev` — starts and stops the background work
through `Core.start_background` / `Core.stop_background` (or `Core.running()`), and nowhere else.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy import Engine

from bot.app.config import Settings
from bot.app.jobs import build_scheduler
from bot.app.leader import Leader
from bot.common.clock import Clock, system_clock
from bot.digest.service import DigestService
from bot.incidents.service import IncidentService
from bot.incidents.timers import TimerService
from bot.ingest.service import IngestService
from bot.policy.store import PolicyStore
from bot.slack.digest_messages import SlackDigestRenderer
from bot.slack.outbox import Outbox
from db.engine import UnitOfWork, make_engine
from db.migrate import upgrade
from handlers import register_all


@dataclass
class Core:
    """Storage, the active policy, the services that work on them, and their background work (not started)."""

    settings: Settings
    engine: Engine
    uow: UnitOfWork
    client: WebClient
    outbox: Outbox
    policies: PolicyStore
    incidents: IncidentService
    ingest: IngestService
    timers: TimerService
    digests: DigestService
    leader: Leader
    scheduler: BackgroundScheduler

    def start_background(self) -> None:
        """Start the outbox worker and the scheduler (timers, policy reload, digests); starting twice is harmless."""
        self.outbox.start()
        if not self.scheduler.running:
            self.scheduler.start()

    def stop_background(self) -> None:
        """Stop the scheduler (waiting for running jobs), then the outbox worker, then give up the digest lead."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.outbox.stop()
        # No job runs any more, so the lock can go now rather than when the process exits: another replica leads.
        self.leader.release()

    @contextmanager
    def running(self) -> Iterator[None]:
        """Run the background work for the duration of the block."""
        self.start_background()
        try:
            yield
        finally:
            self.stop_background()


def slack_clients(settings: Settings, client: WebClient | None) -> tuple[WebClient, WebClient]:
    """The listeners' Web API client (given, or from the settings) and the outbox's own client to the same API."""
    if client is None:
        client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    # A listener answering a person may wait out one 429; everything else goes through the outbox.
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    # The outbox handles 429 itself (it reschedules instead of sleeping), so its client has no rate-limit retry.
    outbox_client = WebClient(token=client.token, base_url=client.base_url, timeout=15)
    return client, outbox_client


def build_core(settings: Settings, *, clock: Clock = system_clock, client: WebClient | None = None) -> Core:
    """Migrate the database, load the policy and wire the services and their scheduler; nothing is started."""
    engine = make_engine(settings.database_url)
    upgrade(engine)
    uow = UnitOfWork(engine)
    client, outbox_client = slack_clients(settings, client)
    outbox = Outbox(uow=uow, client=outbox_client, clock=clock, channel_interval=settings.channel_interval_seconds)
    policies = PolicyStore(path=settings.policy_path or None, uow=uow, clock=clock)
    incidents = IncidentService(
        uow=uow, clock=clock, policies=policies, triage_channel=settings.triage_channel, on_commit=outbox.wake
    )
    ingest = IngestService(
        uow=uow,
        clock=clock,
        policies=policies,
        incidents=incidents,
        triage_channel=settings.triage_channel,
        card_throttle=timedelta(seconds=settings.card_throttle_seconds),
        on_commit=outbox.wake,
    )
    timers = TimerService(
        uow=uow,
        clock=clock,
        policies=policies,
        worker_id=f"{socket.gethostname()}:{os.getpid()}",
        on_commit=outbox.wake,
    )
    digests = DigestService(uow=uow, clock=clock, policies=policies, renderer=SlackDigestRenderer())
    leader = Leader(engine)
    scheduler = build_scheduler(
        timers=timers,
        policies=policies,
        digests=digests,
        leader=leader,
        timer_seconds=settings.timer_interval_seconds,
        policy_seconds=settings.policy_reload_seconds,
    )
    return Core(
        settings=settings,
        engine=engine,
        uow=uow,
        client=client,
        outbox=outbox,
        policies=policies,
        incidents=incidents,
        ingest=ingest,
        timers=timers,
        digests=digests,
        leader=leader,
        scheduler=scheduler,
    )


def build_bolt(core: Core) -> App:
    """The Bolt app with every listener registered and the services injected; HTTP and Socket Mode both serve it."""
    bolt = App(
        client=core.client,
        signing_secret=core.settings.slack_signing_secret,
        process_before_response=core.settings.process_before_response,
        token_verification_enabled=False,
    )

    @bolt.middleware
    def inject_services(context: BoltContext, next: Callable[[], Any]) -> None:
        context["incidents"] = core.incidents
        context["settings"] = core.settings
        context["policies"] = core.policies
        context["digests"] = core.digests
        next()

    register_all(bolt, command=core.settings.command)
    return bolt
