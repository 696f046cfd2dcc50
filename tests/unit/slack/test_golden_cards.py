"""Cards, direct messages and `show`, compared byte for byte with tests/unit/slack/golden/ (UPDATE_GOLDEN=1 rewrites).

Every time a person reads is a Slack date token, so the renders hold no text that goes stale: the goldens pin the
tokens (timestamp, format with `{ago}`, UTC fallback) and what is said once a deadline has passed.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from sqlmodel import Session

from bot.common.messages import DeadlineBrief, IncidentBrief, PageDM, ReminderDM, Urgency
from bot.incidents.outcomes import Detail
from bot.incidents.records import crosswalk
from bot.policy.loader import load_policy
from bot.policy.store import BUNDLED_POLICY
from bot.slack.blocks import crosswalk_of, incident_card
from bot.slack.calls import CALLS, Outgoing
from bot.slack.replies import command_reply
from db.models import Incident, IncidentDeadline, OutboxMessage, TimelineEntry
from tests.conftest import TEST_POLICY
from tests.unit.digest.golden import check_golden

GOLDEN = Path(__file__).parent / "golden"
OPENED = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
LEVEL_CROSSWALK: dict[str, Any] = {
    "of": "level",
    "maps": [
        {"framework": "Anthropic Responsible Scaling Policy 2.2", "names": ["CBRN-3"]},
        {"framework": "OpenAI Preparedness Framework 2", "names": ["Biological & Chemical: High"]},
        {"framework": "Google DeepMind Frontier Safety Framework 3.0", "names": ["CBRN uplift 1 CCL"]},
    ],
}


def threshold_incident(**changes: Any) -> Incident:
    """A threshold incident as triage opens it: paged, ack due in 15 minutes, two deadline clocks running."""
    values: dict[str, Any] = {
        "id": 7,
        "title": "Agent gave a <synthesis> route",
        "description": "Seen in eval run 42.\nSecond line & more.",
        "category": "cyber",
        "severity": "sev1",
        "status": "triggered",
        "model": "frontier-x",
        "checkpoint": "ckpt-1200",
        "reporter": "U0REPORTER",
        "policy_version": "it-1",
        "channel_id": "C0ONCALL",
        "created_at": OPENED,
        "updated_at": OPENED,
        "level": "threshold",
        "route": "oncall",
        "explanation": "cyber.ctf accuracy 0.72 >= 0.70 (threshold)",
        "actions": ["Pause external deployment"],
        "paged": ["U0TRIAGER"],
        "ack_due_at": OPENED + timedelta(minutes=15),
    }
    return Incident(**(values | changes))


def clocks(**status: str) -> list[IncidentDeadline]:
    """The external report (15 days) and the capability decision (30 days), with the statuses given by id."""
    return [
        IncidentDeadline(
            incident_id=7,
            deadline_id=deadline_id,
            name=name,
            started_at=OPENED,
            due_at=OPENED + timedelta(days=days),
            status=status.get(deadline_id, "running"),
        )
        for deadline_id, name, days in (
            ("external", "External report (SB 53)", 15),
            ("decision", "Capability decision", 30),
        )
    ]


def as_json(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def card_texts(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_card_before_anything_is_due_matches_golden() -> None:
    # The bundled and fixture policies forbid snoozing threshold level (`snooze.forbidden_levels`), as calls.py passes.
    blocks = incident_card(
        threshold_incident(), deadlines=clocks(), now=OPENED, crosswalk=LEVEL_CROSSWALK, snoozable=False
    )
    check_golden("card_triggered.json", as_json(blocks), folder=GOLDEN)
    text = card_texts(blocks)
    assert [e["text"]["text"] for e in blocks[-1]["elements"]] == ["Acknowledge", "Escalate", "Resolve"]
    due = int((OPENED + timedelta(minutes=15)).timestamp())
    # The countdown is Slack's {ago}, worked out when someone reads the card: it cannot go stale.
    assert f"due <!date^{due}^{{date_short_pretty}} {{time}} ({{ago}})|2026-11-23 15:15 UTC>" in text
    assert "overdue" not in text and " in 15m" not in text


def test_card_past_due_says_overdue_matches_golden() -> None:
    now = OPENED + timedelta(days=16)
    blocks = incident_card(
        threshold_incident(updated_at=now),
        deadlines=clocks(external="overdue"),
        now=now,
        crosswalk=LEVEL_CROSSWALK,
        snoozable=False,
    )
    check_golden("card_past_due.json", as_json(blocks), folder=GOLDEN)
    text = card_texts(blocks)
    assert "🚨 overdue: was due <!date^" in text  # the ack
    assert "🚨 *External report (SB 53)* — overdue: was due <!date^" in text
    assert "⏰ *Capability decision* — due <!date^" in text


def test_card_shows_a_running_clock_past_its_due_time_as_overdue() -> None:
    """Between the due moment and the deadline_due timer's edit, a render still does not claim time is left."""
    now = OPENED + timedelta(days=15, minutes=1)
    text = card_texts(incident_card(threshold_incident(), deadlines=clocks(), now=now))
    assert "🚨 *External report (SB 53)* — overdue: was due" in text


