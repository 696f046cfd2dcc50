"""`python -m bench.slackd`: the local Slack as a process of its own, with a few routes the benchmarks read.

The bot under test talks to it over real HTTP. Besides Slack's own routes it serves:
- GET  /bench/calls?since=N      Web API calls after seq N: seq, method, wall-clock arrival, channel, ts
- GET  /bench/responses?since=N  response_url POSTs after seq N, likewise; `ts` is the message a replace_original
                                 POST edited (the clicked card)
- POST /bench/commands           pre-signed slash command bodies (each with its own response_url), for wrk
- POST /bench/click              click a button on a message as a person would; returns when the bot answered
- GET  /bench/wait?response_url_id=X | ?ts=T, &after=A&timeout=S
                                 waits until that response_url got a POST, or that message an edit (a chat.update,
                                 or a response_url POST replacing it), after wall time A, and returns {"at": arrival}
                                 ({"at": null} after S seconds): how a client waits for what a person would see
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from localslack import Call, LocalSlack
from localslack.delivery import form_body, sign_request, slash_command_fields

# The test policy's people and channels (tests/fixtures/policy.yaml), so the bot routes cards to channels that exist.
USERS = {
    "U0REPORTER": "rita",
    "U0TRIAGER": "tom",
    "U0LEAD": "lee",
    "U0BOSS": "bo",
    "U0ADMIN": "ada",
}
CHANNELS = {
    "C0TRIAGE": ("safety-triage", False),
    "C0GENERAL": ("general", False),
    "C0ONCALL": ("safety-oncall", False),
    "C0REVIEW": ("safety-digest-review", False),
}
PRIVATE = {
    "C0RESTRICTED": ("safety-restricted", ["U0LEAD", "U0TRIAGER"]),
    "C0LEADERSHIP": ("safety-leadership", ["U0LEAD", "U0BOSS"]),
}


def _compact(call: Call) -> dict[str, Any]:
    args = call.args
    return {
        "seq": call.seq,
        "method": call.method,
        "at": call.at,
        "ok": call.ok,
        "channel": args.get("channel"),
        "ts": args.get("ts"),
        "has_blocks": bool(args.get("blocks")),
        "response_ts": (call.response or {}).get("ts"),
        "response_url_id": args.get("response_url_id"),
        "thread_ts": args.get("thread_ts"),
        "replace_original": args.get("replace_original") is True,
    }


class Arrivals:
    """When each response_url got a POST and each message an edit, indexed as the local Slack's logs grow.

    Waiters block on the workspace's own change condition (`Workspace.wait_for`): each change wakes them, and the
    first to look indexes what is new for all.
    """

    def __init__(self, slack: LocalSlack) -> None:
        self._ws = slack.workspace
        self._posts = self._calls = 0
        self._at: dict[tuple[str, str], list[float]] = {}

    def _first_after(self, key: tuple[str, str], after: float) -> float | None:
        # Called with the workspace lock held (wait_for's predicate).
        ws = self._ws
        posts, calls = ws.response_posts[self._posts :], ws.calls[self._calls :]
        self._posts, self._calls = self._posts + len(posts), self._calls + len(calls)
        for post in posts:
            url_id = str(post.args.get("response_url_id"))
            self._at.setdefault(("response_url_id", url_id), []).append(post.at)
            target = ws.response_urls.get(url_id)
            if post.ok and post.args.get("replace_original") is True and target is not None:
                self._at.setdefault(("ts", str(target.message_ts)), []).append(post.at)
        for call in calls:
            if call.method == "chat.update" and call.ok:
                self._at.setdefault(("ts", str(call.args.get("ts"))), []).append(call.at)
        return min((at for at in self._at.get(key, ()) if at > after), default=None)

    def wait(self, key: tuple[str, str], *, after: float, timeout: float) -> float | None:
        """The first arrival for `key` after the wall time `after`, waiting up to `timeout` seconds for one."""
        try:
            return self._ws.wait_for(lambda: self._first_after(key, after), timeout)
        except TimeoutError:
            return None


def bench_routes(slack: LocalSlack) -> list[BaseRoute]:
    """The benchmark's extra routes over one workspace."""
    ws = slack.workspace
    arrivals = Arrivals(slack)

    # Each click and each wait holds a thread: more than anyio's default 40, so 50 people do not queue here. Made on
    # first use: a limiter belongs to the running event loop.
    limiters: list[anyio.CapacityLimiter] = []

    def threads() -> anyio.CapacityLimiter:
        if not limiters:
            limiters.append(anyio.CapacityLimiter(200))
        return limiters[0]

    async def wait(request: Request) -> Response:
        params = request.query_params
        key = ("ts", params["ts"]) if "ts" in params else ("response_url_id", params["response_url_id"])
        after, timeout = float(params.get("after", "0")), float(params.get("timeout", "30"))
        waited = partial(arrivals.wait, key, after=after, timeout=timeout)
        return JSONResponse({"at": await anyio.to_thread.run_sync(waited, limiter=threads())})

    async def calls(request: Request) -> Response:
        since = int(request.query_params.get("since", "0"))
        with ws.lock:
            found = [_compact(call) for call in ws.calls[since:]]
        return JSONResponse(found)

    async def responses(request: Request) -> Response:
        since = int(request.query_params.get("since", "0"))
        with ws.lock:
            found = [_compact(call) for call in ws.response_posts[since:]]
            for post in found:
                # A response_url POST names no message: the one it edits is the one its URL was issued for.
                target = ws.response_urls.get(str(post["response_url_id"]))
                if post["replace_original"] and target is not None:
                    post["channel"], post["ts"] = target.channel_id, target.message_ts
        return JSONResponse(found)

    async def commands(request: Request) -> Response:
        wanted = await request.json()
        user_id, channel_id, texts = wanted["user"], wanted["channel"], wanted["texts"]
        now = int(time.time())
        lines = []
        with ws.lock:
            user, channel = ws.user(user_id), ws.channel(channel_id)
            for text in texts:
                fields = slash_command_fields(
                    slack.identity,
                    user_id=user_id,
                    user_name=user.name,
                    channel_id=channel.id,
                    channel_name=channel.name,
                    command="/incident",
                    text=text,
                    trigger_id=ws.issue_trigger(user_id).id,
                    response_url=ws.response_url(ws.issue_response_url(user_id, channel.id)),
                )
                body = form_body(fields).decode()
                headers = sign_request(slack.signing_secret, body, now)
                lines.append([headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"], body])
        return JSONResponse(lines)

    def click(request_json: dict[str, Any]) -> dict[str, Any]:
        sent = time.time()
        answer = slack.click_button(
            request_json["user"], request_json["channel"], request_json["ts"], request_json["action_id"]
        )
        return {"sent": sent, "answered": time.time(), "status": answer.status_code}

    async def click_route(request: Request) -> Response:
        wanted = await request.json()
        return JSONResponse(await anyio.to_thread.run_sync(click, wanted, limiter=threads()))

    return [
        Route("/bench/calls", calls, methods=["GET"]),
        Route("/bench/responses", responses, methods=["GET"]),
        Route("/bench/commands", commands, methods=["POST"]),
        Route("/bench/click", click_route, methods=["POST"]),
        Route("/bench/wait", wait, methods=["GET"]),
    ]


def build(signing_secret: str, bot_token: str, request_url: str) -> LocalSlack:
    """A workspace with the test policy's people and channels; the bot in every channel."""
    slack = LocalSlack(signing_secret=signing_secret, bot_token=bot_token, request_url=request_url)
    slack.app.router.routes[:0] = bench_routes(slack)
    for user_id, name in USERS.items():
        slack.add_user(user_id, name=name, real_name=name.title(), tz="Etc/UTC")
    for channel_id, (name, private) in CHANNELS.items():
        slack.add_channel(channel_id, name=name, is_private=private)
    for channel_id, (name, members) in PRIVATE.items():
        slack.add_channel(channel_id, name=name, is_private=True, members=members)
    return slack


def main() -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(prog="python -m bench.slackd")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--signing-secret", required=True)
    parser.add_argument("--bot-token", required=True)
    parser.add_argument("--request-url", required=True)
    args = parser.parse_args()
    slack = build(args.signing_secret, args.bot_token, args.request_url)
    slack.workspace.base_url = f"http://127.0.0.1:{args.port}"
    uvicorn.run(slack.app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
