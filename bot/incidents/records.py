"""Writing an incident's changes in the caller's transaction: timeline entry, escalation timers, Slack outbox rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

from sqlmodel import Session

from bot.common.errors import TripwireError
from bot.common.messages import CardPost, CardUpdate, PageUpdate, ResponseUrl, ThreadLine
from bot.common.vocabulary import CLOSED, Action, Status
from bot.policy.document import Policy
from bot.policy.oncall import escalation_pages
from bot.policy.schedules import Deadline
from bot.policy.triage import Decision
from db import queues
from db import repositories as repo
from db.models import DedupClaim, Incident, IncidentDeadline, OutboxMessage, TimelineEntry

TRACKED = ("status", "severity", "assignee", "escalation_level", "category", "level", "paged", "snoozed_until")
SYSTEM_ACTOR = "tripwire"
PAGE_KINDS = ("page", "ack_reminder")
DEADLINE_KINDS = ("deadline_reminder", "deadline_due")
# The actions that close or reopen an incident, and so give back or take again its dedup key's claim.
CLAIM_ACTIONS = frozenset({Action.RESOLVE, Action.DISMISS, Action.REOPEN})
# The changes a paged person's DM reports ("acknowledged by @tom at …"): what decides whether they still must act.
PAGE_NEWS = frozenset({"status", "escalation_level"})
# A deadline clock whose policy lists no reminders still warns its owners, at these shares of its time.
DEFAULT_REMINDER_SHARES = (0.5, 0.9)


class PermissionDenied(TripwireError):
    """The policy does not give this person this action; the refusal is on the timeline."""


def snapshot(incident: Incident) -> dict[str, Any]:
    """The tracked fields as JSON-ready values (timeline before/after)."""
    values: dict[str, Any] = {}
    for name in TRACKED:
        value = getattr(incident, name)
        values[name] = value.isoformat() if isinstance(value, datetime) else value
    return values


def enqueue_card_update(
    session: Session,
    incident: Incident,
    now: datetime,
    *,
    by_person: bool = False,
    via: ResponseUrl | None = None,
    express: list[OutboxMessage] | None = None,
) -> None:
    """Queue an in-place edit of the card (and of its redacted copy for a restricted incident).

    `by_person`: a person's action asked for it, so the outbox sends it ahead of the bot's own edits.
    `via`: the response_url of the click that asked for it; the edit of the copy that was clicked carries it.
    `express`: given, the edit of the clicked copy is claimed for the caller to send itself once this transaction
    commits (and added to the list), unless an earlier post or edit of that card is still unsent: it must not overtake
    those, so it then waits in the card's edit lane like any other.
    """
    assert incident.id is not None
    copies = [(incident.channel_id or "", incident.card_ts, False)]
    if incident.redacted_channel_id:
        copies.append((incident.redacted_channel_id, incident.redacted_ts, True))
    for channel, ts, redacted in copies:
        clicked = _clicked(via, channel, ts, now)
        claimed = (
            express is not None
            and bool(clicked)
            and queues.edit_lane_clear(session=session, incident_id=incident.id, channel=channel)
        )
        card = CardUpdate(incident_id=incident.id, channel=channel, redacted=redacted, by_person=by_person, **clicked)
        row = queues.enqueue_message(session=session, message=card, now=now, claimed=claimed)
        if claimed and express is not None:
            express.append(row)


def _clicked(via: ResponseUrl | None, channel: str | None, ts: str | None, now: datetime) -> dict[str, Any]:
    # A response_url replaces the message that was clicked and no other: a click in a page DM, or a slash command's
    # response_url (for the channel the command was typed in), cannot edit the card.
    if via is None or not ts or (via.channel, via.ts) != (channel, ts):
        return {}
    return {"response_url": via.url, "clicked_at": now}


def enqueue_page_updates(
    session: Session,
    incident: Incident,
    pages: Sequence[OutboxMessage],
    *,
    now: datetime,
    actor: str,
    action: Action,
) -> None:
    """Queue an edit of each of the incident's page DMs (`queues.list_pages`) to say what was done and by whom."""
    assert incident.id is not None
    for page in pages:
        assert page.id is not None
        update = PageUpdate(
            incident_id=incident.id,
            user=page.channel,
            page_id=page.id,
            action=action.value,
            actor=actor,
            at=now,
            status=incident.status,
            step=incident.escalation_level,
        )
        queues.enqueue_message(session=session, message=update, now=now)


def record(
    session: Session,
    incident: Incident,
    *,
    now: datetime,
    actor: str,
    action: Action,
    before: dict[str, Any],
    note: str = "",
    thread: bool = True,
    details: dict[str, Any] | None = None,
    via: ResponseUrl | None = None,
    express: list[OutboxMessage] | None = None,
) -> TimelineEntry:
    """Append the timeline entry for a change and queue its thread line and card edit.

    `details` goes into the entry's `after` beside the changed fields: what the thread line needs to say more
    than the note can (a deadline's due time, rendered in each reader's zone). `via`: the response_url of the click
    that made the change, which the card's edit may go through; `express`, see `enqueue_card_update`.
    """
    assert incident.id is not None
    after = snapshot(incident)
    changed = [name for name in TRACKED if before.get(name) != after[name]]
    entry = repo.append_timeline(
        session=session,
        incident_id=incident.id,
        at=now,
        actor=actor,
        action=action,
        before={name: before.get(name) for name in changed},
        after={name: after[name] for name in changed} | (details or {}),
        note=note,
    )
    session.flush()
    # Looked up before this change's own rows are queued (none of them is a page): the look-up then has nothing to
    # flush first, and those rows go in together at commit.
    pages = queues.list_pages(session=session, incident_id=incident.id) if PAGE_NEWS.intersection(changed) else ()
    if thread:
        assert entry.id is not None
        line = ThreadLine(incident_id=incident.id, channel=incident.channel_id or "", timeline_entry_id=entry.id)
        queues.enqueue_message(session=session, message=line, now=now)
    if changed:
        enqueue_card_update(session, incident, now, by_person=actor != SYSTEM_ACTOR, via=via, express=express)
    if pages:
        enqueue_page_updates(session, incident, pages, now=now, actor=actor, action=action)
    return entry


