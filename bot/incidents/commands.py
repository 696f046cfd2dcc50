"""`/incident` subcommands: parse the text, call the service, say what happened (bot/slack/replies.py shows it)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.common.errors import InvalidInput
from bot.common.vocabulary import Action
from bot.incidents import audit
from bot.incidents.lifecycle import parse_ref, parse_severity
from bot.incidents.outcomes import Audited, Changed, Help, Listing, Outcome, Roster, UnknownSubcommand, Withheld
from bot.incidents.records import PermissionDenied
from bot.incidents.report import EVIDENCE_MAX, ReportDraft, draft_report
from bot.incidents.service import IncidentService
from bot.policy.oncall import roster
from bot.policy.values import parse_duration
from db.models import Incident

USAGE = {
    "new": "new [title]",
    "list": "list [open|mine|all]",
    "show": "show INC-42",
    "ack": "ack INC-42",
    "escalate": "escalate INC-42",
    "mitigate": "mitigate INC-42 [note]",
    "resolve": "resolve INC-42 [note]",
    "dismiss": "dismiss INC-42 reason",
    "reopen": "reopen INC-42",
    "sev": "sev INC-42 sev1..sev4",
    "assign": "assign INC-42 @user",
    "note": "note INC-42 text",
    "snooze": "snooze INC-42 DURATION reason",
    "oncall": "oncall",
    "audit": "audit [since YYYY-MM-DD]",
    "report": "report INC-42",
    "help": "help",
}
ALIASES = {"acknowledge": "ack", "severity": "sev", "ls": "list"}
USER_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Parsed:
    """A subcommand and the rest of its words."""

    name: str
    args: list[str] = field(default_factory=list)
    rest: str = ""


def usage_error(command: str, name: str, problem: str) -> InvalidInput:
    """An error that shows the right usage of a subcommand."""
    return InvalidInput(f"{problem} Usage: `{command} {USAGE[name]}`", field=name)


def parse(text: str, command: str = "/incident") -> Parsed:
    """Split `/incident` text into a known subcommand and its arguments."""
    # With should_escape on, Slack sends &, < and > as entities; store what the person typed.
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    words = text.strip().split(maxsplit=1)
    if not words:
        return Parsed("help")
    name = ALIASES.get(words[0].lower(), words[0].lower())
    rest = words[1] if len(words) > 1 else ""
    if name not in USAGE:
        raise UnknownSubcommand(words[0], command)
    return Parsed(name, rest.split(), rest)


def _ref_and_text(parsed: Parsed, command: str, *, need_text: str | None = None) -> tuple[int, str]:
    if not parsed.args:
        raise usage_error(command, parsed.name, "Which incident?")
    try:
        incident_id = parse_ref(parsed.args[0])
    except InvalidInput as exc:
        raise usage_error(command, parsed.name, str(exc)) from None
    text = parsed.rest[len(parsed.args[0]) :].strip()
    if need_text and not text:
        raise usage_error(command, parsed.name, need_text)
    return incident_id, text


def execute(
    parsed: Parsed,
    *,
    actor: str,
    incidents: IncidentService,
    now: datetime,
    channel: str = "",
    command: str = "/incident",
) -> Outcome:
    """Run every subcommand except `new` (which opens a modal) and say what happened."""
    name = parsed.name
    if name == "help":
        return Help(command)
    if name == "list":
        scope = parsed.args[0].lower() if parsed.args else "open"
        return Listing(scope, incidents.list(scope=scope, user=actor))
    if name == "show":
        incident_id, _ = _ref_and_text(parsed, command)
        detail = incidents.get(incident_id=incident_id)
        return Withheld(detail.incident) if _withheld(detail.incident, channel) else detail
    if name == "oncall":
        return Roster(roster(incidents.policy, at=now))
    if name == "audit":
        return _audit(parsed, actor=actor, incidents=incidents, command=command)
    if name == "report":
        return _report(parsed, incidents=incidents, now=now, channel=channel, command=command)
    return Changed(_change(parsed, actor=actor, incidents=incidents, command=command))


def _withheld(incident: Incident, channel: str) -> bool:
    """A restricted incident's details are shown only in its own (private) channel, whose members may see them."""
    return incident.restricted and channel != incident.channel_id


