"""Policy-driven triage end to end: routing, paging, escalation, deadlines, snooze, roles, restricted cards."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlmodel import Session, select

from bot.app.asgi import Tripwire
from bot.common.clock import ManualClock
from db.models import Incident, IncidentDeadline, OutboxMessage, TimelineEntry, Timer
from localslack import LocalSlack
from tests.conftest import (
    ADMIN,
    LEAD,
    ONCALL,
    REPORTER,
    RESTRICTED,
    TEST_POLICY,
    TRIAGE_CHANNEL,
    TRIAGER,
    open_bot,
)
from tests.integration.test_incident_lifecycle import card_text, file_incident, last_ephemeral, open_form, submit_form


def dms_to(slack: LocalSlack, user: str) -> list[str]:
    """Texts the bot sent to a user's DM."""
    return [m.text for m in slack.messages(slack.dm_channel(user))]


def entries(bot: Tripwire, incident_id: int = 1) -> list[TimelineEntry]:
    with Session(bot.engine) as session:
        statement = select(TimelineEntry).where(TimelineEntry.incident_id == incident_id).order_by(TimelineEntry.id)  # type: ignore[arg-type]
        return list(session.exec(statement).all())


def incident(bot: Tripwire, incident_id: int = 1) -> Incident:
    with Session(bot.engine) as session:
        found = session.get(Incident, incident_id)
        assert found is not None
        return found


def policy_copy(folder: Path) -> Path:
    """A copy of the test policy that a test may rewrite."""
    path = folder / "policy.yaml"
    shutil.copy(TEST_POLICY, path)
    return path


def tick(bot: Tripwire) -> dict[str, int]:
    """Fire due timers and deliver what they queued."""
    fired = bot.timers.run_due().fired
    bot.outbox.drain()
    return fired


def test_threshold_report_routes_to_oncall_with_deadlines(slack: LocalSlack, bot: Tripwire) -> None:
    submit_form(slack, open_form(slack), severity="sev1")
    bot.outbox.drain()
    found = incident(bot)
    assert (found.level, found.route, found.severity, found.channel_id) == ("threshold", "oncall", "sev1", ONCALL)
    assert found.actions == ["Pause external deployment"]
    with Session(bot.engine) as session:
        clocks = session.exec(select(IncidentDeadline).order_by(IncidentDeadline.due_at)).all()  # type: ignore[arg-type]
    assert [(c.deadline_id, (c.due_at - c.started_at).days) for c in clocks] == [("external", 15), ("decision", 30)]
    [card] = slack.messages(ONCALL)
    shown = card_text(card)
    assert "Capability decision" in shown and "External report (SB 53)" in shown
    external_due = int(clocks[0].due_at.timestamp())  # a date token: each reader's client counts down to it
    assert f"due <!date^{external_due}^{{date_short_pretty}} {{time}} ({{ago}})|" in shown
    assert "Pause external deployment" in shown and "threshold · cyber" in shown
    assert slack.messages(TRIAGE_CHANNEL) == []
    slack.slash_command(TRIAGER, "show INC-1", channel_id=ONCALL)
    detail = last_ephemeral(slack, TRIAGER)
    assert "*Deadline clocks*" in detail and "Capability decision: running" in detail


def test_escalation_pages_next_step_when_not_acknowledged(slack: LocalSlack, bot: Tripwire, clock: ManualClock) -> None:
    file_incident(slack, bot)
    assert tick(bot) == {"page": 1}
    assert len(dms_to(slack, TRIAGER)) == 1 and "You are paged for *INC-1*" in dms_to(slack, TRIAGER)[0]
    assert incident(bot).paged == [TRIAGER]
    clock.advance(minutes=20)
    assert tick(bot) == {"ack_reminder": 1}
    assert "still not acknowledged" in dms_to(slack, TRIAGER)[-1]
    clock.advance(minutes=10)
    assert tick(bot) == {"page": 1}
    assert len(dms_to(slack, LEAD)) == 1
    assert (incident(bot).paged, incident(bot).escalation_level) == ([LEAD], 1)
    card = slack.message(TRIAGE_CHANNEL, incident(bot).card_ts or "")
    assert f"<@{LEAD}>" in card_text(card) and "step 2" in card_text(card)
    replies = [m.text for m in slack.replies(TRIAGE_CHANNEL, incident(bot).card_ts or "")]
    assert any("Paged" in r and f"<@{LEAD}>" in r for r in replies), replies