def schedule_chain(
    session: Session, incident: Incident, policy: Policy, *, start: datetime, from_step: int = 0
) -> None:
    """Plan the route's pages (from `from_step`, which is paged at `start`) and its ack reminders."""
    assert incident.id is not None
    route = policy.routes.get(incident.route or "")
    if route is None:
        return
    from_step = min(from_step, len(route.escalation) - 1)
    shift = route.escalation[from_step].after
    for page in escalation_pages(route, triggered_at=start):
        if (page.round, page.step) >= (0, from_step):
            queues.add_timer(
                session=session,
                kind="page",
                due_at=page.at - shift,
                incident_id=incident.id,
                payload={"step": page.step, "round": page.round},
            )
    for reminder in route.reminders:
        queues.add_timer(session=session, kind="ack_reminder", due_at=start + reminder, incident_id=incident.id)
    incident.ack_due_at = start + route.ack_window


def crosswalk(policy: Policy, category_id: str, level: str | None) -> dict[str, Any] | None:
    """What the policy maps a category's level to in each framework, as JSON for the `create` entry.

    `of` is "level" when the level has its own crosswalk, else "category" (the hazard's names in each framework,
    which are no claim about the level); None when the policy maps neither.
    """
    category = policy.categories.get(category_id)
    if category is None:
        return None
    spec = next((spec for name, spec in category.levels.items() if name == level), None)
    scope, mapping = (
        ("level", spec.crosswalk) if spec is not None and spec.crosswalk else ("category", category.crosswalk)
    )
    if not mapping:
        return None
    frameworks = {framework.id: f"{framework.name} {framework.version}" for framework in policy.frameworks}
    maps = [{"framework": frameworks.get(fid, fid), "names": list(names)} for fid, names in mapping.items() if names]
    return {"of": scope, "maps": maps} if maps else None


def deadline_reminders(spec: Deadline, *, start: datetime, due: datetime, tz: tzinfo) -> list[datetime]:
    """When to remind the owners of a clock: the policy's reminders, or at half and nine tenths of the time."""
    listed = spec.reminder_times(start=start, tz=tz)
    return list(listed) if listed else [start + (due - start) * share for share in DEFAULT_REMINDER_SHARES]


def open_incident(
    session: Session, incident: Incident, *, decision: Decision, policy: Policy, now: datetime, triage_channel: str
) -> Incident:
    """Store a new incident as the policy decided: level, route, deadline clocks, escalation chain, card."""
    channel = decision.channel or triage_channel
    incident.status = Status.TRIGGERED
    incident.category = decision.category or incident.category
    incident.severity = decision.severity or incident.severity
    incident.channel_id = channel
    incident.level = decision.level
    incident.route = decision.route
    incident.restricted = decision.restricted
    incident.policy_version = policy.version
    incident.policy_hash = policy.content_hash
    incident.explanation = decision.explanation
    incident.actions = list(decision.actions)
    repo.add_incident(session=session, incident=incident)
    assert incident.id is not None
    for started in decision.deadlines:
        spec = policy.deadlines[started.deadline_id]
        repo.add_deadline(
            session=session,
            deadline=IncidentDeadline(
                incident_id=incident.id,
                deadline_id=started.deadline_id,
                name=spec.name,
                started_at=now,
                due_at=started.due,
            ),
        )
        payload = {"deadline_id": started.deadline_id}
        for when in deadline_reminders(spec, start=now, due=started.due, tz=policy.tz):
            queues.add_timer(
                session=session, kind="deadline_reminder", due_at=when, incident_id=incident.id, payload=payload
            )
        queues.add_timer(
            session=session, kind="deadline_due", due_at=started.due, incident_id=incident.id, payload=payload
        )
    schedule_chain(session, incident, policy, start=now)
    maps = crosswalk(policy, incident.category, incident.level)
    repo.append_timeline(
        session=session,
        incident_id=incident.id,
        at=now,
        actor=incident.reporter,
        action=Action.CREATE,
        before={},
        # The crosswalk is kept as decided: a later policy may map the level differently, the card stays true to this.
        after=snapshot(incident) | ({"crosswalk": maps} if maps else {}),
        note=decision.explanation,
    )
    queues.enqueue_message(session=session, message=CardPost(incident_id=incident.id, channel=channel), now=now)
    if incident.restricted and channel != triage_channel:
        incident.redacted_channel_id = triage_channel
        redacted = CardPost(incident_id=incident.id, channel=triage_channel, redacted=True)
        queues.enqueue_message(session=session, message=redacted, now=now)
    return incident


def settle_claim(claim: DedupClaim, incident: Incident) -> None:
    """Closing gives the incident's dedup key back; reopening takes it again unless another incident holds it."""
    if Status(incident.status) in CLOSED:
        if claim.incident_id == incident.id:
            claim.incident_id = None
    elif claim.incident_id is None:
        claim.incident_id = incident.id
