"""Every render of the fixture week, compared byte for byte with the checked-in golden files."""

from __future__ import annotations

from functools import cache

import pytest

from bot.digest.compose import build_risk_report, build_weekly
from bot.digest.render import render_digest
from bot.digest.views import DigestContent
from bot.slack.digest_messages import digest_mrkdwn
from tests.unit.digest.fixture import risk_input, weekly_input
from tests.unit.digest.golden import check_golden

DASH = "\N{EN DASH}"

# Charts in the HTML goldens point at URLs: the inline data: URI case is tested on its own, so a matplotlib
# upgrade that shifts a pixel does not rewrite these files.
CHART_URLS = {
    "cyber.ctf_solve": "https://files.example.com/digest/cyber.ctf_solve.png",
    "ai-rd.swe_tasks": "https://files.example.com/digest/ai-rd.swe_tasks.png",
}


@cache
def weekly() -> DigestContent:
    return build_weekly(weekly_input())


@cache
def risk_report() -> DigestContent:
    return build_risk_report(risk_input())


@pytest.mark.parametrize(
    ("name", "kind", "fmt"),
    [
        pytest.param("weekly.md", "weekly", "md", id="weekly-md"),
        pytest.param("weekly.html", "weekly", "html", id="weekly-html"),
        pytest.param("weekly.slack.txt", "weekly", "slack", id="weekly-slack"),
        pytest.param("risk_report.md", "risk-report", "md", id="risk-report-md"),
        pytest.param("risk_report.html", "risk-report", "html", id="risk-report-html"),
    ],
)
def test_render_matches_golden(name: str, kind: str, fmt: str) -> None:
    digest = weekly() if kind == "weekly" else risk_report()
    urls = CHART_URLS if fmt == "html" else None
    text = digest_mrkdwn(digest) if fmt == "slack" else render_digest(digest, fmt=fmt, chart_urls=urls)  # type: ignore[arg-type]
    check_golden(name, text)


def quiet_week() -> DigestContent:
    """A week where nothing happened: no incident opened or open, no flagged result, clock or policy change."""
    return build_weekly(
        weekly_input(
            new_incidents=(),
            open_incidents=(),
            previous_incidents=(),
            deadlines=(),
            crossings=(),
            near_misses=(),
            series=(),
            policy_changes=(),
        )
    )


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        pytest.param("weekly_quiet.md", "md", id="md"),
        pytest.param("weekly_quiet.html", "html", id="html"),
        pytest.param("weekly_quiet.slack.txt", "slack", id="slack"),
    ],
)
def test_quiet_week_matches_golden(name: str, fmt: str) -> None:
    digest = quiet_week()
    text = digest_mrkdwn(digest) if fmt == "slack" else render_digest(digest, fmt=fmt)  # type: ignore[arg-type]
    check_golden(name, text)


def test_quiet_week_is_three_lines() -> None:
    digest = quiet_week()
    assert digest.quiet and not weekly().quiet
    md = [line for line in render_digest(digest, fmt="md").splitlines() if line.strip()]
    assert md == [
        f"# Weekly risk digest · 26 Oct {DASH} 1 Nov 2026",
        f"Mon 26 Oct 2026 00:00 PDT {DASH} Mon 2 Nov 2026 00:00 PST (America/Los_Angeles, 169 hours) \\",
        "Policy Example frontier lab policy, version 2026.10.2 · drafted 2026-11-02 09:00 PST",
        digest.summary,
    ]
    # In Slack the header block carries the title: the text is the period line and the summary.
    assert [line for line in digest_mrkdwn(digest).splitlines() if line.strip()][1:] == [digest.summary]
    assert "None." not in render_digest(digest, fmt="html")
