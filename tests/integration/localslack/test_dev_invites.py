"""`tripwire dev` sets the workspace up as the README tells a real team to: the bot invited where it must be."""

from __future__ import annotations

from pathlib import Path

from bot.app.config import Settings
from bot.app.dev import furnish, seed_from_policy, write_dev_policy
from bot.policy.loader import load_policy
from bot.policy.store import BUNDLED_POLICY
from bot.slack.manifest import BOT_SCOPES
from localslack import LocalSlack

# The channels the README asks a real team to invite the bot to: the triage channel, and every channel the bundled
# policy routes to or drafts digests into (the private and restricted ones included).
INVITED = {
    "safety-triage": False,
    "safety-oncall": False,
    "safety-restricted": True,
    "safety-leadership": True,
    "safety-digest-review": False,
}


def dev_workspace(tmp_path: Path) -> LocalSlack:
    """The workspace `tripwire dev` builds for the bundled policy (not started: nothing here needs HTTP)."""
    slack = LocalSlack()
    furnish(slack, Settings())
    seed_from_policy(slack, load_policy(write_dev_policy(BUNDLED_POLICY, tmp_path / "policy.yaml")))
    return slack


def test_bot_is_in_the_readme_channels_and_nowhere_else(tmp_path: Path) -> None:
    workspace = dev_workspace(tmp_path).workspace
    channels = {c.name: c for c in workspace.channels.values() if not c.is_im}
    assert {name: channels[name].is_private for name in INVITED} == INVITED
    assert {name for name, channel in channels.items() if workspace.bot_user_id in channel.members} == set(INVITED)
    assert "general" in channels


def test_dev_token_holds_exactly_the_manifest_scopes(tmp_path: Path) -> None:
    assert dev_workspace(tmp_path).workspace.scopes == set(BOT_SCOPES)
