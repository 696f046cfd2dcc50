"""The digest's opening summary, in words."""

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
# Summaries


def weekly_summary(base: DigestContent) -> str:
    if base.quiet:
        # One sentence instead of a page of empty sections: the renders show only this summary.
        return (
            f"A quiet week ({base.period_label}): no incident was opened or left open, no result crossed a threshold "
            "or came near one, no deadline clock fell due and nothing needs a decision."
        )
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
