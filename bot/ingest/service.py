"""Eval ingestion: a batch is stored (group commit) and answered; triage and trends run in the triage worker."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from bot.common.clock import Clock
from bot.incidents.service import IncidentService
from bot.ingest.committer import GroupCommitter, Row
from bot.ingest.verdict import Verdict, verdict_of
from bot.ingest.worker import TriageWorker
from bot.ingest.worker import stored_result as stored_result
from bot.policy.store import PolicyStore
from bot.policy.triage import Decision, Result, model_family
from db import repositories as repo
from db import triage_queue
from db.engine import UnitOfWork

log = logging.getLogger(__name__)

# How long a request that triages its own results holds them before the background worker may take them.
LEASE = timedelta(seconds=60)


@dataclass
class IngestOutcome:
    """What a batch did: stored, already known, near misses, matched by no metric, and (once triaged) incidents."""

    accepted: int = 0
    duplicates: int = 0
    near_misses: int = 0
    # Stored results that no policy metric matched (unmatched alerts still take the default alert route).
    unmatched: int = 0
    # None until the caller waited for triage (the fast path answers before the worker has run).
    incidents: list[str] | None = None
    # Asked to wait for triage, but the database failed it: the results are stored and the worker triages them later.
    triage_deferred: bool = False
    # The ids of the results this batch stored, for the caller to triage them itself.
    stored_ids: list[int] = field(default_factory=list, repr=False)

    def as_json(self) -> dict[str, object]:
        """The body of a 202 answer."""
        body: dict[str, object] = {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "near_misses": self.near_misses,
            "unmatched": self.unmatched,
        }
        if self.incidents is not None:
            body["incidents"] = self.incidents
        if self.triage_deferred:
            body["triage_deferred"] = True
        return body


class IngestService:
    """Takes results from any source: stored (durably) before it answers; triaged by the worker or the caller."""

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        clock: Clock,
        policies: PolicyStore,
        incidents: IncidentService,
        committer: GroupCommitter,
        worker: TriageWorker,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._policies = policies
        self._incidents = incidents
        self._committer = committer
        self._worker = worker

    def now(self) -> datetime:
        """The service's clock: the receive time given to parsers."""
        return self._clock()

    def submit(self, results: Sequence[Result], *, hold: bool = False) -> Future[IngestOutcome]:
        """Queue the results for the next group commit; the future resolves once they are stored.

        With `hold`, the stored rows are leased to the caller, who triages them with `finish`; the background
        worker takes them only if the lease runs out (the caller died).
        """
        now, policy = self._clock(), self._policies.current
        # Pure verdicts, for the counts in the answer and the columns saying what the policy made of each result.
        verdicts = [verdict_of(result, policy=policy, now=now) for result in results]
        rows = [result_row(result, verdict, now) for result, verdict in zip(results, verdicts, strict=True)]
        if hold:
            for row in rows:
                row["claimed_until"] = now + LEASE
        stored = self._committer.submit(rows)
        answer: Future[IngestOutcome] = Future()

        def counted(done: Future[list[int | None]]) -> None:
            if not answer.set_running_or_notify_cancel():
                return
            error = done.exception()
            if error is not None:
                answer.set_exception(error)
                return
            ids = done.result()
            # Told before the commit wakes the worker: the rows it will claim need no judging again.
            self._worker.judged(
                policy,
                {
                    result_id: verdict.metric
                    for verdict, result_id in zip(verdicts, ids, strict=True)
                    if result_id is not None and verdict.level is None
                },
            )
            answer.set_result(_count(verdicts, ids))

        stored.add_done_callback(counted)
        return answer

    def finish(self, outcome: IngestOutcome) -> IngestOutcome:
        """Triage the results a held `submit` stored, in this thread; the outcome then names the incidents.

        The results are stored whatever happens here: if the database fails the triage, the answer says triage was
        deferred (no incidents named) and the worker takes them when their lease runs out.
        """
        try:
            triaged = self._worker.triage(outcome.stored_ids)
        except SQLAlchemyError:
            log.exception("triage of %d stored results failed; the worker takes them later", len(outcome.stored_ids))
            outcome.triage_deferred = True
            return outcome
        outcome.incidents = triaged.incidents
        return outcome

    def ingest(self, results: Sequence[Result]) -> IngestOutcome:
        """Store the results and triage them before returning (the CLI, tests, `?wait=1`)."""
        return self.finish(self.submit(results, hold=True).result())

    def resolve_alerts(self, fingerprints: Sequence[str]) -> list[str]:
        """Resolve the open incidents that firing alerts with these fingerprints opened."""
        if not fingerprints:
            return []
        with self._uow() as session:
            waiting = triage_queue.list_untriaged_alert_ids(session=session, fingerprints=fingerprints)
        # A firing still waiting for the worker would open its incident after this resolution: triage it first.
        self._worker.triage(waiting)
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


def _count(verdicts: Sequence[Verdict], ids: Sequence[int | None]) -> IngestOutcome:
    outcome = IngestOutcome()
    for verdict, result_id in zip(verdicts, ids, strict=True):
        if result_id is None:
            outcome.duplicates += 1
            continue
        outcome.accepted += 1
        outcome.stored_ids.append(result_id)
        if verdict.near_miss is not None:
            outcome.near_misses += 1
        outcome.unmatched += not verdict.matched
    return outcome


def result_row(result: Result, decision: Decision | Verdict | None, now: datetime) -> Row:
    """The eval_result row for a result, with what the policy decided (None: not evaluated), waiting for triage."""
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
        "samples": result.samples,
        "observed_at": result.observed_at,
        "received_at": now,
        "url": result.url,
        "labels": dict(result.labels),
        "policy_metric": decision.metric if decision is not None else None,
        "level": decision.level if decision is not None else None,
        "near_miss": decision.near_miss if decision is not None else None,
        "claimed_until": None,
    }
