"""Signatures on pipeline webhooks: `v1=<hex hmac_sha256(secret, "v1:<ts>:<body>")>`, like Slack's v0."""

from __future__ import annotations

import hashlib
import hmac

from bot.common.errors import TripwireError

WINDOW_SECONDS = 300


class SignatureError(TripwireError):
    """The request is not signed with the shared secret, or too long ago."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for a body sent at `timestamp`."""
    base = f"v1:{timestamp}:".encode() + body
    return "v1=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, *, timestamp: str | None, signature: str | None, now: float) -> None:
    """Raise SignatureError unless the signature matches and the timestamp is within five minutes of `now`."""
    if not secret:
        raise SignatureError("this server has no TRIPWIRE_WEBHOOK_SECRET, so it accepts no signed webhooks")
    if not timestamp or not signature:
        raise SignatureError("missing X-Tripwire-Timestamp or X-Tripwire-Signature")
    try:
        sent = int(timestamp)
    except ValueError:
        raise SignatureError("X-Tripwire-Timestamp is not a unix time") from None
    if abs(now - sent) > WINDOW_SECONDS:
        raise SignatureError("X-Tripwire-Timestamp is more than five minutes away from the server's clock")
    if not hmac.compare_digest(sign(secret, body, sent), signature):
        raise SignatureError("signature does not match the body")
