"""Build the bot once: storage, the Slack clients, the services, the background work and the Bolt app.

The CLI's one-shot commands use `build_core` alone; `create_app` (asgi.py) adds the Bolt app and the HTTP routes.
Whatever serves the bot — uvicorn's lifespan, Socket Mode, `tripwire dev` — starts and stops the background work
through `Core.start_background` / `Core.stop_background` (or `Core.running()`), and nowhere else.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.ack import Ack
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy import Engine

from bot.app.admission import COMMAND, STATE, ListenerPool, priority
from bot.app.config import Settings
from bot.app.jobs import build_scheduler
from bot.app.leader import Leader
from bot.common.clock import Clock, system_clock
from bot.digest.service import DigestService
from bot.incidents.service import IncidentService
from bot.incidents.timers import TimerService
from bot.ingest.committer import GroupCommitter
from bot.ingest.service import IngestService
from bot.ingest.worker import TriageWorker
from bot.policy.store import PolicyStore
from bot.slack.digest_messages import SlackDigestRenderer
from bot.slack.ids import ActionId
from bot.slack.outbox import Outbox
from db import idempotency
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
    committer: GroupCommitter
    triage: TriageWorker
    timers: TimerService
    digests: DigestService
    leader: Leader
    scheduler: BackgroundScheduler

    def start_background(self) -> None:
        """Start the outbox and triage workers and the scheduler (timers, policy reload, digests); twice is harmless."""
        self.outbox.start()
        self.triage.start()
        if not self.scheduler.running:
            self.scheduler.start()

    def stop_background(self) -> None:
        """Stop the scheduler, store what is queued, stop the triage and outbox workers, give up the digest lead."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        # Requests already answered or waiting are stored; the triage worker finishes its batch (the rest waits in the
        # database for the next start), and the outbox sends what that batch queued if it can before it stops.
        self.committer.stop()
        self.triage.stop()
        self.outbox.stop()
        # No job runs any more, so the lock can go now rather than when the process exits: another replica leads.
        self.leader.release()

    def purge_expired_keys(self) -> int:
        """Delete the idempotency keys whose window has passed (the scheduler's housekeeping job)."""
        with self.uow() as session:
            return idempotency.purge_expired(session=session, now=self.incidents.now())

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
    # The outbox handles 429 itself (it reschedules instead of sleeping), and it must not resend a post whose answer
    # was lost (slack_sdk's default handler does, on a reset connection): its client retries nothing.
    outbox_client = WebClient(token=client.token, base_url=client.base_url, timeout=15, retry_handlers=[])
    return client, outbox_client


def build_core(settings: Settings, *, clock: Clock = system_clock, client: WebClient | None = None) -> Core:
    """Migrate the database, load the policy and wire the services and their scheduler; nothing is started."""
    engine = make_engine(settings.database_url)
    upgrade(engine)
    uow = UnitOfWork(engine)
    client, outbox_client = slack_clients(settings, client)
    policies = PolicyStore(path=settings.policy_path or None, uow=uow, clock=clock)
    outbox = Outbox(
        uow=uow,
        client=outbox_client,
        clock=clock,
        channel_interval=settings.channel_interval_seconds,
        admins=lambda: policies.current.admins,
        snooze_forbidden=lambda: policies.current.snooze.forbidden_levels,
    )
    incidents = IncidentService(
        uow=uow,
        clock=clock,
        policies=policies,
        triage_channel=settings.triage_channel,
        on_commit=outbox.wake,
        express=outbox.express,
    )
    triage = TriageWorker(
        uow=uow,
        clock=clock,
        policies=policies,
        triage_channel=settings.triage_channel,
        card_throttle=timedelta(seconds=settings.card_throttle_seconds),
        on_commit=outbox.wake,
    )
    committer = GroupCommitter(uow=uow, on_commit=triage.wake)
    ingest = IngestService(
        uow=uow, clock=clock, policies=policies, incidents=incidents, committer=committer, worker=triage
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
        housekeeping=lambda: core.purge_expired_keys(),
    )
    core = Core(
        settings=settings,
        engine=engine,
        uow=uow,
        client=client,
        outbox=outbox,
        policies=policies,
        incidents=incidents,
        ingest=ingest,
        committer=committer,
        triage=triage,
        timers=timers,
        digests=digests,
        leader=leader,
        scheduler=scheduler,
    )
    return core


