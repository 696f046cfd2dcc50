"""`tripwire dev` as a person runs it: a subprocess on a free port, its page over HTTP, the demo, a clean stop."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import DevProcess, start_dev

pytestmark = pytest.mark.e2e

TRIAGER = "U0TRIAGER"


def wait_for_state(url: str, found: Callable[[dict[str, Any]], Any], timeout: float = 30.0) -> Any:
    """Long-poll the page's state until ``found`` returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    version = -1
    with httpx.Client(base_url=url, timeout=10, trust_env=False) as client:
        while time.monotonic() < deadline:
            state = client.get("/localslack/ui/state", params={"as": TRIAGER, "since": version, "wait": 1.5}).json()
            if state.get("unchanged"):
                continue
            version = state["version"]
            result = found(state)
            if result:
                return result
    raise AssertionError(f"the workspace did not reach the expected state within {timeout} s")


def stopped_cleanly(dev: DevProcess) -> None:
    """Stop with SIGTERM and check the exit was clean."""
    code = dev.stop()
    assert code == 0, dev.stderr()
    assert "Traceback" not in dev.stderr()
    assert dev.stdout().rstrip().endswith("tripwire dev: stopped")


def test_dev_on_port_0_prints_its_real_url_serves_the_page_and_stops_on_sigterm(tmp_path: Path) -> None:
    dev = start_dev(tmp_path)
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:[1-9]\d*", dev.url), dev.url
        page = httpx.get(dev.url + "/", timeout=10, trust_env=False)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<script src="/localslack/static/app.js" defer></script>' in page.text
        assert 'data-testid="user-switcher"' in page.text
        script = httpx.get(dev.url + "/localslack/static/app.js", timeout=10, trust_env=False)
        assert script.status_code == 200 and "/localslack/ui/" in script.text

        state = httpx.get(dev.url + "/localslack/ui/state", params={"as": TRIAGER}, timeout=10, trust_env=False).json()
        assert state["bot_connected"] is True
        assert [u["name"] for u in state["users"] if not u["is_bot"]][:3] == ["rita", "tom", "lee"]
        assert {"safety-triage", "general", "safety-restricted"} <= {c["name"] for c in state["channels"]}
        assert [s["callback_id"] for s in state["features"]["message_shortcuts"]] == ["report_safety_incident"]
        assert [c["command"] for c in state["features"]["slash_commands"]] == ["/incident"]
        bot_url = re.search(r"bot listening on (http://\S+)/slack/events", dev.stdout())
        assert bot_url is not None
        assert httpx.get(bot_url[1] + "/healthz", timeout=10, trust_env=False).json()["ok"] is True
    finally:
        stopped_cleanly(dev)


def test_demo_files_an_incident_the_snapshot_shows_in_triage(tmp_path: Path) -> None:
    dev = start_dev(tmp_path, "--demo")
    try:

        def acknowledged_card(state: dict[str, Any]) -> dict[str, Any] | None:
            triage = next(c for c in state["channels"] if c["id"] == "C0TRIAGE")
            for message in triage["messages"]:
                blocks = json.dumps(message["blocks"])
                if "INC-1" in blocks and "acknowledged" in blocks:
                    return dict(message)
            return None

        card = wait_for_state(dev.url, acknowledged_card)
        assert card["user"] == "UBOT"
        snapshot = httpx.get(dev.url + "/localslack/snapshot", timeout=10, trust_env=False).json()
        triage = next(c for c in snapshot["channels"] if c["id"] == "C0TRIAGE")
        assert card["ts"] in {m["ts"] for m in triage["messages"]}
        assert snapshot["modals"] == {}, "the demo leaves no dialog open"
    finally:
        stopped_cleanly(dev)
