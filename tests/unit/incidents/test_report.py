"""`/incident report`: which clocks are SB 53's, the drafted report (golden render) and its bounds."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.common.limits import MESSAGE_BLOCKS_MAX, SECTION_TEXT_MAX
from bot.incidents.commands import parse
from bot.incidents.outcomes import Help, Withheld
from bot.incidents.report import ACTIONS_MAX, NoReportClock, ReportDraft, draft_report, report_clocks
from bot.policy.document import Policy
from bot.policy.loader import load_policy
from bot.policy.store import BUNDLED_POLICY
from bot.slack.replies import command_reply
from db.models import EvalResult, Incident, IncidentDeadline
from tests.conftest import TEST_POLICY
from tests.unit.digest.golden import check_golden
from tests.unit.slack.test_golden_cards import OPENED, entry, threshold_incident

GOLDEN = Path(__file__).parents[1] / "slack" / "golden"
BUNDLED = load_policy(BUNDLED_POLICY)
MISALIGNMENT_CROSSWALK: dict[str, Any] = {
    "of": "category",
    "maps": [
        {"framework": "Anthropic Responsible Scaling Policy 3.0", "names": ["Misaligned AI in high-stakes settings"]}
    ],
}


def clock(deadline_id: str, name: str, due: timedelta, status: str = "running") -> IncidentDeadline:
    return IncidentDeadline(
        incident_id=7, deadline_id=deadline_id, name=name, started_at=OPENED, due_at=OPENED + due, status=status
    )


SB53_15D = clock("external-report", "Critical safety incident report (SB 53)", timedelta(days=15))
SB53_24H = clock("external-report-imminent", "Imminent-harm incident report (SB 53)", timedelta(hours=24))
DECISION = clock("capability-decision", "Capability decision", timedelta(days=30))


def result(minutes: int, value: float, **changes: Any) -> EvalResult:
    values: dict[str, Any] = {
        "id": minutes,
        "source": "inspect",
        "run_id": f"run-{minutes}",
        "task": "oversight_subversion",
        "scorer": "model_graded",
        "metric": "subversion_rate",
        "model": "frontier-x",
        "model_family": "frontier-x",
        "checkpoint": "ckpt-1200",
        "value": value,
        "stderr": 0.021,
        "samples": 400,
        "observed_at": OPENED - timedelta(minutes=minutes),
        "received_at": OPENED,
        "url": "https://evals.example/run/42",
        "level": "threshold",
        "incident_id": 7,
    }
    return EvalResult(**(values | changes))


def misalignment_incident(**changes: Any) -> Incident:
    """A misalignment threshold incident under the bundled policy: both its clocks run, one of them SB 53's."""
    defaults: dict[str, Any] = {
        "title": "Agent disabled its <monitor> during a deployment task",
        "category": "misalignment",
        "deployment": "internal agentic research cluster",
        "policy_version": BUNDLED.version,
        "route": "leadership",
        "channel_id": "C0LEADERSHIP",
        "links": ["https://transcripts.example/t/9"],
        "explanation": "misalignment.subversion subversion_rate 0.31 >= 0.25 (threshold)",
        "actions": ["Restrict the checkpoint to sandboxed use until the safety case is reviewed"],
        "status": "mitigated",
        "assignee": "U0LEAD",
        "resolution_note": "",
    }
    return threshold_incident(**(defaults | changes))


TIMELINE = [
    entry(
        1, 0, "create", actor="U0REPORTER", severity="sev1", category="misalignment", crosswalk=MISALIGNMENT_CROSSWALK
    ),
    entry(2, 0, "page", note="step 1 of 3", paged=["U0TRIAGER"]),
    entry(3, 10, "refused", actor="U0TOM", note="dismiss refused: the policy gives it to safety_lead, admin"),
    entry(4, 12, "acknowledge", actor="U0LEAD", status="acknowledged"),
    entry(5, 30, "note", actor="U0LEAD", note="Checkpoint pulled from the <agent> pool"),
    entry(6, 45, "mitigate", actor="U0LEAD", note="Sandboxed; monitor re-enabled & locked", status="mitigated"),
]


def draft(incident: Incident | None = None, **overrides: Any) -> ReportDraft:
    inputs: dict[str, Any] = {
        "incident": incident or misalignment_incident(),
        "policy": BUNDLED,
        "deadlines": [SB53_15D, DECISION],
        "timeline": TIMELINE,
        "evidence": [result(120, 0.31), result(60, 0.28, near_miss="below", level=None, stderr=None, samples=None)],
        "evidence_total": 2,
        "now": OPENED + timedelta(hours=2),
    }
    return draft_report(**(inputs | overrides))


