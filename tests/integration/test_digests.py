"""Leadership digests: the schedule across DST, drafted once per period, reviewed, published once, charts."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib.image
import pytest
from sqlmodel import Session, select

from bot.app.asgi import Tripwire
from bot.app.cli import main
from bot.app.jobs import CATCH_UP_DELAY, CATCH_UP_JOB, build_scheduler
from bot.app.leader import Leader
from bot.common.clock import ManualClock
from bot.common.errors import InvalidInput
from bot.digest.inputs import Period
from bot.digest.schedule import cron_trigger, last_slot, next_slot, weekly_period
from bot.digest.service import Composed
from bot.incidents.lifecycle import validate_draft
from bot.policy.schedules import RiskReportSchedule, WeeklyDigest
from db.engine import make_engine
from db.models import Digest, DigestChart, OutboxMessage
from localslack import LocalSlack
from tests.conftest import LEAD, LEADERSHIP, REPORTER, REVIEW, TEST_POLICY, TRIAGER, open_bot

ROOT = Path(__file__).resolve().parents[2]


def weekly(zone: str) -> WeeklyDigest:
    return WeeklyDigest.model_validate({"day": "mon", "time": "09:00", "timezone": zone})


@pytest.mark.parametrize(
    ("zone", "after", "expected_utc"),
    [
        pytest.param(
            "America/Los_Angeles",
            "2026-10-27T00:00:00+00:00",
            ["2026-11-02T17:00:00+00:00", "2026-11-09T17:00:00+00:00"],
            id="los-angeles-fall-back",
        ),
        pytest.param(
            "America/Los_Angeles",
            "2026-03-03T00:00:00+00:00",
            ["2026-03-09T16:00:00+00:00", "2026-03-16T16:00:00+00:00"],
            id="los-angeles-spring-forward",
        ),
        pytest.param(
            "Europe/London",
            "2026-10-20T00:00:00+00:00",
            ["2026-10-26T09:00:00+00:00", "2026-11-02T09:00:00+00:00"],
            id="london-fall-back",
        ),
        pytest.param(
            "Europe/London",
            "2026-03-24T00:00:00+00:00",
            ["2026-03-30T08:00:00+00:00", "2026-04-06T08:00:00+00:00"],
            id="london-spring-forward",
        ),
    ],
)
def test_weekly_slots_keep_local_time_across_dst(zone: str, after: str, expected_utc: list[str]) -> None:
    schedule = weekly(zone)
    trigger = cron_trigger(schedule)
    moment = datetime.fromisoformat(after)
    ours: list[datetime] = []
    theirs: list[datetime] = []
    for _ in expected_utc:
        moment_ours = next_slot(schedule, after=moment if not ours else ours[-1])
        ours.append(moment_ours)
        fire = trigger.get_next_fire_time(None, (theirs[-1] + timedelta(seconds=1)) if theirs else moment)
        theirs.append(fire.astimezone(UTC))
    assert [o.isoformat() for o in ours] == expected_utc
    assert ours == theirs  # APScheduler's own trigger agrees
    assert {o.astimezone(ZoneInfo(zone)).strftime("%a %H:%M") for o in ours} == {"Mon 09:00"}


def test_week_across_fall_back_is_169_hours() -> None:
    period = weekly_period(weekly("America/Los_Angeles"), end=datetime(2026, 11, 2, 17, tzinfo=UTC))
    assert period.end - period.start == timedelta(hours=169)


def test_cron_trigger_uses_day_names_not_crontab_digits() -> None:
    schedule = RiskReportSchedule.model_validate({"every": "90d", "day": "mon", "time": "09:00", "timezone": "UTC"})
    fire = cron_trigger(schedule).get_next_fire_time(None, datetime(2026, 11, 24, tzinfo=UTC))
    assert fire is not None and fire.strftime("%A %H:%M") == "Monday 09:00"


@pytest.fixture
def monday(clock: ManualClock) -> ManualClock:
    """The bot's clock at Monday 2026-11-23 10:00 in Los Angeles, an hour after the weekly slot."""
    clock.now = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    return clock


