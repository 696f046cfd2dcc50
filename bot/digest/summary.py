"""The digest's opening summary and key numbers, in words."""

from __future__ import annotations

from collections.abc import Sequence

from bot.digest.measures import plural
from bot.digest.views import (
    RISK_ELEVATED,
    RISK_THRESHOLD,
    RISK_WATCH,
    RISK_WITHIN,
    Changes,
    Deviation,
    DigestContent,
    Threat,
)

# ---------------------------------------------------------------------------------------------------------------
# Summaries and key numbers


def weekly_summary(base: DigestContent) -> str:
    new, ack, resolve = base.new_counts, base.time_to_ack, base.time_to_resolve
    if new.total:
        spread = ", ".join(f"{r.total} {r.severity}" for r in new.rows if r.total)
        verb = "was" if new.total == 1 else "were"
        opened = f"{plural(new.total, 'incident', 'incidents')} {verb} opened ({spread})"
    else:
        opened = "no incidents were opened"
    still = base.open_counts.total
    first = f"In the week of {base.period_label}, {opened} and {still} remained open at the end of the week."
    crossed = sum(g.count for g in base.crossings)
    missed = sum(g.count for g in base.near_misses)
    trends = len(base.trends)
    if crossed or missed or trends:
        found = (
            plural(crossed, "threshold crossing", "threshold crossings"),
            plural(missed, "near miss", "near misses"),
            plural(trends, "trend toward a threshold", "trends toward a threshold"),
        )
        second = f"There {'was' if crossed == 1 else 'were'} {found[0]}, {found[1]} and {found[2]}."
    else:
        second = "No result crossed a threshold or came near one, and no trend projects a crossing."
    third = f"Median time to acknowledge was {ack.text} and to resolve {resolve.text}."
    return " ".join((first, second, third, decision_sentence(base.decisions)))


def decision_sentence(decisions: Sequence[str]) -> str:
    if not decisions:
        return "Nothing needs a decision."
    return f"{plural(len(decisions), 'item needs', 'items need')} a decision."


def weekly_numbers(base: DigestContent) -> tuple[tuple[str, str], ...]:
    new = base.new_counts
    spread = " · ".join(f"{r.severity} {r.total}" for r in new.rows if r.total)
    return (
        ("New incidents", f"{new.total}" + (f" ({spread})" if spread else "")),
        ("Open at period end", str(base.open_counts.total)),
        ("Median time to acknowledge", base.time_to_ack.text),
        ("Median time to resolve", base.time_to_resolve.text),
        ("Threshold crossings", str(sum(g.count for g in base.crossings))),
        ("Near misses", str(sum(g.count for g in base.near_misses))),
        ("Overdue acknowledgements", str(len(base.ack_misses))),
        (
            "Deadline clocks",
            f"{len(base.deadlines_overdue)} overdue · {len(base.deadlines_due_soon)} due within 7 days",
        ),
        ("Trends toward thresholds", str(len(base.trends))),
        ("Policy changes", str(len(base.policy_changes))),
    )


def risk_summary(
    base: DigestContent, threats: Sequence[Threat], deviations: Sequence[Deviation], changes: Changes
) -> str:
    first = f"This draft covers {base.period_label} under {base.policy_name} version {base.policy_version}."
    counted = [
        (sum(1 for t in threats if t.remaining_risk == grade), words)
        for grade, words in (
            (RISK_THRESHOLD, "at threshold with a decision pending"),
            (RISK_ELEVATED, "elevated"),
            (RISK_WATCH, "on watch"),
            (RISK_WITHIN, "within thresholds"),
        )
    ]
    listed = [f"{n} {words}" for n, words in counted if n]
    if not threats:
        second = "No threat models are defined."
    else:
        spread = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]
        second = f"Of {plural(len(threats), 'threat model', 'threat models')}, {spread}."
    opened, closed = len(changes.opened), len(changes.closed)
    third = (
        f"Since {changes.since}, {plural(opened, 'incident was', 'incidents were')} opened and {closed} closed; "
        f"{plural(len(deviations), 'deviation', 'deviations')} (missed or late acknowledgements and deadlines, "
        f"snoozes) {'was' if len(deviations) == 1 else 'were'} recorded."
    )
    return " ".join((first, second, third, decision_sentence(base.decisions)))


def risk_numbers(
    threats: Sequence[Threat], deviations: Sequence[Deviation], changes: Changes
) -> tuple[tuple[str, str], ...]:
    def graded(grade: str) -> str:
        return str(sum(1 for t in threats if t.remaining_risk == grade))

    return (
        ("Threat models", str(len(threats))),
        ("At threshold", graded(RISK_THRESHOLD)),
        ("Elevated", graded(RISK_ELEVATED)),
        ("Watch", graded(RISK_WATCH)),
        ("Within thresholds", graded(RISK_WITHIN)),
        ("Deviations", str(len(deviations))),
        ("Opened since last report", str(len(changes.opened))),
        ("Closed since last report", str(len(changes.closed))),
        ("Policy changes", str(len(changes.policy_changes))),
    )
