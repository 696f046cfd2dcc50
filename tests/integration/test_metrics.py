"""/metrics: Prometheus text from the app's own registry, read from the database at scrape time."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from bot.app import metrics
from bot.app.asgi import Tripwire
from bot.common.clock import ManualClock
from bot.incidents.lifecycle import validate_draft
from localslack import LocalSlack
from tests.conftest import REPORTER, TEST_POLICY, open_bot


def samples(text: str) -> dict[str, list[Sample]]:
    """Every family in the exposition by name, with its samples; parsing fails on malformed text."""
    return {family.name: list(family.samples) for family in text_string_to_metric_families(text)}


def test_metrics_families_and_values(slack: LocalSlack, bot: Tripwire) -> None:
    draft, _ = validate_draft(title="Counted", category="cyber", severity="sev3")
    assert draft is not None
    bot.incidents.report(draft=draft, reporter=REPORTER)
    bot.timers.run_due()
    assert slack.request_url is not None
    response = httpx.get(slack.request_url.removesuffix("/slack/events") + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = samples(response.text)
    assert [(s.name, s.value) for s in found["tripwire_timer_passes"]] == [("tripwire_timer_passes_total", 1.0)]
    outbox = {s.labels["status"]: s.value for s in found["tripwire_outbox_messages"]}
    assert set(outbox) == {"pending", "sending", "sent", "failed"} and outbox["pending"] >= 1  # the card, the page
    assert {s.labels["status"]: s.value for s in found["tripwire_incidents"]} == {"triggered": 1.0}
    assert [(s.labels, s.value) for s in found["tripwire_policy_info"]] == [({"version": "it-1"}, 1.0)]


def test_each_app_has_its_own_registry(slack: LocalSlack, bot: Tripwire, database_url: str) -> None:
    with open_bot(database_url, slack_url=slack.api_url) as other:
        bot.timers.run_due()
        assert other.metrics is not bot.metrics
        assert "tripwire_timer_passes_total 1.0" in metrics.render(bot.metrics).decode()
        assert "tripwire_timer_passes_total 0.0" in metrics.render(other.metrics).decode()


def test_policy_version_label_is_escaped(
    slack: LocalSlack, database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    version = 'it-1 "quoted" back\\slash\nnew line'
    path = tmp_path / "policy.yaml"
    text = TEST_POLICY.read_text(encoding="utf-8")
    assert 'version: "it-1"' in text
    # YAML double quotes take the same escapes as the exposition format: \" \\ \n.
    path.write_text(text.replace('version: "it-1"', 'version: "it-1 \\"quoted\\" back\\\\slash\\nnew line"'))
    with open_bot(database_url, slack_url=slack.api_url, clock=clock, TRIPWIRE_POLICY=str(path)) as tripwire:
        assert tripwire.policies.current.version == version
        exposition = metrics.render(tripwire.metrics).decode()
    assert 'tripwire_policy_info{version="it-1 \\"quoted\\" back\\\\slash\\nnew line"} 1.0\n' in exposition
    [info] = samples(exposition)["tripwire_policy_info"]
    assert info.labels == {"version": version} and info.value == 1.0


def test_triage_backlog_counts_results_stored_but_not_yet_triaged(slack: LocalSlack, bot: Tripwire) -> None:
    from tests.integration.test_triage_worker import crossing, store

    def backlog() -> float:
        assert slack.request_url is not None
        found = samples(httpx.get(slack.request_url.removesuffix("/slack/events") + "/metrics").text)
        [sample] = found["tripwire_triage_backlog"]
        return sample.value

    assert backlog() == 0.0
    # The fast path stores and answers; this bot runs no background worker, so the results wait.
    assert store(bot, [crossing(key, f"backlog-{key}") for key in range(7)]) == 7
    assert backlog() == 7.0
    assert bot.triage.drain() == 7
    assert backlog() == 0.0
