"""`tripwire dev` as a person runs it: a subprocess on a free port, its page over HTTP, the demo, a clean stop."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, create_engine, select

from db.models import Incident, TimelineEntry, Timer
from tests.e2e.conftest import DevProcess, start_dev

pytestmark = pytest.mark.e2e

REPORTER, TRIAGER, LEAD = "U0REPORTER", "U0TRIAGER", "U0LEAD"
PEOPLE = {REPORTER, TRIAGER, LEAD}
DEMO_TIMEOUT = 60.0


def wait_for_state(
    url: str, found: Callable[[dict[str, Any]], Any], timeout: float = 30.0, *, user: str = TRIAGER
) -> Any:
    """Long-poll the page's state (as `user` sees it) until ``found`` returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    version = -1
    with httpx.Client(base_url=url, timeout=10, trust_env=False) as client:
        while time.monotonic() < deadline:
            state = client.get("/localslack/ui/state", params={"as": user, "since": version, "wait": 1.5}).json()
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


def wait_for_line(dev: DevProcess, prefix: str, timeout: float = DEMO_TIMEOUT) -> str:
    """Wait for `tripwire dev` to print a line starting with `prefix`, and return it."""
    line = dev.wait_for_line(lambda line: line if line.startswith(prefix) else None, timeout)
    assert line is not None, (
        f"no line {prefix!r} within {timeout} s (exit {dev.process.poll()}); stdout:\n{dev.stdout()}\n"
        f"stderr:\n{dev.stderr()}"
    )
    return line


def demo_refs(dev: DevProcess) -> dict[int, str]:
    """The incidents the demo's narrative names, by step: 1 report, 2 page, 3 restricted, 4 trend."""
    wait_for_line(dev, "demo: done")
    found = {int(m[1]): m[2] for m in re.finditer(r"^demo: (\d)\. .*?\b(INC-\d+)\b", dev.stdout(), re.MULTILINE)}
    assert set(found) == {1, 2, 3, 4}, dev.stdout()
    return found


def snapshot(dev: DevProcess) -> dict[str, Any]:
    """Everything in the workspace now."""
    answer = httpx.get(dev.url + "/localslack/snapshot", timeout=10, trust_env=False)
    assert answer.status_code == 200
    return dict(answer.json())


def channel(state: dict[str, Any], name: str) -> dict[str, Any]:
    """A channel of a snapshot by name."""
    return dict(next(c for c in state["channels"] if c["name"] == name))


def dm_with(state: dict[str, Any], user_id: str) -> dict[str, Any] | None:
    """The app's DM with a person, from a snapshot or from the page's state as that person sees it."""
    if state.get("me", {}).get("id") == user_id:
        return channel_by_id(state, state["app"]["dm"])
    return next((dict(c) for c in state["channels"] if c["is_im"] and c.get("user") == user_id), None)


def channel_by_id(state: dict[str, Any], channel_id: str) -> dict[str, Any] | None:
    """A conversation of a snapshot by id."""
    return next((dict(c) for c in state["channels"] if c["id"] == channel_id), None)


def card(conversation: dict[str, Any] | None, ref: str) -> dict[str, Any] | None:
    """The top-level message of a conversation about an incident (its card, or its page in a DM)."""
    for message in (conversation or {}).get("messages", []):
        if message["text"].startswith(ref + " ") or f"*{ref}*" in message["text"]:
            return dict(message)
    return None


def act(dev: DevProcess, action: str, **body: Any) -> dict[str, Any]:
    """Do what a person does on the page (`command`, `submit`, ...) and return the delivery's outcome."""
    answer = httpx.post(f"{dev.url}/localslack/ui/{action}", json=body, timeout=30, trust_env=False)
    assert answer.status_code == 200, answer.text
    outcome = dict(answer.json())
    assert outcome.get("error") is None, outcome
    return outcome


def file_report_on_the_page(dev: DevProcess, title: str) -> str:
    """rita types `/incident new`, fills the form and submits it; return the ref the confirmation names."""
    act(dev, "command", **{"as": REPORTER, "channel": "C0TRIAGE", "text": "/incident new"})
    form = wait_for_state(dev.url, lambda s: s["modal"], user=REPORTER)
    values = {
        "title": {"value": title},
        "description": {"value": "Seen in a red-team session."},
        "category": {"value": "misuse"},
        "severity": {"value": "sev3"},
        "model": {"value": "frontier-x"},
        "checkpoint": {"value": "ckpt-0412"},
    }
    act(dev, "submit", **{"as": REPORTER, "view_id": form["id"], "values": values})
    confirmation = wait_for_state(
        dev.url,
        lambda s: s["modal"] and "Incident filed" in json.dumps(s["modal"]["title"]) and s["modal"],
        user=REPORTER,
    )
    found = re.search(r"\*(INC-\d+)\*", json.dumps(confirmation["blocks"]))
    assert found is not None, confirmation
    act(dev, "close", **{"as": REPORTER, "view_id": form["id"]})
    return found[1]


def incidents_in(workdir: Path) -> tuple[dict[int, Incident], list[Timer], list[TimelineEntry]]:
    """The incidents, timers and timeline in the dev database, read the way an operator would."""
    engine = create_engine(f"sqlite:///{workdir}/dev.db")
    try:
        with Session(engine) as session:
            incidents = {i.id: i for i in session.exec(select(Incident)).all() if i.id is not None}
            timers = list(session.exec(select(Timer)).all())
            timeline = list(session.exec(select(TimelineEntry)).all())
            session.expunge_all()
            return incidents, timers, timeline
    finally:
        engine.dispose()


def number(ref: str) -> int:
    """INC-7 -> 7."""
    return int(ref.split("-")[1])


