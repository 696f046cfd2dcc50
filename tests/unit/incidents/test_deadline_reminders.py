"""Deadline clocks remind their owners with rising urgency, on the policy's schedule or at half and nine tenths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.common.clock import ManualClock
from bot.incidents.records import deadline_reminders
from bot.incidents.timers import deadline_owners, urgency
from bot.policy.schedules import Deadline
from db.models import Incident, IncidentDeadline

START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def clock_of(days: float) -> IncidentDeadline:
    return IncidentDeadline(
        incident_id=1, deadline_id="d", name="D", started_at=START, due_at=START + timedelta(days=days)
    )


def test_urgency_rises_as_a_clock_runs_out() -> None:
    """A ManualClock walks one 24-hour clock from its start past its due time."""
    deadline = clock_of(1)
    clock = ManualClock(START)
    seen = []
    for hours in (0, 12, 5, 1, 5, 1):  # at 0%, 50%, ~71%, 75%, ~96%, then due (24 h)
        clock.advance(hours=hours)
        seen.append(urgency(deadline, clock()))
    assert seen == ["reminder", "reminder", "reminder", "soon", "soon", "overdue"]
    clock.advance(days=3)
    assert urgency(deadline, clock()) == "overdue"


def test_urgency_of_a_zero_length_clock_is_overdue_not_a_division_error() -> None:
    deadline = clock_of(0)
    assert urgency(deadline, START) == "overdue"


@pytest.mark.parametrize(
    ("reminders", "expected_days"),
    [
        pytest.param((), [7.5, 13.5], id="none-listed-half-and-nine-tenths"),
        pytest.param(("2d",), [13], id="policy-schedule-wins"),
        pytest.param(("7d", "1d"), [8, 14], id="policy-several"),
    ],
)
def test_reminder_times(reminders: tuple[str, ...], expected_days: list[float]) -> None:
    spec = Deadline.model_validate({"name": "External report", "due": "15d", "reminders": list(reminders)})
    due = spec.due_at(start=START, tz=UTC)
    times = deadline_reminders(spec, start=START, due=due, tz=UTC)
    assert times == [START + timedelta(days=days) for days in expected_days]


@pytest.mark.parametrize(
    ("assignee", "paged", "owners"),
    [
        pytest.param("U1", ["U2", "U1", "U3"], ["U1", "U2", "U3"], id="assignee-first-each-once"),
        pytest.param(None, ["U2", "U3"], ["U2", "U3"], id="no-assignee-the-paged"),
        pytest.param(None, [], [], id="nobody"),
    ],
)
def test_deadline_owners(assignee: str | None, paged: list[str], owners: list[str]) -> None:
    incident = Incident(title="t", reporter="U9", assignee=assignee, paged=paged, created_at=START, updated_at=START)
    assert deadline_owners(incident) == owners