def test_card_shows_met_clocks_without_a_due_time() -> None:
    text = card_texts(incident_card(threshold_incident(status="resolved"), deadlines=clocks(external="met")))
    assert "✅ *External report (SB 53)* — met" in text and "Ack due*\\n—" in text


def test_card_names_the_framework_levels_of_the_crossing() -> None:
    text = card_texts(incident_card(threshold_incident(), crosswalk=LEVEL_CROSSWALK))
    assert (
        "*Framework levels:* CBRN-3 (Anthropic Responsible Scaling Policy 2.2) · Biological &amp; Chemical: High "
        "(OpenAI Preparedness Framework 2) · CBRN uplift 1 CCL (Google DeepMind Frontier Safety Framework 3.0)"
    ) in text
    assert "Framework" not in card_texts(incident_card(threshold_incident()))


def test_redacted_card_shows_no_crosswalk() -> None:
    text = card_texts(incident_card(threshold_incident(restricted=True), crosswalk=LEVEL_CROSSWALK, redacted=True))
    assert "CBRN" not in text and "restricted incident" in text


@pytest.mark.parametrize(
    ("category", "level", "expected"),
    [
        pytest.param(
            "cbrn.bio",
            "threshold",
            {
                "of": "level",
                "maps": [
                    {"framework": "Anthropic Responsible Scaling Policy 2.2", "names": ["CBRN-3"]},
                    {"framework": "OpenAI Preparedness Framework 2", "names": ["Biological & Chemical: High"]},
                    {"framework": "Google DeepMind Frontier Safety Framework 3.0", "names": ["CBRN uplift 1 CCL"]},
                ],
            },
            id="level-crosswalk",
        ),
        pytest.param(
            "cbrn.chem",
            "watch",
            {
                "of": "category",
                "maps": [
                    {
                        "framework": "Anthropic Responsible Scaling Policy 2.2",
                        "names": ["CBRN-3", "CBRN-4", "ASL-3", "ASL-4"],
                    },
                    {
                        "framework": "Anthropic Responsible Scaling Policy 3.0",
                        "names": [
                            "Chemical and biological weapons (non-novel)",
                            "Chemical and biological weapons (novel)",
                        ],
                    },
                    {
                        "framework": "OpenAI Preparedness Framework 2",
                        "names": ["Biological & Chemical: High", "Biological & Chemical: Critical"],
                    },
                    {
                        "framework": "Google DeepMind Frontier Safety Framework 3.0",
                        "names": ["CBRN uplift 1 CCL", "CBRN uplift 1 alert threshold"],
                    },
                ],
            },
            id="category-fallback",
        ),
        pytest.param("no-such-category", "alert", None, id="unknown-category"),
    ],
)
def test_crosswalk_from_the_bundled_policy(category: str, level: str, expected: dict[str, Any] | None) -> None:
    assert crosswalk(load_policy(BUNDLED_POLICY), category, level) == expected


def test_crosswalk_is_none_when_the_policy_maps_nothing() -> None:
    assert crosswalk(load_policy(TEST_POLICY), "unclassified", "watch") is None


def entry(
    seq: int, minutes: int, action: str, *, actor: str = "tripwire", note: str = "", **after: Any
) -> TimelineEntry:
    return TimelineEntry(
        id=seq, incident_id=7, seq=seq, at=OPENED + timedelta(minutes=minutes), actor=actor, action=action,
        after=after, note=note,
    )  # fmt: skip


SHOW_TIMELINE = [
    entry(1, 0, "create", actor="U0REPORTER", severity="sev1", category="cyber", crosswalk=LEVEL_CROSSWALK),
    entry(2, 0, "page", note="step 1 of 3", paged=["U0TRIAGER"]),
    entry(3, 10, "refused", actor="U0TOM", note="escalate refused: the policy gives it to safety_lead, leadership"),
    entry(4, 12, "remind"),
    entry(5, 15, "page", note="step 2 of 3", paged=["U0LEAD"], escalation_level=1),
    entry(6, 20, "escalate", actor="U0LEAD", escalation_level=2),
    entry(7, 21, "snooze", actor="U0LEAD", note="waiting for the rerun", snoozed_until="2026-11-23T17:21:00+00:00"),
    entry(8, 30, "note", actor="U0LEAD", note="Rerun <started>"),
    entry(9, 40, "acknowledge", actor="U0LEAD", status="acknowledged"),
    entry(
        10,
        50,
        "deadline",
        note="External report (SB 53) is due 2026-12-08 15:00 UTC",
        deadline={"name": "External report (SB 53)", "due_at": "2026-12-08T15:00:00+00:00", "urgency": "soon"},
    ),
    entry(11, 60, "deadline", note="Capability decision is due 2026-12-23T15:00:00+00:00"),  # written before #12
]


