"""`tripwire dev`: the bot and a local Slack-compatible workspace on this machine, no Slack account needed."""

from __future__ import annotations

import errno
import os
import re
import secrets
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import yaml
from sqlalchemy.engine import make_url

from bot.app.asgi import Tripwire, create_app
from bot.app.config import DEV_DATABASE_URL, Settings
from bot.policy.document import Policy
from bot.policy.store import BUNDLED_POLICY
from bot.slack.manifest import build_manifest
from localslack import BackgroundServer, LocalSlack
from localslack.persist import WorkspaceKeeper, load
from localslack.ui import AppFeatures

REPORTER, TRIAGER, LEAD = "U0REPORTER", "U0TRIAGER", "U0LEAD"
DEV_USERS = (
    (REPORTER, "rita", "Rita Reporter (engineer)", "Europe/London"),
    (TRIAGER, "tom", "Tom Triager (on call)", "America/Los_Angeles"),
    (LEAD, "lee", "Lee Lead (safety lead)", "America/New_York"),
)
# (id, name, private, bot invited). The bot is in the channels the README tells a real team to invite it to:
# #safety-triage, and every channel the policy routes to or drafts digests into (seed_from_policy adds those);
# it is not in #general, as it would not be in a real workspace.
DEV_CHANNELS = (
    ("C0TRIAGE", "safety-triage", False, True),
    ("C0GENERAL", "general", False, False),
    ("C0RESTRICTED", "safety-restricted", True, True),
)
# Under --demo every route's ack window (and the gap between escalation steps) is this short, so a person watching
# the page sees an unacknowledged incident escalate; the policy file people pass with TRIPWIRE_POLICY is never changed.
DEMO_ACK_MINUTES = 2
_USER_ID = re.compile(r"^[UW][0-9A-Z]{2,}$")
_CHANNEL_ID = re.compile(r"^[CG][0-9A-Z]{2,}$")


@dataclass
class DevWorkspace:
    """The running pieces of `tripwire dev`: the local Slack, the bot's HTTP server and the bot itself."""

    slack: LocalSlack
    bot_server: BackgroundServer
    tripwire: Tripwire
    scratch: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    keeper: WorkspaceKeeper | None = None
    # Minutes every ack window was shortened to for the demo; None when the routes are the policy's own.
    ack_minutes: int | None = None

    def stop(self) -> None:
        """Stop the background work (it calls the Web API), both servers, save the workspace, close the pool."""
        self.tripwire.stop_background()
        self.bot_server.stop()
        self.slack.stop()
        if self.keeper is not None:
            self.keeper.stop()  # after the servers: the last card edits are in the file
        self.tripwire.engine.dispose()
        if self.scratch is not None:
            self.scratch.cleanup()


def workspace_file(database_url: str) -> Path | None:
    """Where `tripwire dev` keeps its workspace for a database: beside a SQLite file, under var/ for a server.

    `var/dev.db` keeps `var/dev.workspace.json`; PostgreSQL at host h, database d keeps
    `var/dev.postgresql-h-d.workspace.json`. An in-memory SQLite database keeps nothing, so neither does the workspace.
    """
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or url.query.get("mode") == "memory" or database.startswith("file::memory:"):
            return None
        path = Path(database.removeprefix("file:"))
        return path.with_name(path.stem + ".workspace.json")
    label = "-".join(
        str(part) for part in (url.get_backend_name(), url.host or "local", url.port, url.database) if part
    )
    return Path("var") / f"dev.{re.sub(r'[^A-Za-z0-9_.-]+', '_', label)}.workspace.json"


def write_dev_policy(source: Path, target: Path, *, ack_minutes: int | None = None) -> Path:
    """Copy a policy with its people swapped for the dev users: tom takes the triage rotations, lee every other role.

    With `ack_minutes` (the demo), every route's ack window is that short and its escalation steps that far apart.
    """
    data: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    roles: dict[str, Any] = data.get("roles") or {}
    triage_rotations = set((roles.get("triager") or {}).get("rotations") or [])
    for name, rotation in (data.get("rotations") or {}).items():
        rotation["members"] = [TRIAGER if name in triage_rotations else LEAD]
        rotation.pop("shifts", None)
    for name, role in roles.items():
        if role.get("members"):
            role["members"] = [TRIAGER if name == "triager" else LEAD]
    if ack_minutes is not None:
        for route in (data.get("routes") or {}).values():
            shorten_route(route, ack_minutes)
    target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return target


