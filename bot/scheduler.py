"""APScheduler 3.x jobs: run due timers and re-read the policy file. Timers are claimed row by row, so every
replica may run these jobs; the digest (which must happen once) gets its own leader election."""

from __future__ import annotations

from datetime import UTC

from apscheduler.schedulers.background import BackgroundScheduler

from bot.policy_store import PolicyStore
from bot.timers import TimerService


def build_scheduler(
    *, timers: TimerService, policies: PolicyStore, timer_seconds: float, policy_seconds: float
) -> BackgroundScheduler:
    """A background scheduler (not started) with the timer and policy-reload jobs."""
    scheduler = BackgroundScheduler(timezone=UTC)
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    scheduler.add_job(timers.run_due, "interval", seconds=timer_seconds, id="timers", **common)
    scheduler.add_job(policies.reload, "interval", seconds=policy_seconds, id="policy-reload", **common)
    return scheduler