def test_show_matches_golden() -> None:
    incident = threshold_incident(
        status="acknowledged",
        assignee="U0LEAD",
        escalation_level=2,
        snoozed_until=OPENED + timedelta(hours=2, minutes=21),
        snooze_reason="waiting for the rerun",
    )
    detail = Detail(incident=incident, timeline=SHOW_TIMELINE, deadlines=clocks(decision="overdue", external="met"))
    assert crosswalk_of(detail.timeline) == LEVEL_CROSSWALK
    text = command_reply(detail).text
    check_golden("show.txt", text + "\n", folder=GOLDEN)
    lines = text.splitlines()
    assert "" not in lines[lines.index("*Timeline*") :]  # no blank lines between timeline items
    model = next(line for line in lines if line.startswith("Model:"))
    assert lines[lines.index(model) + 2].startswith(">Seen in eval run 42.")  # the description starts its own line
    assert "2026-11-23T17:21" not in text  # the snooze is a date token, not raw ISO
    assert "was refused `escalate` on INC-7: the policy gives it to safety_lead, leadership." in text
    assert "escalated INC-7 to step 3" in text and "to level" not in text


def send(message: PageDM | ReminderDM) -> str:
    """The text the outbox would send for a queued DM (through its payload, as stored)."""
    row = OutboxMessage(
        kind=message.kind, channel=message.channel, incident_id=message.incident_id, payload=message.payload(),
        created_at=OPENED, next_attempt_at=OPENED,
    )  # fmt: skip
    call = CALLS[message.kind].build(Outgoing(session=cast(Session, None), row=row, now=OPENED))
    return str(call.args["text"]) + "\n"


BRIEF = IncidentBrief(
    ref="INC-7",
    title="Agent gave a <synthesis> route",
    severity="sev1",
    level="threshold",
    category="cyber",
    restricted=False,
    channel_id="C0ONCALL",
    ack_due_at=OPENED + timedelta(minutes=15),
)


def test_page_and_ack_reminder_dms_match_golden() -> None:
    check_golden("dm_page.txt", send(PageDM(incident_id=7, user="U0TRIAGER", incident=BRIEF)), folder=GOLDEN)
    check_golden(
        "dm_ack_reminder.txt", send(ReminderDM(incident_id=7, user="U0TRIAGER", incident=BRIEF)), folder=GOLDEN
    )


@pytest.mark.parametrize("urgency", ["reminder", "soon", "overdue"])
def test_deadline_reminder_dms_match_golden(urgency: Urgency) -> None:
    deadline = DeadlineBrief(name="External report (SB 53)", due_at=OPENED + timedelta(days=15), urgency=urgency)
    message = ReminderDM(incident_id=7, user="U0LEAD", incident=replace(BRIEF, deadline=deadline))
    check_golden(f"dm_deadline_{urgency}.txt", send(message), folder=GOLDEN)


def test_deadline_reminder_dm_of_a_restricted_incident_keeps_its_details_out() -> None:
    deadline = DeadlineBrief(name="Capability decision", due_at=OPENED + timedelta(days=30), urgency="soon")
    brief = replace(BRIEF, restricted=True, channel_id="C0RESTRICTED", deadline=deadline)
    text = send(ReminderDM(incident_id=7, user="U0LEAD", incident=brief))
    assert "synthesis" not in text and "<#C0RESTRICTED>" in text and "*Capability decision*" in text


def test_ack_reminder_payload_is_unchanged_by_deadlines() -> None:
    """Rows queued before deadline reminders existed read back the same, and an ack reminder stores no deadline."""
    assert "deadline" not in BRIEF.as_json()
    assert IncidentBrief.from_json(BRIEF.as_json()) == BRIEF
    with_deadline = replace(BRIEF, deadline=DeadlineBrief("X", OPENED, "overdue"))
    assert IncidentBrief.from_json(with_deadline.as_json()) == with_deadline


def test_show_of_a_triggered_incident_matches_golden() -> None:
    """Before anyone acknowledges: when the ack is due, at which step of the chain, who is paged."""
    detail = Detail(incident=threshold_incident(model=""), timeline=SHOW_TIMELINE[:2], deadlines=clocks())
    text = command_reply(detail).text
    check_golden("show_triggered.txt", text + "\n", folder=GOLDEN)
    assert "Ack due <!date^" in text and "· step 1, paged <@U0TRIAGER>" in text and "Model:" not in text
