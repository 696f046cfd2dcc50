"""How the page renders Block Kit, mrkdwn, dates, ephemerals and modals, against an in-process LocalSlack."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from slack_sdk import WebClient

from localslack import LocalSlack
from tests.e2e.conftest import browser_unavailable_reason, require_browser

require_browser(browser_unavailable_reason(), ci=os.environ.get("CI") == "true", module=True)

from playwright.sync_api import Locator, Page, expect  # noqa: E402  (only once the browser is known to exist)

pytestmark = pytest.mark.e2e

TOKEN = "xoxb-rendering"
RITA, TOM = "U0RITA", "U0TOM"
TRIAGE, SECRET = "C0TRIAGE", "C0SECRET"
STAMP = 1795476023  # 2026-11-23 23:20:23 UTC
UNREACHABLE_IMAGE = "http://127.0.0.1:9/chart.png"  # the discard port refuses at once: the page shows the alt text


def plain(text: str) -> dict[str, str]:
    """A plain_text object."""
    return {"type": "plain_text", "text": text}


def mrkdwn(text: str) -> dict[str, str]:
    """A mrkdwn text object."""
    return {"type": "mrkdwn", "text": text}


KITCHEN_SINK: list[dict[str, Any]] = [
    {"type": "header", "text": plain("Header :warning: <b>not markup</b>")},
    {
        "type": "section",
        "text": mrkdwn(
            "*Bold* _slanted_ ~gone~ `a_b*c` <https://example.com/a?b=1&amp;c=2|Example> <@U0TOM> <!here> "
            "<#C0TRIAGE> &lt;img src=x onerror=alert(1)&gt;\n> quoted\n```pre *kept*```"
        ),
        "accessory": {"type": "image", "image_url": UNREACHABLE_IMAGE, "alt_text": "a chart"},
    },
    {"type": "section", "fields": [mrkdwn("*Severity*\nsev2"), plain("Status: open")]},
    {"type": "divider"},
    {"type": "context", "elements": [mrkdwn(f"Opened <!date^{STAMP}^{{date_num}} {{time}}|fallback text>")]},
    {
        "type": "rich_text",
        "elements": [
            {
                "type": "rich_text_list",
                "style": "ordered",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [{"type": "text", "text": "first", "style": {"bold": True}}],
                    },
                    {"type": "rich_text_section", "elements": [{"type": "user", "user_id": RITA}]},
                ],
            },
            {"type": "rich_text_quote", "elements": [{"type": "text", "text": "a quote"}]},
            {"type": "rich_text_preformatted", "elements": [{"type": "text", "text": "x = <1>"}]},
        ],
    },
    {
        "type": "actions",
        "elements": [
            {"type": "button", "text": plain("Go"), "action_id": "go", "style": "primary", "value": "1"},
            {"type": "button", "text": plain("Stop"), "action_id": "stop", "style": "danger", "value": "2"},
            {
                "type": "static_select",
                "action_id": "pick",
                "placeholder": plain("Pick one"),
                "options": [{"text": plain("One"), "value": "1"}, {"text": plain("Two"), "value": "2"}],
            },
        ],
    },
    {"type": "image", "image_url": UNREACHABLE_IMAGE, "alt_text": "a diagram", "title": plain("The diagram")},
]

FORM: dict[str, Any] = {
    "type": "modal",
    "title": plain("Describe it"),
    "submit": plain("Send it"),
    "close": plain("Never mind"),
    "blocks": [
        {
            "type": "input",
            "block_id": "summary",
            "label": plain("Summary"),
            "element": {"type": "plain_text_input", "action_id": "value", "initial_value": "prefilled"},
        },
        {
            "type": "input",
            "block_id": "details",
            "optional": True,
            "label": plain("Details"),
            "hint": plain("Anything that helps."),
            "element": {"type": "plain_text_input", "action_id": "value", "multiline": True},
        },
        {
            "type": "input",
            "block_id": "level",
            "label": plain("Level"),
            "element": {
                "type": "static_select",
                "action_id": "value",
                "options": [{"text": plain("Low"), "value": "low"}, {"text": plain("High"), "value": "high"}],
                "initial_option": {"text": plain("High"), "value": "high"},
            },
        },
    ],
}


@pytest.fixture(scope="module")
def workspace() -> Iterator[LocalSlack]:
    """A LocalSlack with two people in different zones, a public and a private channel, and no bot."""
    slack = LocalSlack(bot_token=TOKEN)
    slack.add_user(RITA, name="rita", tz="Europe/London")
    slack.add_user(TOM, name="tom", tz="America/Los_Angeles")
    slack.add_channel(TRIAGE, name="safety-triage")
    slack.add_channel(SECRET, name="secret-room", is_private=True, members=[TOM])
    with slack:
        yield slack


@pytest.fixture
def web(workspace: LocalSlack) -> WebClient:
    """The bot's side: a WebClient on the workspace, after clearing earlier messages."""
    workspace.reset()
    return WebClient(token=TOKEN, base_url=workspace.api_url)


