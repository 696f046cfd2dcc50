"""Settings, the CLI's refusal to start without secrets, and the Slack manifest."""

from __future__ import annotations

import json

import pytest

from bot.app.cli import main
from bot.app.config import ConfigError, Settings
from bot.slack.manifest import build_manifest
from db.migrate import head_revision


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "DATABASE_URL", "TRIPWIRE_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_follow_the_contract() -> None:
    settings = Settings()
    assert settings.database_url == "sqlite:///var/tripwire.db"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.command == "/incident"


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        pytest.param({}, "SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET", id="both-missing"),
        pytest.param({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET", id="secret-missing"),
        pytest.param(
            {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "changeme"},
            "SLACK_SIGNING_SECRET",
            id="placeholder-refused",
        ),
    ],
)
def test_serve_refuses_to_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str], missing: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["serve"]) == 2
    assert f"set {missing}" in capsys.readouterr().err


def test_socket_mode_needs_the_app_token() -> None:
    settings = Settings(SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s")
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
        settings.require_socket_mode()


def test_manifest_points_everything_at_the_public_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRIPWIRE_PUBLIC_URL", "https://tw.example.org/")
    assert main(["manifest"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    url = "https://tw.example.org/slack/events"
    [command] = manifest["features"]["slash_commands"]
    assert (command["command"], command["url"], command["should_escape"]) == ("/incident", url, True)
    assert manifest["settings"]["interactivity"]["request_url"] == url
    assert manifest["settings"]["event_subscriptions"] == {"request_url": url, "bot_events": ["app_home_opened"]}
    [shortcut] = manifest["features"]["shortcuts"]
    assert (shortcut["type"], shortcut["callback_id"]) == ("message", "report_safety_incident")
    assert {"commands", "chat:write", "im:write"} <= set(manifest["oauth_config"]["scopes"]["bot"])


def test_socket_mode_manifest_has_no_request_urls() -> None:
    manifest = build_manifest(Settings(), socket_mode=True)
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in manifest["settings"]["interactivity"]
    assert "url" not in manifest["features"]["slash_commands"][0]


def test_db_upgrade_creates_the_schema(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x/tripwire.db")
    assert main(["db", "upgrade"]) == 0
    assert f"database at revision {head_revision()}" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
