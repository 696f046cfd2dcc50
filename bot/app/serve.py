"""`tripwire serve`: the same bot over HTTP (uvicorn) or Socket Mode, with the same background work in both."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol

from slack_bolt import App

from bot.app.asgi import create_app
from bot.app.config import Settings
from bot.app.listener_process import ListenerProcess

log = logging.getLogger(__name__)


class SocketModeConnection(Protocol):
    """What the serve loop needs of a Socket Mode handler (Bolt's SocketModeHandler, or a fake in tests)."""

    def connect(self) -> None:
        """Open the connection and start receiving envelopes without blocking."""

    def close(self) -> None:
        """Disconnect and release the connection's resources."""


SocketModeFactory = Callable[[App, str], SocketModeConnection]


def bolt_socket_mode(app: App, app_token: str) -> SocketModeConnection:
    """Bolt's built-in Socket Mode handler for `app`."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler: SocketModeConnection = SocketModeHandler(app, app_token)
    return handler


# httptools (C) parses HTTP instead of h11 (pure Python), which took about as long as the ack itself under load.
# bench/minimal.py, the ingest baseline, serves with the same options.
# No proxy-headers middleware: nothing reads the client's address, and it cost about a tenth of each ack's time.
UVICORN: dict[str, Any] = {"http": "httptools", "log_level": "info", "proxy_headers": False}


def serve_http(settings: Settings, *, host: str, port: int) -> None:
    """Serve over HTTP until uvicorn stops; its lifespan starts and stops the background work."""
    import uvicorn

    settings.require_http()
    # The event loop answers Slack's acks while the outbox and triage threads work: hand the GIL over every 1 ms, not
    # every 5 ms, so an ack waits less behind them.
    sys.setswitchinterval(0.001)
    tripwire = create_app(settings)
    # Slack requests run in a second process (bot/app/listener_process.py), forked before any thread starts.
    listeners = ListenerProcess.fork(
        bolt=tripwire.bolt,
        pool=tripwire.edge.pool,
        engine=tripwire.engine,
        policies=tripwire.policies,
        outbox=tripwire.outbox,
    )
    tripwire.edge.run_in(listeners.dispatch)
    server = uvicorn.Server(
        uvicorn.Config(tripwire.asgi, host=host, port=port, access_log=settings.access_log, **UVICORN)
    )
    died: list[str] = []

    def stop_serving(how: str) -> None:
        # Crash-only: serve stops as on SIGTERM (what it accepted is answered or refused), exits 1, and is started
        # again by whatever runs it.
        log.critical("the listener process %d %s; stopping", listeners.pid, how)
        died.append(how)
        server.should_exit = True

    watcher = listeners.watch(stop_serving)
    try:
        server.run()
    finally:
        listeners.close()
        watcher.join(timeout=30)
    if died:
        raise SystemExit(f"tripwire serve stopped: the listener process {died[0]}")


def serve_socket_mode(
    settings: Settings,
    *,
    stop: threading.Event,
    connect: SocketModeFactory = bolt_socket_mode,
) -> None:
    """Serve over Socket Mode until `stop` is set, with the background work running the whole time."""
    settings.require_socket_mode()
    tripwire = create_app(settings)
    try:
        with tripwire.running():
            connection = connect(tripwire.bolt, settings.slack_app_token)
            connection.connect()
            try:
                stop.wait()
            finally:
                # Disconnect first, so no new envelope arrives while the background work winds down.
                connection.close()
    finally:
        tripwire.engine.dispose()
