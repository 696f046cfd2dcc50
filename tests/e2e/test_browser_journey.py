"""A person in headless Chromium files an incident, and the triager works it, through `tripwire dev`'s page."""

from __future__ import annotations

import os
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.e2e.conftest import OUTPUT, DevProcess, browser_unavailable_reason, require_browser

require_browser(browser_unavailable_reason(), ci=os.environ.get("CI") == "true", module=True)

from playwright.sync_api import Locator, Page, expect  # noqa: E402  (only once the browser is known to exist)

pytestmark = pytest.mark.e2e

REPORTER, TRIAGER = "U0REPORTER", "U0TRIAGER"
TIME_ZONES = {REPORTER: "Europe/London", TRIAGER: "America/Los_Angeles"}
CARD_TIMEOUT = 15_000  # the outbox paces posts to about one a second per channel


def open_as(page: Page, dev: DevProcess, user: str) -> None:
    """Open the workspace as a person, in #safety-triage, and wait until it is live."""
    page.goto(f"{dev.url}/?as={user}&channel=C0TRIAGE")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(page.get_by_test_id("user-switcher")).to_have_value(user)
    expect(page.get_by_test_id("channel-C0TRIAGE")).to_have_class(re.compile(r"\bactive\b"))


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
