"""`tripwire dev`: the bot and a local Slack-compatible workspace on this machine, no Slack account needed."""

from __future__ import annotations

import os
import secrets
import signal
import threading
from types import FrameType

from slack_sdk import WebClient

from bot.app import create_app
from bot.config import Settings
from localslack import BackgroundServer, LocalSlack

DEV_USERS = (
    ("U0REPORTER", "rita", "Rita Reporter (engineer)", "Europe/London"),
    ("U0TRIAGER", "tom", "Tom Triager (on call)", "America/Los_Angeles"),
    ("U0LEAD", "lee", "Lee Lead (safety lead)", "America/New_York"),
)
DEV_CHANNELS = (
    ("C0TRIAGE", "safety-triage", False),
    ("C0GENERAL", "general", False),
    ("C0RESTRICTED", "safety-restricted", True),
)


def build_dev(settings: Settings, *, host: str = "127.0.0.1", port: int = 0) -> tuple[LocalSlack, BackgroundServer]:
    """Start the workspace and the bot wired to each other; return both servers (already running)."""
    signing_secret = secrets.token_hex(16)
    bot_token = "xoxb-dev-" + secrets.token_hex(8)
    slack = LocalSlack(signing_secret=signing_secret, bot_token=bot_token, host=host, port=port)
    for user_id, name, real_name, tz in DEV_USERS:
        slack.add_user(user_id, name=name, real_name=real_name, tz=tz)
    for channel_id, name, private in DEV_CHANNELS:
        slack.add_channel(channel_id, name=name, is_private=private)
    slack.start()
    database_url = settings.database_url if "DATABASE_URL" in os.environ else "sqlite:///var/dev.db"
    bot_settings = settings.model_copy(
        update={
            "slack_bot_token": bot_token,
            "slack_signing_secret": signing_secret,
            "slack_api_url": slack.api_url,
            "database_url": database_url,
            "triage_channel": "C0TRIAGE",
        }
    )
    tripwire = create_app(bot_settings, client=WebClient(token=bot_token, base_url=slack.api_url))
    tripwire.outbox.start()
    bot_server = BackgroundServer(tripwire.asgi, host="127.0.0.1", port=0)
    bot_server.start()
    slack.request_url = bot_server.url + "/slack/events"
    return slack, bot_server


def run_demo(slack: LocalSlack) -> None:
    """Replay a short scenario through the workspace: a report is filed and taken by the triager."""
    reporter, triager = DEV_USERS[0][0], DEV_USERS[1][0]
    slack.slash_command(reporter, "new", channel_id="C0TRIAGE")
    view = slack.open_views(reporter)[-1]
    slack.submit_view(
        reporter,
        view.id,
        {
            "title": {"value": "Model wrote a working exploit for an unpatched CVE"},
            "description": {"value": "During red-teaming the model chained two bugs without being asked to."},
            "category": {"value": "cyber"},
            "severity": {"value": "sev2"},
            "model": {"value": "frontier-x"},
            "checkpoint": {"value": "ckpt-0412"},
        },
    )
    slack.slash_command(triager, "list", channel_id="C0TRIAGE")
    slack.slash_command(triager, "ack INC-1", channel_id="C0TRIAGE")


def run_dev(settings: Settings, *, host: str, port: int, demo: bool) -> int:
    """Run until interrupted, printing the URL to open."""
    slack, bot_server = build_dev(settings, host=host, port=port)
    print(f"Tripwire dev workspace: {slack.url}/", flush=True)
    print(f"bot listening on {bot_server.url}/slack/events", flush=True)
    if demo:
        run_demo(slack)
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    stop.wait()
    bot_server.stop()
    slack.stop()
    return 0