def test_report_matches_golden() -> None:
    reply = command_reply(draft())
    check_golden("report_sb53.txt", reply.text + "\n", folder=GOLDEN)
    text = reply.text
    assert text.startswith("*DRAFT — not filed*") and text.rstrip().endswith("DRAFT — not filed._")
    assert "Critical safety incidents are reported within 15 days of discovery." in text  # the policy's ca-sb53 ref
    assert "This is the 15-day clock" in text and "Capability decision" not in text  # not an SB 53 clock
    assert "Agent disabled its &lt;monitor&gt;" in text  # user text escaped
    assert "subversion_rate = 0.31 ± 0.021 (n=400)" in text and "near miss (below)" in text
    assert "marked INC-7 mitigated. Sandboxed; monitor re-enabled &amp; locked" in text
    assert "Paged" not in text and "refused" not in text  # actions taken are what people did, not bot noise
    assert "Deployment: internal agentic research cluster" in text
    # Earliest evidence first, so the draft's first date is what was observed first.
    assert text.index("2026-11-23 13:00 UTC") < text.index("2026-11-23 14:00 UTC")


def test_report_answers_to_the_24_hour_clock_when_both_run() -> None:
    both = draft(misalignment_incident(category="misuse"), deadlines=[SB53_15D, SB53_24H, DECISION])
    assert both.clock.clock is SB53_24H and both.clock.imminent
    assert [other.clock.deadline_id for other in both.other_clocks] == ["external-report"]
    text = command_reply(both).text
    assert "This is the 24-hour clock" in text and "Also running: Critical safety incident report (SB 53)" in text
    assert "Also running: Capability decision" not in text  # only SB 53 clocks are the report's


TEST_CLOCKS = [
    clock("decision", "Capability decision", timedelta(days=30)),
    clock("external", "External report (SB 53)", timedelta(days=15)),
]
GONE = clock("gone", "Old SB53 clock", timedelta(days=15))
NEAR_NAME = clock("sb530", "SB 530 review", timedelta(days=15))


@pytest.mark.parametrize(
    ("policy", "deadlines", "expected"),
    [
        pytest.param(BUNDLED, [DECISION, SB53_15D], ["external-report"], id="cites-the-sb53-framework"),
        pytest.param(load_policy(TEST_POLICY), TEST_CLOCKS, ["external"], id="named-sb53-without-the-framework"),
        pytest.param(BUNDLED, [GONE], ["gone"], id="no-longer-in-policy"),
        pytest.param(BUNDLED, [DECISION], [], id="capability-decision-only"),
        pytest.param(BUNDLED, [NEAR_NAME], [], id="not-a-near-name"),
    ],
)
def test_report_clocks_are_those_of_sb53(
    policy: Policy, deadlines: list[IncidentDeadline], expected: list[str]
) -> None:
    assert [found.clock.deadline_id for found in report_clocks(policy, deadlines)] == expected


@pytest.mark.parametrize(
    ("deadlines", "said"),
    [
        pytest.param([DECISION], "(its clocks: Capability decision)", id="other-clock"),
        pytest.param([], "(its clocks: none)", id="no-clock"),
    ],
)
def test_report_without_an_sb53_clock_is_refused(deadlines: list[IncidentDeadline], said: str) -> None:
    with pytest.raises(NoReportClock) as caught:
        draft(deadlines=deadlines)
    assert str(caught.value).startswith("INC-7 has no SB 53 reporting clock") and said in str(caught.value)


def test_report_marks_what_the_record_lacks() -> None:
    bare = misalignment_incident(description="", model="", checkpoint="", deployment="", links=[])
    text = command_reply(draft(bare, evidence=[], evidence_total=0)).text
    for gap in ("a short, plain statement", "the model and checkpoint", "the evidence (evaluation results"):
        assert f"_To complete:_ {gap}" in text
    assert "Model:" not in text and "Deployment:" not in text


def test_long_report_stays_one_message_within_slacks_limits() -> None:
    notes = [entry(10 + i, 60 + i, "note", actor="U0LEAD", note="x" * 2000) for i in range(200)]
    many = [result(i, 0.3, id=i, run_id=f"r{i}", url="https://e.example/" + "y" * 1900) for i in range(1, 21)]
    long = misalignment_incident(description="line\n" * 2000, explanation="z" * 5000)
    built = draft(long, timeline=[*TIMELINE, *notes], evidence=many, evidence_total=500)
    reply = command_reply(built)
    assert reply.blocks is not None and len(reply.blocks) <= MESSAGE_BLOCKS_MAX
    assert all(len(block["text"]["text"]) <= SECTION_TEXT_MAX for block in reply.blocks)
    shown = "\n".join(block["text"]["text"] for block in reply.blocks)
    assert shown.rstrip().endswith("DRAFT — not filed._")  # nothing was cut off the end
    assert f"(the last {ACTIONS_MAX} of 204)" in shown and "(the first 20 of 500 linked results)" in shown
    assert "characters in all; copy the rest from the incident" in shown


def test_report_of_a_restricted_incident_elsewhere_names_where_to_run_it() -> None:
    hidden = misalignment_incident(restricted=True, channel_id="C0RESTRICTED")
    text = command_reply(Withheld(hidden, subcommand="report")).text
    assert "run `report INC-7` there" in text and "<#C0RESTRICTED>" in text and "monitor" not in text


def test_report_is_a_subcommand_in_help() -> None:
    parsed = parse("report INC-7")
    assert (parsed.name, parsed.args) == ("report", ["INC-7"])
    assert "/incident report INC-42" in command_reply(Help("/incident")).text