def test_acknowledge_stops_the_chain(slack: LocalSlack, bot: Tripwire, clock: ManualClock) -> None:
    file_incident(slack, bot)
    tick(bot)
    slack.slash_command(TRIAGER, "ack INC-1")
    clock.advance(hours=5)
    assert tick(bot) == {}
    assert dms_to(slack, LEAD) == []
    with Session(bot.engine) as session:
        statuses = {t.kind: t.status for t in session.exec(select(Timer).where(Timer.kind != "page")).all()}
        pages = [t.status for t in session.exec(select(Timer).where(Timer.kind == "page")).all()]
    assert statuses == {"ack_reminder": "cancelled"}
    assert pages == ["done", "cancelled", "cancelled", "cancelled"]  # step 1 fired; step 2 and the repeat did not


def test_escalate_pages_the_next_step_at_once(slack: LocalSlack, bot: Tripwire) -> None:
    file_incident(slack, bot)
    tick(bot)
    slack.slash_command(REPORTER, "escalate INC-1")
    assert tick(bot) == {"page": 1}
    assert len(dms_to(slack, LEAD)) == 1
    assert incident(bot).escalation_level == 1


def test_restart_in_the_middle_resumes_the_chain(
    slack: LocalSlack, bot: Tripwire, clock: ManualClock, database_url: str
) -> None:
    file_incident(slack, bot)
    tick(bot)
    bot.engine.dispose()
    clock.advance(minutes=31)
    with open_bot(database_url, slack_url=slack.api_url, clock=clock) as restarted:
        assert restarted.timers.run_due().fired == {"ack_reminder": 1, "page": 1}
        restarted.outbox.drain()
        assert len(dms_to(slack, LEAD)) == 1
        assert restarted.timers.run_due().fired == {}


def test_snooze_needs_reason_holds_pages_and_ends(slack: LocalSlack, bot: Tripwire, clock: ManualClock) -> None:
    file_incident(slack, bot)
    tick(bot)
    slack.slash_command(TRIAGER, "snooze INC-1 1h")
    assert "For how long, and why?" in last_ephemeral(slack, TRIAGER) or "reason" in last_ephemeral(slack, TRIAGER)
    slack.slash_command(TRIAGER, "snooze INC-1 48h too long")
    assert "at most 1d" in last_ephemeral(slack, TRIAGER)
    slack.slash_command(TRIAGER, "snooze INC-1 1h waiting for the eval rerun")
    assert incident(bot).snooze_reason == "waiting for the eval rerun"
    clock.advance(minutes=45)  # the lead's page (30m) and the reminder (20m) wait for the snooze
    assert tick(bot) == {}
    assert dms_to(slack, LEAD) == []
    clock.advance(minutes=15)
    fired = tick(bot)
    assert fired == {"snooze_end": 1, "page": 1, "ack_reminder": 1}
    assert len([text for text in dms_to(slack, LEAD) if "You are paged" in text]) == 1
    actions = [e.action for e in entries(bot)]
    assert actions[-3:] == ["unsnooze", "page", "remind"] or set(actions[-3:]) == {"unsnooze", "page", "remind"}
    snooze = next(e for e in entries(bot) if e.action == "snooze")
    assert snooze.note == "waiting for the eval rerun" and snooze.actor == TRIAGER


