"""Ephemeral answers: to `/incident` subcommands and to domain errors; and the on-call and deadline texts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.common.errors import TripwireError
from bot.common.limits import SECTION_TEXT_MAX
from bot.incidents.outcomes import Audited, Changed, Detail, Help, Listing, Outcome, UnknownSubcommand, Withheld
from bot.incidents.report import ReportDraft
from bot.policy.oncall import RosterLine
from bot.slack.blocks import crosswalk_of, text_blocks
from bot.slack.text import render
from db.models import IncidentDeadline

# `list` shows what the repository returns, at most this many (the newest).
LIST_MAX = 50


@dataclass(frozen=True)
class Reply:
    """An ephemeral answer: text, and blocks when the text is long."""

    text: str
    blocks: list[dict[str, Any]] | None = None

    def as_kwargs(self) -> dict[str, Any]:
        """Arguments for `respond(...)`."""
        kwargs: dict[str, Any] = {"text": self.text[:SECTION_TEXT_MAX], "response_type": "ephemeral"}
        if self.blocks is not None:
            kwargs["blocks"] = self.blocks
        return kwargs


def command_reply(outcome: Outcome) -> Reply:
    """What the person who ran a subcommand is shown."""
    if isinstance(outcome, Help):
        return Reply(render("slack/help.j2", command=outcome.command))
    if isinstance(outcome, Changed):
        return Reply(render("slack/done.j2", incident=outcome.incident))
    if isinstance(outcome, Listing):
        text = render("slack/list.j2", incidents=outcome.incidents, scope=outcome.scope, limit=LIST_MAX)
    elif isinstance(outcome, Detail):
        text = render("slack/show.j2", detail=outcome, crosswalk=crosswalk_of(outcome.timeline))
    elif isinstance(outcome, Withheld):
        text = render("slack/restricted.j2", incident=outcome.incident, subcommand=outcome.subcommand)
    elif isinstance(outcome, Audited):
        text = render("slack/audit.j2", summary=outcome.summary)
    elif isinstance(outcome, ReportDraft):
        # One ephemeral message of sections (text_blocks): the draft is read and copied from Slack, so no file upload
        # (that would be a shared, stored file in a channel); its lists are bounded to stay well inside 50 blocks.
        text = render("slack/report.j2", draft=outcome)
    else:
        text = oncall_text(outcome.roster)
    return Reply(text, text_blocks(text))


def error_text(error: TripwireError) -> str:
    """A domain error as the person who acted reads it; an unknown subcommand comes with the list of subcommands."""
    if isinstance(error, UnknownSubcommand):
        return f"{error}\n" + render("slack/help.j2", command=error.command)
    return str(error)


def oncall_text(roster: Sequence[RosterLine]) -> str:
    """Who is on call now and next, per rotation."""
    return render("slack/oncall.j2", roster=roster)


def deadlines_text(deadlines: Sequence[IncidentDeadline]) -> str:
    """The deadline clocks running, soonest first."""
    return render("slack/deadlines.j2", deadlines=deadlines)