def seed(bot: Tripwire, clock: ManualClock) -> None:
    """A week with a few incidents and results."""
    saved = clock.now
    clock.now = saved - timedelta(days=3)
    for title, severity, category in (
        ("Exploit chain", "sev1", "cyber"),
        ("Odd output", "sev3", "cyber"),
        ("Synthesis help", "sev2", "cbrn.bio"),
    ):
        draft, _ = validate_draft(title=title, severity=severity, category=category)
        assert draft is not None
        bot.incidents.report(draft=draft, reporter=REPORTER)
    bot.incidents.acknowledge(incident_id=2, actor=TRIAGER)
    from bot.policy.triage import Result

    bot.ingest.ingest(
        [
            Result(
                source="inspect",
                model="frontier-x",
                task="ctf_web",
                metric="accuracy",
                value=0.3 + i * 0.05,
                run_id=f"seed-{i}",
                observed_at=clock.now - timedelta(hours=10 - i),
            )
            for i in range(9)
        ]
    )
    clock.now = saved


def test_missed_slot_is_drafted_once_even_after_restart(
    slack: LocalSlack, bot: Tripwire, monday: ManualClock, database_url: str
) -> None:
    seed(bot, monday)
    assert len(bot.digests.draft_due()) == 2  # the weekly digest and the first risk report
    assert bot.digests.draft_due() == []
    with open_bot(database_url, slack_url=slack.api_url, clock=monday) as restarted:
        assert restarted.digests.draft_due() == []
    with Session(bot.engine) as session:
        rows = session.exec(select(Digest).order_by(Digest.kind)).all()
    assert [(r.kind, r.period_end) for r in rows] == [
        ("risk-report", datetime(2026, 11, 23, 17, tzinfo=UTC)),
        ("weekly", datetime(2026, 11, 23, 17, tzinfo=UTC)),
    ]
    weekly_row = next(r for r in rows if r.kind == "weekly")
    assert weekly_row.period_start == datetime(2026, 11, 16, 17, tzinfo=UTC)
    assert "Synthesis help" not in weekly_row.text_slack + weekly_row.text_md  # restricted
    assert "Exploit chain" in weekly_row.text_md


def test_review_publish_once_and_charts(slack: LocalSlack, bot: Tripwire, monday: ManualClock) -> None:
    seed(bot, monday)
    [digest_id, _] = bot.digests.draft_due()
    bot.outbox.drain()
    review = [m for m in slack.messages(REVIEW) if m.blocks]
    assert len(review) == 2  # weekly and risk report
    draft = next(m for m in review if any(b.get("block_id") == "digest_actions" for b in m.blocks))
    uploads = [f for f in slack.files()]
    assert uploads and all(f["name"].endswith(".png") for f in uploads)
    png = slack.file_content(uploads[0]["id"])
    image = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert image.shape[0] > 100 and image.shape[1] > 100

    slack.click_button(REPORTER, REVIEW, draft.ts, "digest_publish")
    assert "may publish" in slack.ephemerals(REPORTER)[-1].text
    slack.click_button(LEAD, REVIEW, draft.ts, "digest_publish")
    slack.click_button(LEAD, REVIEW, draft.ts, "digest_publish")  # the double click
    assert "already published" in slack.ephemerals(LEAD)[-1].text
    bot.outbox.drain()
    posts = [m for m in slack.messages(LEADERSHIP) if m.blocks]
    assert len(posts) == 1

    # What leadership reads is what the reviewer saw above the buttons, with the title said once (the header).
    def content(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in b.items() if k != "block_id"} for b in blocks]  # localslack numbers the blocks

    assert content(posts[0].blocks) == content(draft.blocks[:-2])
    assert posts[0].blocks[0]["type"] == "header"
    assert posts[0].blocks[0]["text"]["text"] not in str(posts[0].blocks[1:])
    with Session(bot.engine) as session:
        row = session.get(Digest, digest_id)
        assert row is not None and (row.status, row.decided_by) == ("published", LEAD)
        assert row.publish_ts == posts[0].ts and len(row.content_hash) == 64
        assert session.exec(select(DigestChart).where(DigestChart.digest_id == digest_id)).all()
    updated = slack.message(REVIEW, draft.ts)
    assert not any(b.get("block_id") == "digest_actions" for b in updated.blocks)
    assert slack.replies(LEADERSHIP, posts[0].ts)  # the charts went into the published post's thread


