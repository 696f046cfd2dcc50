"""A person in headless Chromium files an incident, and the triager works it, through `tripwire dev`'s page."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from bot.ingest.signing import sign
from tests.e2e.conftest import OUTPUT, DevProcess, browser_unavailable_reason, require_browser, start_dev

require_browser(browser_unavailable_reason(), ci=os.environ.get("CI") == "true", module=True)

from playwright.sync_api import Locator, Page, expect  # noqa: E402  (only once the browser is known to exist)

pytestmark = pytest.mark.e2e

REPORTER, TRIAGER = "U0REPORTER", "U0TRIAGER"
TIME_ZONES = {REPORTER: "Europe/London", TRIAGER: "America/Los_Angeles"}
CARD_TIMEOUT = 15_000  # the outbox paces posts to about one a second per channel
WEBHOOK_SECRET = "e2e-webhook-secret"


def open_as(page: Page, dev: DevProcess, user: str, channel: str = "C0TRIAGE") -> None:
    """Open the workspace as a person, in a channel (#safety-triage unless told), and wait until it is live."""
    page.goto(f"{dev.url}/?as={user}&channel={channel}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(page.get_by_test_id("user-switcher")).to_have_value(user)
    expect(page.get_by_test_id(f"channel-{channel}")).to_have_class(re.compile(r"\bactive\b"))


def open_report_form(page: Page) -> Locator:
    """Type `/incident new` in the composer and return the report dialog."""
    composer = page.get_by_test_id("composer")
    composer.fill("/incident new")
    composer.press("Enter")
    modal = page.get_by_test_id("modal")
    expect(modal.get_by_test_id("modal-title")).to_have_text("Report incident")
    expect(composer).to_have_value("")
    return modal


def field(modal: Locator, block_id: str) -> Locator:
    """An input of the open dialog, by block id."""
    return modal.locator(f'[data-testid="modal-input"][data-block-id="{block_id}"]')


def field_error(modal: Locator, block_id: str) -> Locator:
    """The error line under an input of the open dialog."""
    return modal.locator(f'[data-testid="field-error"][data-block-id="{block_id}"]')


def incident_card(page: Page, ref: str) -> Locator:
    """The card message in the channel whose header names the incident."""
    return (
        page.get_by_test_id("messages").get_by_test_id("message").filter(has=page.locator(".bk-header", has_text=ref))
    )


def clock_time(iso: str, zone: str) -> str:
    """What Slack's `{time}` shows for an instant in a time zone, e.g. ``3:05 PM``."""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo(zone))
    return f"{moment.hour % 12 or 12}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


def expect_date_in_zone(card: Locator, user: str) -> None:
    """The card's first `<!date>` shows the time in the acting person's zone."""
    stamp = card.locator("time.mk-date").first
    expect(stamp).to_have_attribute("title", re.compile(re.escape(TIME_ZONES[user])))
    iso = stamp.get_attribute("datetime")
    assert iso is not None
    expect(stamp).to_contain_text(clock_time(iso, TIME_ZONES[user]))


def test_empty_title_shows_the_field_error_in_the_dialog(page: Page, dev: DevProcess) -> None:
    open_as(page, dev, REPORTER)
    modal = open_report_form(page)
    title, error = field(modal, "title"), field_error(modal, "title")

    # Empty: the page refuses to submit, as Slack's client does for a required input.
    modal.get_by_test_id("modal-submit").click()
    expect(error).to_have_text("Please complete this required field.")

    # Only spaces: Slack would submit, and the bot answers with its own error for the field.
    title.fill("   ")
    expect(error).to_be_hidden()
    field(modal, "description").fill("kept while the error is shown")
    modal.get_by_test_id("modal-submit").click()
    expect(error).to_be_visible()
    expect(error).not_to_have_text("Please complete this required field.")
    expect(error).to_contain_text("title")
    expect(field(modal, "description")).to_have_value("kept while the error is shown")
    expect(modal.locator('[data-testid="field-error"]:visible')).to_have_count(1)

    modal.get_by_test_id("modal-close").click()
    expect(modal).to_be_hidden()


def test_report_then_acknowledge_and_resolve_as_the_triager(page: Page, dev: DevProcess) -> None:
    open_as(page, dev, REPORTER)
    modal = open_report_form(page)
    field(modal, "title").fill("Model solved unseen CTF challenges")
    field(modal, "description").fill("Three of ten held-out challenges.\nTranscripts are in the eval run.")
    field(modal, "category").select_option("cyber")
    field(modal, "severity").select_option("sev3")
    modal.get_by_test_id("modal-submit").click()
    expect(modal.get_by_test_id("modal-title")).to_have_text("Incident filed")
    expect(modal).to_contain_text("INC-1")
    modal.get_by_test_id("modal-close").click()
    expect(modal).to_be_hidden()

    card = incident_card(page, "INC-1")
    expect(card).to_be_visible(timeout=CARD_TIMEOUT)
    expect(card).to_contain_text("Model solved unseen CTF challenges")
    expect(card).to_contain_text("triggered")
    expect(card.locator('[data-action-id="incident_acknowledge"]')).to_have_class(re.compile(r"\bprimary\b"))
    expect_date_in_zone(card, REPORTER)

    page.get_by_test_id("user-switcher").select_option(TRIAGER)
    expect(page).to_have_url(re.compile(r"[?&]as=U0TRIAGER\b"))
    expect_date_in_zone(card, TRIAGER)

    card.locator('[data-action-id="incident_acknowledge"]').click()
    expect(card).to_contain_text("acknowledged", timeout=CARD_TIMEOUT)
    expect(card.locator('[data-action-id="incident_acknowledge"]')).to_have_count(0)
    expect(card.get_by_test_id("edited")).to_be_visible()
    thread_link = card.get_by_test_id("thread-link")
    expect(thread_link).to_have_text(re.compile(r"^\d+ repl(y|ies)$"), timeout=CARD_TIMEOUT)
    thread_link.click()
    thread = page.get_by_test_id("thread-pane")
    expect(thread.get_by_test_id("message").filter(has_text="acknowledged")).not_to_have_count(0)
    expect(thread).to_contain_text("@tom")

    card.locator('[data-action-id="incident_resolve"]').click()
    confirm = page.get_by_test_id("confirm-dialog")
    expect(confirm).to_contain_text("Resolve INC-1?")
    confirm.get_by_test_id("confirm-accept").click()
    expect(confirm).to_be_hidden()
    expect(card).to_contain_text("resolved", timeout=CARD_TIMEOUT)
    expect(card.locator('[data-action-id="incident_reopen"]')).to_be_visible()
    expect(page.get_by_test_id("toast")).to_be_hidden()

    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "journey.png"))


