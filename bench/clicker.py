"""`python -m bench.clicker`: a client process timing what a person sees, at a given concurrency.

- commands: signed `/incident` commands straight to the bot; answer latency is when the answer reached the local
  Slack's response_url (or, for an answer given inline, when the HTTP response came back). A command refused at
  once as busy is counted (`shed`), not timed as an answer.
- clicks: Acknowledge on real cards (through the local Slack, as a person clicks); latency is click sent -> the
  card edited at the local Slack, by either path: a POST to the click's response_url replacing the card
  (replace_original), or chat.update of that card. Which path each click's edit took is counted.
Prints one JSON object: latencies in milliseconds (p50, p95, p99) and how many got no answer in time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from bot.app.admission import BUSY_TEXT

# How long to wait for the last answer: a minute, plus what Slack's own limits can add when a card edit goes by
# chat.update, paced to Tier 3 (50 a minute) - so a slow answer is measured, not dropped.
SETTLE_SECONDS = 60.0
SETTLE_PER_ITEM = 1.5


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99 of latencies in seconds, as milliseconds (0 when nothing was measured)."""
    if not values:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0, "count": 0}
    if len(values) == 1:
        return {"p50_ms": values[0] * 1000, "p95_ms": values[0] * 1000, "p99_ms": values[0] * 1000, "count": 1}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50_ms": cuts[49] * 1000, "p95_ms": cuts[94] * 1000, "p99_ms": cuts[98] * 1000, "count": len(values)}


def in_parallel(jobs: list[Callable[[httpx.Client], dict[str, Any]]], concurrency: int) -> list[dict[str, Any]]:
    """Run the jobs with `concurrency` workers, each with its own HTTP client."""
    local = threading.local()

    def run(job: Callable[[httpx.Client], dict[str, Any]]) -> dict[str, Any]:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=30, trust_env=False)
        return job(local.client)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(run, jobs))


def wait_for(fetch: Callable[[], dict[str, float]], wanted: set[str]) -> dict[str, float]:
    """Poll until every wanted key has an arrival time, or the settle time passes; return what arrived."""
    deadline = time.monotonic() + SETTLE_SECONDS + SETTLE_PER_ITEM * len(wanted)
    pause = threading.Event()
    arrived = fetch()
    while not wanted <= arrived.keys() and time.monotonic() < deadline:
        pause.wait(0.2)
        arrived = fetch()
    return arrived


def commands(slack: str, bot: str, texts: list[str], concurrency: int) -> dict[str, Any]:
    """Answer latency of slash commands."""
    lines = httpx.post(
        f"{slack}/bench/commands", json={"user": "U0TRIAGER", "channel": "C0TRIAGE", "texts": texts}, timeout=60
    ).json()
    since = len(httpx.get(f"{slack}/bench/responses", timeout=30).json())

    def job(line: list[str]) -> Callable[[httpx.Client], dict[str, Any]]:
        timestamp, signature, body = line
        token = httpx.QueryParams(body)["response_url"].split("/response/", 1)[1]

        def send(client: httpx.Client) -> dict[str, Any]:
            sent = time.time()
            answer = client.post(
                f"{bot}/slack/events",
                content=body,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Slack-Request-Timestamp": timestamp,
                    "X-Slack-Signature": signature,
                },
            )
            acked = time.time()
            inline = bool(answer.content.strip())
            busy = inline and answer.headers.get("content-type", "").startswith("application/json")
            return {
                "token": token,
                "sent": sent,
                "acked": acked,
                "status": answer.status_code,
                "inline": inline,
                # Refused at once as busy (the person is asked to try again): counted, not timed as an answer.
                "shed": busy and answer.json().get("text") == BUSY_TEXT,
            }

        return send

    sent = in_parallel([job(line) for line in lines], concurrency)

    def arrivals() -> dict[str, float]:
        posts = httpx.get(f"{slack}/bench/responses", params={"since": since}, timeout=30).json()
        return {post["response_url_id"]: post["at"] for post in posts if post["response_url_id"]}

    expected = {s["token"] for s in sent if not s["inline"]}
    arrived = wait_for(arrivals, expected) if expected else {}
    run = [s for s in sent if not s["shed"]]
    answers = [
        arrived[s["token"]] - s["sent"] if s["token"] in arrived else s["acked"] - s["sent"]
        for s in run
        if s["token"] in arrived or s["inline"]
    ]
    return {
        "ack": percentiles([s["acked"] - s["sent"] for s in sent]),
        # Of the commands that were run (not refused as busy): sent -> the answer at the local Slack.
        "answer": percentiles(answers),
        "shed": len(sent) - len(run),
        "sent": len(sent),
        "unanswered": len(run) - len(answers),
        "non_2xx": sum(1 for s in sent if not 200 <= s["status"] < 300),
    }