def _report(
    parsed: Parsed, *, incidents: IncidentService, now: datetime, channel: str, command: str
) -> ReportDraft | Withheld:
    incident_id, _ = _ref_and_text(parsed, command)
    detail = incidents.get(incident_id=incident_id)
    # Checked before anything else is read or said, so a refusal tells a non-member nothing about its clocks.
    if _withheld(detail.incident, channel):
        return Withheld(detail.incident, subcommand="report")
    evidence, total = incidents.evidence(incident_id=incident_id, limit=EVIDENCE_MAX)
    return draft_report(
        incident=detail.incident,
        policy=incidents.policy,
        deadlines=detail.deadlines,
        timeline=detail.timeline,
        evidence=evidence,
        evidence_total=total,
        now=now,
    )


def _audit(parsed: Parsed, *, actor: str, incidents: IncidentService, command: str) -> Audited:
    policy = incidents.policy
    if not policy.permits(action=Action.EXPORT_AUDIT, user=actor):
        # An export belongs to no incident, so the refusal goes to the log rather than a timeline.
        log.warning("audit export refused for %s under policy %s", actor, policy.version)
        allowed = ", ".join(policy.permissions.get(Action.EXPORT_AUDIT, ()))
        raise PermissionDenied(f"You can't export the audit trail: policy {policy.version} gives that to {allowed}.")
    since = None
    if parsed.args:
        try:
            since = datetime.fromisoformat(parsed.args[0])
        except ValueError:
            raise usage_error(command, "audit", f"`{parsed.args[0][:40]}` is not a date.") from None
        since = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
    return Audited(audit.summarise(incidents.uow, since=since))


def _change(parsed: Parsed, *, actor: str, incidents: IncidentService, command: str) -> Incident:
    name = parsed.name
    simple: dict[str, Callable[..., Incident]] = {
        "ack": incidents.acknowledge,
        "escalate": incidents.escalate,
        "reopen": incidents.reopen,
    }
    if name in simple:
        incident_id, _ = _ref_and_text(parsed, command)
        return simple[name](incident_id=incident_id, actor=actor)
    if name in ("mitigate", "resolve"):
        incident_id, note = _ref_and_text(parsed, command)
        verb = incidents.mitigate if name == "mitigate" else incidents.resolve
        return verb(incident_id=incident_id, actor=actor, note=note)
    if name == "dismiss":
        incident_id, reason = _ref_and_text(parsed, command, need_text="Say why it is a false positive.")
        return incidents.dismiss(incident_id=incident_id, actor=actor, reason=reason)
    if name == "note":
        incident_id, text = _ref_and_text(parsed, command, need_text="What is the note?")
        return incidents.add_note(incident_id=incident_id, actor=actor, text=text)
    if name == "sev":
        incident_id, level = _ref_and_text(parsed, command, need_text="Which severity?")
        try:
            severity = parse_severity(level)
        except InvalidInput as exc:
            raise usage_error(command, name, str(exc)) from None
        return incidents.set_severity(incident_id=incident_id, actor=actor, severity=severity)
    if name == "snooze":
        incident_id, rest = _ref_and_text(parsed, command, need_text="For how long, and why?")
        length, _, reason = rest.partition(" ")
        try:
            duration = parse_duration(length)
        except ValueError as exc:
            raise usage_error(command, name, str(exc)) from None
        return incidents.snooze(incident_id=incident_id, actor=actor, duration=duration, reason=reason)
    if name == "assign":
        incident_id, who = _ref_and_text(parsed, command, need_text="Assign to whom?")
        match = USER_MENTION.match(who)
        if not match:
            raise usage_error(command, name, f"`{who[:40]}` is not a Slack user mention.")
        return incidents.assign(incident_id=incident_id, actor=actor, assignee=match.group(1))
    raise usage_error(command, "help", f"`{name}` cannot be run this way.")