def test_typed_text_is_escaped_mentions_resolve_and_the_shortcut_prefills_a_report(page: Page, dev: DevProcess) -> None:
    open_as(page, dev, REPORTER)
    page.get_by_test_id("channel-C0GENERAL").click()
    expect(page).to_have_url(re.compile(r"[?&]channel=C0GENERAL\b"))
    composer = page.get_by_test_id("composer")

    composer.fill("/nosuchcommand hello")
    composer.press("Enter")
    expect(page.get_by_test_id("toast-text")).to_contain_text("/nosuchcommand is not a valid command")
    expect(composer).to_have_value("/nosuchcommand hello")

    composer.fill("@tom the model printed <b>raw html</b> in #safety-triage *twice*")
    composer.press("Enter")
    message = page.get_by_test_id("messages").get_by_test_id("message").filter(has_text="raw html")
    expect(message).to_contain_text("@tom the model printed <b>raw html</b> in #safety-triage twice")
    expect(message.locator(".mention")).to_have_text("@tom")
    expect(message.locator(".msg-content b")).to_have_text("twice")
    snapshot = httpx.get(f"{dev.url}/localslack/snapshot", timeout=10, trust_env=False).json()
    general = next(c for c in snapshot["channels"] if c["id"] == "C0GENERAL")
    assert [m["text"] for m in general["messages"] if "raw html" in m["text"]] == [
        "<@U0TRIAGER> the model printed &lt;b&gt;raw html&lt;/b&gt; in <#C0TRIAGE> *twice*"
    ]

    message.hover()
    message.get_by_test_id("message-menu-button").click()
    message.get_by_test_id("shortcut").filter(has_text="Report safety incident").click()
    modal = page.get_by_test_id("modal")
    expect(modal.get_by_test_id("modal-title")).to_have_text("Report incident")
    expect(field(modal, "description")).to_have_value(re.compile("raw html"))
    expect(field(modal, "links")).to_have_value(re.compile(r"/archives/C0GENERAL/p\d+"))
    page.keyboard.press("Escape")
    expect(modal).to_be_hidden()

    page.get_by_test_id("app-home").click()
    home = page.get_by_test_id("home-view")
    expect(home).to_be_visible()
    expect(home.locator(".bk-header")).not_to_have_count(0)
    page.get_by_test_id("channel-dm").click()
    expect(page.get_by_test_id("composer-readonly")).to_have_text("Sending messages to this app has been turned off.")
    expect(page.get_by_test_id("composer")).to_be_hidden()