def test_snooze_refused_at_threshold_level(slack: LocalSlack, bot: Tripwire) -> None:
    submit_form(slack, open_form(slack), severity="sev1")
    slack.slash_command(TRIAGER, "snooze INC-1 1h rerun")
    assert "threshold level; the policy does not allow snoozing it" in last_ephemeral(slack, TRIAGER)
    assert incident(bot).snoozed_until is None
    assert "snooze" not in [e.action for e in entries(bot)]


def test_snooze_button_opens_form_and_submits(slack: LocalSlack, bot: Tripwire) -> None:
    card = file_incident(slack, bot)
    slack.click_button(TRIAGER, TRIAGE_CHANNEL, card.ts, "incident_snooze")
    view = slack.open_views(TRIAGER)[-1]
    assert view.callback_id == "incident_snooze"
    response = slack.submit_view(TRIAGER, view.id, {"duration": {"value": "2h"}, "reason": {"value": "known flake"}})
    assert response.status_code == 200
    assert incident(bot).snooze_reason == "known flake"
    bot.outbox.drain()
    assert "snoozed until" in card_text(slack.message(TRIAGE_CHANNEL, card.ts))


def test_role_refusal_is_ephemeral_on_the_timeline_and_changes_nothing(slack: LocalSlack, bot: Tripwire) -> None:
    card = file_incident(slack, bot)
    calls_before = len(slack.calls_to("chat.update"))
    slack.click_button(REPORTER, TRIAGE_CHANNEL, card.ts, "incident_acknowledge")
    assert "You can't acknowledge INC-1" in last_ephemeral(slack, REPORTER)
    slack.slash_command(TRIAGER, "dismiss INC-1 looks like noise")
    assert "You can't dismiss INC-1" in last_ephemeral(slack, TRIAGER) and "safety_lead, admin" in last_ephemeral(
        slack, TRIAGER
    )
    assert incident(bot).status == "triggered"
    refused = [(e.actor, e.note) for e in entries(bot) if e.action == "refused"]
    assert refused == [
        (REPORTER, "acknowledge refused: the policy gives it to triager, safety_lead, admin"),
        (TRIAGER, "dismiss refused: the policy gives it to safety_lead, admin"),
    ]
    bot.outbox.drain()
    assert len(slack.calls_to("chat.update")) == calls_before


def test_restricted_category_shows_details_only_in_private_channel(slack: LocalSlack, bot: Tripwire) -> None:
    submit_form(slack, open_form(slack), category="cbrn.bio", title="Synthesis route for agent X")
    bot.outbox.drain()
    [full] = slack.messages(RESTRICTED)
    [redacted] = slack.messages(TRIAGE_CHANNEL)
    assert "Synthesis route for agent X" in card_text(full)
    assert "Synthesis route" not in card_text(redacted) + redacted.text
    assert "restricted incident" in card_text(redacted) and f"<#{RESTRICTED}>" in card_text(redacted)
    slack.slash_command(TRIAGER, "list", channel_id=TRIAGE_CHANNEL)
    assert "Synthesis route" not in last_ephemeral(slack, TRIAGER)
    slack.slash_command(LEAD, "show INC-1", channel_id=TRIAGE_CHANNEL)
    assert "only in" in last_ephemeral(slack, LEAD) and "Synthesis" not in last_ephemeral(slack, LEAD)
    slack.slash_command(LEAD, "show INC-1", channel_id=RESTRICTED)
    assert "Synthesis route for agent X" in last_ephemeral(slack, LEAD)
    slack.slash_command(LEAD, "ack INC-1", channel_id=RESTRICTED)
    bot.outbox.drain()
    assert "acknowledged" in card_text(slack.message(TRIAGE_CHANNEL, redacted.ts))  # the redacted copy follows status


