"""How the outbox reads a Web API call that failed: try again later (`Retry`, the outcome known or not), or never
(`Park`, bot/slack/calls.py), and how long to wait before the next attempt."""

from __future__ import annotations

from collections.abc import Callable
from http.client import HTTPException
from typing import TypeVar
from urllib.error import URLError

from slack_sdk.errors import SlackApiError

from bot.slack.calls import Park

T = TypeVar("T")

# Slack errors that retrying cannot fix: the message is parked as failed and the admins are told.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_metadata_format",
        "msg_too_long",
        "no_text",
        "invalid_arguments",
        "not_in_channel",
        "is_archived",
        "cant_update_message",
        "message_not_found",
        "thread_not_found",
        "user_not_found",
        "missing_scope",
        "restricted_action",
    }
)
MAX_BACKOFF_SECONDS = 300


class Retry(Exception):
    """Slack could not take the call now; try again after `delay` seconds (`unknown`: it may have taken it)."""

    def __init__(self, reason: str, delay: float, *, unknown: bool = False) -> None:
        super().__init__(reason)
        self.delay = delay
        self.unknown = unknown


def backoff(attempts: int) -> float:
    """Seconds before the next attempt of a message tried `attempts` times: doubling, at most five minutes."""
    return float(min(2 ** min(attempts, 12), MAX_BACKOFF_SECONDS))


def request(method: str, send: Callable[[], T], *, rate_limited: Callable[[str, float], None]) -> T:
    """Run Web API calls, turning Slack's and the network's failures into Retry (known or not) or Park.

    `rate_limited(method, seconds)` hears of a 429: the method Slack refused, and its Retry-After.
    """
    try:
        return send()
    except SlackApiError as exc:
        status = exc.response.status_code
        error = str(exc.response.get("error") or "") if isinstance(exc.response.data, dict) else ""
        if status == 429:
            retry_after = float(exc.response.headers.get("Retry-After", exc.response.headers.get("retry-after", 1)))
            # The method Slack refused: one call of several (an upload, a look-up) names its own in the URL.
            rate_limited(str(exc.response.api_url or method).rsplit("/", 1)[-1], retry_after)
            raise Retry(f"{method}: rate limited, retry after {retry_after:g}s", retry_after) from None
        if status < 500 and error in PERMANENT_ERRORS:
            raise Park(f"{method}: {error}") from None
        # A 5xx may come after Slack acted on the call.
        raise Retry(f"{method}: HTTP {status} {error or 'error'}", 0, unknown=status >= 500) from None
    except URLError as exc:
        # urllib wraps errors raised while connecting and sending; a refused connection sent nothing.
        sent = isinstance(exc.reason, TimeoutError | ConnectionResetError)
        raise Retry(f"{method}: {type(exc).__name__}: {exc}", 0, unknown=sent) from None
    except (OSError, HTTPException) as exc:
        # Raised while waiting for the answer (a timeout, a reset, a half answer): Slack may have acted.
        raise Retry(f"{method}: {type(exc).__name__}: {exc}", 0, unknown=True) from None