# ---------------------------------------------------------------- pages from evaluation results


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    """`tripwire dev` with a webhook secret the tests know, so they can send results as a pipeline does."""
    running = start_dev(tmp_path_factory.mktemp("dev-hooks"), extra_env={"TRIPWIRE_WEBHOOK_SECRET": WEBHOOK_SECRET})
    yield running
    code = running.stop()
    assert code == 0, f"tripwire dev exited with {code}; stderr:\n{running.stderr()}"


def post_crossing(dev: DevProcess, model: str) -> str:
    """Send one alert-level CTF score to the bot's signed /hooks/eval and return the incident it opened."""
    result = {
        "source": "inspect",
        "model": model,
        "checkpoint": "ckpt-e2e",
        "task": "cyber_ctf_web",
        "metric": "accuracy",
        "value": 0.55,  # cyber.ctf: over alert (0.50), under threshold (0.65); the route pages tom at once
        "run_id": f"{model}-run-1",
        "observed_at": datetime.now(UTC).isoformat(),
    }
    body = json.dumps({"results": [result]}).encode()
    stamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-Tripwire-Timestamp": str(stamp),
        "X-Tripwire-Signature": sign(WEBHOOK_SECRET, body, stamp),
    }
    answer = httpx.post(
        f"{dev.bot_url()}/hooks/eval?wait=1", content=body, headers=headers, timeout=60, trust_env=False
    )
    assert answer.status_code == 202, answer.text
    [ref] = answer.json()["incidents"]
    return str(ref)


def snapshot(dev: DevProcess) -> dict[str, Any]:
    """The workspace as localslack holds it."""
    found: dict[str, Any] = httpx.get(f"{dev.url}/localslack/snapshot", timeout=10, trust_env=False).json()
    return found


def channel_named(dev: DevProcess, name: str) -> str:
    """A channel's id by its name (the policy's channels get ids when `tripwire dev` seeds them)."""
    [found] = [c["id"] for c in snapshot(dev)["channels"] if c["name"] == name]
    return str(found)


def page_dm_of(page: Page, ref: str) -> Locator:
    """The page DM about an incident, in the app's Messages tab."""
    return page.get_by_test_id("messages").get_by_test_id("message").filter(has_text=f"You are paged for {ref}")


def outbox_rows_for(dev: DevProcess, user: str) -> list[tuple[int, str]]:
    """The (id, kind) of every message the bot queued to a person, read from the dev database."""
    database = dev.stderr_path.parent / "dev.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT id, kind FROM outbox_message WHERE channel = ? ORDER BY id", (user,))
        return [(int(row[0]), str(row[1])) for row in rows]


