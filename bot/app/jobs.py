"""APScheduler 3.x jobs: due timers and the policy reload run on every replica (timers are claimed row by row);
the digest runs only on the leader, and each period's row is unique, so it is drafted once."""

from __future__ import annotations

from datetime import UTC

from apscheduler.schedulers.background import BackgroundScheduler

from bot.app.leader import Leader
from bot.digest.schedule import cron_trigger
from bot.digest.service import DigestService
from bot.incidents.timers import TimerService
from bot.policy.store import PolicyStore


def build_scheduler(
    *,
    timers: TimerService,
    policies: PolicyStore,
    digests: DigestService,
    leader: Leader,
    timer_seconds: float,
    policy_seconds: float,
) -> BackgroundScheduler:
    """A background scheduler (not started) with the timer, policy-reload and digest jobs."""
    scheduler = BackgroundScheduler(timezone=UTC)
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    scheduler.add_job(timers.run_due, "interval", seconds=timer_seconds, id="timers", **common)
    scheduler.add_job(policies.reload, "interval", seconds=policy_seconds, id="policy-reload", **common)

    def draft_digests() -> None:
        if leader.acquire():
            digests.draft_due()

    digest = policies.current.digest
    scheduler.add_job(draft_digests, cron_trigger(digest.weekly), id="digest-weekly", **common)
    if digest.risk_report is not None:
        scheduler.add_job(draft_digests, cron_trigger(digest.risk_report), id="digest-risk-report", **common)
    # A slot missed while no replica ran is drafted once at start (the period's row is unique).
    scheduler.add_job(draft_digests, id="digest-catch-up", **common)
    return scheduler
