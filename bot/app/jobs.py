"""APScheduler 3.x jobs: due timers and the policy reload run on every replica (timers are claimed row by row);
the digest runs only on the leader, and each period's row is unique, so it is drafted once.

The digest slots follow the policy in force: after each reload the weekly and risk-report jobs are moved (or
added, or removed) when `digest.weekly` or `digest.risk_report` changed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from bot.app.leader import Leader
from bot.digest.schedule import cron_trigger
from bot.digest.service import DigestService
from bot.incidents.timers import TimerService
from bot.policy.schedules import DigestPolicy, RiskReportSchedule, WeeklyDigest
from bot.policy.store import PolicyStore

log = logging.getLogger(__name__)
COMMON: dict[str, Any] = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
HOUSEKEEPING_SECONDS = 300
WEEKLY_JOB, RISK_REPORT_JOB, CATCH_UP_JOB = "digest-weekly", "digest-risk-report", "digest-catch-up"
# How long after start the missed-slot draft waits: past the burst of commands and reconnects of a (re)start.
CATCH_UP_DELAY = timedelta(seconds=60)


class DigestJobs:
    """The weekly and risk-report jobs, kept on the slots of the digest policy they were last given."""

    def __init__(self, scheduler: BackgroundScheduler, draft: Callable[[], None]) -> None:
        self._scheduler = scheduler
        self._draft = draft
        self._applied: dict[str, WeeklyDigest | RiskReportSchedule | None] = {}

    def follow(self, digest: DigestPolicy) -> None:
        """Add, move or remove the digest jobs so that they fire on `digest`'s slots; unchanged slots stay put."""
        for job_id, schedule in ((WEEKLY_JOB, digest.weekly), (RISK_REPORT_JOB, digest.risk_report)):
            before = self._applied.get(job_id)
            if schedule == before:
                continue
            if schedule is None:
                self._scheduler.remove_job(job_id)
            elif before is None:
                self._scheduler.add_job(self._draft, cron_trigger(schedule), id=job_id, **COMMON)
            else:
                # reschedule_job recomputes the next run time from now, on the new trigger.
                self._scheduler.reschedule_job(job_id, trigger=cron_trigger(schedule))
            if before is not None:
                log.info("%s moved from %s to %s", job_id, _describe(before), _describe(schedule))
            self._applied[job_id] = schedule


def _describe(schedule: WeeklyDigest | RiskReportSchedule | None) -> str:
    if schedule is None:
        return "nowhere"
    return f"{schedule.day} {schedule.time.strftime('%H:%M')} {schedule.timezone}"


def build_scheduler(
    *,
    timers: TimerService,
    policies: PolicyStore,
    digests: DigestService,
    leader: Leader,
    timer_seconds: float,
    policy_seconds: float,
    housekeeping: Callable[[], object],
) -> BackgroundScheduler:
    """A background scheduler (not started) with the timer, policy-reload and digest jobs."""
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(timers.run_due, "interval", seconds=timer_seconds, id="timers", **COMMON)
    # Expired idempotency keys are deleted here, off the request path (each replica may run it; a DELETE is idempotent).
    scheduler.add_job(housekeeping, "interval", seconds=HOUSEKEEPING_SECONDS, id="housekeeping", **COMMON)

    def draft_digests() -> None:
        if leader.acquire():
            digests.draft_due()

    digest_jobs = DigestJobs(scheduler, draft_digests)
    digest_jobs.follow(policies.current.digest)

    def reload_policy() -> None:
        policies.reload()
        # Compared with the policy in force rather than keyed on this reload's outcome: whoever loaded it, the
        # digest slots follow it.
        digest_jobs.follow(policies.current.digest)

    scheduler.add_job(reload_policy, "interval", seconds=policy_seconds, id="policy-reload", **COMMON)
    # A slot missed while no replica ran is drafted once at start (the period's row is unique). Not at the very
    # start: drafting reads the whole period (every incident still open, charts from the results), which competed
    # with the commands people send to a bot that has just come back. After the delay it runs on the leader only,
    # and a period drafted already costs one indexed lookup (DigestService.draft), not a compose.
    run_date = datetime.now(UTC) + CATCH_UP_DELAY
    scheduler.add_job(draft_digests, "date", run_date=run_date, id=CATCH_UP_JOB, **COMMON)
    return scheduler
