"""The incident service: every change is one transaction with its timeline entry, timers and Slack outbox rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot.clock import Clock
from bot.errors import InvalidInput, NotFound, TripwireError
from bot.lifecycle import Action, Draft, Severity, Status, next_status
from bot.oncall import escalation_pages
from bot.policy import PermissionAction, Policy, format_duration
from bot.policy_store import PolicyStore
from bot.triage import Decision, Report, evaluate_report
from db import repositories as repo
from db.engine import UnitOfWork
from db.models import Incident, IncidentDeadline, TimelineEntry

TRACKED = ("status", "severity", "assignee", "escalation_level", "category", "level", "paged", "snoozed_until")
SYSTEM_ACTOR = "tripwire"
PAGE_KINDS = ("page", "ack_reminder")
DEADLINE_KINDS = ("deadline_reminder", "deadline_due")


class PermissionDenied(TripwireError):
    """The policy does not give this person this action; the refusal is on the timeline."""


def snapshot(incident: Incident) -> dict[str, Any]:
    """The tracked fields as JSON-ready values (timeline before/after)."""
    values: dict[str, Any] = {}
    for name in TRACKED:
        value = getattr(incident, name)
        values[name] = value.isoformat() if isinstance(value, datetime) else value
    return values


def enqueue_card_update(session: Session, incident: Incident, now: datetime) -> None:
    """Queue an in-place edit of the card (and of its redacted copy for a restricted incident)."""
    assert incident.id is not None
    channel = incident.channel_id or ""
    repo.enqueue_outbox(session=session, kind="card.update", channel=channel, now=now, incident_id=incident.id)
    if incident.redacted_channel_id:
        repo.enqueue_outbox(
            session=session,
            kind="card.update",
            channel=incident.redacted_channel_id,
            now=now,
            incident_id=incident.id,
            payload={"redacted": True},
        )


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
) -> TimelineEntry:
    """Append the timeline entry for a change and queue its thread line and card edit."""
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
        after={name: after[name] for name in changed},
        note=note,
    )
    session.flush()
    if thread:
        repo.enqueue_outbox(
            session=session,
            kind="thread.reply",
            channel=incident.channel_id or "",
            now=now,
            incident_id=incident.id,
            payload={"timeline_entry_id": entry.id},
        )
    if changed:
        enqueue_card_update(session, incident, now)
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
            repo.add_timer(
                session=session,
                kind="page",
                due_at=page.at - shift,
                incident_id=incident.id,
                payload={"step": page.step, "round": page.round},
            )
    for reminder in route.reminders:
        repo.add_timer(session=session, kind="ack_reminder", due_at=start + reminder, incident_id=incident.id)
    incident.ack_due_at = start + route.ack_window


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
        for when in spec.reminder_times(start=now, tz=policy.tz):
            repo.add_timer(
                session=session, kind="deadline_reminder", due_at=when, incident_id=incident.id, payload=payload
            )
        repo.add_timer(
            session=session, kind="deadline_due", due_at=started.due, incident_id=incident.id, payload=payload
        )
    schedule_chain(session, incident, policy, start=now)
    repo.append_timeline(
        session=session,
        incident_id=incident.id,
        at=now,
        actor=incident.reporter,
        action=Action.CREATE,
        before={},
        after=snapshot(incident),
        note=decision.explanation,
    )
    repo.enqueue_outbox(session=session, kind="card.post", channel=channel, now=now, incident_id=incident.id)
    if incident.restricted and channel != triage_channel:
        incident.redacted_channel_id = triage_channel
        repo.enqueue_outbox(
            session=session,
            kind="card.post",
            channel=triage_channel,
            now=now,
            incident_id=incident.id,
            payload={"redacted": True},
        )
    return incident


@dataclass(frozen=True)
class Detail:
    """An incident with its timeline and deadline clocks, for `/incident show`."""

    incident: Incident
    timeline: Sequence[TimelineEntry]
    deadlines: Sequence[IncidentDeadline]


@dataclass(frozen=True)
class Home:
    """What App Home shows one person."""

    reported: Sequence[Incident]
    assigned: Sequence[Incident]
    deadlines: Sequence[IncidentDeadline]


class IncidentService:
    """Files and works incidents. Keyword-only verbs; each call is one unit of work."""

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        clock: Clock,
        policies: PolicyStore,
        triage_channel: str,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._policies = policies
        self._triage_channel = triage_channel
        self._on_commit = on_commit

    @property
    def policy(self) -> Policy:
        """The policy in force."""
        return self._policies.current

    def now(self) -> datetime:
        """The service's clock (injected in tests)."""
        return self._clock()

    def report(self, *, draft: Draft, reporter: str, source: str = "slack") -> Incident:
        """File a new incident: triage it against the policy, store it, start its clocks, queue its card."""
        now, policy = self._clock(), self.policy
        decision = evaluate_report(
            Report(
                category=draft.category if draft.category in policy.categories else None,
                severity=draft.severity,
                title=draft.title,
                reporter=reporter,
                description=draft.description,
                model=draft.model or None,
                checkpoint=draft.checkpoint or None,
            ),
            policy=policy,
            now=now,
        )
        incident = Incident(
            title=draft.title,
            description=draft.description,
            category=draft.category,
            severity=draft.severity,
            model=draft.model,
            checkpoint=draft.checkpoint,
            deployment=draft.deployment,
            links=list(draft.links),
            reporter=reporter,
            source=source,
            created_at=now,
            updated_at=now,
        )
        with self._uow() as session:
            open_incident(
                session, incident, decision=decision, policy=policy, now=now, triage_channel=self._triage_channel
            )
        self._on_commit()
        return incident

    def acknowledge(self, *, incident_id: int, actor: str) -> Incident:
        """Take an incident: stops the escalation chain; the first acknowledger becomes the assignee if none is set."""

        def apply(session: Session, incident: Incident, now: datetime) -> None:
            incident.acknowledged_at = incident.acknowledged_at or now
            incident.assignee = incident.assignee or actor
            repo.cancel_timers(session=session, incident_id=incident_id, kinds=PAGE_KINDS)

        return self._change(incident_id=incident_id, actor=actor, action=Action.ACKNOWLEDGE, apply=apply)

    def escalate(self, *, incident_id: int, actor: str) -> Incident:
        """Page the next step of the chain now; the incident must be acknowledged again."""

        def apply(session: Session, incident: Incident, now: datetime) -> None:
            repo.cancel_timers(session=session, incident_id=incident_id, kinds=PAGE_KINDS)
            route = self.policy.routes.get(incident.route or "")
            last = len(route.escalation) - 1 if route is not None else incident.escalation_level + 1
            target = min(incident.escalation_level + 1, last)
            incident.escalation_level = target
            schedule_chain(session, incident, self.policy, start=now, from_step=target)

        return self._change(incident_id=incident_id, actor=actor, action=Action.ESCALATE, apply=apply)

    def mitigate(self, *, incident_id: int, actor: str, note: str = "") -> Incident:
        """Record that the harm is contained but the incident is not yet resolved; paging stops."""

        def apply(session: Session, incident: Incident, now: datetime) -> None:
            repo.cancel_timers(session=session, incident_id=incident_id, kinds=PAGE_KINDS)

        return self._change(incident_id=incident_id, actor=actor, action=Action.MITIGATE, apply=apply, note=note)

    def resolve(self, *, incident_id: int, actor: str, note: str = "") -> Incident:
        """Close the incident as dealt with; its deadline clocks are marked met."""

        def apply(session: Session, incident: Incident, now: datetime) -> None:
            incident.resolved_at = now
            incident.resolution_note = note
            self._close_clocks(session, incident_id, now, status="met")

        return self._change(incident_id=incident_id, actor=actor, action=Action.RESOLVE, apply=apply, note=note)

    def resolve_from_source(self, *, incident_id: int, source: str, note: str) -> Incident:
        """Resolve on a pipeline's word (Alertmanager's `resolved`): no person, so no role check."""

        def apply(session: Session, incident: Incident, now: datetime) -> None:
            incident.resolved_at = now
            incident.resolution_note = note
            self._close_clocks(session, incident_id, now, status="met")

        return self._change(
            incident_id=incident_id, actor=source, action=Action.RESOLVE, apply=apply, note=note, check_role=False
        )

    def dismiss(self, *, incident_id: int, actor: str, reason: str) -> Incident:
        """Close the incident as a false positive; a reason is required and its clocks are cancelled."""
        if not reason.strip():
            raise InvalidInput("Say why it is dismissed: `dismiss INC-42 reason`.", field="reason")

        def apply(session: Session, incident: Incident, now: datetime) -> None:
            incident.resolved_at = now
            incident.dismiss_reason = reason.strip()
            self._close_clocks(session, incident_id, now, status="cancelled")

        return self._change(
            incident_id=incident_id, actor=actor, action=Action.DISMISS, apply=apply, note=reason.strip()
        )

    def reopen(self, *, incident_id: int, actor: str) -> Incident:
        """Return a resolved or dismissed incident to triggered and restart its escalation chain."""

        def apply(session: Session, incident: Incident, now: datetime) -> None:
            incident.resolved_at = None
            incident.acknowledged_at = None
            incident.escalation_level = 0
            incident.snoozed_until = None
            schedule_chain(session, incident, self.policy, start=now)

        return self._change(incident_id=incident_id, actor=actor, action=Action.REOPEN, apply=apply)

    def set_severity(self, *, incident_id: int, actor: str, severity: Severity) -> Incident:
        """Change the severity of an open incident."""

        def apply(session: Session, incident: Incident, now: datetime) -> None:
            incident.severity = severity

        return self._change(incident_id=incident_id, actor=actor, action=Action.SEVERITY, apply=apply)

    def assign(self, *, incident_id: int, actor: str, assignee: str) -> Incident:
        """Give an open incident to someone."""

        def apply(session: Session, incident: Incident, now: datetime) -> None:
            incident.assignee = assignee

        return self._change(incident_id=incident_id, actor=actor, action=Action.ASSIGN, apply=apply)

    def add_note(self, *, incident_id: int, actor: str, text: str) -> Incident:
        """Add a note to the timeline."""
        if not text.strip():
            raise InvalidInput("A note needs text: `note INC-42 what you found`.", field="text")
        return self._change(incident_id=incident_id, actor=actor, action=Action.NOTE, note=text.strip())

    def snooze(self, *, incident_id: int, actor: str, duration: timedelta, reason: str) -> Incident:
        """Hold paging and reminders until an expiry; needs a reason and is refused at forbidden levels."""
        policy = self.policy
        if not reason.strip():
            raise InvalidInput(
                "A snooze needs a reason: `snooze INC-42 2h waiting for the eval rerun`.", field="reason"
            )
        if duration <= timedelta(0) or duration > policy.snooze.max:
            raise InvalidInput(
                f"Snooze for more than 0 and at most {format_duration(policy.snooze.max)} (the policy's limit).",
                field="duration",
            )

        def apply(session: Session, incident: Incident, now: datetime) -> None:
            if incident.level in policy.snooze.forbidden_levels:
                raise InvalidInput(
                    f"{incident.ref} is at {incident.level} level; the policy does not allow snoozing it.",
                    field="duration",
                )
            incident.snoozed_until = now + duration
            incident.snooze_reason = reason.strip()
            repo.add_timer(session=session, kind="snooze_end", due_at=now + duration, incident_id=incident_id)

        return self._change(
            incident_id=incident_id, actor=actor, action=Action.SNOOZE, apply=apply, note=reason.strip()
        )

    def get(self, *, incident_id: int) -> Detail:
        """One incident with its timeline and deadline clocks."""
        with self._uow() as session:
            incident = self._load(session, incident_id, for_update=False)
            return Detail(
                incident=incident,
                timeline=repo.list_timeline(session=session, incident_id=incident_id),
                deadlines=repo.list_deadlines(session=session, incident_id=incident_id),
            )

    def list(self, *, scope: str, user: str) -> Sequence[Incident]:
        """Incidents for `/incident list open|mine|all`."""
        if scope not in ("open", "mine", "all"):
            raise InvalidInput(f"`list {scope}`: choose open, mine or all.", field="scope")
        with self._uow() as session:
            return repo.list_incidents(session=session, scope=scope, user=user)

    def home(self, *, user: str) -> Home:
        """A person's open incidents, those assigned to them, and the deadline clocks running."""
        with self._uow() as session:
            return Home(
                reported=repo.list_open_for_user(session=session, user=user, role="reporter"),
                assigned=repo.list_open_for_user(session=session, user=user, role="assignee"),
                deadlines=repo.list_running_deadlines(session=session),
            )

    @staticmethod
    def _load(session: Session, incident_id: int, *, for_update: bool) -> Incident:
        incident = repo.get_incident(session=session, incident_id=incident_id, for_update=for_update)
        if incident is None:
            raise NotFound(f"No incident INC-{incident_id}. `list all` shows the incidents there are.")
        return incident

    @staticmethod
    def _close_clocks(session: Session, incident_id: int, now: datetime, *, status: str) -> None:
        repo.cancel_timers(session=session, incident_id=incident_id, kinds=PAGE_KINDS + DEADLINE_KINDS)
        for deadline in repo.list_deadlines(session=session, incident_id=incident_id):
            if deadline.status in ("running", "overdue"):
                deadline.status, deadline.closed_at = status, now

    def _refuse(self, *, incident_id: int, actor: str, action: Action, allowed: Sequence[str]) -> PermissionDenied:
        now = self._clock()
        with self._uow() as session:
            incident = self._load(session, incident_id, for_update=False)
            repo.append_timeline(
                session=session,
                incident_id=incident_id,
                at=now,
                actor=actor,
                action=Action.REFUSED,
                before={},
                after={},
                note=f"{action.value} refused: the policy gives it to {', '.join(allowed)}",
            )
        return PermissionDenied(
            f"You can't {action.value} {incident.ref}: policy {self.policy.version} gives that to "
            f"{', '.join(allowed)}. Nothing was changed; the attempt is on the timeline."
        )

    def _change(
        self,
        *,
        incident_id: int,
        actor: str,
        action: Action,
        apply: Callable[[Session, Incident, datetime], None] | None = None,
        note: str = "",
        check_role: bool = True,
    ) -> Incident:
        policy = self.policy
        permission = PermissionAction(action.value)
        if check_role and not policy.permits(action=permission, user=actor):
            raise self._refuse(
                incident_id=incident_id, actor=actor, action=action, allowed=policy.permissions.get(permission, ())
            )
        now = self._clock()
        with self._uow() as session:
            incident = self._load(session, incident_id, for_update=True)
            before = snapshot(incident)
            incident.status = next_status(action, Status(incident.status), incident.ref)
            if apply is not None:
                apply(session, incident, now)
            incident.updated_at = now
            record(session, incident, now=now, actor=actor, action=action, before=before, note=note)
        self._on_commit()
        return incident
