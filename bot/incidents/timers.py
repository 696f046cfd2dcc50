"""Timers that fire pages, reminders and deadline marks. Each is claimed in one transaction: exactly once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from bot.common.clock import Clock
from bot.common.messages import DeadlineBrief, IncidentBrief, PageDM, ReminderDM, Urgency
from bot.common.vocabulary import Action, Status
from bot.incidents.records import SYSTEM_ACTOR, enqueue_card_update, record, snapshot
from bot.policy.oncall import resolve_targets
from bot.policy.store import PolicyStore
from db import queues
from db import repositories as repo
from db.engine import UnitOfWork
from db.models import Incident, IncidentDeadline, Timer

log = logging.getLogger(__name__)
# Share of a deadline clock's time gone from which its reminders say it is due soon.
SOON_SHARE = 0.75


def urgency(deadline: IncidentDeadline, now: datetime) -> Urgency:
    """How urgent a reminder about a deadline clock is: it rises as the clock runs out."""
    if now >= deadline.due_at:
        return "overdue"
    span = (deadline.due_at - deadline.started_at).total_seconds()
    gone = (now - deadline.started_at).total_seconds() / span if span > 0 else 1.0
    return "soon" if gone >= SOON_SHARE else "reminder"


def deadline_owners(incident: Incident) -> list[str]:
    """Who a deadline clock's reminders go to: the assignee, and whoever was paged last; each once."""
    owners = [incident.assignee, *incident.paged] if incident.assignee else list(incident.paged)
    return [user for index, user in enumerate(owners) if user and user not in owners[:index]]


@dataclass
class TimerRun:
    """What one run_due call did, by timer kind and outcome."""

    fired: dict[str, int] = field(default_factory=dict)
    skipped: int = 0

    @property
    def total(self) -> int:
        """How many timers were dealt with."""
        return sum(self.fired.values()) + self.skipped