def test_edit_changes_summary_and_hash(slack: LocalSlack, bot: Tripwire, monday: ManualClock) -> None:
    seed(bot, monday)
    digest_id = bot.digests.draft_due()[0]
    bot.outbox.drain()
    draft = next(m for m in slack.messages(REVIEW) if any(b.get("block_id") == "digest_actions" for b in m.blocks))
    before = bot.digests.get(digest_id=digest_id).content_hash
    slack.click_button(LEAD, REVIEW, draft.ts, "digest_edit")
    view = slack.open_views(LEAD)[-1]
    slack.submit_view(LEAD, view.id, {"summary": {"value": "Quiet week apart from the exploit chain."}})
    after = bot.digests.get(digest_id=digest_id)
    assert after.summary_override == "Quiet week apart from the exploit chain." and after.content_hash != before
    bot.outbox.drain()
    assert "Quiet week apart from the exploit chain." in str(slack.message(REVIEW, draft.ts).blocks)


def test_preview_cli_renders_each_format(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    bot: Tripwire,
    monday: ManualClock,
    database_url: str,
) -> None:
    seed(bot, monday)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TRIPWIRE_POLICY", str(TEST_POLICY))
    day = (monday.now - timedelta(days=3)).date().isoformat()
    for fmt, marker in (("md", "# "), ("html", "<img"), ("slack", "*")):
        assert main(["digest", "preview", "--period", day, "--format", fmt]) == 0
        assert marker in capsys.readouterr().out
    assert main(["digest", "preview", "--kind", "risk-report", "--period", day, "--format", "html"]) == 0
    assert "<html" in capsys.readouterr().out.lower()


@pytest.mark.postgres
def test_leader_lock_is_held_by_one_process(postgres_url: str) -> None:
    first, second = Leader(make_engine(postgres_url)), Leader(make_engine(postgres_url))
    try:
        assert first.acquire() is True
        assert second.acquire() is False
        assert first.acquire() is True  # keeps it
        first.release()
        assert second.acquire() is True
    finally:
        first.release()
        second.release()


DRAFT_SCRIPT = """
import sys
from datetime import datetime
from bot.common.clock import ManualClock
from bot.common.errors import InvalidInput
from bot.app.config import Settings
from bot.app.wiring import build_core
core = build_core(Settings(DATABASE_URL=sys.argv[1], TRIPWIRE_POLICY=sys.argv[2]),
                  clock=ManualClock(datetime.fromisoformat(sys.argv[3])))
print(len(core.digests.draft_due()))
core.engine.dispose()
"""


@pytest.mark.postgres
@pytest.mark.e2e
def test_two_processes_at_the_scheduled_minute_draft_once(postgres_url: str) -> None:
    with open_bot(postgres_url):  # migrate the database before the two processes race
        pass
    at = "2026-11-23T17:00:30+00:00"
    command = [sys.executable, "-c", DRAFT_SCRIPT, postgres_url, str(TEST_POLICY), at]
    processes = [
        subprocess.Popen(command, cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120)[0].strip() for process in processes]
    assert all(process.returncode == 0 for process in processes)
    # Between them they drafted the weekly digest and the risk report once each (which process won which is chance).
    assert sum(int(output) for output in outputs) == 2
    engine = make_engine(postgres_url)
    with Session(engine) as session:
        assert sorted(d.kind for d in session.exec(select(Digest)).all()) == ["risk-report", "weekly"]
        reviews = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "digest.review")).all()
        assert len(reviews) == 2
    engine.dispose()


