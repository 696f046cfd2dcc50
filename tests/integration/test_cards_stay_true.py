"""Cards and DMs that stay true as time passes: an automatic escalation moves the ack deadline on the card, a
deadline clock's owners are reminded by DM with rising urgency, and the card names the framework levels."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from bot.app.asgi import Tripwire
from bot.common.clock import ManualClock
from bot.common.messages import ReminderDM
from bot.incidents.lifecycle import validate_draft
from db.models import IncidentDeadline, OutboxMessage
from localslack import LocalSlack
from tests.conftest import LEAD, ONCALL, REPORTER, TEST_POLICY, TRIAGE_CHANNEL, TRIAGER, open_bot
from tests.integration.test_incident_lifecycle import card_text, file_incident, open_form, submit_form
from tests.integration.test_policy_triage import dms_to, entries, incident, policy_copy, tick
from tests.unit.digest.golden import check_golden

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "unit" / "slack" / "golden"


def last_card_sent(slack: LocalSlack) -> str:
    """The blocks of the last card edit exactly as the bot sent them (Slack adds block ids of its own).

    Page DMs are edited beside the card (in a DM, `D…`), in whichever order the outbox's workers finish.
    """
    edits = [call for call in slack.calls_to("chat.update") if not str(call.args["channel"]).startswith("D")]
    blocks = edits[-1].args["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    return json.dumps(blocks, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def token(moment: Any) -> str:
    """The start of the Slack date token for a moment, as cards and DMs write it."""
    return f"<!date^{int(moment.timestamp())}^"


def test_automatic_escalation_moves_the_ack_deadline_on_the_card(
    slack: LocalSlack, bot: Tripwire, clock: ManualClock
) -> None:
    file_incident(slack, bot)
    tick(bot)
    first_due = incident(bot).ack_due_at
    assert first_due == clock.now + timedelta(minutes=30)
    clock.advance(minutes=30)
    assert tick(bot).get("page") == 1  # step 2: nobody acknowledged
    moved = incident(bot).ack_due_at
    assert moved == clock.now + timedelta(minutes=30)  # the route's ack window, from the new page
    card = slack.message(TRIAGE_CHANNEL, incident(bot).card_ts or "")
    shown = card_text(card)
    assert token(moved) in shown and token(first_due) not in shown and "overdue" not in shown
    check_golden("card_after_auto_escalation.json", last_card_sent(slack), folder=GOLDEN)
    [page] = dms_to(slack, LEAD)
    assert token(moved) in page  # the person paged is told the deadline that now applies to them


def test_deadline_owners_get_reminders_of_rising_urgency(
    slack: LocalSlack, database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    path = policy_copy(tmp_path)
    text = path.read_text()
    # No reminders listed: the clock's owners are reminded at half and nine tenths of its time, and when it is due.
    listed = "external: {name: External report (SB 53), due: 15d, reminders: [2d]}"
    assert listed in text
    path.write_text(text.replace(listed, "external: {name: External report (SB 53), due: 15d}"))
    with open_bot(database_url, slack_url=slack.api_url, clock=clock, TRIPWIRE_POLICY=str(path)) as tripwire:
        draft, _ = validate_draft(title="Threshold crossing", category="cyber", severity="sev1")
        assert draft is not None
        opened = tripwire.incidents.report(draft=draft, reporter=REPORTER)
        tick(tripwire)
        tripwire.incidents.acknowledge(incident_id=opened.id or 0, actor=TRIAGER)
        tripwire.outbox.drain()
        with Session(tripwire.engine) as session:
            external = session.exec(select(IncidentDeadline).where(IncidentDeadline.deadline_id == "external")).one()
        before = len(dms_to(slack, TRIAGER))
        seen: list[str] = []
        for days in (7.5, 6, 1.5):  # 50% of 15 days, 90%, due
            clock.advance(days=days)
            fired = tick(tripwire)
            assert fired.get("deadline_reminder", 0) + fired.get("deadline_due", 0) == 1, fired
            seen.extend(dms_to(slack, TRIAGER)[before + len(seen) :])
        assert len(seen) == 3, seen
        assert all("*External report (SB 53)*" in dm and token(external.due_at) in dm for dm in seen)
        assert seen[0].startswith(":hourglass_flowing_sand: Reminder:")
        assert seen[1].startswith(":warning:") and "falls due soon" in seen[1]
        assert seen[2].startswith(":rotating_light:") and "*overdue*" in seen[2]
        assert not any("External report" in dm for dm in dms_to(slack, LEAD))  # paged by no one: not an owner
        deadline_lines = [e for e in entries(tripwire, opened.id or 0) if e.action == "deadline"]
        assert [e.after["deadline"]["urgency"] for e in deadline_lines if "External" in e.note] == [
            "reminder",
            "soon",
            "overdue",
        ]


def file_threshold(slack: LocalSlack, bot: Tripwire) -> None:
    """File a sev1 (threshold) report, which goes to the on-call channel with two deadline clocks."""
    submit_form(slack, open_form(slack), severity="sev1")
    bot.outbox.drain()


def reminder_rows(bot: Tripwire) -> list[OutboxMessage]:
    with Session(bot.engine) as session:
        return list(session.exec(select(OutboxMessage).where(OutboxMessage.kind == ReminderDM.kind)).all())


def test_a_deadline_reminder_is_sent_once_when_two_replicas_run_timers_at_once(
    slack: LocalSlack, bot: Tripwire, clock: ManualClock, database_url: str
) -> None:
    file_threshold(slack, bot)
    bot.timers.run_due()
    slack.slash_command(TRIAGER, "ack INC-1", channel_id=ONCALL)
    clock.advance(days=13, hours=1)  # the external report's reminder, 2 days before it is due
    with open_bot(database_url, slack_url=slack.api_url, clock=clock) as other:
        start = threading.Barrier(2)
        results: dict[str, dict[str, int]] = {}

        def run(name: str, replica: Tripwire) -> None:
            start.wait()
            results[name] = replica.timers.run_due().fired

        threads = [threading.Thread(target=run, args=(name, r)) for name, r in (("a", bot), ("b", other))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert sum(fired.get("deadline_reminder", 0) for fired in results.values()) == 1, results
    rows = reminder_rows(bot)
    assert [(row.channel, row.payload["incident"]["deadline"]["urgency"]) for row in rows] == [(TRIAGER, "soon")]


def test_a_deadline_timer_run_twice_reminds_once(slack: LocalSlack, bot: Tripwire, clock: ManualClock) -> None:
    file_threshold(slack, bot)
    slack.slash_command(TRIAGER, "ack INC-1", channel_id=ONCALL)
    clock.advance(days=13, hours=1)
    assert bot.timers.run_due().fired == {"deadline_reminder": 1}
    assert bot.timers.run_due().fired == {}
    assert len(reminder_rows(bot)) == 1


KILLED_MID_REMINDER = """
import sys
from datetime import datetime
from bot.common.clock import ManualClock
from bot.incidents.timers import TimerService
from bot.policy.store import PolicyStore
from db import queues
from db.engine import UnitOfWork, make_engine

