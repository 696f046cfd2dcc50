"""The `tripwire` command line."""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from bot.app import logs
from bot.app.config import DEV_DATABASE_URL, ConfigError, Settings
from bot.common.errors import TripwireError

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.app.wiring import Core
    from bot.policy.document import Policy


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app.serve import serve_http, serve_socket_mode

    if args.socket_mode:
        settings.require_socket_mode()
    else:
        settings.require_http()
    # The Slack set-up is checked alongside start-up, never in its way: problems are logged and DMed to the admins.
    threading.Thread(target=_doctor_at_start, args=(settings,), name="doctor", daemon=True).start()
    if not args.socket_mode:
        serve_http(settings, host=args.host, port=args.port)
        return 0
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    # uvicorn stops cleanly on these in HTTP mode; Socket Mode gets the same clean stop here.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    serve_socket_mode(settings, stop=stop)
    return 0


def _slack_and_policy(settings: Settings) -> tuple[WebClient, Policy]:
    from slack_sdk import WebClient

    from bot.policy.loader import load_policy
    from bot.policy.store import BUNDLED_POLICY

    client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=15)
    return client, load_policy(settings.policy_path or BUNDLED_POLICY)


def _doctor_at_start(settings: Settings) -> None:
    from bot.app.doctor import report_at_start

    try:
        client, policy = _slack_and_policy(settings)
    except TripwireError as exc:
        # serve itself reports a policy it cannot load; the doctor has nothing to add.
        logging.getLogger(__name__).warning("slack set-up not checked: %s", exc)
        return
    report_at_start(client, policy, triage_channel=settings.triage_channel)


def _doctor(settings: Settings, _: argparse.Namespace) -> int:
    from slack_sdk.errors import SlackApiError

    from bot.app.doctor import check_slack, print_findings

    settings.require("slack_bot_token")
    client, policy = _slack_and_policy(settings)
    try:
        findings = check_slack(client, policy, triage_channel=settings.triage_channel)
    except (SlackApiError, OSError) as exc:
        print(f"tripwire doctor: Slack did not answer the checks ({exc}); try again", file=sys.stderr)
        return 1
    return print_findings(findings, out=sys.stdout)