def test_last_slot_is_at_or_before_now() -> None:
    now = datetime(2026, 11, 23, 16, 59, tzinfo=UTC)  # a minute before Monday 09:00 in Los Angeles
    assert last_slot(weekly("America/Los_Angeles"), now=now) == datetime(2026, 11, 16, 17, tzinfo=UTC)
    assert last_slot(weekly("America/Los_Angeles"), now=now + timedelta(minutes=1)) == datetime(
        2026, 11, 23, 17, tzinfo=UTC
    )


def test_scheduler_has_the_weekly_slot_and_a_catch_up_run_at_start(bot: Tripwire) -> None:
    weekly_job = bot.scheduler.get_job("digest-weekly")
    assert weekly_job is not None
    fields = {field.name: str(field) for field in weekly_job.trigger.fields}
    assert (fields["day_of_week"], fields["hour"], fields["minute"]) == ("mon", "9", "0")
    assert str(weekly_job.trigger.timezone) == "America/Los_Angeles"
    catch_up = bot.scheduler.get_job("digest-catch-up")
    assert catch_up is not None and type(catch_up.trigger).__name__ == "DateTrigger"  # runs once, when started
    assert {job.id for job in bot.scheduler.get_jobs()} == {
        "timers",
        "housekeeping",
        "policy-reload",
        "digest-weekly",
        "digest-risk-report",
        "digest-catch-up",
    }


