"""The incident service: every change is one transaction with its timeline entry and its Slack outbox rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.clock import Clock
from bot.errors import InvalidInput, NotFound
from bot.lifecycle import Action, Draft, Severity, Status, next_status
from db import repositories as repo
from db.engine import UnitOfWork
from db.models import Incident, TimelineEntry

TRACKED = ("status", "severity", "assignee", "escalation_level", "category")


def _snapshot(incident: Incident) -> dict[str, Any]:
    return {name: getattr(incident, name) for name in TRACKED}


@dataclass(frozen=True)
class Detail:
    """An incident with its timeline, for `/incident show`."""

    incident: Incident
    timeline: Sequence[TimelineEntry]


@dataclass(frozen=True)
class Home:
    """What App Home shows one person."""

    reported: Sequence[Incident]
    assigned: Sequence[Incident]


class IncidentService:
    """Files and works incidents. Keyword-only verbs; each call is one unit of work."""

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        clock: Clock,
        triage_channel: str,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._triage_channel = triage_channel
        self._on_commit = on_commit

    def report(self, *, draft: Draft, reporter: str, source: str = "slack") -> Incident:
        """File a new incident: store it, start its timeline, queue its card."""
        now = self._clock()
        with self._uow() as session:
            incident = repo.add_incident(
                session=session,
                incident=Incident(
                    title=draft.title,
                    description=draft.description,
                    category=draft.category,
                    severity=draft.severity,
                    status=Status.TRIGGERED,
                    model=draft.model,
                    checkpoint=draft.checkpoint,
                    deployment=draft.deployment,
                    links=list(draft.links),
                    reporter=reporter,
                    source=source,
                    channel_id=self._triage_channel,
                    created_at=now,
                    updated_at=now,
                ),
            )
            assert incident.id is not None
            repo.append_timeline(
                session=session,
                incident_id=incident.id,
                at=now,
                actor=reporter,
                action=Action.CREATE,
                before={},
                after=_snapshot(incident),
            )
            repo.enqueue_outbox(
                session=session,
                kind="card.post",
                channel=self._triage_channel,
                now=now,
                incident_id=incident.id,
            )
        self._on_commit()
        return incident

    def acknowledge(self, *, incident_id: int, actor: str) -> Incident:
        """Take an incident: stops escalation; the first acknowledger becomes the assignee if none is set."""

        def apply(incident: Incident) -> None:
            incident.acknowledged_at = incident.acknowledged_at or self._clock()
            incident.assignee = incident.assignee or actor

        return self._change(incident_id=incident_id, actor=actor, action=Action.ACKNOWLEDGE, apply=apply)

    def escalate(self, *, incident_id: int, actor: str) -> Incident:
        """Hand the incident to the next escalation level; it must be acknowledged again."""

        def apply(incident: Incident) -> None:
            incident.escalation_level += 1

        return self._change(incident_id=incident_id, actor=actor, action=Action.ESCALATE, apply=apply)

    def mitigate(self, *, incident_id: int, actor: str, note: str = "") -> Incident:
        """Record that the harm is contained but the incident is not yet resolved."""
        return self._change(incident_id=incident_id, actor=actor, action=Action.MITIGATE, note=note)

    def resolve(self, *, incident_id: int, actor: str, note: str = "") -> Incident:
        """Close the incident as dealt with."""

        def apply(incident: Incident) -> None:
            incident.resolved_at = self._clock()
            incident.resolution_note = note

        return self._change(incident_id=incident_id, actor=actor, action=Action.RESOLVE, apply=apply, note=note)

    def dismiss(self, *, incident_id: int, actor: str, reason: str) -> Incident:
        """Close the incident as a false positive; a reason is required."""
        if not reason.strip():
            raise InvalidInput("Say why it is dismissed: `dismiss INC-42 reason`.", field="reason")

        def apply(incident: Incident) -> None:
            incident.resolved_at = self._clock()
            incident.dismiss_reason = reason.strip()

        return self._change(
            incident_id=incident_id, actor=actor, action=Action.DISMISS, apply=apply, note=reason.strip()
        )

    def reopen(self, *, incident_id: int, actor: str) -> Incident:
        """Return a resolved or dismissed incident to triggered."""

        def apply(incident: Incident) -> None:
            incident.resolved_at = None
            incident.acknowledged_at = None

        return self._change(incident_id=incident_id, actor=actor, action=Action.REOPEN, apply=apply)

    def set_severity(self, *, incident_id: int, actor: str, severity: Severity) -> Incident:
        """Change the severity of an open incident."""

        def apply(incident: Incident) -> None:
            incident.severity = severity

        return self._change(incident_id=incident_id, actor=actor, action=Action.SEVERITY, apply=apply)

    def assign(self, *, incident_id: int, actor: str, assignee: str) -> Incident:
        """Give an open incident to someone."""

        def apply(incident: Incident) -> None:
            incident.assignee = assignee

        return self._change(incident_id=incident_id, actor=actor, action=Action.ASSIGN, apply=apply)

    def add_note(self, *, incident_id: int, actor: str, text: str) -> Incident:
        """Add a note to the timeline."""
        if not text.strip():
            raise InvalidInput("A note needs text: `note INC-42 what you found`.", field="text")
        return self._change(incident_id=incident_id, actor=actor, action=Action.NOTE, note=text.strip())

    def get(self, *, incident_id: int) -> Detail:
        """One incident and its timeline."""
        with self._uow() as session:
            incident = self._load(session, incident_id, for_update=False)
            return Detail(incident=incident, timeline=repo.list_timeline(session=session, incident_id=incident_id))

    def list(self, *, scope: str, user: str) -> Sequence[Incident]:
        """Incidents for `/incident list open|mine|all`."""
        if scope not in ("open", "mine", "all"):
            raise InvalidInput(f"`list {scope}`: choose open, mine or all.", field="scope")
        with self._uow() as session:
            return repo.list_incidents(session=session, scope=scope, user=user)

    def home(self, *, user: str) -> Home:
        """A person's open incidents: those they reported and those assigned to them."""
        with self._uow() as session:
            return Home(
                reported=repo.list_open_for_user(session=session, user=user, role="reporter"),
                assigned=repo.list_open_for_user(session=session, user=user, role="assignee"),
            )

    @staticmethod
    def _load(session: Any, incident_id: int, *, for_update: bool) -> Incident:
        incident = repo.get_incident(session=session, incident_id=incident_id, for_update=for_update)
        if incident is None:
            raise NotFound(f"No incident INC-{incident_id}. `list all` shows the incidents there are.")
        return incident

    def _change(
        self,
        *,
        incident_id: int,
        actor: str,
        action: Action,
        apply: Callable[[Incident], None] | None = None,
        note: str = "",
    ) -> Incident:
        now = self._clock()
        with self._uow() as session:
            incident = self._load(session, incident_id, for_update=True)
            before = _snapshot(incident)
            incident.status = next_status(action, Status(incident.status), incident.ref)
            if apply is not None:
                apply(incident)
            incident.updated_at = now
            after = _snapshot(incident)
            changed = [name for name in TRACKED if before[name] != after[name]]
            entry = repo.append_timeline(
                session=session,
                incident_id=incident_id,
                at=now,
                actor=actor,
                action=action,
                before={name: before[name] for name in changed},
                after={name: after[name] for name in changed},
                note=note,
            )
            session.flush()
            channel = incident.channel_id or self._triage_channel
            repo.enqueue_outbox(
                session=session,
                kind="thread.reply",
                channel=channel,
                now=now,
                incident_id=incident_id,
                payload={"timeline_entry_id": entry.id},
            )
            if changed:
                repo.enqueue_outbox(
                    session=session, kind="card.update", channel=channel, now=now, incident_id=incident_id
                )
        self._on_commit()
        return incident
