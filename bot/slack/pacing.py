"""Slack's documented rate limits as token buckets: one per Web API method for the workspace, and one per channel for
chat.postMessage; a 429's Retry-After closes the bucket it names (that method, or that method in that channel) and
nothing else."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bot.common.limits import FILES_PER_UPLOAD_MAX


@dataclass(frozen=True)
class Limit:
    """A sustained rate and how many calls may go at once after a quiet spell."""

    per_minute: float
    burst: float


# Slack's tiers, per method per workspace (https://docs.slack.dev/apis/web-api/rate-limits): Tier 2 "20+ per minute",
# Tier 3 "50+ per minute, sporadic bursts are welcome", Tier 4 "100+ per minute, generous burst behavior". A burst of
# half a minute's quota keeps any 60 s window under 1.5x the floor Slack documents; a 429 beyond that is still
# handled (its Retry-After closes the method).
TIER_2 = Limit(per_minute=20, burst=10)
TIER_3 = Limit(per_minute=50, burst=25)
TIER_4 = Limit(per_minute=100, burst=50)
# chat.postMessage is a "special tier": about one message per second per channel with short bursts (the rate-limits
# page's "Posting messages: 1 per second, short bursts >1 allowed"), under a workspace-wide limit the method's
# reference page puts at "several hundred messages per minute".
POST_WORKSPACE = Limit(per_minute=300, burst=60)
POST_BURST = 3
# Of chat.update's Tier 3 burst (25), what background card edits leave for the edits a person waits for that go by
# chat.update: a command's (`/incident ack`), or a click's whose response_url did not take it (a click's edit
# normally goes through its response_url, outside this bucket).
EDIT_RESERVE = 10

# Each method's tier, as its reference page (https://docs.slack.dev/reference/methods/<method>) lists it.
METHOD_LIMITS: dict[str, Limit] = {
    "chat.postMessage": POST_WORKSPACE,
    "chat.update": TIER_3,
    "chat.delete": TIER_3,
    "chat.postEphemeral": TIER_4,
    "conversations.open": TIER_3,
    "conversations.history": TIER_3,
    "conversations.replies": TIER_3,
    "conversations.list": TIER_2,
    "views.open": TIER_4,
    "views.update": TIER_4,
    "views.push": TIER_4,
    "views.publish": TIER_4,
    "files.getUploadURLExternal": TIER_4,
    "files.completeUploadExternal": TIER_4,
}
# A method missing from the table is held to Tier 2, which the rate-limits page calls the floor of "most methods".
DEFAULT_LIMIT = TIER_2
# Methods Slack limits per channel as well as per workspace.
PER_CHANNEL = frozenset({"chat.postMessage"})
# A POST to a click's response_url (replace_original) is no Web API method and under no tier: Slack takes up to five
# per URL within 30 minutes of the click (https://docs.slack.dev/interactivity/handling-user-interaction). The
# outbox sends each one once at most, so the lane has no bucket.
RESPOND = "response_url"
UNPACED = frozenset({RESPOND})
# slack_sdk's files_upload_v2 is several calls: an upload URL per file, then one completion. Its file count is known
# only once the call is built, so it is counted as the most one upload carries.
UPLOAD = "files_upload_v2"


@dataclass
class _Bucket:
    capacity: float
    per_second: float
    tokens: float
    at: float
    closed_until: float = field(default=float("-inf"))

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.at) * self.per_second)
        self.at = max(self.at, now)

    def wait(self, now: float, cost: float) -> float:
        """Seconds until `cost` tokens are there and the bucket is open (0: now)."""
        closed = max(0.0, self.closed_until - now)
        short = max(0.0, cost - self.tokens)
        refill = short / self.per_second if self.per_second > 0 else (0.0 if short == 0 else float("inf"))
        return max(closed, refill)


Key = tuple[str, str | None]


class Pacer:
    """Token buckets for the outbox's Slack calls; thread-safe, driven by an injected clock (seconds)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        post_interval: float = 1.0,
        post_burst: int = POST_BURST,
        limits: dict[str, Limit] | None = None,
    ) -> None:
        self._clock = clock
        # 0 turns per-channel pacing of posts off (the tests' setting); the workspace-wide tiers still hold.
        self._post_interval = post_interval
        self._post_burst = post_burst
        self._limits = METHOD_LIMITS if limits is None else limits
        self._buckets: dict[Key, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, method: str, channel: str, *, cost: int = 1, reserve: float = 0.0) -> float:
        """Take what one call of `method` to `channel` costs and return 0, or take nothing and return the wait.

        `reserve`: tokens the call must leave in the method's workspace bucket. Background edits (a card refreshed
        after a page, a storm's counts) leave room there for the edit a person's click is waiting to see.
        """
        if method in UNPACED:
            return 0.0
        with self._lock:
            now = self._clock()
            needs = [
                (self._bucket(key, now), amount, reserve if key[1] is None else 0.0)
                for key, amount in self._costs(method, channel, cost)
            ]
            for bucket, _, _ in needs:
                bucket.refill(now)
            wait = max((bucket.wait(now, amount + kept) for bucket, amount, kept in needs), default=0.0)
            if wait > 0:
                return wait
            for bucket, amount, _ in needs:
                bucket.tokens -= amount
            return 0.0

    def rate_limited(self, method: str, channel: str, seconds: float) -> None:
        """Slack answered 429: close `method` (in `channel`, for a per-channel method) for `seconds`."""
        key: Key = (method, channel) if method in PER_CHANNEL else (method, None)
        with self._lock:
            now = self._clock()
            bucket = self._bucket(key, now)
            bucket.closed_until = max(bucket.closed_until, now + seconds)

    def _costs(self, method: str, channel: str, cost: int) -> Iterable[tuple[Key, float]]:
        if method == UPLOAD:
            yield ("files.getUploadURLExternal", None), FILES_PER_UPLOAD_MAX * cost
            yield ("files.completeUploadExternal", None), cost
            return
        yield (method, None), cost
        if method in PER_CHANNEL:
            yield (method, channel), cost

    def _bucket(self, key: Key, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            method, channel = key
            if channel is None:
                limit = self._limits.get(method, DEFAULT_LIMIT)
                capacity, per_second = limit.burst, limit.per_minute / 60
            elif self._post_interval > 0:
                capacity, per_second = float(self._post_burst), 1 / self._post_interval
            else:
                capacity, per_second = float("inf"), 0.0
            bucket = self._buckets[key] = _Bucket(capacity=capacity, per_second=per_second, tokens=capacity, at=now)
        return bucket


__all__ = [
    "EDIT_RESERVE",
    "METHOD_LIMITS",
    "PER_CHANNEL",
    "POST_BURST",
    "RESPOND",
    "TIER_2",
    "TIER_3",
    "TIER_4",
    "UNPACED",
    "UPLOAD",
    "Limit",
    "Pacer",
]