class TimerService:
    """Runs the timers that are due; safe to run on every replica at once."""

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        clock: Clock,
        policies: PolicyStore,
        worker_id: str,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._policies = policies
        self._worker_id = worker_id
        self._on_commit = on_commit
        self.passes = 0

    def run_due(self, limit: int = 500) -> TimerRun:
        """Fire every due timer, one transaction each, until none is left (or `limit`)."""
        result = TimerRun()
        self.passes += 1
        for _ in range(limit):
            now = self._clock()
            with self._uow() as session:
                timer = queues.claim_due_timer(session=session, now=now)
                if timer is None:
                    break
                fired = self._fire(session, timer, now)
                if timer.due_at > now:  # postponed until a snooze ends: stays pending
                    result.skipped += 1
                    continue
                timer.fired_at, timer.fired_by = now, self._worker_id
                if fired:
                    timer.status = "done"
                    result.fired[timer.kind] = result.fired.get(timer.kind, 0) + 1
                else:
                    timer.status = "skipped"
                    result.skipped += 1
            if fired:
                self._on_commit()
        return result

    def _fire(self, session: Session, timer: Timer, now: datetime) -> bool:
        incident = None
        if timer.incident_id is not None:
            incident = repo.get_incident(session=session, incident_id=timer.incident_id, for_update=True)
        if incident is None:
            return False
        handlers = {
            "page": self._page,
            "ack_reminder": self._ack_reminder,
            "deadline_reminder": self._deadline_reminder,
            "deadline_due": self._deadline_due,
            "snooze_end": self._snooze_end,
            "card_refresh": self._card_refresh,
        }
        handler = handlers.get(timer.kind)
        if handler is None:
            log.error("timer %s has unknown kind %r", timer.id, timer.kind)
            return False
        return handler(session, timer, incident, now)

    @staticmethod
    def _snoozed(timer: Timer, incident: Incident, now: datetime) -> bool:
        # While snoozed, pages and reminders wait for the snooze to end instead of being lost.
        if incident.snoozed_until is not None and incident.snoozed_until > now:
            timer.due_at = incident.snoozed_until
            return True
        return False

    def _page(self, session: Session, timer: Timer, incident: Incident, now: datetime) -> bool:
        if incident.status != Status.TRIGGERED or self._snoozed(timer, incident, now):
            return False
        policy = self._policies.current
        route = policy.routes.get(incident.route or "")
        step_index = int(timer.payload.get("step", 0))
        if route is None or step_index >= len(route.escalation):
            return False
        targets = resolve_targets(route.escalation[step_index], policy=policy, at=now)
        before = snapshot(incident)
        incident.paged = targets
        incident.escalation_level = step_index
        incident.updated_at = now
        # Whoever is paged now gets the route's ack window from now, as a manual Escalate gives them.
        moved = incident.ack_due_at != now + route.ack_window
        incident.ack_due_at = now + route.ack_window
        round_ = int(timer.payload.get("round", 0))
        note = f"step {step_index + 1} of {len(route.escalation)}" + (f", repeat {round_}" if round_ else "")
        record(session, incident, now=now, actor=SYSTEM_ACTOR, action=Action.PAGE, before=before, note=note)
        if moved and snapshot(incident) == before:  # the same people paged again: only the ack deadline moved
            enqueue_card_update(session, incident, now)
        self._direct_messages(session, incident, targets, now, message=PageDM)
        return True

    def _ack_reminder(self, session: Session, timer: Timer, incident: Incident, now: datetime) -> bool:
        if incident.status != Status.TRIGGERED or self._snoozed(timer, incident, now):
            return False
        record(session, incident, now=now, actor=SYSTEM_ACTOR, action=Action.REMIND, before=snapshot(incident))
        self._direct_messages(session, incident, list(incident.paged), now, message=ReminderDM)
        return True

    def _deadline_reminder(self, session: Session, timer: Timer, incident: Incident, now: datetime) -> bool:
        deadline = self._deadline(session, incident, timer)
        if deadline is None or deadline.status != "running":
            return False
        self._deadline_news(session, incident, deadline, now, urgency(deadline, now))
        return True

    def _deadline_due(self, session: Session, timer: Timer, incident: Incident, now: datetime) -> bool:
        deadline = self._deadline(session, incident, timer)
        if deadline is None or deadline.status != "running":
            return False
        deadline.status = "overdue"
        self._deadline_news(session, incident, deadline, now, "overdue")
        enqueue_card_update(session, incident, now)
        return True

    def _deadline_news(
        self, session: Session, incident: Incident, deadline: IncidentDeadline, now: datetime, level: Urgency
    ) -> None:
        """A deadline clock's reminder or overdue mark: on the timeline and thread, and by DM to its owners."""
        brief = DeadlineBrief(name=deadline.name, due_at=deadline.due_at, urgency=level)
        # The note is the plain-text record (exports, audit); the thread line renders the date token from `after`.
        when = deadline.due_at.strftime("%Y-%m-%d %H:%M UTC")
        note = (
            f"{deadline.name} is overdue (was due {when})" if level == "overdue" else f"{deadline.name} is due {when}"
        )
        record(
            session,
            incident,
            now=now,
            actor=SYSTEM_ACTOR,
            action=Action.DEADLINE,
            before=snapshot(incident),
            note=note,
            details={"deadline": brief.as_json()},
        )
        self._direct_messages(session, incident, deadline_owners(incident), now, message=ReminderDM, deadline=brief)

    def _snooze_end(self, session: Session, timer: Timer, incident: Incident, now: datetime) -> bool:
        if incident.snoozed_until is None or incident.snoozed_until > now:
            return False
        before = snapshot(incident)
        incident.snoozed_until = None
        incident.updated_at = now
        record(session, incident, now=now, actor=SYSTEM_ACTOR, action=Action.UNSNOOZE, before=before)
        return True

    @staticmethod
    def _card_refresh(session: Session, timer: Timer, incident: Incident, now: datetime) -> bool:
        enqueue_card_update(session, incident, now)
        return True

    @staticmethod
    def _deadline(session: Session, incident: Incident, timer: Timer) -> IncidentDeadline | None:
        wanted = timer.payload.get("deadline_id")
        for deadline in repo.list_deadlines(session=session, incident_id=incident.id or 0):
            if deadline.deadline_id == wanted:
                return deadline
        return None

    @staticmethod
    def _direct_messages(
        session: Session,
        incident: Incident,
        users: list[str],
        now: datetime,
        *,
        message: type[PageDM | ReminderDM],
        deadline: DeadlineBrief | None = None,
    ) -> None:
        assert incident.id is not None
        brief = IncidentBrief(
            ref=incident.ref,
            title=incident.title,
            severity=incident.severity,
            level=incident.level,
            category=incident.category,
            restricted=incident.restricted,
            channel_id=incident.channel_id,
            ack_due_at=incident.ack_due_at,
            deadline=deadline,
        )
        for user in users:
            queues.enqueue_message(
                session=session, message=message(incident_id=incident.id, user=user, incident=brief), now=now
            )
