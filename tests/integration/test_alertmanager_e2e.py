"""A real Alertmanager (Debian's prometheus-alertmanager) delivers its webhook to Tripwire: firing, then resolved."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from bot.app.asgi import Tripwire
from db.models import Incident
from localslack import LocalSlack
from tests.support.environment import free_port, missing, wait_until

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
TOKEN = "alertmanager-e2e-token"


@pytest.fixture
def alertmanager(bot: Tripwire, slack: LocalSlack, tmp_path: Path) -> Iterator[str]:
    if BINARY is None:
        missing(
            "prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager; .ci/run does)",
            needed_by="the Alertmanager end-to-end test",
        )
    bot.settings.alertmanager_token = TOKEN
    assert slack.request_url is not None
    hook = slack.request_url.removesuffix("/slack/events") + "/hooks/alertmanager"
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "route:\n"
        "  receiver: tripwire\n"
        "  group_by: [alertname, model]\n"
        "  group_wait: 1s\n"
        "  group_interval: 1s\n"
        "  repeat_interval: 1h\n"
        "receivers:\n"
        "  - name: tripwire\n"
        "    webhook_configs:\n"
        f"      - url: {hook}\n"
        "        send_resolved: true\n"
        "        http_config:\n"
        "          authorization:\n"
        f"            credentials: {TOKEN}\n"
    )
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("w")
    process = subprocess.Popen(
        [
            BINARY,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(url + "/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, 30, "Alertmanager to be ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.mark.e2e
def test_real_alertmanager_opens_then_resolves_an_incident(alertmanager: str, bot: Tripwire) -> None:
    alert = {
        "labels": {"alertname": "SafetyEvalRegression", "model": "frontier-x", "severity": "page"},
        "annotations": {"summary": "refusal rate fell on the harmful set", "value": "1"},
        "startsAt": datetime.now(UTC).isoformat(),
        "generatorURL": "http://prometheus.example/graph",
    }
    assert httpx.post(alertmanager + "/api/v2/alerts", json=[alert], timeout=5).status_code == 200

    def incidents() -> list[Incident]:
        # Alertmanager posts without ?wait=1: the fast path stores the firing, the worker (run here) triages it.
        bot.triage.drain()
        with Session(bot.engine) as session:
            return list(session.exec(select(Incident)).all())

    wait_until(lambda: len(incidents()) == 1, 30, "Alertmanager to deliver the firing alert")
    [incident] = incidents()
    assert (incident.source, incident.level, incident.status) == ("alertmanager", "alert", "triggered")
    assert incident.alert_key and incident.links == ["http://prometheus.example/graph"]

    ended = {**alert, "endsAt": datetime.now(UTC).isoformat()}
    assert httpx.post(alertmanager + "/api/v2/alerts", json=[ended], timeout=5).status_code == 200
    wait_until(lambda: incidents()[0].status == "resolved", 30, "Alertmanager to deliver the resolution")
    assert len(incidents()) == 1
