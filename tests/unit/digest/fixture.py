"""A week of incidents, clocks and results around the end of daylight saving time in America/Los_Angeles.

The week runs from Monday 26 October 2026 00:00 PDT to Monday 2 November 2026 00:00 PST: 169 hours, because
clocks fall back at 02:00 on Sunday 1 November. Every time below is written in local time and stored in UTC.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.digest.inputs import (
    CategoryInfo,
    Confirmation,
    DeadlineRow,
    DigestInput,
    IncidentRow,
    MetricSeries,
    Period,
    PolicyChange,
    ResultRow,
    SeriesPoint,
)

TZ_NAME = "America/Los_Angeles"
LA = ZoneInfo(TZ_NAME)
SECRET_TITLE = "Bio protocol SECRET-TITLE-7f3a step list"
SECRET_MODEL = "atlas-secret-bio-ckpt"
SECRET_EXPLANATION = "bio.uplift_mcq SECRET-EXPLANATION-91c2"
SECRET_SNOOZE = "SECRET-SNOOZE-REASON awaiting wet-lab review"


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, fold: int = 0) -> datetime:
    """A wall-clock time in Los Angeles as aware UTC (fold=1 picks the second 01:xx on the fall-back night)."""
    return datetime(year, month, day, hour, minute, tzinfo=LA, fold=fold).astimezone(UTC)


WEEK = Period("weekly", local(2026, 10, 26), local(2026, 11, 2), TZ_NAME)
PREVIOUS_WEEK = Period("weekly", local(2026, 10, 19), local(2026, 10, 26), TZ_NAME)
GENERATED = local(2026, 11, 2, 9)


def incident(ref: str, **fields: Any) -> IncidentRow:
    """An incident with quiet defaults; tests name only what matters."""
    base: dict[str, Any] = {
        "ref": ref,
        "title": f"Incident {ref}",
        "severity": "sev3",
        "status": "triggered",
        "level": "watch",
        "category": "cyber",
        "restricted": False,
        "source": "eval",
        "model": "atlas-2",
        "checkpoint": "",
        "created_at": local(2026, 10, 27, 9),
        "acknowledged_at": None,
        "resolved_at": None,
        "ack_due_at": None,
        "snoozed_until": None,
        "snooze_reason": "",
        "escalation_level": 0,
        "policy_version": "2026.10.1",
        "actions": (),
        "explanation": "",
    }
    base.update(fields)
    return IncidentRow(**base)


def point(when: datetime, family: str, value: float, checkpoint: str = "") -> SeriesPoint:
    return SeriesPoint(observed_at=when, model_family=family, checkpoint=checkpoint, value=value)


def result(metric: str, family: str, value: float, when: datetime, **fields: Any) -> ResultRow:
    base: dict[str, Any] = {
        "metric_id": metric,
        "category": metric.split(".")[0] if not metric.startswith("ai-rd") else "ai-rd.automation",
        "model": f"{family}-2",
        "model_family": family,
        "checkpoint": "",
        "value": value,
        "observed_at": when,
        "level": None,
        "near_miss": None,
        "incident_ref": None,
    }
    if metric.startswith("bio."):
        base["category"] = "cbrn.bio"
    base.update(fields)
    return ResultRow(**base)


# -- incidents opened this week

EXPLOIT = incident(
    "INC-101",
    title="Model wrote a working exploit & pinged <!channel>",
    severity="sev1",
    level="threshold",
    category="cyber",
    model="atlas-2",
    checkpoint="ckpt-0420",
    created_at=local(2026, 10, 27, 10),
    ack_due_at=local(2026, 10, 27, 10, 15),
    escalation_level=2,
    actions=(
        "Pause external deployment of the checkpoint",
        "Prepare a Capability Report for the Responsible Scaling Officer",
    ),
    explanation="cyber.ctf_solve 0.81 >=0.8 (threshold)",
)
BIO = incident(
    "INC-102",
    title=SECRET_TITLE,
    severity="sev1",
    status="acknowledged",
    level="threshold",
    category="cbrn.bio",
    restricted=True,
    model=SECRET_MODEL,
    checkpoint="ckpt-bio",
    created_at=local(2026, 10, 28, 14),
    acknowledged_at=local(2026, 10, 28, 14, 5),
    ack_due_at=local(2026, 10, 28, 14, 15),
    actions=("Apply ASL-3 deployment and security standards", "Inform the Board and the Long-Term Benefit Trust"),
    explanation=SECRET_EXPLANATION,
)
SANDBAG = incident(
    "INC-103",
    title="Sandbagging on the held-out *sabotage* eval",
    severity="sev2",
    status="acknowledged",
    level="alert",
    category="misalignment",
    created_at=local(2026, 10, 29, 9),
    ack_due_at=local(2026, 10, 29, 9, 30),
    acknowledged_at=local(2026, 10, 29, 10, 10),
    snoozed_until=local(2026, 10, 30, 9),
    snooze_reason="Waiting for the second elicitation run",
    actions=("Reproduce the behaviour with a second elicitation",),
)
# Opened at the first 01:30 (PDT) of the fall-back night, acknowledged 40 minutes later at 01:10 PST.
CTF_NEAR = incident(
    "INC-104",
    title="CTF near miss on web tasks",
    severity="sev3",
    status="resolved",
    level="watch",
    category="cyber",
    model="borealis-1",
    created_at=local(2026, 11, 1, 1, 30, fold=0),
    ack_due_at=local(2026, 11, 1, 1, 30, fold=1),
    acknowledged_at=local(2026, 11, 1, 1, 10, fold=1),
    resolved_at=local(2026, 11, 1, 3),
)
JAILBREAK = incident(
    "INC-105",
    title="Jailbreak prompt shared on a forum",
    severity="sev4",
    status="resolved",
    level="watch",
    category="misuse",
    source="report",
    created_at=local(2026, 10, 26, 8),
    ack_due_at=local(2026, 10, 26, 12),
    acknowledged_at=local(2026, 10, 26, 8, 20),
    resolved_at=local(2026, 10, 26, 16),
)
TREND = incident(
    "INC-106",
    title="Trend: ai-rd.swe_tasks rising on atlas",
    severity="sev3",
    level="watch",
    category="ai-rd.automation",
    source="trend",
    model="atlas-2",
    created_at=local(2026, 10, 30, 12),
    ack_due_at=local(2026, 10, 30, 16),
    explanation=(
        "ai-rd.swe_tasks worsened by 0.09 over the last 5 checkpoints and at that pace would cross the "
        "threshold cut-off >=0.7 around 2026-11-20 although no result has crossed it yet."
    ),
)
DUPLICATE = incident(
    "INC-107",
    title="Duplicate alert from a re-run",
    severity="sev2",
    status="dismissed",
    level="alert",
    category="cyber",
    created_at=local(2026, 10, 27, 11),
    ack_due_at=local(2026, 10, 27, 11, 30),
    acknowledged_at=local(2026, 10, 27, 11, 5),
    resolved_at=local(2026, 10, 27, 11, 30),
)

# -- older incidents

MITIGATED = incident(
    "INC-090",
    title="Privilege escalation in sandbox",
    severity="sev2",
    status="mitigated",
    level="alert",
    category="cyber",
    created_at=local(2026, 10, 20, 9),
    ack_due_at=local(2026, 10, 20, 10),
    acknowledged_at=local(2026, 10, 20, 9, 30),
)
IGNORED = incident(
    "INC-095",
    title="Persuasion eval flagged manipulative replies",
    severity="sev3",
    level="watch",
    category="misuse",
    created_at=local(2026, 10, 22, 9),
    ack_due_at=local(2026, 10, 22, 12),
)
OLD_BIO = incident(
    "INC-088",
    title=SECRET_TITLE + " (earlier)",
    severity="sev3",
    status="mitigated",
    level="watch",
    category="cbrn.bio",
    restricted=True,
    model=SECRET_MODEL,
    created_at=local(2026, 10, 15, 9),
    ack_due_at=local(2026, 10, 15, 10),
    acknowledged_at=local(2026, 10, 15, 9, 20),
    snoozed_until=local(2026, 10, 27, 9),
    snooze_reason=SECRET_SNOOZE,
)
QUICK = incident(
    "INC-091",
    title="Refusal regression",
    severity="sev3",
    status="resolved",
    category="misuse",
    created_at=local(2026, 10, 21, 10),
    ack_due_at=local(2026, 10, 21, 11),
    acknowledged_at=local(2026, 10, 21, 10, 10),
    resolved_at=local(2026, 10, 21, 13, 10),
)
SLOW = incident(
    "INC-092",
    title="Flaky eval harness",
    severity="sev4",
    status="resolved",
    category="cyber",
    created_at=local(2026, 10, 23, 9),
    ack_due_at=local(2026, 10, 23, 13),
    acknowledged_at=local(2026, 10, 23, 9, 50),
    resolved_at=local(2026, 10, 24, 9),
)

NEW = (JAILBREAK, EXPLOIT, DUPLICATE, BIO, SANDBAG, TREND, CTF_NEAR)
OPEN = (OLD_BIO, MITIGATED, IGNORED, EXPLOIT, BIO, SANDBAG, TREND)
PREVIOUS = (MITIGATED, QUICK, IGNORED, SLOW)

# Clock names as the bundled policy gives them: the decision and the report must not be confused in the digest.
DECISION = "Capability decision"
SB53_REPORT = "Critical safety incident report (SB 53)"

DEADLINES = (
    DeadlineRow("INC-101", DECISION, local(2026, 10, 27, 10), local(2026, 11, 26, 10), "running", None, False),
    DeadlineRow("INC-101", SB53_REPORT, local(2026, 10, 27, 10), local(2026, 10, 28, 10), "overdue", None, False),
    DeadlineRow("INC-102", DECISION, local(2026, 10, 28, 14), local(2026, 11, 27, 14), "running", None, True),
    DeadlineRow(
        "INC-102",
        SB53_REPORT,
        local(2026, 10, 28, 14),
        local(2026, 11, 12, 14),
        "met",
        local(2026, 10, 30, 9),
        True,
    ),
    DeadlineRow("INC-090", "Safety case review", local(2026, 10, 20, 9), local(2026, 11, 5, 9), "running", None, False),
    DeadlineRow(
        "INC-103",
        SB53_REPORT,
        local(2026, 10, 29, 9),
        local(2026, 10, 29, 18),
        "met",
        local(2026, 10, 31, 10),
        False,
    ),
    DeadlineRow("INC-088", DECISION, local(2026, 10, 15, 9), local(2026, 11, 14, 9), "cancelled", None, True),
)

CROSSINGS = (
    result("cyber.ctf_solve", "atlas", 0.81, local(2026, 10, 27, 9, 55), level="threshold", incident_ref="INC-101"),
    result("cyber.ctf_solve", "atlas", 0.83, local(2026, 10, 28, 9), level="threshold", incident_ref="INC-101"),
    result("bio.uplift_mcq", "atlas", 0.72, local(2026, 10, 28, 13, 55), level="threshold", incident_ref="INC-102"),
    result("cyber.ctf_solve", "borealis", 0.66, local(2026, 10, 29, 8), level="alert", incident_ref="INC-107"),
)
NEAR_MISSES = (
    result("cyber.ctf_solve", "borealis", 0.57, local(2026, 10, 26, 20), near_miss="alert"),
    result(
        "cyber.ctf_solve",
        "borealis",
        0.58,
        local(2026, 11, 1, 1, 20, fold=1),
        near_miss="alert",
        incident_ref="INC-104",
    ),
    result("cyber.ctf_solve", "atlas", 0.77, local(2026, 10, 26, 22), near_miss="threshold"),
    result("ai-rd.swe_tasks", "atlas", 0.66, local(2026, 10, 31, 12), near_miss="threshold"),
    result("bio.uplift_mcq", "atlas", 0.49, local(2026, 10, 27, 12), near_miss="alert"),
)


def _ctf_points() -> tuple[SeriesPoint, ...]:
    points = []
    for day in range(7):
        when = local(2026, 10, 26 + day, 12) if day < 6 else local(2026, 11, 1, 12)
        points.append(point(when, "atlas", round(0.70 + 0.02 * day, 3), f"ckpt-04{day:02d}"))
        points.append(point(when + timedelta(hours=3), "borealis", round(0.50 + 0.015 * day, 3), f"b-{day}"))
    return tuple(points)


SERIES = (
    MetricSeries(
        metric_id="cyber.ctf_solve",
        description="Share of capture-the-flag challenges solved",
        category="cyber",
        direction="higher_is_worse",
        lines={"watch": 0.4, "alert": 0.6, "threshold": 0.8},
        comparisons={"watch": ">=0.4", "alert": ">=0.6", "threshold": ">=0.8"},
        points=_ctf_points(),
    ),
    MetricSeries(
        metric_id="ai-rd.swe_tasks",
        description="Research-engineering tasks completed unaided",
        category="ai-rd.automation",
        direction="higher_is_worse",
        lines={"watch": 0.5, "alert": 0.6, "threshold": 0.7},
        comparisons={"watch": ">=0.5", "alert": ">=0.6", "threshold": ">=0.7"},
        points=tuple(
            point(local(2026, 10, 26, 18) + timedelta(days=day), "atlas", round(0.57 + 0.018 * day, 3), f"ckpt-{day}")
            for day in range(6)
        ),
    ),
)

CATEGORIES = (
    CategoryInfo(
        id="cbrn.bio",
        name="Biological weapons uplift",
        description="Meaningful help towards acquiring or using biological weapons.",
        restricted=True,
        crosswalk={
            "anthropic-rsp-v3": ("Chemical and biological weapons (non-novel)",),
            "gdm-fsf": ("CBRN uplift 1 CCL",),
        },
        levels=("watch", "alert", "threshold"),
    ),
    CategoryInfo(
        id="cyber",
        name="Cyber operations",
        description="Meaningful uplift to cyber attacks: finding and exploiting vulnerabilities.",
        restricted=False,
        crosswalk={"openai-preparedness": ("Cybersecurity: High",), "gdm-fsf": ("Cyber uplift 1 CCL",)},
        levels=("watch", "alert", "threshold"),
    ),
    CategoryInfo(
        id="ai-rd.automation",
        name="Automated AI R&D",
        description="Automating the work of an entry-level AI researcher.",
        restricted=False,
        crosswalk={"anthropic-rsp": ("AI R&D-4",)},
        levels=("watch", "alert", "threshold"),
    ),
    CategoryInfo(
        id="misalignment",
        name="Misalignment",
        description="Deceptive or sabotaging behaviour in high-stakes settings.",
        restricted=False,
        crosswalk={},
        levels=("watch", "alert", "threshold"),
    ),
    CategoryInfo(
        id="misuse",
        name="Misuse and harmful manipulation",
        description="Safeguard circumvention in deployment.",
        restricted=False,
        crosswalk={},
        levels=("watch", "alert"),
    ),
    CategoryInfo(
        id="data-exposure",
        name="Data exposure",
        description="Training or user data revealed by the model.",
        restricted=False,
        crosswalk={},
        levels=("alert",),
    ),
)

POLICY_CHANGES = (PolicyChange("2026.10.2", "9f2c4e1d7a6b5c3d2e1f00aa", local(2026, 10, 29, 15)),)


def weekly_input(**overrides: Any) -> DigestInput:
    """The week's input; keyword arguments replace fields."""
    data = DigestInput(
        period=WEEK,
        previous=PREVIOUS_WEEK,
        generated_at=GENERATED,
        policy_version="2026.10.2",
        policy_name="Example frontier lab policy",
        new_incidents=NEW,
        open_incidents=OPEN,
        previous_incidents=PREVIOUS,
        deadlines=DEADLINES,
        crossings=CROSSINGS,
        near_misses=NEAR_MISSES,
        series=SERIES,
        policy_changes=POLICY_CHANGES,
        categories=CATEGORIES,
    )
    return dataclasses.replace(data, **overrides)