def test_demo_scenario_pages_restricts_flags_a_trend_and_drafts_a_digest(tmp_path: Path) -> None:
    dev = start_dev(tmp_path, "--demo")
    try:
        refs = demo_refs(dev)
        assert "ack windows shortened to 2 minutes for the demo" in dev.stdout()

        def scenario(state: dict[str, Any]) -> dict[str, Any] | None:
            triage, oncall = channel(state, "safety-triage"), channel(state, "safety-oncall")
            report, page = card(triage, refs[1]), card(dm_with(state, TRIAGER), refs[2])
            ready = (
                report is not None
                and "acknowledged" in report["text"]
                and card(oncall, refs[2]) is not None
                and page is not None
                and card(channel(state, "safety-restricted"), refs[3]) is not None
                and card(triage, refs[4]) is not None
                and channel(state, "safety-digest-review")["messages"]
            )
            return state if ready else None

        wait_for_state(dev.url, scenario)
        state = snapshot(dev)
        triage = channel(state, "safety-triage")
        page = card(dm_with(state, TRIAGER), refs[2])
        assert page is not None and "You are paged" in page["text"]
        # The restricted incident's details stay in its private channel; the triage channel gets a redacted card.
        restricted = card(channel(state, "safety-restricted"), refs[3])
        assert restricted is not None and "bio.uplift-qa" in restricted["text"]
        redacted = card(triage, refs[3])
        assert redacted is not None and "bio" not in redacted["text"] and "restricted" in redacted["text"]
        trend = card(triage, refs[4])
        assert trend is not None and "Trend" in trend["text"]
        assert "digest" in channel(state, "safety-digest-review")["messages"][0]["text"].lower()
        assert state["modals"] == {}, "the demo leaves no dialog open"

        incidents, timers, _ = incidents_in(tmp_path)
        paged = incidents[number(refs[2])]
        assert paged.status == "triggered" and paged.paged == [TRIAGER]
        # Nobody acknowledges: the next step is due one shortened ack window after the page, not 15 minutes.
        assert paged.ack_due_at is not None
        assert timedelta(minutes=2) <= paged.ack_due_at - paged.created_at < timedelta(minutes=2, seconds=30)
        pages = {
            (t.payload.get("round", 0), t.payload["step"]): t.due_at
            for t in timers
            if t.incident_id == paged.id and t.kind == "page"
        }
        assert pages[(0, 1)] - paged.created_at == timedelta(minutes=2)
        assert "Traceback" not in dev.stderr()
    finally:
        stopped_cleanly(dev)


def test_demo_on_a_reused_database_acknowledges_its_own_incident_not_inc_1(tmp_path: Path) -> None:
    first = start_dev(tmp_path)
    try:
        assert file_report_on_the_page(first, "Refusal rate dropped after the fine-tune") == "INC-1"
    finally:
        stopped_cleanly(first)
    second = start_dev(tmp_path, "--demo")
    try:
        refs = demo_refs(second)
        assert number(refs[1]) > 1
        incidents, _, timeline = incidents_in(tmp_path)
        assert incidents[number(refs[1])].status == "acknowledged"
        assert incidents[1].status == "triggered", "the demo left the earlier INC-1 alone"
        assert not [e for e in timeline if e.incident_id == 1 and e.actor in PEOPLE and e.action != "create"]
        assert "thread_not_found" not in second.stderr()
        assert "Traceback" not in second.stderr()
    finally:
        stopped_cleanly(second)


def test_restart_keeps_the_card_and_ack_on_it_edits_it_and_replies_in_its_thread(tmp_path: Path) -> None:
    first = start_dev(tmp_path)
    try:
        ref = file_report_on_the_page(first, "Model disabled its monitor in an agentic episode")
        filed = wait_for_state(first.url, lambda s: card(channel(s, "safety-triage"), ref))
    finally:
        stopped_cleanly(first)
    assert (tmp_path / "dev.workspace.json").is_file()

    second = start_dev(tmp_path)
    try:
        assert card(channel(snapshot(second), "safety-triage"), ref) == filed, "the card is back as it was"
        act(second, "command", **{"as": TRIAGER, "channel": "C0TRIAGE", "text": f"/incident ack {ref}"})

        def acknowledged(state: dict[str, Any]) -> dict[str, Any] | None:
            now = card(channel(state, "safety-triage"), ref)
            replies = channel(state, "safety-triage")["threads"].get(filed["ts"], [])
            done = (
                now is not None and "acknowledged" in now["text"] and any("acknowledged" in r["text"] for r in replies)
            )
            return now if done else None

        edited = wait_for_state(second.url, acknowledged)
        assert edited["ts"] == filed["ts"] and edited["edited"]
        state = snapshot(second)
        assert not [c for c in state["calls"] if not c["ok"]], "every Web API call on the old card succeeded"
        assert "thread_not_found" not in second.stderr() and "Traceback" not in second.stderr()
    finally:
        stopped_cleanly(second)


def test_unreadable_workspace_file_prints_a_warning_and_serves_an_empty_workspace(tmp_path: Path) -> None:
    saved = tmp_path / "dev.workspace.json"
    saved.write_text("{ this is not json", encoding="utf-8")
    dev = start_dev(tmp_path)
    try:
        warnings = [line for line in dev.stderr().splitlines() if "could not read the saved workspace" in line]
        assert len(warnings) == 1 and str(saved) in warnings[0], dev.stderr()
        state = snapshot(dev)
        assert all(not c["messages"] for c in state["channels"])
        assert {"safety-triage", "general", "safety-restricted"} <= {c["name"] for c in state["channels"]}
        assert (tmp_path / "dev.workspace.json.unreadable").read_text(encoding="utf-8") == "{ this is not json"
    finally:
        stopped_cleanly(dev)