uow = UnitOfWork(make_engine(sys.argv[1]))
clock = ManualClock(datetime.fromisoformat(sys.argv[2]))
enqueue = queues.enqueue_message

def enqueue_and_hang(*, session, message, now):
    enqueue(session=session, message=message, now=now)
    if message.kind == "incident.reminder":
        session.flush()
        print("queued", flush=True)
        sys.stdin.readline()  # the timer, its timeline entry and the DM are written, not committed: killed here

queues.enqueue_message = enqueue_and_hang
policies = PolicyStore(path=sys.argv[3], uow=uow, clock=clock)
TimerService(uow=uow, clock=clock, policies=policies, worker_id="doomed").run_due()
"""


def test_a_timer_runner_killed_mid_reminder_leaves_it_to_be_sent_once(
    slack: LocalSlack, bot: Tripwire, clock: ManualClock, database_url: str
) -> None:
    file_threshold(slack, bot)
    slack.slash_command(TRIAGER, "ack INC-1", channel_id=ONCALL)
    clock.advance(days=13, hours=1)
    command = [sys.executable, "-c", KILLED_MID_REMINDER, database_url, clock.now.isoformat(), str(TEST_POLICY)]
    with subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as runner:
        try:
            assert runner.stdout is not None and runner.stdout.readline().strip() == b"queued"
        finally:
            runner.kill()  # SIGKILL at the worst moment: after the DM is queued, before the commit
            runner.wait(timeout=30)
    assert reminder_rows(bot) == []
    assert bot.timers.run_due().fired == {"deadline_reminder": 1}
    assert [row.channel for row in reminder_rows(bot)] == [TRIAGER]
    assert [e.after["deadline"]["urgency"] for e in entries(bot) if e.action == "deadline"] == ["soon"]


def test_card_names_the_framework_levels(slack: LocalSlack, bot: Tripwire) -> None:
    """The test policy maps only the cyber category (not its levels): the card says it is the category's names."""
    file_threshold(slack, bot)
    [card] = slack.messages(ONCALL)
    assert "*Framework categories* (no level crosswalk in the policy): ASL-3 (Responsible Scaling Policy 2.2)" in (
        card_text(card)
    )
