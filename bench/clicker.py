"""`python -m bench.clicker`: people, as a client process, timing what they see, at a given concurrency.

Each of `concurrency` people does one thing at a time and waits to see its outcome before the next (a closed loop on
what the person sees, not on the HTTP ack: a person who clicked Acknowledge watches the card, not the socket):
- commands: signed `/incident` commands straight to the bot; the answer is when it reached the local Slack's
  response_url (or, for an answer given inline, when the HTTP response came back). A command refused at once as busy
  is counted (`shed`), not timed as an answer.
- clicks: Acknowledge on real cards (through the local Slack, as a person clicks); latency is click sent -> the card
  edited at the local Slack, by either path: a POST to the click's response_url replacing the card
  (replace_original), or chat.update of that card. Which path each click's edit took is counted.
The local Slack's /bench/wait holds each wait until the arrival (wall clocks of one machine).
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

# How long one person waits for what they asked for before counting it unanswered: a minute, as Slack's own limits can
# add seconds when a card edit goes by chat.update, paced to Tier 3 (50 a minute) - so a slow answer is measured.
ANSWER_TIMEOUT = 60.0


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


def arrival(client: httpx.Client, slack: str, after: float, **key: str) -> float | None:
    """When the local Slack saw the awaited answer (a response_url POST, an edit of a message) after wall time
    `after`; None: not within ANSWER_TIMEOUT."""
    params: dict[str, str | float] = {**key, "after": after, "timeout": ANSWER_TIMEOUT}
    answer = client.get(f"{slack}/bench/wait", params=params, timeout=ANSWER_TIMEOUT + 30)
    at: float | None = answer.json()["at"]
    return at


def commands(slack: str, bot: str, texts: list[str], concurrency: int) -> dict[str, Any]:
    """Answer latency of slash commands."""
    lines = httpx.post(
        f"{slack}/bench/commands", json={"user": "U0TRIAGER", "channel": "C0TRIAGE", "texts": texts}, timeout=60
    ).json()

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
            # Refused at once as busy (the person is asked to try again): counted, not timed as an answer.
            shed = busy and answer.json().get("text") == BUSY_TEXT
            answered = acked if inline else arrival(client, slack, sent, response_url_id=token)
            return {"sent": sent, "acked": acked, "answered": answered, "status": answer.status_code, "shed": shed}

        return send

    sent = in_parallel([job(line) for line in lines], concurrency)
    run = [s for s in sent if not s["shed"]]
    answers = [s["answered"] - s["sent"] for s in run if s["answered"] is not None]
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

    def job(card: list[str]) -> Callable[[httpx.Client], dict[str, Any]]:
        channel, ts = card

        def click(client: httpx.Client) -> dict[str, Any]:
            clicked = time.time()
            answer = client.post(
                f"{slack}/bench/click",
                json={"user": "U0TRIAGER", "channel": channel, "ts": ts, "action_id": "incident_acknowledge"},
            ).json()
            return {**answer, "ts": ts, "edited": arrival(client, slack, clicked, ts=ts)}

        return click

    sent = in_parallel([job(card) for card in cards], concurrency)
    latency = {s["ts"]: s["edited"] - s["sent"] for s in sent if s["edited"] is not None}
    # How each click's card edit got there first: through the click's response_url, or by chat.update.
    edited = {s["ts"]: s["edited"] for s in sent if s["edited"] is not None}
    posts = httpx.get(f"{slack}/bench/responses", timeout=30).json()
    replaced = {post["ts"]: post["at"] for post in posts if post["replace_original"] and post["ok"]}
    paths = {ts: "response_url" if replaced.get(ts) == at else "chat.update" for ts, at in edited.items()}
    by_path = {
        path: percentiles([seconds for ts, seconds in latency.items() if paths[ts] == path])
        for path in sorted(set(paths.values()))
    }
    return {
        "ack": percentiles([s["answered"] - s["sent"] for s in sent]),
        "card_update": percentiles(list(latency.values())),
        "via": {path: sum(1 for ts in latency if paths[ts] == path) for path in ("response_url", "chat.update")},
        "card_update_by_path": by_path,
        "unanswered": sum(1 for s in sent if s["ts"] not in latency),
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
