"""HTTP plumbing shared by the Slack endpoint and the webhooks: bounded bodies and JSON errors."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse


class BodyTooLarge(Exception):
    """The request body is over the configured limit."""


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


def error(status: int, message: str, field: str | None = None) -> JSONResponse:
    """The one error shape every endpoint answers with: {"error", "field"}."""
    return JSONResponse({"error": message, "field": field}, status_code=status)
