"""The incident service: every change is one transaction with its timeline entry, timers and Slack outbox rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from bot.common.clock import Clock
from bot.common.errors import InvalidInput, NotFound
from bot.common.messages import ResponseUrl
from bot.common.vocabulary import Action, Severity, Status
from bot.incidents.lifecycle import Draft, next_status
from bot.incidents.outcomes import Detail
from bot.incidents.records import (
    CLAIM_ACTIONS,
    DEADLINE_KINDS,
    PAGE_KINDS,
    PermissionDenied,
    open_incident,
    record,
    schedule_chain,
    settle_claim,
    snapshot,
)
from bot.policy.document import Policy
from bot.policy.store import PolicyStore
from bot.policy.triage import Report, evaluate_report
from bot.policy.values import format_duration
from db import queues
from db import repositories as repo
from db.engine import UnitOfWork
from db.models import EvalResult, Incident, IncidentDeadline, OutboxMessage


@dataclass(frozen=True)
class Home:
    """What App Home shows one person."""

    # Paged and not yet acknowledged: App Home puts these first.
    waiting: Sequence[Incident]
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
        express: Callable[[Sequence[int]], None] | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._policies = policies
        self._triage_channel = triage_channel
        self._on_commit = on_commit
        # Given (the outbox's express), a click's own card edit is claimed as it is queued and sent from the clicking
        # thread as soon as the change commits, without waiting for the outbox to wake, look and claim it.
        self._express = express

    @property
    def policy(self) -> Policy:
        """The policy in force."""
        return self._policies.current

    def now(self) -> datetime:
        """The service's clock (injected in tests)."""
        return self._clock()

    @property
    def uow(self) -> UnitOfWork:
        """The unit of work, for read-only reports beside the service (the audit export)."""
        return self._uow

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

    def acknowledge(self, *, incident_id: int, actor: str, via: ResponseUrl | None = None) -> Incident:
        """Take an incident: stops the escalation chain; the first acknowledger becomes the assignee if none is set.

        `via` (here and in the other verbs a button offers): the click's response_url, for the card's edit.
        """

        def apply(session: Session, incident: Incident, now: datetime) -> None:
            incident.acknowledged_at = incident.acknowledged_at or now
            incident.assignee = incident.assignee or actor
            queues.cancel_timers(session=session, incident_id=incident_id, kinds=PAGE_KINDS)

        return self._change(incident_id=incident_id, actor=actor, action=Action.ACKNOWLEDGE, apply=apply, via=via)

    def escalate(self, *, incident_id: int, actor: str, via: ResponseUrl | None = None) -> Incident:
        """Page the next step of the chain now; the incident must be acknowledged again."""

        def apply(session: Session, incident: Incident, now: datetime) -> None:
            queues.cancel_timers(session=session, incident_id=incident_id, kinds=PAGE_KINDS)
            route = self.policy.routes.get(incident.route or "")
            last = len(route.escalation) - 1 if route is not None else incident.escalation_level + 1
            target = min(incident.escalation_level + 1, last)
            incident.escalation_level = target
            schedule_chain(session, incident, self.policy, start=now, from_step=target)

        return self._change(incident_id=incident_id, actor=actor, action=Action.ESCALATE, apply=apply, via=via)

    def mitigate(self, *, incident_id: int, actor: str, note: str = "") -> Incident:
        """Record that the harm is contained but the incident is not yet resolved; paging stops."""

        def apply(session: Session, incident: Incident, now: datetime) -> None:
            queues.cancel_timers(session=session, incident_id=incident_id, kinds=PAGE_KINDS)

        return self._change(incident_id=incident_id, actor=actor, action=Action.MITIGATE, apply=apply, note=note)

    def resolve(self, *, incident_id: int, actor: str, note: str = "", via: ResponseUrl | None = None) -> Incident:
        """Close the incident as dealt with; its deadline clocks are marked met."""

        def apply(session: Session, incident: Incident, now: datetime) -> None:
            incident.resolved_at = now
            incident.resolution_note = note
            self._close_clocks(session, incident_id, now, status="met")

        return self._change(
            incident_id=incident_id, actor=actor, action=Action.RESOLVE, apply=apply, note=note, via=via
        )

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

    def reopen(self, *, incident_id: int, actor: str, via: ResponseUrl | None = None) -> Incident:
        """Return a resolved or dismissed incident to triggered and restart its escalation chain."""

        def apply(session: Session, incident: Incident, now: datetime) -> None:
            incident.resolved_at = None
            incident.acknowledged_at = None
            incident.escalation_level = 0
            incident.snoozed_until = None
            schedule_chain(session, incident, self.policy, start=now)

        return self._change(incident_id=incident_id, actor=actor, action=Action.REOPEN, apply=apply, via=via)

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
            self._check_snoozable(incident, policy)
            incident.snoozed_until = now + duration
            incident.snooze_reason = reason.strip()
            queues.add_timer(session=session, kind="snooze_end", due_at=now + duration, incident_id=incident_id)

        return self._change(
            incident_id=incident_id, actor=actor, action=Action.SNOOZE, apply=apply, note=reason.strip()
        )

    def check_snooze(self, *, incident_id: int, actor: str) -> None:
        """Raise what `snooze` would refuse (role, status, level) without writing anything, the refusal unaudited.

        For a snooze form submitted again after a refusal: the first refusal is on the timeline, and its entry claimed
        the submission, so the repeat is not acted on; this says why it still would not be.
        """
        policy = self.policy
        with self._uow.read() as session:
            incident = self._load(session, incident_id, for_update=False)
        if not policy.permits(action=Action.SNOOZE, user=actor):
            allowed = policy.permissions.get(Action.SNOOZE, ())
            raise PermissionDenied(f"{self._denial(incident, Action.SNOOZE, allowed)} Nothing was changed.")
        next_status(Action.SNOOZE, Status(incident.status), incident.ref)
        self._check_snoozable(incident, policy)

    @staticmethod
    def _check_snoozable(incident: Incident, policy: Policy) -> None:
        # The card offers no Snooze button at these levels (bot/slack/calls.py); this refuses the command, older cards
        # and forms opened before a policy reload.
        if incident.level in policy.snooze.forbidden_levels:
            raise InvalidInput(
                f"{incident.ref} is at {incident.level} level; the policy does not allow snoozing it.",
                field="duration",
            )

    def get(self, *, incident_id: int) -> Detail:
        """One incident with its timeline and deadline clocks (read without waiting on any writer)."""
        with self._uow.read() as session:
            incident = self._load(session, incident_id, for_update=False)
            return Detail(
                incident=incident,
                timeline=repo.list_timeline(session=session, incident_id=incident_id),
                deadlines=repo.list_deadlines(session=session, incident_id=incident_id),
            )

    def evidence(self, *, incident_id: int, limit: int) -> tuple[Sequence[EvalResult], int]:
        """The first `limit` evaluation results linked to an incident, and how many are linked in all."""
        with self._uow.read() as session:
            return repo.list_incident_results(session=session, incident_id=incident_id, limit=limit)

    def list(self, *, scope: str, user: str) -> Sequence[Incident]:
        """The newest incidents for `/incident list open|mine|all` (read without waiting on any writer)."""
        if scope not in ("open", "mine", "all"):
            raise InvalidInput(f"`list {scope}`: choose open, mine or all.", field="scope")
        with self._uow.read() as session:
            return repo.list_incidents(session=session, scope=scope, user=user)

    def home(self, *, user: str) -> Home:
        """What waits on a person, their open incidents, those assigned to them, and the deadline clocks running."""
        # A writing unit of work, though it only reads: it claims the app_home_opened event's key, so a retried event
        # publishes the view once (a read-only one claims nothing).
        with self._uow() as session:
            return Home(
                waiting=repo.list_waiting_on_user(session=session, user=user),
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
        queues.cancel_timers(session=session, incident_id=incident_id, kinds=PAGE_KINDS + DEADLINE_KINDS)
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
        denial = self._denial(incident, action, allowed)
        return PermissionDenied(f"{denial} Nothing was changed; the attempt is on the timeline.")

    def _denial(self, incident: Incident, action: Action, allowed: Sequence[str]) -> str:
        who = ", ".join(allowed)
        return f"You can't {action.value} {incident.ref}: policy {self.policy.version} gives that to {who}."

    def _change(
        self,
        *,
        incident_id: int,
        actor: str,
        action: Action,
        apply: Callable[[Session, Incident, datetime], None] | None = None,
        note: str = "",
        check_role: bool = True,
        via: ResponseUrl | None = None,
    ) -> Incident:
        policy = self.policy
        if check_role and not policy.permits(action=action, user=actor):
            raise self._refuse(
                incident_id=incident_id, actor=actor, action=action, allowed=policy.permissions.get(action, ())
            )
        now = self._clock()
        express: list[OutboxMessage] | None = [] if self._express is not None and via is not None else None
        with self._uow() as session:
            # The claim row before the incident row, the order ingestion locks them in, so the two never deadlock.
            claim = (
                repo.claim_of_incident(session=session, incident_id=incident_id) if action in CLAIM_ACTIONS else None
            )
            incident = self._load(session, incident_id, for_update=True)
            before = snapshot(incident)
            incident.status = next_status(action, Status(incident.status), incident.ref)
            # Before `apply`, whose queries may flush the row: then it is written once, not twice.
            incident.updated_at = now
            if apply is not None:
                apply(session, incident, now)
            if claim is not None:
                settle_claim(claim, incident)
            record(
                session,
                incident,
                now=now,
                actor=actor,
                action=action,
                before=before,
                note=note,
                via=via,
                express=express,
            )
        if express and self._express is not None:
            self._express([row.id for row in express if row.id is not None])
        self._on_commit()
        return incident