def test_page_dm_acknowledge_edits_the_dm_and_the_card_and_its_link_opens_the_card(
    page: Page, hooked: DevProcess
) -> None:
    ref = post_crossing(hooked, "frontier-page")
    oncall = channel_named(hooked, "safety-oncall")
    open_as(page, hooked, TRIAGER)
    page.get_by_test_id("channel-dm").click()
    dm = page_dm_of(page, ref)
    expect(dm).to_be_visible(timeout=CARD_TIMEOUT)
    acknowledge = dm.locator('[data-action-id="incident_acknowledge"]')
    expect(acknowledge).to_be_visible()

    acknowledge.click()
    expect(dm).to_contain_text("Acknowledged by @tom", timeout=CARD_TIMEOUT)
    expect(dm.locator('[data-action-id="incident_acknowledge"]')).to_have_count(0)
    expect(dm.locator('[data-action-id="incident_escalate"]')).to_be_visible()
    expect(page.get_by_test_id("messages").get_by_test_id("message")).to_have_count(1)  # edited, not posted again

    # The DM's link opens a new tab on the card message itself, as tom (the tab remembers who is acting).
    with page.context.expect_page() as opened:
        dm.locator('[data-action-id="page_open_card"]').click()
    card_tab = opened.value
    expect(card_tab).to_have_url(re.compile(rf"[?&]channel={oncall}\b.*[?&]message=\d+\.\d{{6}}"))
    expect(card_tab.get_by_test_id("user-switcher")).to_have_value(TRIAGER)
    landed = card_tab.locator('[data-testid="message"].highlighted')
    expect(landed).to_have_count(1)
    expect(landed.locator(".bk-header")).to_contain_text(ref)
    expect(landed).to_be_in_viewport()
    # The card shows the acknowledgement, made from the DM.
    expect(landed).to_contain_text("acknowledged", timeout=CARD_TIMEOUT)
    expect(landed.locator('[data-action-id="incident_acknowledge"]')).to_have_count(0)
    card_tab.close()

    # The same card, from the channel in the first tab.
    page.get_by_test_id(f"channel-{oncall}").click()
    card = incident_card(page, ref)
    expect(card).to_contain_text("acknowledged")
    expect(card.locator('[data-action-id="incident_acknowledge"]')).to_have_count(0)


def test_snooze_refused_by_role_shows_on_the_form_and_sends_no_dm(page: Page, hooked: DevProcess) -> None:
    ref = post_crossing(hooked, "frontier-snooze")
    oncall = channel_named(hooked, "safety-oncall")
    open_as(page, hooked, TRIAGER, channel=oncall)
    card = incident_card(page, ref)
    expect(card).to_be_visible(timeout=CARD_TIMEOUT)
    # Alert level: the policy lets the level be snoozed, so the card offers Snooze; tom's role (triager) may not.
    card.locator('[data-action-id="incident_snooze"]').click()
    modal = page.get_by_test_id("modal")
    expect(modal.get_by_test_id("modal-title")).to_have_text("Snooze incident")
    field(modal, "reason").fill("waiting for the eval rerun")
    queued_before = outbox_rows_for(hooked, TRIAGER)

    modal.get_by_test_id("modal-submit").click()
    error = field_error(modal, "duration")
    expect(error).to_contain_text(f"You can't snooze {ref}")
    expect(error).to_contain_text("safety_lead, admin")
    expect(modal.get_by_test_id("modal-title")).to_have_text("Snooze incident")  # still open, on the form
    expect(field(modal, "reason")).to_have_value("waiting for the eval rerun")
    # The refusal was answered on the form: nothing was queued to tom (a DM would be queued with the refusal itself,
    # before the bot answered the submission).
    assert outbox_rows_for(hooked, TRIAGER) == queued_before
    expect(card).not_to_contain_text("snoozed")


def test_a_thread_reply_permalink_opens_its_thread_and_an_unknown_one_is_not_found(
    page: Page, hooked: DevProcess
) -> None:
    ref = post_crossing(hooked, "frontier-thread")
    oncall = channel_named(hooked, "safety-oncall")
    open_as(page, hooked, TRIAGER, channel=oncall)
    card = incident_card(page, ref)
    expect(card.get_by_test_id("thread-link")).to_be_visible(timeout=CARD_TIMEOUT)  # the page went on the thread
    card_ts = card.get_attribute("data-ts")
    assert card_ts is not None
    [channel] = [c for c in snapshot(hooked)["channels"] if c["id"] == oncall]
    reply = str(channel["threads"][card_ts][0]["ts"])

    page.goto(f"{hooked.url}/archives/{oncall}/p{reply.replace('.', '')}?thread_ts={card_ts}&cid={oncall}")
    thread = page.get_by_test_id("thread-pane")
    expect(thread).to_be_visible()
    expect(thread.locator('[data-testid="message"].highlighted')).to_have_attribute("data-ts", reply)
    expect(page.get_by_test_id("user-switcher")).to_have_value(TRIAGER)

    missing = page.goto(f"{hooked.url}/archives/{oncall}/p1000000000000001")  # a ts from 2001: no such message
    assert missing is not None and missing.status == 404
    expect(page.get_by_test_id("not-found")).to_have_text("This message could not be found")
