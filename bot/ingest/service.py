"""Eval ingestion: store every result, triage it, group alerts onto incidents, and watch trends."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from bot.common.clock import Clock
from bot.incidents.records import enqueue_card_update, open_incident
from bot.incidents.service import IncidentService
from bot.policy.document import Policy
from bot.policy.store import PolicyStore
from bot.policy.trend import decide_trend, evaluate_trend
from bot.policy.triage import Decision, Result, evaluate_result, model_family
from db import queues
from db import repositories as repo
from db.engine import UnitOfWork
from db.models import EvalResult, Incident

# A window given as a number of checkpoints still needs a bound on how far back to read.
SERIES_LIMIT = 500


@dataclass
class IngestOutcome:
    """What a batch did: stored, already known, matched by no metric, and the incidents it opened or updated."""

    accepted: int = 0
    duplicates: int = 0
    near_misses: int = 0
    # Stored results that no policy metric matched (unmatched alerts still take the default alert route).
    unmatched: int = 0
    incidents: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        """The body of a 202 answer."""
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "near_misses": self.near_misses,
            "unmatched": self.unmatched,
            "incidents": self.incidents,
        }


@dataclass
class _Group:
    decision: Decision
    results: list[tuple[Result, int]] = field(default_factory=list)


class IngestService:
    """Takes results from any source; one batch is one transaction (stored before it is answered)."""

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        clock: Clock,
        policies: PolicyStore,
        incidents: IncidentService,
        triage_channel: str,
        card_throttle: timedelta = timedelta(seconds=10),
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._policies = policies
        self._incidents = incidents
        self._triage_channel = triage_channel
        self._throttle = card_throttle
        self._on_commit = on_commit

    def now(self) -> datetime:
        """The service's clock: the receive time given to parsers."""
        return self._clock()

    def ingest(self, results: Sequence[Result]) -> IngestOutcome:
        """Store the results; level crossings open or join incidents; a rising trend opens a watch incident."""
        now, policy = self._clock(), self._policies.current
        outcome = IngestOutcome()
        decisions = [evaluate_result(result, policy=policy, now=now) for result in results]
        rows = [result_row(result, decision, now) for result, decision in zip(results, decisions, strict=True)]
        touched: set[str] = set()
        with self._uow() as session:
            # Identity order: two batches sharing results take the unique-index locks in the same order.
            inserted = repo.insert_eval_results(session=session, rows=sorted(rows, key=_identity))
            outcome.accepted = len(inserted)
            outcome.duplicates = len(results) - len(inserted)
            groups: dict[str, _Group] = {}
            series: set[tuple[str, str]] = set()
            for result, decision, row in zip(results, decisions, rows, strict=True):
                result_id = inserted.pop(_identity(row), None)
                if result_id is None:
                    continue
                if decision.near_miss is not None:
                    outcome.near_misses += 1
                outcome.unmatched += not decision.matched
                if decision.metric is not None:
                    series.add((decision.metric, str(row["model_family"])))
                if decision.dedup_key is not None and decision.level is not None:
                    group = groups.setdefault(str(decision.dedup_key), _Group(decision))
                    group.results.append((result, result_id))
            # Keys in sorted order: two batches lock the claims they share in the same order, so never deadlock.
            for key, group in sorted(groups.items()):
                touched.add(self._attach(session, key, group, policy, now))
            for metric_id, family in sorted(series):
                ref = self._trend(session, metric_id, family, policy, now)
                if ref is not None:
                    touched.add(ref)
        outcome.incidents = sorted(touched, key=lambda ref: int(ref.split("-")[1]))
        if touched:
            self._on_commit()
        return outcome

    def resolve_alerts(self, fingerprints: Sequence[str]) -> list[str]:
        """Resolve the open incidents that firing alerts with these fingerprints opened."""
        with self._uow() as session:
            found = [
                incident.id
                for fingerprint in fingerprints
                for incident in repo.list_open_by_alert_key(session=session, alert_key=fingerprint)
            ]
        resolved = []
        for incident_id in sorted({i for i in found if i is not None}):
            incident = self._incidents.resolve_from_source(
                incident_id=incident_id, source="alertmanager", note="Alertmanager reports the alert resolved."
            )
            resolved.append(incident.ref)
        return resolved

    def _attach(self, session: Session, key: str, group: _Group, policy: Policy, now: datetime) -> str:
        decision = group.decision
        window = decision.dedup_window or timedelta(hours=6)
        claim = repo.claim_dedup_key(session=session, dedup_key=key)
        incident = repo.find_grouping_incident(session=session, claim=claim, since=now - window)
        metric = policy.metric(decision.metric) if decision.metric else None
        higher_is_worse = metric is None or metric.direction == "higher_is_worse"
        values = [result.value for result, _ in group.results]
        worst_here = max(values) if higher_is_worse else min(values)
        latest = max(group.results, key=lambda pair: pair[0].observed_at)[0]
        if incident is None:
            first = latest
            incident = open_incident(
                session,
                Incident(
                    title=_title(first, decision),
                    description=decision.explanation + (f"\nRun: {first.url}" if first.url else ""),
                    model=first.model,
                    checkpoint=first.checkpoint or "",
                    reporter=f"{first.source} pipeline",
                    source=first.source,
                    links=[first.url] if first.url else [],
                    dedup_key=key,
                    metric_id=decision.metric,
                    alert_key=first.run_id.split(":")[0] if first.source == "alertmanager" else None,
                    created_at=now,
                    updated_at=now,
                ),
                decision=decision,
                policy=policy,
                now=now,
                triage_channel=self._triage_channel,
            )
            # The claim moves here, from no holder or from one outside the window (which stays open, unclaimed).
            claim.incident_id = incident.id
            incident.worst_value = worst_here
        else:
            previous = incident.worst_value if incident.worst_value is not None else worst_here
            incident.worst_value = max(previous, worst_here) if higher_is_worse else min(previous, worst_here)
            self._schedule_card_refresh(session, incident, now)
        incident.result_count += len(group.results)
        incident.last_value = latest.value
        incident.last_seen_at = now
        incident.updated_at = now
        assert incident.id is not None
        repo.link_results(session=session, result_ids=[rid for _, rid in group.results], incident_id=incident.id)
        return incident.ref

    def _schedule_card_refresh(self, session: Session, incident: Incident, now: datetime) -> None:
        # An alert storm edits the card at most once per throttle period, with the latest counts.
        assert incident.id is not None
        if self._throttle <= timedelta(0):
            enqueue_card_update(session, incident, now)
        elif not queues.has_pending_timer(session=session, incident_id=incident.id, kind="card_refresh"):
            queues.add_timer(session=session, kind="card_refresh", due_at=now + self._throttle, incident_id=incident.id)

    def _trend(self, session: Session, metric_id: str, family: str, policy: Policy, now: datetime) -> str | None:
        metric = policy.metric(metric_id)
        if metric.trend is None:
            return None
        window = metric.trend.window
        since = now - window if isinstance(window, timedelta) else None
        points = repo.list_series(
            session=session, policy_metric=metric_id, model_family=family, since=since, limit=SERIES_LIMIT
        )
        finding = evaluate_trend(points, metric=metric, policy=policy, now=now)
        if finding is None:
            return None
        decision = decide_trend(finding, model=family, policy=policy, now=now)
        key = str(decision.dedup_key)
        claim = repo.claim_dedup_key(session=session, dedup_key=key)
        existing = repo.find_grouping_incident(
            session=session, claim=claim, since=now - (decision.dedup_window or timedelta(hours=6))
        )
        if existing is not None:
            existing.last_seen_at = now
            return existing.ref
        crossing = finding.projected_crossing.date().isoformat() if finding.projected_crossing else "soon"
        incident = open_incident(
            session,
            Incident(
                title=f"Trend: {metric_id} on {family} heading for {finding.projects_to.value} (projected {crossing})",
                description=finding.explanation,
                model=family,
                reporter="trend watch",
                source="trend",
                dedup_key=key,
                metric_id=metric_id,
                last_value=finding.latest_value,
                last_seen_at=now,
                created_at=now,
                updated_at=now,
            ),
            decision=decision,
            policy=policy,
            now=now,
            triage_channel=self._triage_channel,
        )
        claim.incident_id = incident.id
        return incident.ref


