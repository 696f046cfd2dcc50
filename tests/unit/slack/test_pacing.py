"""The outbox's token buckets on a fake clock: posts paced per channel with a short burst, edits by their workspace tier
only, and a 429 closing just the method (and channel) it names."""

from __future__ import annotations

import pytest

from bot.common.limits import FILES_PER_UPLOAD_MAX
from bot.slack.calls import CALLS
from bot.slack.pacing import METHOD_LIMITS, POST_BURST, TIER_3, TIER_4, UPLOAD, Limit, Pacer

GENERAL, ONCALL = "C0GENERAL", "C0ONCALL"


class FakeClock:
    """Seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def burst(pacer: Pacer, method: str, channel: str, attempts: int) -> list[float]:
    """What each of `attempts` calls in the same instant is told to wait (0: it goes)."""
    return [pacer.acquire(method, channel) for _ in range(attempts)]


def test_burst_of_posts_to_one_channel_is_paced_to_one_a_second(clock: FakeClock) -> None:
    pacer = Pacer(clock=clock, post_interval=1.0)
    waits = burst(pacer, "chat.postMessage", GENERAL, POST_BURST + 2)
    assert waits[:POST_BURST] == [0.0] * POST_BURST  # a short burst goes at once
    assert waits[POST_BURST:] == [pytest.approx(1.0)] * 2  # then one a second
    clock.advance(0.5)
    assert pacer.acquire("chat.postMessage", GENERAL) == pytest.approx(0.5)
    clock.advance(0.5)
    assert pacer.acquire("chat.postMessage", GENERAL) == 0.0
    assert pacer.acquire("chat.postMessage", GENERAL) == pytest.approx(1.0)


def test_a_busy_channel_leaves_other_channels_their_own_posts(clock: FakeClock) -> None:
    pacer = Pacer(clock=clock, post_interval=1.0)
    burst(pacer, "chat.postMessage", GENERAL, POST_BURST + 5)
    assert burst(pacer, "chat.postMessage", ONCALL, POST_BURST) == [0.0] * POST_BURST


def test_updates_are_not_paced_per_channel_only_by_their_tier(clock: FakeClock) -> None:
    pacer = Pacer(clock=clock, post_interval=1.0)
    burst(pacer, "chat.postMessage", GENERAL, POST_BURST + 5)  # the channel's posts are held back
    limit = METHOD_LIMITS["chat.update"]
    assert limit == TIER_3
    waits = burst(pacer, "chat.update", GENERAL, int(limit.burst) + 1)
    assert waits[:-1] == [0.0] * int(limit.burst)
    # Past the burst, Tier 3's 50 a minute workspace-wide: the next in 60/50 s.
    assert waits[-1] == pytest.approx(60 / limit.per_minute)
    assert pacer.acquire("chat.update", ONCALL) == pytest.approx(60 / limit.per_minute)  # the tier is shared


def test_posts_share_a_workspace_limit_across_channels(clock: FakeClock) -> None:
    limits = {**METHOD_LIMITS, "chat.postMessage": Limit(per_minute=60, burst=4)}
    pacer = Pacer(clock=clock, post_interval=1.0, limits=limits)
    assert burst(pacer, "chat.postMessage", GENERAL, 2) == [0.0, 0.0]
    assert burst(pacer, "chat.postMessage", ONCALL, 2) == [0.0, 0.0]
    assert pacer.acquire("chat.postMessage", "C0THIRD") == pytest.approx(1.0)


def test_no_post_interval_leaves_only_the_workspace_limits(clock: FakeClock) -> None:
    pacer = Pacer(clock=clock, post_interval=0)
    limit = METHOD_LIMITS["chat.postMessage"]
    assert burst(pacer, "chat.postMessage", GENERAL, int(limit.burst)) == [0.0] * int(limit.burst)
    assert pacer.acquire("chat.postMessage", GENERAL) > 0


def test_429_on_a_post_blocks_that_channel_only(clock: FakeClock) -> None:
    pacer = Pacer(clock=clock, post_interval=1.0)
    pacer.rate_limited("chat.postMessage", GENERAL, 30)
    assert pacer.acquire("chat.postMessage", GENERAL) == pytest.approx(30)
    assert pacer.acquire("chat.postMessage", ONCALL) == 0.0
    assert pacer.acquire("chat.update", GENERAL) == 0.0
    clock.advance(29)
    assert pacer.acquire("chat.postMessage", GENERAL) == pytest.approx(1)
    clock.advance(1)
    assert pacer.acquire("chat.postMessage", GENERAL) == 0.0


def test_429_on_a_tiered_method_blocks_that_method_everywhere_and_nothing_else(clock: FakeClock) -> None:
    pacer = Pacer(clock=clock, post_interval=1.0)
    pacer.rate_limited("chat.update", GENERAL, 10)
    assert pacer.acquire("chat.update", GENERAL) == pytest.approx(10)
    assert pacer.acquire("chat.update", ONCALL) == pytest.approx(10)  # the tier is per workspace
    assert pacer.acquire("chat.postMessage", GENERAL) == 0.0
    assert pacer.acquire("views.update", GENERAL) == 0.0
    clock.advance(10)
    assert pacer.acquire("chat.update", ONCALL) == 0.0


def test_a_refused_call_takes_nothing(clock: FakeClock) -> None:
    limits = {**METHOD_LIMITS, "chat.postMessage": Limit(per_minute=60, burst=1)}
    pacer = Pacer(clock=clock, post_interval=1.0, limits=limits)
    pacer.rate_limited("chat.postMessage", GENERAL, 5)
    assert pacer.acquire("chat.postMessage", GENERAL) == pytest.approx(5)  # refused: the workspace token stays
    assert pacer.acquire("chat.postMessage", ONCALL) == 0.0


def test_an_upload_spends_both_of_its_methods(clock: FakeClock) -> None:
    pacer = Pacer(clock=clock, post_interval=1.0)
    uploads = int(TIER_4.burst) // FILES_PER_UPLOAD_MAX
    assert burst(pacer, UPLOAD, GENERAL, uploads) == [0.0] * uploads
    assert pacer.acquire(UPLOAD, ONCALL) > 0  # out of upload URLs for now
    assert pacer.acquire("files.completeUploadExternal", GENERAL) == 0.0  # completions left over


def test_a_method_missing_from_the_table_gets_tier_2(clock: FakeClock) -> None:
    pacer = Pacer(clock=clock)
    waits = burst(pacer, "reactions.add", GENERAL, 11)
    assert waits[:10] == [0.0] * 10 and waits[10] == pytest.approx(3.0)


@pytest.mark.parametrize("kind", sorted(CALLS))
def test_every_outbox_kind_calls_a_paced_method(kind: str) -> None:
    assert CALLS[kind].method in {*METHOD_LIMITS, UPLOAD}


def test_a_background_edit_leaves_the_reserve_for_a_persons_edit(clock: FakeClock) -> None:
    from bot.slack.pacing import EDIT_RESERVE

    pacer = Pacer(clock=clock)
    background = 0
    while pacer.acquire("chat.update", GENERAL, reserve=EDIT_RESERVE) == 0:
        background += 1
    # The bot's own edits stop with the reserve still in the bucket ...
    assert background == TIER_3.burst - EDIT_RESERVE
    # ... so a click's edit goes at once, as many times as the reserve holds, and only then waits for Slack's pace.
    assert [pacer.acquire("chat.update", ONCALL) for _ in range(EDIT_RESERVE)] == [0.0] * EDIT_RESERVE
    assert pacer.acquire("chat.update", ONCALL) > 0
