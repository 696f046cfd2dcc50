"""The triage worker: stored results that wait for triage are grouped onto incidents and fed to the trend watch.

A batch is claimed, triaged and marked in one transaction, so a crash rolls it back and the rows wait again; on
PostgreSQL other replicas skip the rows a batch holds, so each result is triaged exactly once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Row
from sqlmodel import Session

from bot.common.clock import Clock
from bot.incidents.records import enqueue_card_update, open_incident
from bot.ingest.verdict import Verdict, verdict_of
from bot.policy.document import Policy
from bot.policy.store import PolicyStore
from bot.policy.trend import decide_trend, evaluate_trend
from bot.policy.triage import Decision, Result, evaluate_result
from db import queues, triage_queue
from db import repositories as repo
from db.engine import UnitOfWork
from db.models import Incident

log = logging.getLogger(__name__)

# A window given as a number of checkpoints still needs a bound on how many points a series keeps.
SERIES_LIMIT = 500
# The most results one pass claims. A pass has costs whatever its size (the per-family claim query over everything
# waiting, one grouping per dedup key it touches, a trend update per series, a commit), all inside SQLite's one write
# lock, which the ingest's group commit waits for: under a backlog, bigger passes leave the group commit more turns.
# Measured (results of 100 per request, wrk, 60,000 results on SQLite): 500 a pass 11,538 stored/s, 2,000 13,363-13,667.
# A pass takes only what waits, so in a quiet stream it stays small.
BATCH = 2000
# How many results stored here but not yet triaged the worker remembers the verdicts of (about 100 bytes each).
JUDGED_LIMIT = 100_000
# Under a steady stream of results the worker starts a pass at most this often, so each pass takes more rows: a pass
# costs a write transaction and a trend update per metric and model family whatever its size, and every write
# transaction is a turn the ingest's group commit waits for (SQLite has one writer). After a quiet spell it starts at
# once.
PASS_SPACING = 0.1
# A result that fails triage on its own waits this long before the next try (the error is logged each time).
SET_ASIDE = timedelta(minutes=10)

Point = tuple[datetime, str, float]


@dataclass
class TriageOutcome:
    """What one triage transaction did: how many results it triaged, and the incidents it opened or updated."""

    triaged: int = 0
    incidents: list[str] = field(default_factory=list)


@dataclass
class _Group:
    decision: Decision
    results: list[tuple[Result, int]] = field(default_factory=list)


class _Judged:
    """Rows this process stored that open nothing under a policy (result id -> its metric, or None), until taken.

    Only in memory and only a shortcut: a row another process stored, one stored before a restart or a reload, or
    one forgotten at the bound is judged from the database as ever.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._policy: Policy | None = None
        self._metrics: dict[int, str | None] = {}

    def add(self, policy: Policy, metrics: dict[int, str | None]) -> None:
        with self._lock:
            if policy is not self._policy or len(self._metrics) + len(metrics) > self._limit:
                # A new policy makes the old verdicts moot; a full map means the worker is far behind: start afresh.
                self._policy, self._metrics = policy, {}
            self._metrics.update(metrics)

    def take(self, policy: Policy, ids: Sequence[int]) -> dict[int, str | None]:
        with self._lock:
            if policy is not self._policy:
                return {}
            return {i: self._metrics.pop(i) for i in ids if i in self._metrics}


