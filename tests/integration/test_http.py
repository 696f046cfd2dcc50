"""The HTTP surface: Slack signatures, body limits, health and readiness."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import httpx
import pytest
from sqlmodel import Session, select

from bot.app.asgi import Tripwire
from db.migrate import head_revision
from db.models import Incident
from localslack import LocalSlack, sign_request
from tests.conftest import SIGNING_SECRET, TRIAGER


def command_body(text: str) -> bytes:
    fields = {
        "command": "/incident",
        "text": text,
        "user_id": TRIAGER,
        "channel_id": "C0TRIAGE",
        "team_id": "T0LOCAL",
        "trigger_id": "1.2.3",
        "response_url": "http://127.0.0.1:9/never",
    }
    return urlencode(fields).encode()


def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    headers = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    return httpx.post(url, content=body, headers=headers, timeout=10)


@pytest.mark.parametrize(
    ("age_seconds", "status"),
    [
        pytest.param(0, 200, id="fresh"),
        pytest.param(4 * 60, 200, id="four-minutes-old"),
        pytest.param(6 * 60, 401, id="stale-six-minutes"),
    ],
)
def test_slack_signature_window(slack: LocalSlack, bot: Tripwire, age_seconds: int, status: int) -> None:
    response = slack.slash_command(TRIAGER, "help", timestamp=int(time.time()) - age_seconds)
    assert response.status_code == status
    shown = [e.text for e in slack.ephemerals(TRIAGER)]
    assert (any("/incident list" in text for text in shown)) is (status == 200)


@pytest.mark.parametrize(
    ("secret", "tamper"),
    [
        pytest.param("wrong-secret", False, id="wrong-secret"),
        pytest.param(SIGNING_SECRET, True, id="body-tampered-after-signing"),
    ],
)
def test_bad_signature_is_refused(slack: LocalSlack, bot: Tripwire, secret: str, tamper: bool) -> None:
    body = command_body("help")
    headers = sign_request(secret, body, int(time.time()))
    if tamper:
        body = command_body("list all")
    assert slack.request_url is not None
    response = post(slack.request_url, body, headers)
    assert response.status_code == 401
    assert slack.calls == []


def test_unsigned_request_changes_nothing(slack: LocalSlack, bot: Tripwire) -> None:
    assert slack.request_url is not None
    response = post(slack.request_url, command_body("ack INC-1"), {})
    assert response.status_code == 401
    with Session(bot.engine) as session:
        assert session.exec(select(Incident)).all() == []


def test_oversized_body_is_refused_with_413(slack: LocalSlack, bot: Tripwire) -> None:
    body = b"payload=" + b"x" * (bot.settings.max_body_bytes + 1)
    assert slack.request_url is not None
    response = post(slack.request_url, body, sign_request(SIGNING_SECRET, body, int(time.time())))
    assert response.status_code == 413
    assert response.json() == {"error": f"body is over {bot.settings.max_body_bytes} bytes", "field": "body"}


def test_health_and_readiness(slack: LocalSlack, bot: Tripwire) -> None:
    assert slack.request_url is not None
    base = slack.request_url.removesuffix("/slack/events")
    assert httpx.get(base + "/healthz").json() == {"ok": True}
    ready = httpx.get(base + "/readyz")
    assert ready.status_code == 200
    assert ready.json()["schema"] == ready.json()["expected"] == head_revision()
    with bot.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = 'old'")
    not_ready = httpx.get(base + "/readyz")
    assert not_ready.status_code == 503 and not_ready.json()["schema"] == "old"


def test_metrics_are_prometheus_text(slack: LocalSlack, bot: Tripwire) -> None:
    assert slack.request_url is not None
    base = slack.request_url.removesuffix("/slack/events")
    bot.timers.run_due()
    body = httpx.get(base + "/metrics").text
    # prometheus-client writes every value as a float.
    assert "tripwire_timer_passes_total 1.0\n" in body
    assert 'tripwire_outbox_messages{status="pending"} 0.0\n' in body
    assert 'tripwire_policy_info{version="it-1"} 1.0\n' in body
