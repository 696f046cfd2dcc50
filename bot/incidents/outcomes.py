"""What `/incident` subcommands come to, as plain values: bot/slack/replies.py turns each into the answer shown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.common.errors import InvalidInput
from bot.incidents.audit import AuditSummary
from bot.incidents.report import ReportDraft
from bot.policy.oncall import RosterLine
from db.models import Incident, IncidentDeadline, TimelineEntry


class UnknownSubcommand(InvalidInput):
    """The first word is no subcommand; the answer lists the ones there are."""

    def __init__(self, word: str, command: str) -> None:
        super().__init__(f"`{word[:40]}` is not a {command} subcommand. Try `{command} help`.", field="subcommand")
        self.command = command


@dataclass(frozen=True)
class Help:
    """`help`: the subcommands of `command`."""

    command: str


@dataclass(frozen=True)
class Listing:
    """`list`: the incidents in a scope (open, mine, all)."""

    scope: str
    incidents: Sequence[Incident]


@dataclass(frozen=True)
class Detail:
    """`show`: an incident with its timeline and deadline clocks."""

    incident: Incident
    timeline: Sequence[TimelineEntry]
    deadlines: Sequence[IncidentDeadline]


@dataclass(frozen=True)
class Withheld:
    """`show` (or `report`) of a restricted incident outside its own channel: only where its details are."""

    incident: Incident
    subcommand: str = "show"


@dataclass(frozen=True)
class Roster:
    """`oncall`: who is on call now and next, per rotation."""

    roster: Sequence[RosterLine]


@dataclass(frozen=True)
class Changed:
    """A verb was applied; the incident as it is now."""

    incident: Incident


@dataclass(frozen=True)
class Audited:
    """`audit`: the export's size and first and last hashes, verified, for a person the policy lets export it."""

    summary: AuditSummary


# `report` answers with the draft itself (bot/incidents/report.py).
Outcome = Help | Listing | Detail | Withheld | Roster | Changed | Audited | ReportDraft