def result_row(result: Result, decision: Decision | None, now: datetime) -> dict[str, object]:
    """The eval_result row for a result, with what the policy decided (None: not triaged)."""
    return {
        "source": result.source,
        "run_id": result.run_id,
        "task": result.task,
        "scorer": result.scorer or "",
        "metric": result.metric,
        "model": result.model,
        "model_family": model_family(result.model),
        "checkpoint": result.checkpoint or "",
        "value": result.value,
        "stderr": result.stderr,
        "observed_at": result.observed_at,
        "received_at": now,
        "url": result.url,
        "labels": dict(result.labels),
        "policy_metric": decision.metric if decision else None,
        "level": decision.level if decision else None,
        "near_miss": decision.near_miss if decision else None,
    }


def _identity(row: dict[str, object]) -> tuple[str, ...]:
    return tuple(str(row[name]) for name in repo.IDENTITY)


def _title(result: Result, decision: Decision) -> str:
    where = result.model + (f" @ {result.checkpoint}" if result.checkpoint else "")
    return f"{decision.metric or result.metric} at {decision.level}: {result.value:.3g} on {where}"[:300]


def stored_result(row: EvalResult) -> Result:
    """A stored row back as the Result triage takes (for backtests)."""
    return Result(
        source=row.source,
        model=row.model,
        task=row.task,
        metric=row.metric,
        value=row.value,
        run_id=row.run_id,
        observed_at=row.observed_at,
        checkpoint=row.checkpoint or None,
        scorer=row.scorer or None,
        stderr=row.stderr,
        labels=dict(row.labels),
        url=row.url,
    )
