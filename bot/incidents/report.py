"""`/incident report`: the data of a drafted SB 53 critical-safety-incident report, from what Tripwire holds.

Pure: it reads the incident, its deadline clocks, its linked evaluation results and its timeline as values and
decides nothing but what to put in the draft and what a reviewer still has to supply. Nothing here files anything;
the draft is for a person to check, complete and file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.common.errors import TripwireError
from bot.common.vocabulary import Action
from bot.policy.document import Policy
from db.models import EvalResult, Incident, IncidentDeadline, TimelineEntry

# "SB 53", "SB53", "ca-sb53": how a policy names the California law, in a framework's id or name or a clock's name.
SB53 = re.compile(r"\bsb[\s_-]?53\b", re.IGNORECASE)
# SB 53's shorter clock (imminent risk of death or serious injury) runs 24 hours; the ordinary one 15 days.
IMMINENT = timedelta(hours=24)
# The timeline entries that are things people did about the incident; pages, reminders and refusals are not.
ACTIONS_TAKEN = frozenset(
    {
        Action.CREATE,
        Action.ACKNOWLEDGE,
        Action.ESCALATE,
        Action.MITIGATE,
        Action.RESOLVE,
        Action.DISMISS,
        Action.REOPEN,
        Action.SEVERITY,
        Action.ASSIGN,
        Action.NOTE,
        Action.SNOOZE,
    }
)
# The draft is one ephemeral message (at most 50 sections of 3,000 characters): bounded lists, with counts of the rest.
ACTIONS_MAX = 25
EVIDENCE_MAX = 20


class NoReportClock(TripwireError):
    """The incident has no SB 53 deadline clock, so there is no critical-safety-incident report to draft."""


@dataclass(frozen=True)
class ReportClock:
    """An SB 53 deadline clock on the incident, with what the policy cites for it."""

    clock: IncidentDeadline
    refs: tuple[str, ...]

    @property
    def imminent(self) -> bool:
        """The 24-hour clock: imminent risk of death or serious injury."""
        return self.clock.due_at - self.clock.started_at <= IMMINENT


@dataclass(frozen=True)
class ReportDraft:
    """Everything the drafted report shows (what a person must still supply is marked in the template)."""

    incident: Incident
    clock: ReportClock
    other_clocks: tuple[ReportClock, ...]
    category_name: str
    category_description: str
    crosswalk: dict[str, object] | None
    evidence: tuple[EvalResult, ...]
    evidence_total: int
    first_observed: datetime | None
    actions: tuple[TimelineEntry, ...]
    actions_total: int
    policy_version: str
    drafted_at: datetime


def report_clocks(policy: Policy, deadlines: Sequence[IncidentDeadline]) -> list[ReportClock]:
    """The incident's SB 53 clocks, soonest due first.

    A clock is SB 53's when its policy deadline cites a framework named SB 53, or (a policy that lists no such
    framework, or a clock since removed from the policy) when the clock's own name says SB 53.
    """
    frameworks = {framework.id: f"{framework.id} {framework.name}" for framework in policy.frameworks}
    found: list[ReportClock] = []
    for clock in deadlines:
        spec = policy.deadlines.get(clock.deadline_id)
        cited = {
            fid: text for fid, text in (spec.refs if spec else {}).items() if SB53.search(frameworks.get(fid, fid))
        }
        if cited or SB53.search(clock.name):
            found.append(ReportClock(clock=clock, refs=tuple(cited.values())))
    return sorted(found, key=lambda found_clock: (found_clock.clock.due_at, found_clock.clock.deadline_id))


def draft_report(
    *,
    incident: Incident,
    policy: Policy,
    deadlines: Sequence[IncidentDeadline],
    timeline: Sequence[TimelineEntry],
    evidence: Sequence[EvalResult],
    evidence_total: int,
    now: datetime,
) -> ReportDraft:
    """The draft of the critical-safety-incident report for an incident with an SB 53 clock.

    The soonest-due SB 53 clock is the one the report answers to (the 24-hour clock when both run).
    """
    clocks = report_clocks(policy, deadlines)
    if not clocks:
        names = ", ".join(clock.name for clock in deadlines) or "none"
        raise NoReportClock(
            f"{incident.ref} has no SB 53 reporting clock (its clocks: {names}), so there is no critical safety "
            "incident report to draft. Its level and category decide which clocks start; see the policy's `deadlines`."
        )
    category = policy.categories.get(incident.category)
    taken = [entry for entry in timeline if entry.action in ACTIONS_TAKEN]
    observed = [result.observed_at for result in evidence]
    return ReportDraft(
        incident=incident,
        clock=clocks[0],
        other_clocks=tuple(clocks[1:]),
        category_name=category.name if category else incident.category,
        category_description=category.description if category else "",
        crosswalk=_crosswalk(timeline),
        evidence=tuple(evidence[:EVIDENCE_MAX]),
        evidence_total=max(evidence_total, len(evidence)),
        first_observed=min(observed) if observed else None,
        actions=tuple(taken[-ACTIONS_MAX:]),
        actions_total=len(taken),
        policy_version=incident.policy_version or policy.version,
        drafted_at=now,
    )


def _crosswalk(timeline: Sequence[TimelineEntry]) -> dict[str, object] | None:
    # As decided when the incident opened (the `create` entry), like the card: a later policy may map it otherwise.
    for entry in timeline:
        if entry.action == Action.CREATE:
            found = entry.after.get("crosswalk")
            return found if isinstance(found, dict) else None
    return None