# The incident card's buttons, whose second click would act again (a second escalation). Snooze is not here: it
# only opens a form (a person who closed it may open it again), and the snooze itself is the form's submission,
# keyed by view id and hash. The digest buttons are not here either: a digest is published once by its own state,
# and a second click is told so.
CARD_VERBS = frozenset(
    verb.value for verb in (ActionId.ACKNOWLEDGE, ActionId.ESCALATE, ActionId.RESOLVE, ActionId.REOPEN)
)
# Slack retries an event for a few minutes and signatures are fresh for five: a key outlives both.
IDEMPOTENCY_WINDOW = timedelta(minutes=10)
# Acks never wait on this pool, so its size only paces the work, and every thread here competes with the event loop
# (which acks) for the GIL. `python -m bench --only commands` on 100,000 incidents (SQLite, 2 shared cores, one run
# each): ack p99 at 50 connections 645 ms with 8 threads, 187 ms with 4, 90 ms with 2. 4, not 2: a listener also
# waits on Slack (a response_url POST is ~100 ms away, not 1 ms as locally), and a waiting thread holds no GIL.
LISTENER_THREADS = 4
# A slash command is refused at once (busy, try again) when its answer is not expected within this. A second, not the
# half second issue 11 aims at: a person would rather wait a second than be told to retry, and `/incident new` still
# opens its form well within Slack's 3 s trigger_id (the estimate runs low under overload). Only a flood refuses:
# at one command at a time on 100,000 incidents none is.
COMMAND_ANSWER_BUDGET_SECONDS = 1.0


class KeptAck(Ack):
    """An ack that, once given, stays given.

    When a listener fails after acking, Bolt's runner for listeners that run after the answer (the production mode)
    sets the ack back to None, and if it had not yet read the ack it answers Slack 404 for a request that was handled.
    """

    def __init__(self) -> None:
        self._given: BoltResponse | None = None
        super().__init__()  # type: ignore[no-untyped-call]

    @property
    def response(self) -> BoltResponse | None:
        """The answer given, if any."""
        return self._given

    @response.setter
    def response(self, value: BoltResponse | None) -> None:
        if value is not None or self._given is None:
            self._given = value


class OnceApp(App):
    """Bolt's App, dispatching each request with its idempotency keys declared (see `request_keys`).

    Around dispatch rather than in a middleware: Bolt runs its middleware one after another and the listener after
    all of them, so only this wraps the listener (and the executor carries the keys into its thread).
    """

    def __init__(self, *, clock: Clock, listeners: ListenerPool, **kwargs: Any) -> None:
        super().__init__(listener_executor=listeners, **kwargs)
        self._clock = clock
        self.listeners = listeners

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        """Run the request; its first unit of work claims its keys with its effect (db/idempotency.py)."""
        body = req.body if isinstance(req.body, dict) else {}
        keys = request_keys(body, signature=(req.headers.get("x-slack-signature") or [""])[0])
        # A command's listener queues behind every state change (a click, a form, an event) already waiting.
        level = COMMAND if body.get("command") else STATE
        with idempotency.once(keys, now=self._clock(), ttl=IDEMPOTENCY_WINDOW), priority(level):
            response = super().dispatch(req)
        given = req.context.ack.response if req.context.ack is not None else None
        if given is not None and response.status >= 500:
            # Acked, then the listener failed on Bolt's pool (a repeat, a bug): while it fails, Bolt's runner briefly
            # holds a 500 it may return instead of the ack. The request was received; the person is told (errors.py).
            return given
        return response


