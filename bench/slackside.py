"""What people and Slack see: command acks and answers, click -> card edit, and storms, against `tripwire serve`.

Slash commands go through wrk (ack latency, p50/p99 from --latency) and through the clicker process (when the
answer arrived). Clicks need real cards: crossing results are posted first and their cards read from the local
Slack's call log. Storms count the Slack calls the bot made once it settles.
"""

from __future__ import annotations

import contextlib
import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from bench.ingest import TS_HEADERS, signed
from bench.procs import (
    ROOT,
    WEBHOOK_SECRET,
    Server,
    WrkRun,
    drop_database,
    fresh_database,
    poll,
    run_wrk,
    tripwire_stack,
)
from bench.seed import seed_incidents
from bot.ingest.signing import sign
from db.engine import normalise_url

SLACK_HEADERS = ("X-Slack-Request-Timestamp", "X-Slack-Signature")
LEVELS = (1, 10, 50)
# Pacing between two outbox posts to one channel: 0, so a storm of 1,000 cards in one channel is not 1,000 s of
# one-per-second waiting. Slack's per-method limits (bot/slack/pacing.py) still apply. Stated in the results.
CHANNEL_INTERVAL = "0"
TRIAGE_CHANNEL = "C0TRIAGE"
# The 1,000-key storm runs at Slack's pace (one post a second per channel, the bot's default): its cards take about
# a quarter of an hour to arrive in one channel. The phase watches them for this long, then accounts for every key
# from the database: delivered (at the local Slack), still queued in the outbox, or lost (the figure that must be 0).
STORM_WAIT = 240
# While a second one-key storm is triaged, a new crossing result (its own key) every PROBE_EVERY seconds: how long
# from its 202 to its card at the local Slack. 2.5 s apart, so the probes' cards and thread lines together stay under
# Slack's one post a second per channel (the bot's default pacing in this phase) and time the storm, not the pacing.
PROBES = 10
PROBE_EVERY = 2.5


def calls(slack: Server, since: int = 0) -> list[dict[str, Any]]:
    """The local Slack's Web API call log after seq `since`."""
    found: list[dict[str, Any]] = httpx.get(f"{slack.url}/bench/calls", params={"since": since}, timeout=60).json()
    return found


def cards(slack: Server, since: int = 0) -> list[dict[str, Any]]:
    """Incident cards posted: top-level chat.postMessage with blocks in the triage channel, where the test policy
    routes the alert level the benchmarks send (the digest drafted at start goes to the review channel)."""
    return [
        call
        for call in calls(slack, since)
        if call["method"] == "chat.postMessage"
        and call["ok"]
        and call["has_blocks"]
        and not call["thread_ts"]
        and call["channel"] == TRIAGE_CHANNEL
    ]


def post_signed(bot: Server, results: list[dict[str, Any]], *, wait: bool) -> None:
    """One signed /hooks/eval request; raises unless accepted."""
    body = json.dumps({"results": results}).encode()
    now = int(time.time())
    signature = sign(WEBHOOK_SECRET, body, now)
    answer = httpx.post(
        f"{bot.url}/hooks/eval" + ("?wait=1" if wait else ""),
        content=body,
        headers={"Content-Type": "application/json", TS_HEADERS[0]: str(now), TS_HEADERS[1]: signature},
        timeout=120,
    )
    answer.raise_for_status()


def crossing(tag: str, family: str, i: int, value: float = 0.60) -> dict[str, Any]:
    """A result on the alert line of cyber.ctf (routes to the triage channel)."""
    return {
        "source": "inspect",
        "model": family,
        "task": "ctf_web",
        "metric": "accuracy",
        "value": value,
        "run_id": f"{tag}-{i}",
    }


def clicker(slack: Server, bot: Server, mode: str, concurrency: int, items: list[Any]) -> dict[str, Any]:
    """Run the clicker process once and return its figures."""
    command = [sys.executable, "-m", "bench.clicker", mode, "--slack", slack.url, "--bot", bot.url]
    command += ["--concurrency", str(concurrency), "--items", json.dumps(items)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=True)
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def command_texts(count: int, incidents: int, rng: random.Random) -> list[str]:
    """A mix of the read commands people run most."""
    picks = ("list", "show", "oncall", "list all", "show")
    texts = []
    for i in range(count):
        pick = picks[i % len(picks)]
        texts.append(f"show INC-{rng.randint(1, incidents)}" if pick == "show" else pick)
    return texts