def shorten_route(route: dict[str, Any], minutes: int) -> None:
    """Make a route's ack window `minutes` long, step n of its escalation n windows in, repeats after the chain."""
    steps = route.get("escalation") or []
    route["ack_window"] = f"{minutes}m"
    for index, step in enumerate(steps):
        step["after"] = f"{index * minutes}m"
    if route.get("repeat"):
        # The policy refuses repeats that restart the chain before its last step.
        route["repeat"]["every"] = f"{max(len(steps), 1) * minutes}m"
    if route.get("reminders"):
        # A reminder must fall inside the ack window: one halfway through.
        route["reminders"] = [f"{minutes * 30}s"]


def policy_places(policy: Policy) -> tuple[dict[str, bool], set[str]]:
    """Return the channels a policy posts to (reference -> private) and the user ids it names."""
    channels: dict[str, bool] = {}
    for route in policy.routes.values():
        channels[route.channel] = channels.get(route.channel, False) or route.private
    for channel in (policy.digest.review_channel, policy.digest.publish_channel):
        channels.setdefault(channel, False)
    users = {user for role in policy.roles.values() for user in role.members}
    for rotation in policy.rotations.values():
        users.update(rotation.members)
        users.update(shift.user for shift in rotation.shifts)
    users.update(
        target
        for route in policy.routes.values()
        for step in route.escalation
        for target in step.notify
        if _USER_ID.match(target)
    )
    return channels, users


def seed_from_policy(slack: LocalSlack, policy: Policy) -> None:
    """Add the channels (with the bot invited, as the README asks) and people the policy names."""
    channels, users = policy_places(policy)
    snapshot = slack.snapshot()
    known_names = {c["name"] for c in snapshot["channels"]}
    known_ids = {c["id"] for c in snapshot["channels"]}
    for ref, private in sorted(channels.items()):
        if ref.startswith("#"):
            name = ref[1:]
            channel_id = "C0" + re.sub(r"[^A-Z0-9]", "", name.upper())[:9]
            if name in known_names or channel_id in known_ids:
                continue
        elif _CHANNEL_ID.match(ref):
            channel_id, name = ref, ref.lower()
            if channel_id in known_ids:
                continue
        else:
            continue
        slack.add_channel(channel_id, name=name, is_private=private, bot_member=True)
        known_names.add(name)
        known_ids.add(channel_id)
    known_users = {u["id"] for u in snapshot["users"]}
    for user_id in sorted(users - known_users):
        slack.add_user(user_id, name=user_id.lower(), real_name=f"{user_id} (named in the policy)")


def furnish(slack: LocalSlack, settings: Settings) -> None:
    """Add the dev people and channels, and install the app as its manifest describes it."""
    for user_id, name, real_name, tz in DEV_USERS:
        slack.add_user(user_id, name=name, real_name=real_name, tz=tz)
    for channel_id, name, private, invited in DEV_CHANNELS:
        slack.add_channel(channel_id, name=name, is_private=private, bot_member=invited)
    # The page offers the same command and shortcut a real workspace would get from the manifest, and the token
    # holds the scopes that manifest asks for: no more, so a call needing another scope fails here as in Slack.
    manifest = build_manifest(settings)
    slack.app_features = AppFeatures.from_manifest(manifest)
    slack.workspace.scopes = set(manifest["oauth_config"]["scopes"]["bot"])