def _db_upgrade(settings: Settings, _: argparse.Namespace) -> int:
    from db.engine import make_engine
    from db.migrate import current_revision, upgrade

    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        print(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()
    return 0


def _manifest(settings: Settings, args: argparse.Namespace) -> int:
    from bot.slack.manifest import build_manifest

    print(json.dumps(build_manifest(settings, socket_mode=args.socket_mode), indent=2))
    return 0


def _dev(settings: Settings, args: argparse.Namespace) -> int:
    try:
        from bot.app.demo import play_demo
        from bot.app.dev import run_dev
    except ModuleNotFoundError as exc:
        # localslack (and the httpx it posts with) ship with the source, not in the production install.
        if exc.name not in ("localslack", "httpx"):
            raise
        print(
            f"tripwire dev: needs the local Slack workspace, which is not installed ({exc.name} is missing). "
            "It ships with the source checkout: run `make run` there, or `pip install -e '.[dev]'`.",
            file=sys.stderr,
        )
        return 1
    return run_dev(settings, host=args.host, port=args.port, demo=play_demo if args.demo else None)


def _policy_check(_: Settings, args: argparse.Namespace) -> int:
    from bot.policy.check import main_check

    return main_check(args.path, out=sys.stdout)


def _policy_backtest(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app.wiring import build_core
    from bot.common.templates import Templates
    from bot.ingest.service import stored_result
    from bot.policy.backtest import Arrival, backtest
    from bot.policy.loader import validate_policy_file
    from db.repositories import iter_eval_results

    candidate, problems = validate_policy_file(args.path)
    if candidate is None:
        for problem in problems:
            print(problem)
        return 1
    core = build_core(settings)
    since = _parse_since(args.since)
    try:
        with core.uow() as session:
            # The receive time, not the observed one: live grouping's dedup window runs on it.
            arrivals = [
                Arrival(stored_result(row), row.received_at) for row in iter_eval_results(session=session, since=since)
            ]
    finally:
        core.engine.dispose()
    report = backtest(arrivals, active=core.policies.current, candidate=candidate)
    rows = sorted(set(report.active.by_level) | set(report.candidate.by_level))
    print(
        Templates().render(
            "backtest.txt.j2", report=report, rows=rows, path=args.path, since=args.since, limit=args.limit
        )
    )
    return 0


def _policy_coverage(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app.wiring import build_core
    from bot.ingest.service import stored_result
    from bot.policy.coverage import uncovered
    from db.repositories import iter_eval_results

    core = build_core(settings)
    try:
        with core.uow() as session:
            results = [stored_result(row) for row in iter_eval_results(session=session, since=_parse_since(args.since))]
    finally:
        core.engine.dispose()
    policy = core.policies.current
    found = uncovered(results, policy=policy)
    since = f" since {args.since}" if args.since else ""
    if not found:
        print(f"every one of {len(results)} stored results{since} matches a metric of policy {policy.version}")
        return 0
    total = sum(u.count for u in found)
    print(f"{total} of {len(results)} stored results{since} match no metric of policy {policy.version}:")
    for item in found:
        key = item.key
        print(
            f"{item.count:>7}  source={key.source} task={key.task} scorer={key.scorer or '-'} metric={key.metric}"
            f"  (last {item.last_seen:%Y-%m-%d})" + (f"\n         closest metric: {item.hint}" if item.hint else "")
        )
    return 0


def _parse_since(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app.wiring import build_core

    if args.kind == "inspect" and importlib.util.find_spec("inspect_ai") is None:
        from bot.ingest.inspect_log import INSPECT_MISSING

        print(f"tripwire: {INSPECT_MISSING}", file=sys.stderr)
        return 1
    files = list(_find_files(args.paths, kind=args.kind))
    if not files:
        print(f"tripwire: no {args.kind} files under {', '.join(args.paths)}", file=sys.stderr)
        return 1
    core = build_core(settings)
    try:
        return _ingest_files(core, files, kind=args.kind)
    finally:
        core.engine.dispose()


def _ingest_files(core: Core, files: list[Path], *, kind: str) -> int:
    from bot.common.errors import InvalidInput
    from bot.ingest.inspect_log import read_inspect_log
    from bot.ingest.lm_eval import parse_lm_eval

    accepted = duplicates = failed = 0
    incidents: set[str] = set()
    for index, path in enumerate(files, 1):
        try:
            if kind == "inspect":
                results = read_inspect_log(path, received_at=core.ingest.now(), max_bytes=core.settings.max_log_bytes)
            else:
                results = parse_lm_eval(path.read_bytes(), filename=path.name, received_at=core.ingest.now())
            outcome = core.ingest.ingest(results)
        except InvalidInput as exc:
            failed += 1
            print(f"[{index}/{len(files)}] {path}: refused ({exc.field}): {exc}", file=sys.stderr)
            continue
        accepted, duplicates = accepted + outcome.accepted, duplicates + outcome.duplicates
        incidents.update(outcome.incidents or [])
        bar = "#" * (20 * index // len(files))
        print(
            f"[{bar:<20}] {index}/{len(files)} {path.name}: {outcome.accepted} new, {outcome.duplicates} duplicate",
            file=sys.stderr,
        )
    opened = ", ".join(sorted(incidents, key=lambda ref: int(ref.split("-")[1]))) or "none"
    print(
        f"{len(files)} files: {accepted} results stored, {duplicates} duplicates, {failed} refused; incidents: {opened}"
    )
    return 1 if failed else 0


def _find_files(paths: Sequence[str], *, kind: str) -> Iterator[Path]:
    """Files given, and the logs inside folders given (Inspect: *.eval, *.json but its logs.json index; lm-eval:
    results_*.json)."""
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            yield path
            continue
        patterns = ("*.eval", "*.json") if kind == "inspect" else ("results_*.json",)
        found = {p for pattern in patterns for p in path.rglob(pattern) if p.name != "logs.json"}
        yield from sorted(found)


def _digest_preview(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app.wiring import build_core

    if args.dev:
        # The database `tripwire dev` runs on: DATABASE_URL when set (dev honours it too), else its own file.
        url = settings.database_url if "DATABASE_URL" in os.environ else DEV_DATABASE_URL
        settings = settings.model_copy(update={"database_url": url})
    core = build_core(settings)
    try:
        print(core.digests.preview(args.kind, containing=_parse_since(args.period), fmt=args.format))
    finally:
        core.engine.dispose()
    return 0


def _audit_export(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app.audit import export_command

    return export_command(settings, since=_parse_since(args.since))


def _audit_verify(_: Settings, args: argparse.Namespace) -> int:
    from bot.app.audit import verify_command

    return verify_command(Path(args.file))


def build_parser() -> argparse.ArgumentParser:
    """All subcommands and their options."""
    parser = argparse.ArgumentParser(prog="tripwire", description="AI-safety incidents in Slack.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the bot (HTTP, or Socket Mode with --socket-mode)")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--socket-mode", action="store_true", help="connect out to Slack (needs SLACK_APP_TOKEN)")
    serve.set_defaults(run=_serve)

    dev = sub.add_parser(
        "dev",
        help="the bot plus a local Slack-compatible workspace in the browser",
        description="The workspace is kept beside its database (var/dev.db: var/dev.workspace.json) across restarts.",
    )
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8700)
    dev.add_argument(
        "--demo",
        action="store_true",
        help="replay a scenario so there is something to see: a report acknowledged, a result that pages and "
        "escalates (the bundled policy's ack windows cut to 2 minutes), a restricted incident, a trend, a digest",
    )
    dev.set_defaults(run=_dev)

    database = sub.add_parser("db", help="database maintenance")
    database_sub = database.add_subparsers(dest="db_command", required=True)
    database_sub.add_parser("upgrade", help="apply migrations").set_defaults(run=_db_upgrade)

    policy = sub.add_parser("policy", help="check a safety policy file")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    check = policy_sub.add_parser("check", help="validate PATH: exit 0, or 1 with file:line problems")
    check.add_argument("path")
    check.set_defaults(run=_policy_check)

    backtest = policy_sub.add_parser("backtest", help="replay stored eval history under PATH and the active policy")
    backtest.add_argument("path")
    backtest.add_argument("--since", help="only results observed on or after this ISO date")
    backtest.add_argument("--limit", type=int, default=20, help="how many differing results to list")
    backtest.set_defaults(run=_policy_backtest)

    coverage = policy_sub.add_parser("coverage", help="which stored source/task/scorer/metric tuples no metric matches")
    coverage.add_argument("--since", help="only results observed on or after this ISO date")
    coverage.set_defaults(run=_policy_coverage)

    ingest = sub.add_parser("ingest", help="ingest eval logs from files or folders (idempotent)")
    ingest_sub = ingest.add_subparsers(dest="kind", required=True)
    for kind, text in (
        ("inspect", "Inspect AI logs (.eval, .json)"),
        ("lm-eval", "lm-evaluation-harness results_*.json"),
    ):
        parser_ = ingest_sub.add_parser(kind, help=text)
        parser_.add_argument("paths", nargs="+")
        parser_.set_defaults(run=_ingest)

    digest = sub.add_parser("digest", help="leadership digests")
    digest_sub = digest.add_subparsers(dest="digest_command", required=True)
    preview = digest_sub.add_parser("preview", help="render a digest from the database without posting it")
    preview.add_argument("--kind", choices=["weekly", "risk-report"], default="weekly")
    preview.add_argument("--period", help="a date inside the period (default: the last complete one)")
    preview.add_argument("--format", choices=["slack", "md", "html"], default="md")
    preview.add_argument("--dev", action="store_true", help="read the database `tripwire dev` uses")
    preview.set_defaults(run=_digest_preview)

    audit = sub.add_parser("audit", help="the tamper-evident timeline")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    export = audit_sub.add_parser("export", help="every timeline entry as JSON lines on stdout, hash-chained")
    export.add_argument("--since", help="only the whole timelines of incidents with an entry on or after this date")
    export.set_defaults(run=_audit_export)
    verify = audit_sub.add_parser("verify", help="check an export: exit 0, or 1 naming the first bad entry")
    verify.add_argument("file")
    verify.set_defaults(run=_audit_verify)

    doctor = sub.add_parser("doctor", help="check the Slack side: token, scopes, channels and the bot's membership")
    doctor.set_defaults(run=_doctor)

    manifest = sub.add_parser("manifest", help="print the Slack app manifest for this configuration")
    manifest.add_argument("--socket-mode", action="store_true")
    manifest.set_defaults(run=_manifest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tripwire` script."""
    args = build_parser().parse_args(argv)
    logs.install_request_ids()
    logging.basicConfig(level=logging.INFO, format=logs.FORMAT)
    # Migrations and job registration narrate every step at INFO; their warnings still show.
    for chatty in ("alembic", "apscheduler"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    from db.engine import DriverNotInstalled

    try:
        return int(args.run(Settings(), args))
    except (ConfigError, TripwireError, DriverNotInstalled) as exc:
        print(f"tripwire: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