def test_more_charts_than_one_upload_carries_go_in_batches(
    slack: LocalSlack, bot: Tripwire, monday: ManualClock
) -> None:
    seed(bot, monday)
    [digest_id, _] = bot.digests.draft_due()
    with Session(bot.engine) as session:
        charts = session.exec(select(DigestChart).where(DigestChart.digest_id == digest_id)).all()
        # Twenty-three copies of the digest's charts: more than two uploads' worth.
        for copy in range(23):
            chart = charts[copy % len(charts)]
            session.add(DigestChart(digest_id=digest_id, metric_id=f"extra-{copy}", title=chart.title, png=chart.png))
        session.commit()
        total = len(session.exec(select(DigestChart).where(DigestChart.digest_id == digest_id)).all())
    bot.outbox.drain()  # the review and its charts
    before = len(slack.calls_to("files.completeUploadExternal"))
    bot.digests.publish(digest_id=digest_id, actor=LEAD)
    bot.outbox.drain()
    shares = slack.calls_to("files.completeUploadExternal")[before:]
    sizes = [len(call.args["files"]) for call in shares]
    assert sum(sizes) == total and total > 20
    assert max(sizes) <= 10 and len(sizes) == -(-total // 10)
    with Session(bot.engine) as session:
        failed = session.exec(select(OutboxMessage).where(OutboxMessage.status == "failed")).all()
    assert failed == []


def test_charts_show_weeks_of_history_per_family_and_list_metrics_without_data(
    bot: Tripwire, monday: ManualClock
) -> None:
    from bot.policy.triage import Result

    period = bot.digests.period_for("weekly")
    # Nine weeks of daily results for one family and four for another, on the CTF metric only (below its lines).
    spans = {"frontier-x": 63, "atlas-2": 28}
    bot.ingest.ingest(
        [
            Result(
                source="inspect",
                model=model,
                task="ctf_web",
                metric="accuracy",
                value=0.1 + 0.001 * back,
                run_id=f"history-{model}-{back}",
                observed_at=period.end - timedelta(days=back, hours=6),
            )
            for model, days in spans.items()
            for back in range(days)
        ]
    )
    composed = bot.digests.compose(period)
    charts = {chart.metric_id: chart for chart in composed.content.charts}
    assert list(charts) == ["cyber.ctf"]  # the other metrics have no results at all: listed, not drawn
    assert "cyber.exploit" in composed.content.no_data and "cyber.ctf" not in composed.content.no_data
    assert "Metrics with no data this period:" in composed.text_md and "cyber.exploit" in composed.text_md
    chart = charts["cyber.ctf"]
    assert {family: len(points) for family, points in chart.series.items()} == {"frontier-x": 63, "atlas-2": 28}
    zone = ZoneInfo(period.timezone)
    last_days = [datetime.fromisoformat(when) for when, _ in chart.series["frontier-x"][-2:]]
    assert last_days == [(period.end - timedelta(days=d, hours=12)).astimezone(zone) for d in (1, 0)]
    assert [datetime.fromisoformat(t) for t in chart.highlight] == [period.start, period.end]
    assert datetime.fromisoformat(chart.window[0]) == period.end - timedelta(weeks=12)


def test_catch_up_draft_waits_past_the_start(bot: Tripwire) -> None:
    before = datetime.now(UTC)
    scheduler = build_scheduler(
        timers=bot.timers,
        policies=bot.policies,
        digests=bot.digests,
        leader=bot.leader,
        timer_seconds=60,
        policy_seconds=60,
        housekeeping=lambda: None,
    )
    after = datetime.now(UTC)
    catch_up = scheduler.get_job(CATCH_UP_JOB)
    assert catch_up is not None
    # Scheduled the delay after start, not at once: the commands of a fresh start come first.
    assert timedelta(seconds=30) <= CATCH_UP_DELAY
    assert before + CATCH_UP_DELAY <= catch_up.trigger.run_date <= after + CATCH_UP_DELAY


def test_drafted_period_is_not_composed_again(
    slack: LocalSlack, bot: Tripwire, monday: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(bot, monday)
    composed: list[Period] = []
    compose = bot.digests.compose

    def counting(period: Period, *, summary: str | None = None) -> Composed:
        composed.append(period)
        return compose(period, summary=summary)

    monkeypatch.setattr(bot.digests, "compose", counting)
    assert len(bot.digests.draft_due()) == 2
    assert [p.kind for p in composed] == ["weekly", "risk-report"]
    # Every start asks again; a drafted period is answered from its row, without reading the period's facts.
    assert bot.digests.draft_due() == []
    assert len(composed) == 2


def test_preview_defaults_to_the_last_complete_period_of_each_kind(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    bot: Tripwire,
    monday: ManualClock,
    database_url: str,
) -> None:
    seed(bot, monday)
    monday.now -= timedelta(days=2)  # inside the period: the report shows who confirmed it, and when
    bot.incidents.mitigate(incident_id=1, actor=TRIAGER, note="Egress closed on the eval cluster")
    monday.now += timedelta(days=2)
    bot.digests.draft_due()
    week = bot.digests.last_complete("weekly")
    assert (week.start, week.end) == (datetime(2026, 11, 16, 17, tzinfo=UTC), datetime(2026, 11, 23, 17, tzinfo=UTC))
    # Three days on, the next risk report is not due: the last complete one is the one just drafted.
    monday.now += timedelta(days=3)
    report = bot.digests.last_complete("risk-report")
    with Session(bot.engine) as session:
        drafted = session.exec(select(Digest).where(Digest.kind == "risk-report")).one()
    assert (report.start, report.end) == (drafted.period_start, drafted.period_end)
    text = bot.digests.preview("risk-report", containing=None, fmt="md")
    assert f"Confirmed: mitigation in place: Egress closed on the eval cluster — confirmed by {TRIAGER}, " in text
    # A period that is not over yet is refused, not rendered with "at period end" figures about the future.
    with pytest.raises(InvalidInput, match="not over yet"):
        bot.digests.preview("weekly", containing=monday.now, fmt="md")


def test_preview_dev_reads_the_dev_database(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("TRIPWIRE_POLICY", str(TEST_POLICY))
    (tmp_path / "var").mkdir()
    assert main(["digest", "preview", "--dev"]) == 0
    assert capsys.readouterr().out.startswith("# Weekly risk digest")
    assert (tmp_path / "var" / "dev.db").exists() and not (tmp_path / "var" / "tripwire.db").exists()
