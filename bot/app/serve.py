"""`tripwire serve`: the same bot over HTTP (uvicorn) or Socket Mode, with the same background work in both."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol

from slack_bolt import App

from bot.app.asgi import create_app
from bot.app.config import Settings


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
UVICORN: dict[str, Any] = {"http": "httptools", "log_level": "info"}


def serve_http(settings: Settings, *, host: str, port: int) -> None:
    """Serve over HTTP until uvicorn stops; its lifespan starts and stops the background work."""
    import uvicorn

    settings.require_http()
    # The event loop answers Slack's acks while listener threads work: hand the GIL over every 1 ms, not every 5 ms,
    # so an ack waits less behind a listener that is rendering or reading rows.
    sys.setswitchinterval(0.001)
    uvicorn.run(create_app(settings).asgi, host=host, port=port, access_log=settings.access_log, **UVICORN)


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
