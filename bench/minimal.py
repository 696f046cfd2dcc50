"""`python -m bench.minimal`: the least a durable eval webhook can do, as the baseline for `tripwire serve`.

Same uvicorn settings as `serve`, same signature check, same JSON parse, the same eval_result rows in the same
schema (migrated on start), one transaction per request, 202. No triage, no incidents, no Slack.
Env: DATABASE_URL, TRIPWIRE_WEBHOOK_SECRET.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime

import anyio.to_thread
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.app.config import Settings
from bot.app.serve import UVICORN
from bot.ingest.generic import parse_eval_payload
from bot.ingest.service import result_row
from bot.ingest.signing import SignatureError, verify
from db.engine import UnitOfWork, make_engine
from db.migrate import upgrade
from db.repositories import insert_eval_results


def create_app(database_url: str, secret: str) -> Starlette:
    """The baseline app on a migrated database."""
    engine = make_engine(database_url)
    upgrade(engine)
    uow = UnitOfWork(engine)

    def store(body: bytes) -> int:
        now = datetime.now(UTC)
        rows = [result_row(result, None, now) for result in parse_eval_payload(body, received_at=now)]
        with uow() as session:
            return len(insert_eval_results(session=session, rows=rows))

    async def hook(request: Request) -> Response:
        body = await request.body()
        try:
            verify(
                secret,
                body,
                timestamp=request.headers.get("x-tripwire-timestamp"),
                signature=request.headers.get("x-tripwire-signature"),
                now=time.time(),
            )
        except SignatureError as exc:
            return JSONResponse({"error": str(exc)}, status_code=401)
        stored = await anyio.to_thread.run_sync(store, body)
        return JSONResponse({"stored": stored}, status_code=202)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"ok": True})

    # The pool goes with the process, like serve's does when it is stopped.
    return Starlette(routes=[Route("/hooks/eval", hook, methods=["POST"]), Route("/healthz", healthz, methods=["GET"])])


def main() -> None:
    """Serve until stopped, as `tripwire serve` does (the same uvicorn options and access-log setting)."""
    parser = argparse.ArgumentParser(prog="python -m bench.minimal")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = create_app(os.environ["DATABASE_URL"], os.environ["TRIPWIRE_WEBHOOK_SECRET"])
    uvicorn.run(app, host="127.0.0.1", port=args.port, access_log=Settings().access_log, **UVICORN)


if __name__ == "__main__":
    main()
