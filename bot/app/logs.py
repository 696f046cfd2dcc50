"""Log lines that say which request made them: a request id on every record, set while an HTTP request runs."""

from __future__ import annotations

import itertools
import logging
import secrets
from contextvars import ContextVar
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# "-" outside a request (the outbox worker, the scheduler, the CLI).
REQUEST_ID: ContextVar[str] = ContextVar("tripwire_request_id", default="-")
FORMAT = "%(asctime)s %(levelname)s %(name)s request_id=%(request_id)s: %(message)s"

_installed = False
# A request id: this process's random prefix and a count (unique across replicas and restarts in practice; cheaper
# than a random id per request, which was a twentieth of an ack's time under a flood).
_PREFIX = secrets.token_hex(4)
_numbers = itertools.count(1)


def install_request_ids() -> None:
    """Stamp `request_id` on every log record from now on (once per process), whatever logger or handler."""
    global _installed
    if _installed:
        return
    _installed = True
    # A record factory rather than a handler filter: records reach pytest's caplog and any handler added later.
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = REQUEST_ID.get()
        return record

    logging.setLogRecordFactory(factory)


class RequestIdMiddleware:
    """Give every HTTP request an id: on each log line made while it is handled, and in the X-Request-Id header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request with its id set."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"{_PREFIX}{next(_numbers):08x}"
        token = REQUEST_ID.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("X-Request-Id", request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