def open_as(page: Page, workspace: LocalSlack, user: str) -> None:
    """Open the page as a person in #safety-triage and wait until it is live."""
    page.goto(f"{workspace.url}/?as={user}&channel={TRIAGE}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")


def clock_time(zone: str) -> str:
    """STAMP as Slack's `{date_num} {time}` in a zone."""
    moment = datetime.fromtimestamp(STAMP, UTC).astimezone(ZoneInfo(zone))
    return f"{moment:%Y-%m-%d} {moment.hour % 12 or 12}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


def the_message(page: Page, text: str) -> Locator:
    """The one message in the channel that contains this text."""
    return page.get_by_test_id("messages").get_by_test_id("message").filter(has_text=text)


def test_blocks_and_mrkdwn_render_safely(page: Page, workspace: LocalSlack, web: WebClient) -> None:
    ts = web.chat_postMessage(channel=TRIAGE, text="kitchen sink", blocks=KITCHEN_SINK)["ts"]
    open_as(page, workspace, RITA)
    message = the_message(page, "Header")
    expect(message).to_have_attribute("data-ts", ts)

    expect(message.locator(".bk-header")).to_have_text("Header ⚠️ <b>not markup</b>")
    text = message.locator(".bk-section .bk-text").first
    expect(text.locator("b")).to_have_text("Bold")
    expect(text.locator("i")).to_have_text("slanted")
    expect(text.locator("s")).to_have_text("gone")
    expect(text.locator("code")).to_have_text("a_b*c")
    expect(text.locator("a[href='https://example.com/a?b=1&c=2']")).to_have_text("Example")
    expect(text.locator(".mention", has_text="@tom")).to_have_count(1)
    expect(text.locator(".broadcast")).to_have_text("@here")
    expect(text.locator("[data-channel-link='C0TRIAGE']")).to_have_text("#safety-triage")
    expect(text).to_contain_text("<img src=x onerror=alert(1)>")
    expect(message.locator("img[src='x']")).to_have_count(0)
    expect(text.locator("blockquote")).to_have_text("quoted")
    expect(text.locator("pre")).to_have_text("pre *kept*")

    expect(message.locator(".bk-accessory")).to_contain_text("a chart")
    expect(message.locator(".bk-field")).to_have_text(["Severity\nsev2", "Status: open"], use_inner_text=True)
    expect(message.locator("hr.bk-divider")).to_have_count(1)
    expect(message.locator(".bk-context")).to_have_text(f"Opened {clock_time('Europe/London')}")
    expect(message.locator(".bk-rich ol li")).to_have_count(2)
    expect(message.locator(".bk-rich ol li b")).to_have_text("first")
    expect(message.locator(".bk-rich ol li").nth(1)).to_have_text("@rita")
    expect(message.locator(".bk-rich blockquote")).to_have_text("a quote")
    expect(message.locator(".bk-rich pre")).to_have_text("x = <1>")
    expect(message.locator('[data-action-id="go"]')).to_have_class(re.compile(r"\bprimary\b"))
    expect(message.locator('[data-action-id="stop"]')).to_have_class(re.compile(r"\bdanger\b"))
    expect(message.locator('select[data-action-id="pick"]')).to_be_disabled()
    expect(message.locator(".bk-image figcaption")).to_have_text("The diagram")
    expect(message.locator(".bk-image")).to_contain_text("a diagram")

    page.get_by_test_id("user-switcher").select_option(TOM)
    expect(message.locator(".bk-context")).to_have_text(f"Opened {clock_time('America/Los_Angeles')}")
    expect(message.locator(".mention-me")).to_have_text("@tom")