def clicks(slack: str, cards: list[list[str]], concurrency: int) -> dict[str, Any]:
    """Click Acknowledge on each card once; time until the card is edited, by its response_url or chat.update."""
    since_calls = len(httpx.get(f"{slack}/bench/calls", timeout=30).json())
    since_posts = len(httpx.get(f"{slack}/bench/responses", timeout=30).json())

    def job(card: list[str]) -> Callable[[httpx.Client], dict[str, Any]]:
        channel, ts = card

        def click(client: httpx.Client) -> dict[str, Any]:
            answer = client.post(
                f"{slack}/bench/click",
                json={"user": "U0TRIAGER", "channel": channel, "ts": ts, "action_id": "incident_acknowledge"},
            ).json()
            return {**answer, "ts": ts}

        return click

    sent = in_parallel([job(card) for card in cards], concurrency)
    paths: dict[str, str] = {}

    def arrivals() -> dict[str, float]:
        calls = httpx.get(f"{slack}/bench/calls", params={"since": since_calls}, timeout=30).json()
        posts = httpx.get(f"{slack}/bench/responses", params={"since": since_posts}, timeout=30).json()
        edits = [(call, "chat.update") for call in calls if call["method"] == "chat.update"]
        edits += [(post, "response_url") for post in posts if post["replace_original"]]
        first: dict[str, float] = {}
        for edit, path in sorted(edits, key=lambda pair: float(pair[0]["at"])):
            if edit["ok"] and edit["ts"] and edit["ts"] not in first:
                first[edit["ts"]], paths[edit["ts"]] = edit["at"], path
        return first

    arrived = wait_for(arrivals, {s["ts"] for s in sent})
    latency = {s["ts"]: arrived[s["ts"]] - s["sent"] for s in sent if s["ts"] in arrived}
    by_path = {
        path: percentiles([seconds for ts, seconds in latency.items() if paths[ts] == path])
        for path in sorted(set(paths.values()))
    }
    return {
        "ack": percentiles([s["answered"] - s["sent"] for s in sent]),
        "card_update": percentiles(list(latency.values())),
        # How each click's card edit got there first: through the click's response_url, or by chat.update.
        "via": {path: sum(1 for ts in latency if paths[ts] == path) for path in ("response_url", "chat.update")},
        "card_update_by_path": by_path,
        "unanswered": sum(1 for s in sent if s["ts"] not in arrived),
        "non_2xx": sum(1 for s in sent if not 200 <= s["status"] < 300),
    }


def main() -> None:
    """Run one measurement and print its JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.clicker")
    parser.add_argument("mode", choices=["commands", "clicks"])
    parser.add_argument("--slack", required=True)
    parser.add_argument("--bot", default="")
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--items", required=True, help="JSON: command texts, or [channel, ts] cards")
    args = parser.parse_args()
    items = json.loads(args.items)
    if args.mode == "commands":
        out = commands(args.slack, args.bot, items, args.concurrency)
    else:
        out = clicks(args.slack, items, args.concurrency)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