def test_deadline_reminders_and_overdue_mark(slack: LocalSlack, bot: Tripwire, clock: ManualClock) -> None:
    submit_form(slack, open_form(slack), severity="sev1")
    bot.outbox.drain()
    slack.slash_command(TRIAGER, "ack INC-1")
    clock.advance(days=13, hours=1)
    assert tick(bot) == {"deadline_reminder": 1}  # the external report, 2 days before it falls due
    clock.advance(days=2)
    assert tick(bot).get("deadline_due") == 1
    with Session(bot.engine) as session:
        statuses = {d.deadline_id: d.status for d in session.exec(select(IncidentDeadline)).all()}
    assert statuses == {"external": "overdue", "decision": "running"}
    card = slack.message(ONCALL, incident(bot).card_ts or "")
    assert "🚨" in card_text(card) and "overdue: was due" in card_text(card)
    slack.slash_command(TRIAGER, "resolve INC-1 decision taken")
    with Session(bot.engine) as session:
        statuses = {d.deadline_id: d.status for d in session.exec(select(IncidentDeadline)).all()}
    assert statuses == {"external": "met", "decision": "met"}


def test_oncall_command_and_home_show_rotation(slack: LocalSlack, bot: Tripwire) -> None:
    slack.slash_command(REPORTER, "oncall")
    shown = last_ephemeral(slack, REPORTER)
    assert "triage-london" in shown and f"<@{TRIAGER}>" in shown and "<!date^" in shown
    slack.app_home_opened(LEAD)
    home = card_text(slack.home_view(LEAD))
    assert "On call now" in home and "Deadlines running" in home


def test_bad_policy_reload_keeps_old_and_tells_admins(
    slack: LocalSlack, database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    path = policy_copy(tmp_path)
    with open_bot(database_url, slack_url=slack.api_url, clock=clock, TRIPWIRE_POLICY=str(path)) as tripwire:
        assert tripwire.policies.reload().outcome == "unchanged"
        text = path.read_text()
        path.write_text(text.replace("severity: sev2, route: triage", "severty: sev2, route: triage"))
        result = tripwire.policies.reload()
        assert result.outcome == "refused"
        assert any(p.line == 15 and "unknown key 'severty'" in p.message for p in result.problems), result.problems
        assert tripwire.policies.current.version == "it-1"
        assert tripwire.policies.reload().outcome == "refused"  # told once, not on every poll
        tripwire.outbox.drain()
        [dm] = dms_to(slack, ADMIN)
        assert "not* loaded" in dm and f"{path}:15" in dm
        path.write_text(text.replace('version: "it-1"', 'version: "it-2"'))
        assert tripwire.policies.reload().outcome == "loaded"
        assert tripwire.policies.current.version == "it-2"


def test_direct_message_queued_as_ready_text_is_still_delivered(
    slack: LocalSlack, bot: Tripwire, clock: ManualClock
) -> None:
    # Rows queued before direct messages were typed carry their finished text.
    with Session(bot.engine) as session:
        session.add(
            OutboxMessage(
                kind="message",
                channel=ADMIN,
                payload={"text": "queued earlier"},
                created_at=clock(),
                next_attempt_at=clock(),
            )
        )
        session.commit()
    assert bot.outbox.drain().sent == 1
    assert dms_to(slack, ADMIN) == ["queued earlier"]


def test_incident_keeps_the_policy_version_it_was_opened_under(
    slack: LocalSlack, database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    path = policy_copy(tmp_path)
    with open_bot(database_url, slack_url=slack.api_url, clock=clock, TRIPWIRE_POLICY=str(path)) as tripwire:
        from bot.incidents.lifecycle import validate_draft

        draft, _ = validate_draft(title="first", category="cyber", severity="sev3")
        assert draft is not None
        first = tripwire.incidents.report(draft=draft, reporter=REPORTER)
        path.write_text(path.read_text().replace('version: "it-1"', 'version: "it-2"'))
        tripwire.policies.reload()
        second = tripwire.incidents.report(draft=draft, reporter=REPORTER)
        assert (first.policy_version, second.policy_version) == ("it-1", "it-2")
        with Session(tripwire.engine) as session:
            from db.models import PolicyVersion

            assert [v.version for v in session.exec(select(PolicyVersion).order_by(PolicyVersion.id)).all()] == [  # type: ignore[arg-type]
                "it-1",
                "it-2",
            ]