def build_bolt(core: Core) -> OnceApp:
    """The Bolt app with every listener registered and the services injected; HTTP and Socket Mode both serve it."""
    token = core.client.token

    def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        # One workspace and one token: nothing to look up, so no auth.test at request time and a report is still
        # stored (its card queued) while Slack is down. bot_user_id stays unknown: Bolt then cannot drop the bot's
        # own events, and Tripwire listens to none (app_home_opened comes from people).
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    # The listeners' client without its token: `authorize` supplies it per request (a client with a token makes Bolt
    # warn at every start that the token is ignored).
    listener_client = WebClient(
        base_url=core.client.base_url, timeout=core.client.timeout, retry_handlers=core.client.retry_handlers
    )
    bolt = OnceApp(
        clock=core.incidents.now,
        client=listener_client,
        signing_secret=core.settings.slack_signing_secret,
        process_before_response=core.settings.process_before_response,
        authorize=authorize,
        listeners=ListenerPool(
            threads=LISTENER_THREADS,
            budget_seconds=COMMAND_ANSWER_BUDGET_SECONDS,
            thread_name_prefix="tripwire-listener",
        ),
    )

    # /slack/events checks every signature before Bolt sees the request (bot/app/slack_edge.py); Bolt checks again,
    # and would log the body of whatever it refused (at INFO): a stranger's text, or a late genuine restricted title.
    logging.getLogger("slack_bolt.RequestVerification").setLevel(logging.WARNING)

    @bolt.middleware
    def inject_services(body: dict[str, Any], context: BoltContext, next: Callable[[], Any]) -> None:
        ack = context["ack"] = KeptAck()
        if acks_empty(body):
            # Acked here, in the thread reading the request: Bolt would wait (up to 3 s, then answer 404) until a
            # listener thread is free to run the listener's own ack(), which becomes a repeat.
            ack()
        context["incidents"] = core.incidents
        context["settings"] = core.settings
        context["policies"] = core.policies
        context["digests"] = core.digests
        next()

    register_all(bolt, command=core.settings.command)
    return bolt


def acks_empty(body: dict[str, Any]) -> bool:
    """Whether the request's ack can say nothing but "received": slash commands, button clicks and shortcuts.

    A form submission's ack carries the form's fate (errors, the next view), so its listener must run first; events
    Bolt acks by itself before running their listener.
    """
    return bool(body.get("command")) or body.get("type") in ("block_actions", "shortcut", "message_action")


def edge_acks(body: dict[str, Any]) -> bool:
    """Whether the HTTP edge answers Slack itself, before any work: what `acks_empty` says, and events (Bolt acks
    every event with an empty 200 whatever its listener does)."""
    return acks_empty(body) or body.get("type") == "event_callback"


def request_keys(body: dict[str, Any], *, signature: str) -> list[str]:
    """What makes a Slack request a repeat: its signature (a replay), and what it acts on (a retry, a second click)."""
    keys = [_key("request", signature)] if signature else []
    kind = body.get("type")
    if kind == "event_callback" and body.get("event_id"):
        # Slack signs each retry afresh; the event id stays.
        keys.append(_key("event", body["event_id"]))
    elif kind == "view_submission":
        view = body.get("view") or {}
        # The hash changes whenever the view is updated: a second submission of the same form carries the same one.
        keys.append(_key("view", view.get("id"), view.get("hash")))
    elif kind == "block_actions":
        for action in (body.get("actions") or [])[:1]:
            if action.get("action_id") not in CARD_VERBS:
                continue
            # One person's two clicks on a message as it was (the card, a page DM, which send the same verbs) are one
            # click; once the message changes, a click acts again.
            shown = body.get("message") or body.get("view") or {}
            state = shown.get("hash") or json.dumps(shown.get("blocks"), sort_keys=True, default=str)
            container = body.get("container") or {}
            where = container.get("message_ts") or container.get("view_id")
            user = (body.get("user") or {}).get("id")
            keys.append(_key("action", user, action.get("action_id"), action.get("value"), where, state))
    return keys


def _key(kind: str, *parts: object) -> str:
    digest = hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()
    return f"{kind}:{digest}"
