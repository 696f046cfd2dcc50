"""Pipeline webhooks: generic eval results, Inspect logs, Alertmanager. Parse, ingest, answer."""

from __future__ import annotations

import asyncio
import hmac
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.common.errors import InvalidInput
from bot.ingest.alertmanager import parse_alertmanager
from bot.ingest.committer import StoreFailed
from bot.ingest.generic import parse_eval_payload
from bot.ingest.inspect_log import LogTooLarge, read_inspect_log
from bot.ingest.service import IngestOutcome, IngestService
from bot.ingest.signing import SignatureError, verify
from bot.policy.triage import Result
from handlers.http import BodyTooLarge, error, read_body

Endpoint = Callable[[Request], Awaitable[Response]]


class WebhookSettings(Protocol):
    """What the webhooks need from the settings (bot.app.config.Settings has it): limits and shared secrets."""

    @property
    def max_body_bytes(self) -> int: ...

    @property
    def max_log_bytes(self) -> int: ...

    @property
    def webhook_secret(self) -> str: ...

    @property
    def alertmanager_token(self) -> str: ...


def routes(*, ingest: IngestService, settings: WebhookSettings) -> list[Route]:
    """The three webhook routes."""

    async def signed_body(request: Request) -> bytes:
        body = await read_body(request, settings.max_body_bytes)
        verify(
            settings.webhook_secret,
            body,
            timestamp=request.headers.get("x-tripwire-timestamp"),
            signature=request.headers.get("x-tripwire-signature"),
            now=time.time(),
        )
        return body

    async def store(request: Request, parse: Callable[[], list[Result]]) -> IngestOutcome:
        # ?wait=1: triage in the request and name the incidents; otherwise answer once stored (the worker triages).
        wait = request.query_params.get("wait") == "1"
        # One thread hop parses and decides; the group commit's future is awaited on the loop, no thread held.
        stored = await anyio.to_thread.run_sync(lambda: ingest.submit(parse(), hold=wait))
        outcome = await asyncio.wrap_future(stored)
        if wait:
            outcome = await anyio.to_thread.run_sync(ingest.finish, outcome)
        return outcome

    async def accept(request: Request, parse: Callable[[], list[Result]]) -> Response:
        outcome = await store(request, parse)
        return JSONResponse(outcome.as_json(), status_code=202)

    async def handle_eval_hook(request: Request) -> Response:
        body = await signed_body(request)
        return await accept(request, lambda: parse_eval_payload(body, received_at=ingest.now()))

    async def handle_inspect_hook(request: Request) -> Response:
        body = await signed_body(request)

        def parse() -> list[Result]:
            # Inspect's reader wants a file; .eval logs are zip archives (they start with "PK").
            suffix = ".eval" if body[:2] == b"PK" else ".json"
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / f"upload{suffix}"
                path.write_bytes(body)
                return read_inspect_log(path, received_at=ingest.now(), max_bytes=settings.max_log_bytes)

        return await accept(request, parse)

    async def handle_alertmanager_hook(request: Request) -> Response:
        expected = settings.alertmanager_token
        given = request.headers.get("authorization", "")
        if not expected:
            return error(401, "this server has no TRIPWIRE_ALERTMANAGER_TOKEN, so it accepts no Alertmanager webhooks")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            return error(401, "missing or wrong bearer token", "Authorization")
        body = await read_body(request, settings.max_body_bytes)
        batch = await anyio.to_thread.run_sync(lambda: parse_alertmanager(body, received_at=ingest.now()))
        outcome = await store(request, lambda: batch.firing)
        # Firings of these fingerprints still waiting for the worker are triaged first, then resolved.
        resolved = await anyio.to_thread.run_sync(ingest.resolve_alerts, [key.fingerprint for key in batch.resolved])
        return JSONResponse({**outcome.as_json(), "resolved": resolved}, status_code=202)

    def guarded(endpoint: Endpoint) -> Endpoint:
        async def run(request: Request) -> Response:
            try:
                return await endpoint(request)
            except BodyTooLarge:
                return error(413, f"body is over {settings.max_body_bytes} bytes", "body")
            except SignatureError as exc:
                return error(401, str(exc), "X-Tripwire-Signature")
            except LogTooLarge as exc:
                return error(413, str(exc), exc.field)
            except InvalidInput as exc:
                return error(400, str(exc), exc.field)
            except StoreFailed as exc:
                # Nothing of the batch was stored: a sender that retries loses nothing (a repeat is a duplicate).
                return error(503, f"{exc}, retry", None)

        return run

    return [
        Route("/hooks/eval", guarded(handle_eval_hook), methods=["POST"]),
        Route("/hooks/inspect", guarded(handle_inspect_hook), methods=["POST"]),
        Route("/hooks/alertmanager", guarded(handle_alertmanager_hook), methods=["POST"]),
    ]
