"""`tripwire doctor`: check the Slack side of a real install and say exactly what to fix.

The token must be valid, the app must hold every scope the manifest asks for, and every channel the policy names
(routes, the digest's review and publish channels, the triage channel) must exist with the bot in it: a private
channel is invisible to a bot that is not a member, and chart uploads (files:write) land only where it is one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.policy.document import Policy
from bot.slack.manifest import BOT_SCOPES

log = logging.getLogger(__name__)
# auth.test answers these when the token itself is wrong; anything else (a 5xx, a timeout) is Slack, not the set-up.
TOKEN_ERRORS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"})


@dataclass(frozen=True)
class Finding:
    """One check: what was checked, whether it holds, and what to do when it does not."""

    ok: bool
    what: str
    fix: str = ""


@dataclass
class Need:
    """A channel the configuration names, why, and whether the policy says it is private."""

    ref: str
    private: bool = False
    uses: list[str] = field(default_factory=list)


def channels_needed(policy: Policy, *, triage_channel: str) -> dict[str, Need]:
    """Every channel the policy and the settings name, with what each is used for."""
    needs: dict[str, Need] = {}

    def add(ref: str, use: str, *, private: bool = False) -> None:
        need = needs.setdefault(ref, Need(ref))
        need.private = need.private or private
        need.uses.append(use)

    for route_id, route in policy.routes.items():
        add(route.channel, f"route {route_id}", private=route.private)
    add(policy.digest.review_channel, "digest review (drafts and chart uploads)")
    add(policy.digest.publish_channel, "digest publish (digests and chart uploads)")
    add(triage_channel, "triage channel (TRIPWIRE_TRIAGE_CHANNEL; redacted cards)")
    return needs


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return None


def _visible_channels(client: WebClient) -> Iterator[dict[str, Any]]:
    # Slack lists public channels and only those private channels the bot is a member of.
    cursor = ""
    while True:
        page = client.conversations_list(
            types="public_channel,private_channel", exclude_archived=False, limit=200, cursor=cursor or None
        )
        yield from page.get("channels") or []
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
        if not cursor:
            return


def _is_member(client: WebClient, channel: Mapping[str, Any], bot_user: str) -> bool:
    if "is_member" in channel:
        return bool(channel["is_member"])
    members: list[str] = []
    cursor = ""
    while True:
        page = client.conversations_members(channel=channel["id"], limit=200, cursor=cursor or None)
        members += page.get("members") or []
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
        if not cursor:
            return bot_user in members


def check_slack(client: WebClient, policy: Policy, *, triage_channel: str) -> list[Finding]:
    """Run every check against the Slack Web API behind `client`; an invalid token stops the rest.

    Raises SlackApiError when Slack itself fails (5xx, rate limits): that says nothing about the set-up."""
    try:
        auth = client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
        if error not in TOKEN_ERRORS:
            raise
        return [
            Finding(
                False,
                f"token: auth.test refused the bot token ({error})",
                "set SLACK_BOT_TOKEN to the Bot User OAuth Token (xoxb-…) from OAuth & Permissions of this app",
            )
        ]
    bot_user = str(auth.get("user_id") or "")
    name = str(auth.get("user") or "tripwire")
    findings = [Finding(True, f"token: valid for @{name} ({bot_user}) in {auth.get('team') or 'the workspace'}")]
    findings += _scope_findings(_header(auth.headers, "x-oauth-scopes"))
    findings += _channel_findings(client, policy, triage_channel=triage_channel, bot_user=bot_user, name=name)
    return findings


def _scope_findings(granted_header: str | None) -> list[Finding]:
    if granted_header is None:
        return [
            Finding(
                False,
                "scopes: Slack did not say which scopes the token holds (no x-oauth-scopes header)",
                "compare OAuth & Permissions with `tripwire manifest` by hand",
            )
        ]
    granted = {s.strip() for s in granted_header.split(",") if s.strip()}
    missing = [scope for scope in BOT_SCOPES if scope not in granted]
    if not missing:
        return [Finding(True, f"scopes: all {len(BOT_SCOPES)} the manifest asks for are granted")]
    return [
        Finding(
            False,
            f"scopes: {', '.join(missing)} not granted",
            f"add scope {scope} under OAuth & Permissions → Bot Token Scopes and reinstall the app",
        )
        for scope in missing
    ]


def _channel_findings(
    client: WebClient, policy: Policy, *, triage_channel: str, bot_user: str, name: str
) -> list[Finding]:
    needs = channels_needed(policy, triage_channel=triage_channel)
    visible = list(_visible_channels(client))
    by_name = {str(c.get("name")): c for c in visible}
    by_id = {str(c.get("id")): c for c in visible}
    findings = []
    for ref, need in needs.items():
        uses = "; ".join(need.uses)
        label = ref if ref.startswith("#") else f"<#{ref}>"
        channel = by_name.get(ref[1:]) if ref.startswith("#") else by_id.get(ref) or _info(client, ref)
        invite = f"/invite @{name} in {label}"
        if channel is None:
            kind = "private channel" if need.private else "channel"
            findings.append(
                Finding(
                    False,
                    f"{label} ({uses}): not found — it does not exist, or it is private and @{name} is not in it",
                    f"create the {kind} {label} (or fix the policy), then `{invite}`",
                )
            )
            continue
        if channel.get("is_archived"):
            findings.append(Finding(False, f"{label} ({uses}): archived", f"unarchive {label}, then `{invite}`"))
            continue
        if not _is_member(client, channel, bot_user):
            why = "it is private" if channel.get("is_private") else "charts are uploaded only where it is a member"
            findings.append(Finding(False, f"{label} ({uses}): @{name} is not a member ({why})", f"`{invite}`"))
            continue
        if need.private and not channel.get("is_private"):
            findings.append(
                Finding(
                    False,
                    f"{label} ({uses}): the policy says private, but the channel is public",
                    f"convert {label} to a private channel (restricted details go there)",
                )
            )
            continue
        findings.append(Finding(True, f"{label} ({uses}): exists, @{name} is a member"))
    return findings


def _info(client: WebClient, channel_id: str) -> dict[str, Any] | None:
    try:
        found = client.conversations_info(channel=channel_id).get("channel")
    except SlackApiError:
        return None
    return found if isinstance(found, dict) else None


def print_findings(findings: list[Finding], *, out: TextIO) -> int:
    """Print each finding with its fix; return the exit code (1 when anything is wrong)."""
    for finding in findings:
        print(f"{'ok ' if finding.ok else 'FIX'}  {finding.what}", file=out)
        if not finding.ok:
            print(f"     → {finding.fix}", file=out)
    problems = sum(not f.ok for f in findings)
    print("all good" if not problems else f"{problems} problem{'s' if problems != 1 else ''} to fix", file=out)
    return 1 if problems else 0


def report_at_start(client: WebClient, policy: Policy, *, triage_channel: str) -> list[Finding]:
    """The same checks when `serve` starts: log every problem and DM the admins once; never stop the bot."""
    try:
        findings = check_slack(client, policy, triage_channel=triage_channel)
    except (SlackApiError, OSError) as exc:  # Slack down or unreachable: the bot starts anyway
        log.warning("tripwire doctor could not finish its Slack checks: %s", exc)
        return []
    problems = [f for f in findings if not f.ok]
    for finding in problems:
        log.warning("slack set-up: %s → %s", finding.what, finding.fix)
    if problems:
        text = (
            "Tripwire started, but its Slack set-up needs fixing (run `tripwire doctor` to check again):\n"
            + "\n".join(f"• {f.what}\n   → {f.fix}" for f in problems)
        )
        for admin in policy.admins:
            try:
                client.chat_postMessage(channel=admin, text=text)
            except (SlackApiError, OSError) as exc:
                log.warning("could not DM admin %s about the Slack set-up: %s", admin, exc)
    return findings
