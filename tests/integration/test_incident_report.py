"""`/incident report INC-n` over signed HTTP: an ephemeral SB 53 report draft, and its clear refusals."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, func, select

from bot.app.asgi import Tripwire
from bot.common.clock import ManualClock
from db.models import EvalResult, OutboxMessage, TimelineEntry
from localslack import LocalSlack
from tests.conftest import LEAD, RESTRICTED, TRIAGE_CHANNEL, TRIAGER
from tests.integration.test_incident_lifecycle import last_ephemeral, open_form, submit_form


def link_results(bot: Tripwire, clock: ManualClock, incident_id: int | None) -> None:
    """Two results linked to the incident (observed 2 h and 1 h ago) and one, older, linked to nothing."""
    now = clock()
    with Session(bot.engine) as session:
        for hours, task, linked in (
            (2, "ctf_first", incident_id),
            (1, "ctf_second", incident_id),
            (3, "ctf_other", None),
        ):
            session.add(
                EvalResult(
                    source="inspect", run_id=f"run-{task}", task=task, metric="accuracy", model="frontier-x",
                    model_family="frontier-x", checkpoint="ckpt-0412", value=0.72, received_at=now,
                    observed_at=now - timedelta(hours=hours), level="threshold", incident_id=linked,
                )
            )  # fmt: skip
        session.commit()


def written(bot: Tripwire) -> tuple[int, int]:
    """How many timeline entries and outbox rows there are: a draft adds neither."""
    with Session(bot.engine) as session:
        entries = session.exec(select(func.count()).select_from(TimelineEntry)).one()
        outbox = session.exec(select(func.count()).select_from(OutboxMessage)).one()
    return entries, outbox


def test_report_answers_an_ephemeral_draft_and_sends_nothing(
    slack: LocalSlack, bot: Tripwire, clock: ManualClock
) -> None:
    submit_form(slack, open_form(slack), severity="sev1")  # cyber at sev1: threshold, with the SB 53 clock
    bot.outbox.drain()
    link_results(bot, clock, incident_id=1)
    posted, before = len(slack.messages(TRIAGE_CHANNEL)), written(bot)
    slack.slash_command(LEAD, "report INC-1", channel_id=TRIAGE_CHANNEL)
    draft = last_ephemeral(slack, LEAD)
    assert "*DRAFT — not filed* · Critical safety incident report (California SB 53) · INC-1" in draft
    assert "External report (SB 53): due <!date^" in draft and "This is the 15-day clock" in draft
    assert "Model gave synthesis route" in draft and "Model: frontier-x @ ckpt-0412" in draft
    assert "Deployment: internal research" in draft and "https://evals.example/run/12" in draft
    # The linked results, earliest observed first; a result linked to nothing else is not the incident's evidence.
    assert draft.index("`ctf_first`") < draft.index("`ctf_second`") and "ctf_other" not in draft
    assert "filed INC-1 as sev1 (cyber)" in draft and "Pause external deployment" in draft
    # A draft is read-only: nothing posted, queued or put on the timeline, and asking again answers the same.
    assert (len(slack.messages(TRIAGE_CHANNEL)), written(bot)) == (posted, before)
    slack.slash_command(LEAD, "report INC-1", channel_id=TRIAGE_CHANNEL)
    assert last_ephemeral(slack, LEAD) == draft and written(bot) == before


def test_report_of_an_incident_without_an_sb53_clock_is_refused(slack: LocalSlack, bot: Tripwire) -> None:
    submit_form(slack, open_form(slack), severity="sev3")  # watch level: no deadline clocks
    slack.slash_command(LEAD, "report INC-1", channel_id=TRIAGE_CHANNEL)
    refused = last_ephemeral(slack, LEAD)
    assert "INC-1 has no SB 53 reporting clock (its clocks: none)" in refused and "DRAFT" not in refused


def test_report_of_an_unknown_or_missing_incident_says_so(slack: LocalSlack, bot: Tripwire) -> None:
    slack.slash_command(LEAD, "report INC-99", channel_id=TRIAGE_CHANNEL)
    assert "No incident INC-99." in last_ephemeral(slack, LEAD)
    slack.slash_command(LEAD, "report", channel_id=TRIAGE_CHANNEL)
    assert "Which incident? Usage: `/incident report INC-42`" in last_ephemeral(slack, LEAD)


def test_report_of_a_restricted_incident_is_refused_outside_its_channel(slack: LocalSlack, bot: Tripwire) -> None:
    submit_form(slack, open_form(slack), category="cbrn.bio", title="Synthesis route for agent X")
    slack.slash_command(TRIAGER, "report INC-1", channel_id=TRIAGE_CHANNEL)
    refused = last_ephemeral(slack, TRIAGER)
    assert f"only in <#{RESTRICTED}>: run `report INC-1` there" in refused
    assert "Synthesis" not in refused and "SB 53" not in refused  # not even whether it has the clock
    # In its own private channel a member gets past the gate (this alert-level incident has no SB 53 clock).
    slack.slash_command(TRIAGER, "report INC-1", channel_id=RESTRICTED)
    assert "INC-1 has no SB 53 reporting clock" in last_ephemeral(slack, TRIAGER)
