"""The `tripwire` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from bot.config import ConfigError, Settings


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import create_app

    if args.socket_mode:
        settings.require_socket_mode()
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        tripwire = create_app(settings)
        tripwire.outbox.start()
        try:
            SocketModeHandler(tripwire.bolt, settings.slack_app_token).start()  # type: ignore[no-untyped-call]
        finally:
            tripwire.outbox.stop()
        return 0
    settings.require_http()
    import uvicorn

    tripwire = create_app(settings)
    uvicorn.run(tripwire.asgi, host=args.host, port=args.port, log_level="info")
    return 0


def _db_upgrade(settings: Settings, _: argparse.Namespace) -> int:
    from db.engine import make_engine
    from db.migrate import current_revision, upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine)
    print(f"database at revision {current_revision(engine)}")
    return 0


def _manifest(settings: Settings, args: argparse.Namespace) -> int:
    from bot.manifest import build_manifest

    print(json.dumps(build_manifest(settings, socket_mode=args.socket_mode), indent=2))
    return 0


def _dev(settings: Settings, args: argparse.Namespace) -> int:
    from bot.dev import run_dev

    return run_dev(settings, host=args.host, port=args.port, demo=args.demo)


def _policy_check(_: Settings, args: argparse.Namespace) -> int:
    from bot.policy_check import main_check

    return main_check(args.path, out=sys.stdout)


def build_parser() -> argparse.ArgumentParser:
    """All subcommands and their options."""
    parser = argparse.ArgumentParser(prog="tripwire", description="AI-safety incidents in Slack.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the bot (HTTP, or Socket Mode with --socket-mode)")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--socket-mode", action="store_true", help="connect out to Slack (needs SLACK_APP_TOKEN)")
    serve.set_defaults(run=_serve)

    dev = sub.add_parser("dev", help="the bot plus a local Slack-compatible workspace in the browser")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8700)
    dev.add_argument("--demo", action="store_true", help="replay a short scenario so there is something to see")
    dev.set_defaults(run=_dev)

    database = sub.add_parser("db", help="database maintenance")
    database_sub = database.add_subparsers(dest="db_command", required=True)
    database_sub.add_parser("upgrade", help="apply migrations").set_defaults(run=_db_upgrade)

    policy = sub.add_parser("policy", help="check a safety policy file")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    check = policy_sub.add_parser("check", help="validate PATH: exit 0, or 1 with file:line problems")
    check.add_argument("path")
    check.set_defaults(run=_policy_check)

    manifest = sub.add_parser("manifest", help="print the Slack app manifest for this configuration")
    manifest.add_argument("--socket-mode", action="store_true")
    manifest.set_defaults(run=_manifest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tripwire` script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(Settings(), args))
    except ConfigError as exc:
        print(f"tripwire: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