class TriageWorker:
    """Triages stored results in batches: in a background thread (woken by new rows), or for a caller's own rows."""

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        clock: Clock,
        policies: PolicyStore,
        triage_channel: str,
        card_throttle: timedelta = timedelta(seconds=10),
        on_commit: Callable[[], None] = lambda: None,
        before_commit: Callable[[], None] = lambda: None,
        poll_seconds: float = 1.0,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._policies = policies
        self._triage_channel = triage_channel
        self._throttle = card_throttle
        self._on_commit = on_commit
        # Runs inside the transaction after the batch's writes (tests stop a process here).
        self._before_commit = before_commit
        self._poll = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._judged = _Judged(JUDGED_LIMIT)

    def wake(self) -> None:
        """Tell the worker results were stored."""
        self._wake.set()

    def judged(self, policy: Policy, metrics: dict[int, str | None]) -> None:
        """Note stored results that open nothing under `policy` (id -> the metric they count for, or None).

        Triage under that same policy then takes them as judged (a point for the metric's trend, nothing more)
        instead of reading and judging them again; under any other policy it judges them afresh.
        """
        if metrics:
            self._judged.add(policy, metrics)

    def start(self) -> None:
        """Triage in a background thread until `stop`."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="tripwire-triage", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Finish the batch in hand, then stop the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def run_once(self, limit: int = BATCH) -> TriageOutcome:
        """Claim and triage up to `limit` of the oldest waiting results nobody else holds, in one transaction."""
        return self._triage(limit=limit, ids=None)

    def triage(self, ids: Sequence[int]) -> TriageOutcome:
        """Triage these results now, if still waiting (the caller stored them and holds their lease)."""
        if not ids:
            return TriageOutcome()
        return self._triage(limit=len(ids), ids=ids)

    def drain(self) -> int:
        """Triage until nothing claimable waits; how many results were triaged."""
        total = 0
        while (outcome := self.run_once()).triaged:
            total += outcome.triaged
        return total

    def work(self) -> None:
        """Triage what waits, batch after batch; after a failed batch, one result at a time (see `_isolate`)."""
        try:
            # Full batches mean more is waiting.
            while not self._stop.is_set() and self.run_once().triaged == BATCH:
                pass
        except Exception:  # the loop must outlive a database hiccup or a bad result; the rows stay waiting
            log.exception("a triage batch failed; trying its results one at a time")
            self._isolate()

    def _run(self) -> None:
        last = float("-inf")
        while not self._stop.is_set():
            # The timeout picks up other replicas' rows and what a crashed process left behind.
            self._wake.wait(self._poll)
            # Woken soon after the last pass: more rows are on their way; take them together (stop cuts this short).
            self._stop.wait(max(0.0, last + PASS_SPACING - time.monotonic()))
            self._wake.clear()
            self.work()
            last = time.monotonic()

    def _isolate(self) -> None:
        # One result that cannot be triaged must not hold back every result behind it: alone, it is set aside
        # (leased to nobody) for SET_ASIDE, logged, and the others go on.
        try:
            for _ in range(BATCH):
                if self._stop.is_set():
                    return
                with self._uow() as session:
                    oldest = triage_queue.claim_untriaged(session=session, now=self._clock(), limit=1)
                if not oldest or oldest[0].id is None:
                    return
                result_id = oldest[0].id
                try:
                    self.triage([result_id])
                except Exception:
                    until = self._clock() + SET_ASIDE
                    with self._uow() as session:
                        for row in triage_queue.claim_untriaged(session=session, now=until, limit=1, ids=[result_id]):
                            row.claimed_until = until
                    log.exception("result %s failed triage; set aside until %s", result_id, until.isoformat())
        except Exception:  # the database itself is failing: the next wake-up tries again
            log.exception("triage pass failed")

    def _triage(self, *, limit: int, ids: Sequence[int] | None) -> TriageOutcome:
        now, policy = self._clock(), self._policies.current
        with self._uow() as session:
            rows = triage_queue.claim_untriaged_rows(session=session, now=now, limit=limit, ids=ids)
            if not rows:
                return TriageOutcome()
            touched = self._triage_rows(session, rows, policy, now)
            self._before_commit()
        if touched:
            self._on_commit()
        return TriageOutcome(triaged=len(rows), incidents=sorted(touched, key=lambda ref: int(ref.split("-")[1])))

    def _triage_rows(self, session: Session, rows: Sequence[Row[Any]], policy: Policy, now: datetime) -> set[str]:
        groups: dict[str, _Group] = {}
        series: dict[tuple[str, str], list[Point]] = {}
        judged = self._judged.take(policy, [row.id for row in rows])
        # Judged on arrival under this very policy (and opening nothing): the rest are read whole and judged again.
        metrics = dict(judged)
        results: dict[int, tuple[Result, Verdict, datetime]] = {}
        for stored in triage_queue.list_result_rows(
            session=session, ids=[row.id for row in rows if row.id not in judged]
        ):
            result, received_at = stored_result(stored), stored.received_at
            # The current policy, as of arrival: a result is judged by when it came, whenever the worker gets to it.
            verdict = verdict_of(result, policy=policy, now=received_at)
            metrics[stored.id] = verdict.metric
            if verdict.level is not None:
                results[stored.id] = (result, verdict, received_at)
        for row in rows:
            if (metric_id := metrics.get(row.id)) is not None:
                series.setdefault((metric_id, row.model_family), []).append(
                    (row.observed_at, row.checkpoint, row.value)
                )
            if row.id not in results:
                continue
            # Only a result that opens or joins an incident needs the whole Decision (its sentence, its deadlines).
            result, verdict, received_at = results[row.id]
            decision = verdict.decision or evaluate_result(result, policy=policy, now=received_at)
            if decision.dedup_key is not None:
                groups.setdefault(str(decision.dedup_key), _Group(decision)).results.append((result, row.id))
        touched: set[str] = set()
        # Keys in sorted order: two batches lock the claims they share in the same order, so never deadlock.
        for key, group in sorted(groups.items()):
            touched.add(self._attach(session, key, group, policy, now))
        for (metric_id, family), points in sorted(series.items()):
            ref = self._trend(session, metric_id, family, points, policy, now)
            if ref is not None:
                touched.add(ref)
        triage_queue.mark_triaged(session=session, result_ids=[row.id for row in rows], now=now)
        return touched

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

    def _trend(
        self, session: Session, metric_id: str, family: str, points: list[Point], policy: Policy, now: datetime
    ) -> str | None:
        metric = policy.metric(metric_id)
        if metric.trend is None:
            return None
        window = metric.trend.window
        since = now - window if isinstance(window, timedelta) else None
        history = _series(session, metric_id, family, points, since=since, now=now)
        finding = evaluate_trend(history, metric=metric, policy=policy, now=now)
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


def _series(
    session: Session, metric_id: str, family: str, points: list[Point], *, since: datetime | None, now: datetime
) -> list[Point]:
    """The series with this batch's points merged in, kept in (and read from) its locked trend state row."""
    state, created = triage_queue.lock_trend_state(
        session=session, policy_metric=metric_id, model_family=family, now=now
    )
    if created:
        # First time for this series (or since the upgrade): its stored history so far, this batch excluded.
        history = list(
            triage_queue.list_triaged_series(
                session=session, policy_metric=metric_id, model_family=family, since=since, limit=SERIES_LIMIT
            )
        )
    else:
        history = [(datetime.fromisoformat(at), checkpoint, value) for at, checkpoint, value in state.points]
    merged = sorted(history + points, key=lambda point: point[0])
    if since is not None:
        merged = [point for point in merged if point[0] >= since]
    merged = merged[-SERIES_LIMIT:]
    state.points = [[at.isoformat(), checkpoint, value] for at, checkpoint, value in merged]
    state.updated_at = now
    return merged


def _title(result: Result, decision: Decision) -> str:
    where = result.model + (f" @ {result.checkpoint}" if result.checkpoint else "")
    return f"{decision.metric or result.metric} at {decision.level}: {result.value:.3g} on {where}"[:300]


class StoredResult(Protocol):
    """What a stored result row holds of the result as it was sent: an EvalResult, or a plain row of
    triage_queue.RESULT_COLUMNS."""

    source: str
    run_id: str
    task: str
    scorer: str
    metric: str
    model: str
    checkpoint: str
    value: float
    stderr: float | None
    samples: int | None
    observed_at: datetime
    url: str | None
    labels: dict[str, str]


def stored_result(row: StoredResult) -> Result:
    """A stored row back as the Result triage takes (for triage and backtests)."""
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
        samples=row.samples,
        labels=dict(row.labels),
        url=row.url,
    )