def build_dev(
    settings: Settings, *, host: str = "127.0.0.1", port: int = 0, demo: bool = False, log: TextIO | None = None
) -> DevWorkspace:
    """Start the workspace and the bot wired to each other; return them running (port 0 picks a free port).

    The workspace of the last run on the same database is read back before the bot starts, and kept as it changes.
    """
    signing_secret = secrets.token_hex(16)
    bot_token = "xoxb-dev-" + secrets.token_hex(8)
    scratch: tempfile.TemporaryDirectory[str] | None = None
    policy_path = settings.policy_path
    ack_minutes = None
    if not policy_path:
        # The bundled policy names placeholder people; the dev users take their roles so they may act.
        scratch = tempfile.TemporaryDirectory(prefix="tripwire-dev-")
        ack_minutes = DEMO_ACK_MINUTES if demo else None
        target = Path(scratch.name) / "policy.yaml"
        policy_path = str(write_dev_policy(BUNDLED_POLICY, target, ack_minutes=ack_minutes))
    database_url = settings.database_url if "DATABASE_URL" in os.environ else DEV_DATABASE_URL
    saved = workspace_file(database_url)
    slack = LocalSlack(signing_secret=signing_secret, bot_token=bot_token, host=host, port=port)
    furnish(slack, settings)
    keeper: WorkspaceKeeper | None = None
    try:
        slack.start()
        if saved is not None:
            # After start (file links get this run's address), before the bot: it finds its cards where it left them.
            warning = load(slack.workspace, saved)
            if warning is not None:
                print(f"tripwire dev: {warning}", file=log or sys.stderr, flush=True)
            keeper = WorkspaceKeeper(slack.workspace, saved).start()
    except BaseException:
        slack.stop()
        if scratch is not None:
            scratch.cleanup()
        raise
    bot_settings = settings.model_copy(
        update={
            "slack_bot_token": bot_token,
            "slack_signing_secret": signing_secret,
            "slack_api_url": slack.api_url,
            "database_url": database_url,
            "triage_channel": "C0TRIAGE",
            "policy_path": policy_path,
            # The demo posts its results to the signed /hooks/eval; a secret set in the environment is kept.
            "webhook_secret": settings.webhook_secret or secrets.token_hex(16),
        }
    )
    bot_server: BackgroundServer | None = None
    tripwire: Tripwire | None = None
    try:
        tripwire = create_app(bot_settings)  # its Slack clients come from the token and API URL set above
        seed_from_policy(slack, tripwire.policies.current)
        tripwire.start_background()
        bot_server = BackgroundServer(tripwire.asgi, host="127.0.0.1", port=0)
        bot_server.start()
    except BaseException:
        if tripwire is not None:
            tripwire.stop_background()
        slack.stop()
        if keeper is not None:
            keeper.stop()
        if scratch is not None:
            scratch.cleanup()
        raise
    slack.request_url = bot_server.url + "/slack/events"
    return DevWorkspace(
        slack=slack, bot_server=bot_server, tripwire=tripwire, scratch=scratch, keeper=keeper, ack_minutes=ack_minutes
    )


def run_dev(settings: Settings, *, host: str, port: int, demo: Callable[[DevWorkspace], None] | None = None) -> int:
    """Run until SIGINT or SIGTERM, printing the URL to open; `--port 0` prints the port actually chosen.

    `demo` (bot/app/demo.py `play_demo`) plays once everything is up, on a policy with short ack windows.
    """
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    # Installed before anything starts, so a signal during start-up still ends in a clean stop.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        dev = build_dev(settings, host=host, port=port, demo=demo is not None)
    except OSError as exc:
        hint = " (is the port taken? --port 0 picks a free one)" if exc.errno == errno.EADDRINUSE else ""
        print(f"tripwire dev: could not start on {host}:{port}: {exc}{hint}", file=sys.stderr, flush=True)
        return 1
    try:
        url = dev.slack.url
        print(f"Tripwire dev workspace: {url}/", flush=True)
        for user_id, name, real_name, _tz in DEV_USERS:
            print(f"  as {name:<5} {real_name:<26} {url}/?as={user_id}", flush=True)
        print(f"bot listening on {dev.bot_server.url}/slack/events", flush=True)
        if dev.keeper is not None:
            print(f"workspace kept in {dev.keeper.path}", flush=True)
        if demo is not None and not stop.is_set():
            demo(dev)
        stop.wait()
    finally:
        dev.stop()
    print("tripwire dev: stopped", flush=True)
    return 0
