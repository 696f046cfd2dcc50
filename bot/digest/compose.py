"""Leadership digests as pure functions: what the weekly digest and the risk-report draft say, and their renders.

Everything here is computed from a `DigestInput` (read from the database elsewhere) and the period's time zone:
no database, no Slack calls, no clock reads. Restricted incidents are redacted while the content is built, so no
render and no frozen snapshot can carry their title, model or explanation.

Rules the reports apply (also shown to readers where it helps):

- Open at period end: created before the end and not resolved (or dismissed) before it.
- Overdue acknowledgement: an incident open at period end whose ack deadline passed before the end with no
  acknowledgement (or resolution) by then, or one first answered inside the period after its ack deadline.
- Deadline clocks: overdue when due before the period end and not closed by then (cancelled clocks never are);
  due soon when still open and due within 7 days after the period end; met late when closed as met inside the
  period after it was due.
- Median times: over the incidents opened in a period, the time from opening to acknowledgement (or to
  resolution) for those acknowledged (resolved) before that period ended, dismissals not counting as resolutions;
  compared with the same figure for the previous period.
- What needs a decision, in this order: open threshold-level incidents (a capability decision is pending);
  deadline clocks overdue at period end; sev1/sev2 incidents not acknowledged at period end; open trend incidents
  (a crossing is projected within the trend rule's horizon). Anything closed since the period ended is left out.
- Remaining risk per threat model, the first that applies: "at threshold — decision pending" (an open incident at
  threshold level); "elevated" (an open alert-level incident, an open trend incident, or a model family's latest
  result at or past the alert or threshold line); "watch" (an open watch-level incident, a near miss in the period,
  or a latest result at or past the watch line); "within thresholds" otherwise."""

from __future__ import annotations

import dataclasses

# ---------------------------------------------------------------------------------------------------------------
# Building
from bot.digest.context import DigestContext
from bot.digest.inputs import (
    DigestInput,
)
from bot.digest.risk import RiskContext
from bot.digest.summary import risk_summary, weekly_summary
from bot.digest.views import (
    DigestContent,
)


def build_weekly(data: DigestInput) -> DigestContent:
    """The weekly digest: decisions first, incidents, response times, misses, crossings, trends, charts."""
    ctx = DigestContext(data)
    base = ctx.common()
    return dataclasses.replace(
        base,
        kind="weekly",
        title=f"Weekly risk digest · {base.period_label}",
        summary=weekly_summary(base),
    )


def build_risk_report(data: DigestInput) -> DigestContent:
    """The risk-report draft: threat models, evidence per model, mitigations, remaining risk, deviations, changes."""
    ctx = RiskContext(data)
    base = ctx.common()
    threats = ctx.threats(base)
    deviations = ctx.deviations(base)
    changes = ctx.changes()
    return dataclasses.replace(
        base,
        kind="risk-report",
        title=f"Risk report draft · {base.period_label}",
        summary=risk_summary(base, threats, deviations, changes),
        threats=threats,
        deviations=deviations,
        changes=changes,
    )
