"""Settings read from the environment: one object, checked before anything starts."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDERS = frozenset({"", "changeme", "change-me", "xxx", "secret", "todo", "your-secret-here"})
# What a value copied from the README or an example still looks like: `xoxb-…`, `xoxb-...`, `<token>`.
PLACEHOLDER_MARKS = ("…", "...", "<", ">", "your-", "your_")
# A token that is only its kind's prefix (`xoxb-`) was never filled in.
PREFIXES = frozenset({"xoxb", "xoxp", "xapp"})

# `tripwire dev` keeps its own database unless DATABASE_URL is set; `tripwire digest preview --dev` reads it.
DEV_DATABASE_URL = "sqlite:///var/dev.db"


def is_placeholder(value: str) -> bool:
    """True for an unset value, a known placeholder, or one still carrying an example's marks."""
    text = value.strip().lower()
    return text in PLACEHOLDERS or any(mark in text for mark in PLACEHOLDER_MARKS) or text.rstrip("-") in PREFIXES


class ConfigError(Exception):
    """The configuration cannot start what was asked; the message names the variable."""


class Settings(BaseSettings):
    """Everything Tripwire reads from its environment (names as in PRODUCT.md)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    slack_bot_token: str = Field(default="", alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str = Field(default="", alias="SLACK_SIGNING_SECRET")
    slack_app_token: str = Field(default="", alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")
    database_url: str = Field(default="sqlite:///var/tripwire.db", alias="DATABASE_URL")
    policy_path: str = Field(default="", alias="TRIPWIRE_POLICY")
    webhook_secret: str = Field(default="", alias="TRIPWIRE_WEBHOOK_SECRET")
    alertmanager_token: str = Field(default="", alias="TRIPWIRE_ALERTMANAGER_TOKEN")
    command: str = Field(default="/incident", alias="TRIPWIRE_COMMAND")
    triage_channel: str = Field(default="#safety-triage", alias="TRIPWIRE_TRIAGE_CHANNEL")
    public_url: str = Field(default="https://tripwire.example.com", alias="TRIPWIRE_PUBLIC_URL")
    max_body_bytes: int = Field(default=1_048_576, alias="TRIPWIRE_MAX_BODY_BYTES")
    # A compressed Inspect log (.eval zip) declaring a larger expansion is refused before it is inflated.
    max_log_bytes: int = Field(default=50 * 1024 * 1024, alias="TRIPWIRE_MAX_LOG_BYTES")
    # Slack allows about one message per second per channel; the outbox paces itself to that.
    channel_interval_seconds: float = Field(default=1.0, alias="TRIPWIRE_CHANNEL_INTERVAL")
    # An alert storm edits an incident's card at most once per this many seconds.
    card_throttle_seconds: float = Field(default=10.0, alias="TRIPWIRE_CARD_THROTTLE")
    timer_interval_seconds: float = Field(default=5.0, alias="TRIPWIRE_TIMER_INTERVAL")
    policy_reload_seconds: float = Field(default=30.0, alias="TRIPWIRE_POLICY_RELOAD")
    process_before_response: bool = Field(default=False, alias="TRIPWIRE_PROCESS_BEFORE_RESPONSE")
    # uvicorn's line per HTTP request: off by default (it was 15% of the event loop's time acking commands under load);
    # refusals and failures are logged by Tripwire itself either way, with the request id.
    access_log: bool = Field(default=False, alias="TRIPWIRE_ACCESS_LOG")

    def require(self, *names: str) -> None:
        """Raise ConfigError naming every listed variable that is unset, a placeholder or not ASCII."""
        fields = type(self).model_fields
        missing, garbled = [], []
        for name in names:
            value = getattr(self, name)
            alias = fields[name].alias or name.upper()
            if not isinstance(value, str) or is_placeholder(value):
                missing.append(alias)
            elif not value.isascii():
                # Secrets travel in HTTP headers, which carry ASCII only: such a value fails on the first request.
                garbled.append(alias)
        problems = []
        if missing:
            problems.append("set " + ", ".join(missing))
        if garbled:
            problems.append(", ".join(garbled) + " must be plain ASCII (a copied placeholder or a stray character?)")
        if problems:
            raise ConfigError(
                "cannot start: " + "; ".join(problems) + " (see README, 'Connect a real Slack workspace')"
            )

    def require_http(self) -> None:
        """Check what `tripwire serve` needs in HTTP mode."""
        self.require("slack_bot_token", "slack_signing_secret")

    def require_socket_mode(self) -> None:
        """Check what `tripwire serve --socket-mode` needs."""
        self.require("slack_bot_token", "slack_app_token")

    def sqlite_path(self) -> Path | None:
        """The file behind a sqlite:/// URL, or None for other databases."""
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix):
            rest = self.database_url[len(prefix) :]
            return None if rest in ("", ":memory:") else Path(rest)
        return None