def measure_commands(slack: Server, bot: Server, sizes: dict[int, int], incidents: int, folder: Path) -> dict[str, Any]:
    """Ack latency with wrk, then answer latency with the clicker, at each concurrency."""
    rng = random.Random(5)
    out: dict[str, Any] = {}
    for level in LEVELS:
        texts = command_texts(sizes[level], incidents, rng)
        lines = httpx.post(
            f"{slack.url}/bench/commands", json={"user": "U0TRIAGER", "channel": "C0TRIAGE", "texts": texts}, timeout=60
        ).json()
        run = run_wrk(
            bot.url,
            lines,
            path="/slack/events",
            content_type="application/x-www-form-urlencoded",
            headers=SLACK_HEADERS,
            connections=level,
            folder=folder,
        )
        # The flood's commands the bot took are still being answered: the people below start once it is quiet.
        settle(slack, 0, quiet=1.0, limit=120, log="responses")
        answered = clicker(slack, bot, "commands", level, command_texts(max(level, sizes[level] // 4), incidents, rng))
        out[str(level)] = {"wrk": run.as_json(), "client": answered}
    return out


def make_cards(slack: Server, bot: Server, count: int) -> list[list[str]]:
    """Open `count` incidents with cards (one crossing result per new model family) and return [channel, ts]."""
    since = len(calls(slack))
    families = [f"click-{k:04d}" for k in range(count)]
    for start in range(0, count, 100):
        chunk = families[start : start + 100]
        post_signed(bot, [crossing("click", family, start + i) for i, family in enumerate(chunk)], wait=True)
    poll(lambda: len(cards(slack, since)) >= count, 300, f"{count} cards at the local Slack", every=0.5)
    return [[card["channel"], card["response_ts"]] for card in cards(slack, since)[:count]]


def measure_clicks(slack: Server, bot: Server, sizes: dict[int, int]) -> dict[str, Any]:
    """Click -> card edit at each concurrency, each card clicked once."""
    deck = make_cards(slack, bot, sum(sizes[level] for level in LEVELS))
    out: dict[str, Any] = {}
    for level in LEVELS:
        # Start each level from a quiet outbox, so a click is timed, not the backlog of opening the cards.
        settle(slack, 0, quiet=5.0, limit=900)
        hand, deck = deck[: sizes[level]], deck[sizes[level] :]
        out[str(level)] = clicker(slack, bot, "clicks", level, hand)
    return out


def commands_and_clicks(
    engine: str, incidents: int, sizes: dict[int, int], clicks: dict[int, int], what: set[str], folder: Path
) -> dict[str, Any]:
    """Seed `incidents`, start the stack once, then measure commands and/or clicks on it."""
    database_url = fresh_database(engine, folder, f"bench_commands_{engine}")
    try:
        started = time.perf_counter()
        seed_incidents(database_url, incidents)
        out: dict[str, Any] = {"incidents": incidents, "seed_seconds": time.perf_counter() - started}
        with tripwire_stack(folder, database_url, TRIPWIRE_CHANNEL_INTERVAL=CHANNEL_INTERVAL) as (slack, bot):
            if "commands" in what:
                out["commands"] = measure_commands(slack, bot, sizes, incidents, folder)
            if "clicks" in what:
                out["clicks"] = measure_clicks(slack, bot, clicks)
        return out
    finally:
        drop_database(database_url)


def settle(slack: Server, since: int, quiet: float, limit: float, log: str = "calls") -> int:
    """Wait until the local Slack's log (Web API `calls`, or response_url POSTs: `responses`) has not grown for
    `quiet` seconds (at most `limit`); return the entries since."""
    seen, changed = -1, time.monotonic()

    def is_quiet() -> bool:
        nonlocal seen, changed
        count = len(httpx.get(f"{slack.url}/bench/{log}", params={"since": since}, timeout=60).json())
        if count != seen:
            seen, changed = count, time.monotonic()
            return False
        return time.monotonic() - changed >= quiet

    # Past `limit` the log is still growing: the caller counts what is there (the storm reports what is queued).
    with contextlib.suppress(TimeoutError):
        poll(is_quiet, limit, "the local Slack to go quiet", every=0.25)
    return seen


def post_storm(bot: Server, bodies: list[list[str]], folder: Path) -> WrkRun:
    """wrk (8 connections) sending each pre-signed storm body once to /hooks/eval."""
    return run_wrk(
        bot.url,
        bodies,
        path="/hooks/eval",
        content_type="application/json",
        headers=TS_HEADERS,
        connections=8,
        folder=folder,
    )


def storm(engine: str, one_key: int, many_keys: int, folder: Path) -> dict[str, Any]:
    """`one_key` crossing results for one dedup key, then `many_keys` keys: Slack calls and cards."""
    database_url = fresh_database(engine, folder, f"bench_storm_{engine}")
    try:
        with tripwire_stack(folder, database_url, TRIPWIRE_CHANNEL_INTERVAL="1") as (slack, bot):
            # What the bot does at start (the set-up check, a digest for a missed slot) is not the storm's doing.
            since = settle(slack, 0, quiet=3.0, limit=60)
            lines = signed(
                [
                    {"results": [crossing("storm", "storm-model", r * 100 + k) for k in range(100)]}
                    for r in range(one_key // 100)
                ]
            )
            started = time.perf_counter()
            run = post_storm(bot, lines, folder)
            settle(slack, since, quiet=12.0, limit=300)
            # The outbox's auth.test (once per process, for permalinks) is not the storm's doing.
            storm_calls = [c for c in calls(slack, since) if c["method"] != "auth.test"]
            one = {
                "results": run.requests * 100,
                "seconds": time.perf_counter() - started,
                "slack_calls": len(storm_calls),
                "cards": len(cards(slack, since)),
                "by_method": _by_method(storm_calls),
            }
            since = len(calls(slack))
            probe = probe_storm(slack, bot, database_url, one_key, folder)
            since = settle(slack, 0, quiet=5.0, limit=300)
            families = [f"storm-{k:04d}" for k in range(many_keys)]
            bodies = signed(
                [
                    {"results": [crossing("keys", f, start + i) for i, f in enumerate(families[start : start + 10])]}
                    for start in range(0, many_keys, 10)
                ]
            )
            started = time.perf_counter()
            post_storm(bot, bodies, folder)
            wall_start = time.time() - (time.perf_counter() - started)
            # Cards not there when the watch ends are accounted for below, not raised: the count is the point.
            with contextlib.suppress(TimeoutError):
                poll(lambda: len(cards(slack, since)) >= many_keys, STORM_WAIT, f"{many_keys} cards", every=0.5)
            posted = cards(slack, since)
            delivered = len({c["response_ts"] for c in posted})
            last = max((c["at"] for c in posted), default=wall_start)
            opened, queued = storm_accounts(database_url)
            many = {
                "keys": many_keys,
                "incidents": opened - 2 - PROBES,  # less the one-key storms' incidents and the probes'
                "cards": delivered,
                "queued": queued,
                "lost": many_keys - delivered - queued,
                "watched_s": STORM_WAIT,
                "cards_per_s": delivered / max(last - wall_start, 1e-9),
                "seconds_to_last_card": last - wall_start,
            }
        return {"one_key": one, "probe": probe, "many_keys": many}
    finally:
        drop_database(database_url)


def probe_storm(slack: Server, bot: Server, database_url: str, one_key: int, folder: Path) -> dict[str, Any]:
    """Another `one_key` storm for one key, and meanwhile a probe crossing (a key of its own) every PROBE_EVERY s:
    seconds from each probe's 202 to its card's chat.postMessage at the local Slack (wall clocks of one machine)."""
    since = len(calls(slack))
    lines = signed(
        [
            {"results": [crossing("storm2", "storm2-model", r * 100 + k) for k in range(100)]}
            for r in range(one_key // 100)
        ]
    )
    answered: dict[str, float] = {}

    def send_probes() -> None:
        # An open loop: probe k goes PROBE_EVERY * k seconds after the first, however long the ones before took.
        start, tick = time.monotonic(), threading.Event()
        for k in range(PROBES):
            tick.wait(max(0.0, start + k * PROBE_EVERY - time.monotonic()))
            family = f"probe-{k:02d}"
            post_signed(bot, [crossing("probe", family, k)], wait=False)
            answered[family] = time.time()

    prober = threading.Thread(target=send_probes, name="bench-probes")
    prober.start()
    post_storm(bot, lines, folder)
    prober.join()
    with contextlib.suppress(TimeoutError):
        poll(lambda: len(probe_cards(database_url)) >= PROBES, 120, f"{PROBES} probe cards", every=0.5)
    posted = {c["response_ts"]: c["at"] for c in cards(slack, since)}
    delays = sorted(
        posted[ts] - answered[family]
        for family, ts in probe_cards(database_url).items()
        if ts in posted and family in answered
    )
    return {
        "probes": PROBES,
        "every_s": PROBE_EVERY,
        "storm_results": one_key,
        "cards": len(delays),
        "p50_s": delays[len(delays) // 2] if delays else None,
        "p95_s": delays[min(len(delays) - 1, int(len(delays) * 0.95))] if delays else None,
        "max_s": delays[-1] if delays else None,
    }


def probe_cards(database_url: str) -> dict[str, str]:
    """The probes' incidents that have a card: model family -> card ts."""
    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT model, card_ts FROM incident WHERE model LIKE 'probe-%' AND card_ts IS NOT NULL")
            ).all()
    finally:
        engine.dispose()
    return {str(model): str(ts) for model, ts in rows}


def storm_accounts(database_url: str) -> tuple[int, int]:
    """Incidents in the storm's database, and incident cards still queued (not yet sent) in its outbox."""
    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as connection:
            opened = connection.execute(text("SELECT count(*) FROM incident")).scalar_one()
            queued = connection.execute(
                text("SELECT count(*) FROM outbox_message WHERE kind = 'card.post' AND status <> 'sent'")
            ).scalar_one()
    finally:
        engine.dispose()
    return int(opened), int(queued)


def _by_method(found: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for call in found:
        counts[call["method"]] = counts.get(call["method"], 0) + 1
    return counts