def test_edits_ephemerals_and_private_channels_follow_the_acting_person(
    page: Page, workspace: LocalSlack, web: WebClient
) -> None:
    ts = web.chat_postMessage(channel=TRIAGE, text="first draft")["ts"]
    web.chat_postEphemeral(channel=TRIAGE, user=RITA, text="only rita sees this")
    open_as(page, workspace, RITA)
    message = the_message(page, "first draft")
    expect(message.get_by_test_id("edited")).to_have_count(0)
    web.chat_update(channel=TRIAGE, ts=ts, text="second draft")
    expect(the_message(page, "second draft").get_by_test_id("edited")).to_have_text("(edited)")
    ephemeral = page.get_by_test_id("ephemeral")
    expect(ephemeral).to_contain_text("only rita sees this")
    expect(ephemeral).to_contain_text("Only visible to you")
    expect(page.get_by_test_id(f"channel-{SECRET}")).to_have_count(0)

    composer = page.get_by_test_id("composer")
    composer.fill("a draft rita has not sent")
    page.get_by_test_id("user-switcher").select_option(TOM)
    expect(page.get_by_test_id(f"channel-{SECRET}")).to_be_visible()
    expect(page.get_by_test_id("ephemeral")).to_have_count(0)
    page.get_by_test_id("user-switcher").select_option(RITA)
    expect(composer).to_have_value("a draft rita has not sent")


def test_modal_inputs_render_and_keep_typed_text_across_updates(
    page: Page, workspace: LocalSlack, web: WebClient
) -> None:
    view = workspace.workspace.open_modal(RITA, FORM)
    open_as(page, workspace, RITA)
    modal = page.get_by_test_id("modal")
    expect(modal.get_by_test_id("modal-title")).to_have_text("Describe it")
    expect(modal.get_by_test_id("modal-submit")).to_have_text("Send it")
    expect(modal.get_by_test_id("modal-close")).to_have_text("Never mind")
    summary = modal.locator('[data-testid="modal-input"][data-block-id="summary"]')
    details = modal.locator('[data-testid="modal-input"][data-block-id="details"]')
    expect(summary).to_have_value("prefilled")
    expect(details).to_have_js_property("tagName", "TEXTAREA")
    expect(modal.locator('[data-testid="modal-input"][data-block-id="level"]')).to_have_value("high")
    block = modal.locator('[data-testid="input-block"][data-block-id="details"]')
    expect(block).to_contain_text("(optional)")
    expect(block).to_contain_text("Anything that helps.")

    details.fill("typed before the workspace changed")
    web.chat_postMessage(channel=TRIAGE, text="meanwhile, elsewhere")
    expect(the_message(page, "meanwhile, elsewhere")).to_be_visible()
    expect(details).to_have_value("typed before the workspace changed")

    summary.fill("")
    modal.get_by_test_id("modal-submit").click()
    expect(modal.locator('[data-testid="field-error"][data-block-id="summary"]')).to_have_text(
        "Please complete this required field."
    )
    expect(modal.locator('[data-testid="field-error"][data-block-id="details"]')).to_be_hidden()

    modal.get_by_test_id("modal-close").click()
    expect(modal).to_be_hidden()
    assert workspace.open_views(RITA) == [], f"{view.id} should be closed"
