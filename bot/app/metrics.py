"""Prometheus metrics: one registry per app (tests build many apps in one process), read at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.incidents.timers import TimerService
from bot.policy.store import PolicyStore
from db.engine import UnitOfWork
from db.queues import count_outbox
from db.repositories import count_incidents_by_status, count_results_by_match
from db.triage_queue import count_untriaged

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed")


class TripwireCollector(Collector):
    """Timer passes of this process, the outbox by status (parked = failed), incidents by status, stored results
    matched or unmatched by the policy, results waiting for triage, and the policy in force."""

    def __init__(
        self, *, uow: UnitOfWork, timers: TimerService, policies: PolicyStore, commands_shed: Callable[[], int]
    ) -> None:
        self._uow = uow
        self._commands_shed = commands_shed
        self._timers = timers
        self._policies = policies

    def collect(self) -> Iterable[Metric]:
        """Read the counts from the database now: a scrape sees rows other replicas wrote too."""
        yield CounterMetricFamily("tripwire_timer_passes", "Timer runs by this process.", value=self._timers.passes)
        yield CounterMetricFamily(
            "tripwire_commands_shed",
            "Slash commands this process refused at once as busy (the person was told to try again).",
            value=self._commands_shed(),
        )
        outbox = GaugeMetricFamily("tripwire_outbox_messages", "Slack outbox messages by status.", labels=["status"])
        incidents = GaugeMetricFamily("tripwire_incidents", "Incidents by status.", labels=["status"])
        # From the table, not this process: every replica reports the same totals, which survive restarts.
        results = GaugeMetricFamily(
            "tripwire_results",
            "Stored eval results by whether a policy metric matched them on arrival.",
            labels=["outcome"],
        )
        backlog = GaugeMetricFamily(
            "tripwire_triage_backlog", "Stored results waiting for the triage worker (all replicas)."
        )
        # A scrape only reads: it never waits on a writer nor holds one up.
        with self._uow.read() as session:
            for status in OUTBOX_STATUSES:
                outbox.add_metric([status], count_outbox(session=session, status=status))
            for status, count in sorted(count_incidents_by_status(session=session).items()):
                incidents.add_metric([status], count)
            for outcome, count in sorted(count_results_by_match(session=session).items()):
                results.add_metric([outcome], count)
            backlog.add_metric([], count_untriaged(session=session))
        yield outbox
        yield backlog
        yield incidents
        yield results
        # An info metric is exposed as the gauge tripwire_policy_info{version="..."} 1.
        yield InfoMetricFamily(
            "tripwire_policy", "The policy version in force.", value={"version": self._policies.current.version}
        )


def build_registry(
    *, uow: UnitOfWork, timers: TimerService, policies: PolicyStore, commands_shed: Callable[[], int]
) -> CollectorRegistry:
    """A registry of its own holding the Tripwire collector (not the process-wide default one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TripwireCollector(uow=uow, timers=timers, policies=policies, commands_shed=commands_shed))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The Prometheus text exposition (format 0.0.4) of everything in `registry`."""
    return generate_latest(registry)