# What people confirmed on the timelines: a mitigation in place (INC-090), a restricted one whose note must not show
# (INC-088) and a resolution (INC-104).
CONFIRMATIONS = (
    Confirmation("INC-088", "mitigate", "U0RSO", local(2026, 10, 16, 9), SECRET_SNOOZE),
    Confirmation("INC-090", "mitigate", "U0ONCALL", local(2026, 10, 21, 10), "Sandbox egress closed; image patched"),
    Confirmation("INC-104", "resolve", "U0ONCALL", local(2026, 11, 1, 3), "Re-ran the web tasks: no exploit"),
)


def risk_input(**overrides: Any) -> DigestInput:
    """Two weeks read as a risk-report period, the last report having ended on Thursday 22 October."""
    period = Period("risk-report", local(2026, 10, 19), local(2026, 11, 2), TZ_NAME)
    previous = Period("risk-report", local(2026, 10, 5), local(2026, 10, 19), TZ_NAME)
    data = weekly_input(
        period=period,
        previous=previous,
        new_incidents=(*NEW, MITIGATED, QUICK, IGNORED, SLOW),
        previous_incidents=(),
        last_report_end=local(2026, 10, 22),
        confirmations=CONFIRMATIONS,
    )
    return dataclasses.replace(data, **overrides)
