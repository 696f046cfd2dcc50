"""The services without any Slack listener or HTTP route: shared by the server and the CLI."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import timedelta

from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.app.config import Settings
from bot.common.clock import Clock, system_clock
from bot.digest.service import DigestService
from bot.incidents.service import IncidentService
from bot.incidents.timers import TimerService
from bot.ingest.service import IngestService
from bot.policy.store import PolicyStore
from bot.slack.outbox import Outbox
from db.engine import UnitOfWork, make_engine
from db.migrate import upgrade


@dataclass
class Core:
    """Storage, the active policy, and the services that work on them."""

    settings: Settings
    engine: Engine
    uow: UnitOfWork
    outbox: Outbox
    policies: PolicyStore
    incidents: IncidentService
    ingest: IngestService
    timers: TimerService
    digests: DigestService


def build_core(settings: Settings, *, clock: Clock = system_clock, client: WebClient | None = None) -> Core:
    """Migrate the database, load the policy and wire the services; nothing is started."""
    engine = make_engine(settings.database_url)
    upgrade(engine)
    uow = UnitOfWork(engine)
    token = client.token if client is not None else settings.slack_bot_token
    base_url = client.base_url if client is not None else settings.slack_api_url
    # The outbox handles 429 itself (it reschedules instead of sleeping), so its client has no rate-limit retry.
    outbox = Outbox(
        uow=uow,
        client=WebClient(token=token, base_url=base_url, timeout=15),
        clock=clock,
        channel_interval=settings.channel_interval_seconds,
    )
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
    digests = DigestService(uow=uow, clock=clock, policies=policies)
    return Core(
        settings=settings,
        engine=engine,
        uow=uow,
        outbox=outbox,
        policies=policies,
        incidents=incidents,
        ingest=ingest,
        timers=timers,
        digests=digests,
    )
