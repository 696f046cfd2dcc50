"""Facts the digests must get right, asserted directly: redaction, medians, decisions, time zones, limits."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import subprocess
import sys
import time
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from bot.digest.compose import build_risk_report, build_weekly
from bot.digest.inputs import DeadlineRow, Period
from bot.digest.measures import format_seconds, median_change, period_label, period_span
from bot.digest.render import content_hash, render_digest
from bot.digest.views import DigestContent
from bot.slack.digest_messages import digest_blocks, digest_mrkdwn
from bot.slack.modals import published_digest
from tests.unit.digest.fixture import (
    BIO,
    GENERATED,
    SB53_REPORT,
    SECRET_EXPLANATION,
    SECRET_MODEL,
    SECRET_SNOOZE,
    SECRET_TITLE,
    TZ_NAME,
    WEEK,
    incident,
    local,
    point,
    risk_input,
    weekly_input,
)

REPO = Path(__file__).resolve().parents[3]
MINUS, DASH = "\N{MINUS SIGN}", "\N{EN DASH}"  # as readers see them, e.g. in a change of -40%
SECRETS = (SECRET_TITLE, SECRET_MODEL, SECRET_EXPLANATION, SECRET_SNOOZE, "SECRET")


@cache
def weekly() -> DigestContent:
    return build_weekly(weekly_input())


@cache
def risk_report() -> DigestContent:
    return build_risk_report(risk_input())


def every_output(digest: DigestContent) -> dict[str, str]:
    """Every text a digest can leave the process as: the three renders, the review blocks and the snapshot."""
    outputs = {"slack": digest_mrkdwn(digest), **{fmt: render_digest(digest, fmt=fmt) for fmt in ("md", "html")}}
    outputs["blocks"] = json.dumps(digest_blocks(digest, summary_override=None, digest_id=1, state="draft"))
    outputs["data"] = json.dumps(digest.as_data())
    return outputs


# -- restricted incidents


@pytest.mark.parametrize("build", [weekly, risk_report], ids=["weekly", "risk-report"])
def test_restricted_details_appear_in_no_output(build: Any) -> None:
    for name, text in every_output(build()).items():
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into the {name} output"
        # It is still there, by reference and category.
        assert "INC-102" in text, name
        assert "restricted incident (cbrn.bio)" in text, name


def test_restricted_incidents_still_count() -> None:
    counts = weekly().new_counts
    column = counts.categories.index("cbrn.bio")
    sev1 = next(row for row in counts.rows if row.severity == "sev1")
    assert sev1.counts[column] == 1
    assert counts.total == 7


def test_restricted_result_families_get_stand_in_names() -> None:
    groups = [g for g in weekly().crossings if g.metric_id == "bio.uplift_mcq"]
    assert [(g.model_family, g.restricted) for g in groups] == [("restricted model 1", True)]
    cyber = [g for g in weekly().crossings if g.metric_id == "cyber.ctf_solve"]
    assert [(g.model_family, g.restricted) for g in cyber] == [("atlas", False)]


def test_restricted_series_is_charted_under_stand_in_names() -> None:
    bio = dataclasses.replace(weekly_input().series[0], metric_id="bio.uplift_mcq", category="cbrn.bio")
    digest = build_weekly(weekly_input(series=(bio,)))
    assert sorted(digest.charts[0].series) == ["restricted model 1", "restricted model 2"]
    assert "atlas" not in json.dumps(digest.as_data()["charts"])


def test_user_text_is_escaped_for_each_format() -> None:
    slack = digest_mrkdwn(weekly())
    html = render_digest(weekly(), fmt="html")
    md = render_digest(weekly(), fmt="md")
    assert "<!channel>" not in slack and "&lt;!channel&gt;" in slack
    assert "<!channel>" not in html and "&lt;!channel&gt;" in html and "exploit &amp; pinged" in html
    assert "<!channel>" not in md and r"\<!channel\>" in md


# -- medians and their change


@pytest.mark.parametrize(
    ("current", "previous", "text"),
    [
        pytest.param([720], [1200], f"12m (was 20m, {MINUS}40%)", id="faster"),
        pytest.param([600, 1800], [1200], "20m (was 20m, ±0%)", id="even-count-median-unchanged"),
        pytest.param([5400], [3600], "1h 30m (was 1h, +50%)", id="slower"),
        pytest.param([60, 120, 600], [], "2m (was n/a)", id="empty-previous-period"),
        pytest.param([], [300], "n/a (was 5m)", id="empty-current-period"),
        pytest.param([], [], "n/a", id="no-data"),
        pytest.param([90000], [0], "1d 1h (was 0s)", id="previous-zero-has-no-percentage"),
        pytest.param([100], [300], f"1m (was 5m, {MINUS}67%)", id="rounded-percentage"),
    ],
)
def test_median_change(current: list[float], previous: list[float], text: str) -> None:
    change = median_change(current, previous)
    assert change.text == text
    assert (change.count, change.previous_count) == (len(current), len(previous))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (59.4, "59s"),
        (60, "1m"),
        (3599, "59m"),
        (3600, "1h"),
        (3660, "1h 1m"),
        (86400, "1d"),
        (97200, "1d 3h"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text


def test_fixture_medians_and_deltas() -> None:
    digest = weekly()
    # Opened this week and acknowledged by its end: 5m, 5m, 20m, 40m (across the DST change), 70m.
    assert digest.time_to_ack.seconds == 20 * 60
    assert digest.time_to_ack.text == f"20m (was 30m, {MINUS}33%)"
    # Resolved: 2h 30m and 8h (the dismissal does not count); the week before 3h 10m and 24h.
    assert digest.time_to_resolve.text == f"5h 15m (was 13h 35m, {MINUS}61%)"


def test_median_counts_only_what_happened_by_period_end_and_empty_previous_is_na() -> None:
    rows = (
        incident("INC-1", created_at=local(2026, 10, 27, 9), acknowledged_at=local(2026, 10, 27, 9, 10)),
        incident("INC-2", created_at=local(2026, 10, 28, 9), acknowledged_at=local(2026, 10, 28, 9, 30)),
        # Acknowledged only after the week ended: not part of this week's median.
        incident("INC-3", created_at=local(2026, 11, 1, 23), acknowledged_at=local(2026, 11, 2, 8)),
    )
    digest = build_weekly(weekly_input(new_incidents=rows, open_incidents=(), previous_incidents=()))
    assert digest.time_to_ack.text == "20m (was n/a)"
    assert digest.time_to_resolve.text == "n/a"


# -- what needs a decision


def test_decisions_for_the_fixture_week() -> None:
    assert weekly().decisions == (
        "INC-101 · Model wrote a working exploit & pinged <!channel>: threshold level reached (sev1); "
        "Capability decision clock due 2026-11-26 10:00 PST",
        "INC-102 · restricted incident (cbrn.bio): threshold level reached (sev1); "
        "Capability decision clock due 2026-11-27 14:00 PST",
        "INC-101 · Model wrote a working exploit & pinged <!channel>: Critical safety incident report (SB 53) overdue "
        "by 4d 15h at period end (was due 2026-10-28 10:00 PDT)",
        "INC-101 · Model wrote a working exploit & pinged <!channel>: sev1 not acknowledged at period end "
        "(ack was due 2026-10-27 10:15 PDT)",
        "INC-106 · trend in ai-rd.automation (atlas-2): ai-rd.swe_tasks worsened by 0.09 over the last 5 "
        "checkpoints and at that pace would cross the threshold cut-off >=0.7 around 2026-11-20 although no "
        "result has crossed it yet.",
    )


def test_decisions_leave_out_what_was_settled() -> None:
    decided = incident(
        "INC-1",
        severity="sev1",
        level="threshold",
        status="acknowledged",
        created_at=local(2026, 10, 27, 9),
        acknowledged_at=local(2026, 10, 27, 9, 5),
    )
    acked_since = incident(
        "INC-2",
        severity="sev2",
        level="alert",
        status="acknowledged",
        created_at=local(2026, 10, 28, 9),
        acknowledged_at=local(2026, 11, 2, 8),  # after the period ended, before the draft
    )
    unacked = incident("INC-3", severity="sev2", level="alert", created_at=local(2026, 10, 29, 9))
    quiet = incident("INC-4", severity="sev3", level="watch", created_at=local(2026, 10, 29, 9))
    deadlines = (
        DeadlineRow(
            "INC-1", "capability-decision", local(2026, 10, 27, 9), local(2026, 11, 26, 9), "met", GENERATED, False
        ),
        DeadlineRow(
            "INC-3", "external-report", local(2026, 10, 29, 9), local(2026, 10, 30, 9), "cancelled", None, False
        ),
        DeadlineRow(
            "INC-4", "external-report", local(2026, 10, 29, 9), local(2026, 10, 31, 9), "met", GENERATED, False
        ),
    )
    rows = (decided, acked_since, unacked, quiet)
    digest = build_weekly(weekly_input(new_incidents=rows, open_incidents=rows, deadlines=deadlines))
    assert digest.decisions == (
        "INC-3 · Incident INC-3: sev2 not acknowledged at period end (opened 2026-10-29 09:00 PDT)",
    )
    assert "1 item needs a decision." in digest.summary


def test_nothing_to_decide_says_so() -> None:
    digest = build_weekly(weekly_input(new_incidents=(), open_incidents=(), deadlines=()))
    assert digest.decisions == ()
    assert "Nothing needs a decision." in render_digest(digest, fmt="md")


# -- time zones


def test_period_label_and_span_are_in_the_policy_zone() -> None:
    assert period_label(WEEK) == f"26 Oct {DASH} 1 Nov 2026"
    assert period_span(WEEK) == (
        f"Mon 26 Oct 2026 00:00 PDT {DASH} Mon 2 Nov 2026 00:00 PST (America/Los_Angeles, 169 hours)"
    )
    # The same instants read in another zone are a different local week.
    tokyo = Period("weekly", WEEK.start, WEEK.end, "Asia/Tokyo")
    assert period_span(tokyo) == f"Mon 26 Oct 2026 16:00 JST {DASH} Mon 2 Nov 2026 17:00 JST (Asia/Tokyo, 169 hours)"
    assert period_label(Period("weekly", local(2026, 11, 2), local(2026, 11, 9), TZ_NAME)) == f"2{DASH}8 Nov 2026"
    assert (
        period_label(Period("weekly", local(2026, 12, 28), local(2027, 1, 4), TZ_NAME))
        == f"28 Dec 2026 {DASH} 3 Jan 2027"
    )


def test_review_blocks_show_the_period_in_the_policy_zone() -> None:
    blocks = digest_blocks(weekly(), summary_override=None, digest_id=7, state="draft")
    first_line = blocks[1]["text"]["text"].split("\n")[0]
    assert first_line == (
        f"_Mon 26 Oct 2026 00:00 PDT {DASH} Mon 2 Nov 2026 00:00 PST_ (America/Los_Angeles, "
        "_169 hours) · policy Example frontier lab policy 2026.10.2_"
    )


def test_times_do_not_depend_on_the_server_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = render_digest(weekly(), fmt="md")
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        assert render_digest(build_weekly(weekly_input()), fmt="md") == expected
    finally:
        monkeypatch.undo()
        time.tzset()


def test_times_on_the_fall_back_night_carry_their_offset() -> None:
    near = [g for g in weekly().near_misses if g.model_family == "borealis"]
    assert near[0].last == "2026-11-01 01:20 PST"
    resolved = [i for i in risk_report().changes.opened if i.ref == "INC-104"]  # type: ignore[union-attr]
    assert resolved[0].opened == "2026-11-01 01:30 PDT"


# -- overdue acknowledgements and deadline clocks


def test_overdue_acknowledgements() -> None:
    misses = [(m.incident.ref, m.kind, m.detail) for m in weekly().ack_misses]
    assert misses == [
        ("INC-101", "unacknowledged", "not acknowledged, 5d 14h past due at period end"),
        ("INC-095", "unacknowledged", "not acknowledged, 10d 13h past due at period end"),
        ("INC-106", "unacknowledged", "not acknowledged, 2d 9h past due at period end"),
        ("INC-103", "late", "acknowledged 40m late"),
    ]


def test_deadline_clocks() -> None:
    digest = weekly()
    assert [(c.ref, c.name, c.detail) for c in digest.deadlines_overdue] == [
        ("INC-101", SB53_REPORT, "overdue by 4d 15h at period end")
    ]
    assert [(c.ref, c.name, c.detail) for c in digest.deadlines_due_soon] == [
        ("INC-090", "Safety case review", "due 3d 9h after period end")
    ]
    assert [(c.ref, c.name, c.detail) for c in digest.deadlines_met_late] == [
        ("INC-103", SB53_REPORT, "met 1d 16h late")
    ]


# -- risk report


def test_remaining_risk_per_threat() -> None:
    grades = {t.id: t.remaining_risk for t in risk_report().threats}
    assert grades == {
        "cbrn.bio": "at threshold — decision pending",
        "cyber": "at threshold — decision pending",
        "ai-rd.automation": "elevated",
        "misalignment": "elevated",
        "misuse": "watch",
        "data-exposure": "within thresholds",
    }


def test_remaining_risk_falls_when_incidents_close() -> None:
    closed = dataclasses.replace(BIO, status="resolved", resolved_at=local(2026, 10, 30, 9))
    data = risk_input(open_incidents=(), new_incidents=(closed,), series=(), near_misses=(), crossings=())
    grades = {t.id: (t.remaining_risk, t.reasons) for t in build_risk_report(data).threats}
    assert grades["cbrn.bio"] == ("within thresholds", ())


def test_evidence_is_the_latest_result_against_the_lines() -> None:
    cyber = next(t for t in risk_report().threats if t.id == "cyber")
    rows = [(e.model_family, e.value, e.standing, e.against_lines) for e in cyber.evidence]
    assert rows == [
        ("atlas", 0.82, "threshold", "at threshold level"),
        ("borealis", 0.59, "watch", "at watch level; 0.01 from alert (>=0.6)"),
    ]


def test_changes_since_the_last_report() -> None:
    changes = risk_report().changes
    assert changes is not None
    assert changes.since == "2026-10-22 00:00 PDT"
    assert [i.ref for i in changes.opened][:2] == ["INC-095", "INC-092"]
    assert "INC-090" not in [i.ref for i in changes.opened]  # opened before the last report ended
    assert [i.ref for i in changes.closed] == ["INC-092", "INC-105", "INC-107", "INC-104"]
    assert [c.version for c in changes.policy_changes] == ["2026.10.2"]


def test_deviations_include_snoozes_with_reasons_but_not_restricted_ones() -> None:
    snoozes = {d.ref: d.detail for d in risk_report().deviations if d.kind == "snoozed"}
    assert snoozes == {
        "INC-088": "until 2026-10-27 09:00 PDT: reason withheld (restricted)",
        "INC-103": "until 2026-10-30 09:00 PDT: Waiting for the second elicitation run",
    }


# -- Block Kit


def test_draft_blocks_have_the_three_buttons() -> None:
    blocks = digest_blocks(weekly(), summary_override=None, digest_id=42, state="draft")
    assert (
        blocks[0]["type"] == "header" and blocks[0]["text"]["text"] == f"Weekly risk digest · 26 Oct {DASH} 1 Nov 2026"
    )
    actions = next(b for b in blocks if b["type"] == "actions")
    buttons = {e["action_id"]: e for e in actions["elements"]}
    assert list(buttons) == ["digest_publish", "digest_edit", "digest_discard"]
    assert {e["value"] for e in buttons.values()} == {"42"}
    assert buttons["digest_publish"]["style"] == "primary" and "confirm" in buttons["digest_publish"]
    assert buttons["digest_discard"]["style"] == "danger" and "confirm" in buttons["digest_discard"]
    assert "style" not in buttons["digest_edit"]
    shown = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert f"• Median time to acknowledge: 20m (was 30m, {MINUS}33%)" in shown


@pytest.mark.parametrize("summary", [None, "We *paused* atlas-2; see _the plan_."], ids=["composed", "edited"])
@pytest.mark.parametrize("state", ["draft", "published", "discarded"])
def test_review_message_is_the_post_that_publish_sends(summary: str | None, state: Any) -> None:
    digest = risk_report()
    blocks = digest_blocks(digest, summary_override=summary, digest_id=5, state=state)
    # What bot/slack/calls.py posts on Publish: the stored title and the stored Slack text.
    post = published_digest(title=str(digest.as_data()["title"]), text=digest_mrkdwn(digest, summary_override=summary))
    tail = 2 if state == "draft" else 1
    assert blocks[:-tail] == post
    assert [b["type"] for b in blocks[-tail:]] == (["context", "actions"] if state == "draft" else ["context"])
    text = "\n".join(b["text"]["text"] for b in post if b["type"] == "section")
    assert digest.title not in text  # the header says it once


@pytest.mark.parametrize(("state", "said"), [("published", "Published"), ("discarded", "Discarded")])
def test_decided_blocks_have_no_buttons(state: Any, said: str) -> None:
    blocks = digest_blocks(weekly(), summary_override="Edited.", digest_id=42, state=state)
    assert not [b for b in blocks if b["type"] == "actions"]
    assert said in blocks[-1]["elements"][0]["text"]
    assert "\n\nEdited.\n" in blocks[1]["text"]["text"]
    assert "The summary was edited in review." in blocks[-1]["elements"][0]["text"]


def test_500_incidents_stay_within_block_kit_limits() -> None:
    rows = tuple(
        incident(
            f"INC-{n}",
            severity="sev1",
            level="threshold",
            title=f"Incident number {n} " + "x" * 200,
            created_at=local(2026, 10, 26, 1) + timedelta(minutes=17 * n),
            ack_due_at=local(2026, 10, 26, 1) + timedelta(minutes=17 * n + 15),
        )
        for n in range(500)
    )
    digest = build_weekly(weekly_input(new_incidents=rows, open_incidents=rows, deadlines=()))
    assert len(digest.decisions) == 1000  # each: threshold reached, and not acknowledged
    for state in ("draft", "published"):
        blocks = digest_blocks(digest, summary_override="s" * 5000, digest_id=1, state=state)
        assert len(blocks) <= 50
        for block in blocks:
            if "text" in block and block["type"] == "section":
                assert len(block["text"]["text"]) <= 3000
            for field in block.get("fields", []):
                assert len(field["text"]) <= 2000
        text = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
        decisions = text.split("*What needs a decision*\n")[1].split("\n\n")[0]
        assert decisions.count("• ") == 10
        assert decisions.endswith("…and 990 more in the full digest")
        assert "s" * 2000 in text  # the long summary is wrapped onto lines, not cut
    slack = digest_mrkdwn(digest)
    assert "…and 990 more in the full digest" in slack


# -- hashing and snapshots


def test_content_hash_follows_text_and_data() -> None:
    digest = weekly()
    data = digest.as_data()
    plain = render_digest(digest, fmt="md")
    edited = render_digest(digest, fmt="md", summary_override="A quiet week apart from the exploit chain.")
    assert "A quiet week apart from the exploit chain." in edited and digest.summary not in edited
    assert content_hash(plain, data) == content_hash(plain, json.loads(json.dumps(data)))
    assert content_hash(plain, data) != content_hash(edited, data)
    assert content_hash(plain, data) != content_hash(plain, {**data, "summary": "changed"})
    assert re.fullmatch(r"[0-9a-f]{64}", content_hash(plain, data))


def test_snapshot_is_json_and_holds_what_the_text_says() -> None:
    data = json.loads(json.dumps(weekly().as_data()))
    assert data["summary"] == weekly().summary
    assert data["decisions"] == list(weekly().decisions)
    assert data["period"]["start"] == "2026-10-26T07:00:00+00:00"
    assert data["time_to_ack"]["seconds"] == 1200
    chart = next(c for c in data["charts"] if c["metric_id"] == "cyber.ctf_solve")
    assert chart["lines"] == {"watch": 0.4, "alert": 0.6, "threshold": 0.8}
    assert re.fullmatch(r"[0-9a-f]{64}", chart["png_sha256"])


# -- chart embedding


def test_html_stands_alone_with_inline_charts() -> None:
    html = render_digest(weekly(), fmt="html")
    sources = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert [base64.b64decode(s) for s in sources] == [c.png for c in weekly().charts]


def test_markdown_links_charts_by_metric_or_url() -> None:
    md = render_digest(weekly(), fmt="md")
    assert "![cyber.ctf\\_solve](charts/cyber.ctf_solve.png)" in md
    linked = render_digest(weekly(), fmt="md", chart_urls={"cyber.ctf_solve": "https://f.example/c.png"})
    assert "![cyber.ctf\\_solve](https://f.example/c.png)" in linked


# -- purity


def test_digest_modules_pull_in_no_database_or_bolt() -> None:
    forbidden = ("slack_bolt", "sqlmodel", "sqlalchemy", "db")
    script = (
        "import sys\nimport bot.digest.compose, bot.digest.render, bot.digest.charts\n"
        f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r})))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == ""


@pytest.mark.parametrize(
    "module",
    [
        "bot/digest/compose.py",
        "bot/digest/measures.py",
        "bot/digest/summary.py",
        "bot/digest/views.py",
        "bot/digest/render.py",
        "bot/digest/charts.py",
    ],
)
def test_no_clock_reads(module: str) -> None:
    source = (REPO / module).read_text()
    assert not re.search(r"\.now\(|utcnow\(|\btime\.time\(|\bdate\.today\(", source)


def test_notes_from_the_collector_are_shown() -> None:
    digest = build_weekly(weekly_input(notes={"coverage": "Results from 2 of 3 eval pipelines <late>"}))
    assert "- coverage: Results from 2 of 3 eval pipelines \\<late\\>" in render_digest(digest, fmt="md")
    assert "<li>coverage: Results from 2 of 3 eval pipelines &lt;late&gt;</li>" in render_digest(digest, fmt="html")


def test_risk_report_blocks_show_the_grades() -> None:
    blocks = digest_blocks(risk_report(), summary_override=None, digest_id=3, state="draft")
    text = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    risk = text.split("*Remaining risk per threat model*\n")[1].split("\n\n")[0].split("\n")
    assert [line.split("): ")[1].split(" — ")[0] for line in risk] == [
        "at threshold",
        "at threshold",
        "elevated",
        "elevated",
        "watch",
        "within thresholds",
    ]
    confirm = next(b for b in blocks if b["type"] == "actions")["elements"][0]["confirm"]
    assert confirm["title"]["text"] == "Publish this risk report?"


def test_the_builder_decides_the_kind() -> None:
    assert build_weekly(risk_input()).kind == "weekly"
    assert build_risk_report(weekly_input()).kind == "risk-report"
    assert render_digest(build_risk_report(weekly_input()), fmt="md").startswith("# Risk report draft")


# -- what a reader sees: emphasis, clocks, tenses, history


# Slack's (and localslack's) italic rule: no underscore inside, markers touching the text, apart from the words around.
SLACK_ITALIC = re.compile(r"(^|[^\w_])_([^\s_](?:[^_\n]*?[^\s_])?)_(?![\w_])")


@pytest.mark.parametrize("kind", ["weekly", "risk-report"])
def test_slack_italic_lines_render_around_underscored_names(kind: str) -> None:
    digest = weekly() if kind == "weekly" else risk_report()
    lines = digest_mrkdwn(digest).splitlines()
    for line in (lines[0], lines[-1]):  # the period line and the footer
        left = SLACK_ITALIC.sub(r"\1\2", line)
        # Every marker was consumed; the underscores left belong to names such as America/Los_Angeles.
        assert not re.search(r"(^|\s)_|_(\s|$)", left), line
        assert "America/Los_Angeles" in left


def test_reviewer_emphasis_renders_in_markdown_and_html() -> None:
    summary = "We *paused* the rollout of model_x; _see the plan_ and ~ignore~ <the old one>."
    md = render_digest(weekly(), fmt="md", summary_override=summary)
    assert "We **paused** the rollout of model\\_x; *see the plan* and ~~ignore~~ \\<the old one\\>." in md
    html = render_digest(weekly(), fmt="html", summary_override=summary)
    assert (
        "<p>We <strong>paused</strong> the rollout of model_x; <em>see the plan</em> and <s>ignore</s> "
        "&lt;the old one&gt;.</p>"
    ) in html
    # Slack shows the reviewer's mrkdwn as written.
    assert "We *paused* the rollout of model_x; _see the plan_ and ~ignore~ &lt;the old one&gt;." in digest_mrkdwn(
        weekly(), summary_override=summary
    )


def test_threshold_decision_names_the_clock_and_a_report_clock_is_not_a_decision() -> None:
    exploit = incident("INC-1", severity="sev1", status="acknowledged", level="threshold", title="Exploit")
    report = DeadlineRow("INC-1", SB53_REPORT, local(2026, 10, 27, 9), local(2026, 11, 11, 9), "running", None, False)
    digest = build_weekly(weekly_input(new_incidents=(exploit,), open_incidents=(exploit,), deadlines=(report,)))
    assert digest.decisions == ("INC-1 · Exploit: threshold level reached (sev1); no decision clock is running",)


def test_an_ack_not_yet_due_at_period_end_is_not_said_to_be_past() -> None:
    late = incident(
        "INC-1",
        severity="sev1",
        title="Opened late on Sunday",
        created_at=WEEK.end - timedelta(minutes=5),
        ack_due_at=WEEK.end + timedelta(minutes=10),
    )
    digest = build_weekly(
        weekly_input(new_incidents=(late,), open_incidents=(late,), previous_incidents=(), deadlines=())
    )
    [item] = [d for d in digest.decisions if "not acknowledged" in d]
    assert item.endswith("(ack due 2026-11-02 00:10 PST)") and "was due" not in item
    assert not digest.ack_misses
    for text in (render_digest(digest, fmt="md"), digest_mrkdwn(digest)):
        assert "past due" not in text and "was due 2026-11-02" not in text


def test_evidence_shows_each_models_history_compactly() -> None:
    report = risk_report()
    cyber = next(t for t in report.threats if t.id == "cyber")
    atlas = next(e for e in cyber.evidence if e.model_family == "atlas")
    assert (atlas.results, atlas.history) == (7, "0.7 → 0.72 → 0.74 → 0.76 → 0.78 → 0.8 → 0.82")
    points = tuple(point(WEEK.start + timedelta(hours=n), "atlas", 0.1 * (n % 10)) for n in range(21))
    series = dataclasses.replace(risk_input().series[0], points=points)
    long = build_risk_report(risk_input(series=(series,)))
    [evidence] = next(t for t in long.threats if t.id == "cyber").evidence
    assert evidence.results == 21
    assert evidence.history == "0 → 0.1 → … → 0.6 → 0.7 → 0.8 → 0.9 → 0 (low 0, high 0.9)"
