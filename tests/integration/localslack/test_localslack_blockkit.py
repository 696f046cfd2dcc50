"""The Block Kit validator on its own: pure functions, no server."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from localslack.blockkit import problem, validate_message_blocks, validate_message_text, validate_view

from .conftest import button, modal, section, text_input


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def option(value: str, label: str | None = None) -> dict[str, Any]:
    return {"text": plain(label or value), "value": value}


EVERY_BLOCK: list[dict[str, Any]] = [
    {"type": "header", "text": plain("x" * 150)},
    section("y" * 3000, block_id="b" * 255, accessory=button("a" * 255, "v" * 2000, "z" * 75)),
    {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2000}] * 10},
    {"type": "divider"},
    {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "c"}] * 9
        + [{"type": "image", "image_url": "https://x/y.png", "alt_text": "i"}],
    },
    {"type": "actions", "elements": [button(f"act{i}", str(i)) for i in range(25)]},
    {
        "type": "actions",
        "elements": [
            {
                "type": "static_select",
                "action_id": "sev",
                "options": [option("sev1"), option("sev2")],
                "initial_option": option("sev2"),
            },
            {"type": "users_select", "action_id": "who", "initial_user": "U1"},
            {"type": "conversations_select", "action_id": "where"},
            {"type": "channels_select", "action_id": "chan"},
            {"type": "overflow", "action_id": "more", "options": [option("a"), option("b")]},
            {"type": "datepicker", "action_id": "when", "initial_date": "2025-11-24"},
            {"type": "checkboxes", "action_id": "tick", "options": [option("a")], "initial_options": [option("a")]},
            {"type": "radio_buttons", "action_id": "pick", "options": [option("a"), option("b")]},
            {"type": "multi_static_select", "action_id": "many", "options": [option("a"), option("b")]},
        ],
    },
    text_input("title", "L" * 2000, multiline=True, max_length=3000),
    {"type": "image", "image_url": "https://example.com/a.png", "alt_text": "chart", "title": plain("t")},
    {
        "type": "rich_text",
        "elements": [
            {
                "type": "rich_text_section",
                "elements": [{"type": "text", "text": "hi"}, {"type": "link", "url": "https://x"}],
            },
            {
                "type": "rich_text_list",
                "style": "bullet",
                "elements": [{"type": "rich_text_section", "elements": [{"type": "emoji", "name": "x"}]}],
            },
        ],
    },
]


def test_every_known_block_at_its_limits_is_accepted() -> None:
    assert validate_message_blocks(EVERY_BLOCK) == []


def test_fifty_blocks_fit_a_message_and_a_hundred_fit_a_modal() -> None:
    assert validate_message_blocks([{"type": "divider"}] * 50) == []
    assert validate_view(modal(blocks=[{"type": "divider"}] * 100)) == []


def with_block(block: dict[str, Any]) -> list[dict[str, Any]]:
    return [section("first"), block]


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        pytest.param([{"type": "divider"}] * 51, problem("no more than 50 items allowed", "/blocks"), id="51-blocks"),
        pytest.param(
            with_block(section("x" * 3001)),
            problem("must be less than 3001 characters", "/blocks/1/text/text"),
            id="section-3001",
        ),
        pytest.param(
            with_block(section("")),
            problem("must be more than 0 characters", "/blocks/1/text/text"),
            id="section-empty",
        ),
        pytest.param(
            with_block({"type": "carousel"}),
            problem("unsupported type: carousel", "/blocks/1/type"),
            id="unknown-block",
        ),
        pytest.param(with_block({"block_id": "x"}), problem("missing required field: type", "/blocks/1"), id="no-type"),
        pytest.param(
            with_block({"type": "section"}),
            problem("must provide either text or fields", "/blocks/1"),
            id="section-empty-shell",
        ),
        pytest.param(
            with_block({"type": "section", "text": {"type": "markdown", "text": "x"}}),
            problem('must be "plain_text" or "mrkdwn"', "/blocks/1/text/type"),
            id="bad-text-type",
        ),
        pytest.param(
            with_block({"type": "section", "text": "x"}),
            problem("must provide an object", "/blocks/1/text"),
            id="text-not-object",
        ),
        pytest.param(
            with_block({"type": "header", "text": {"type": "mrkdwn", "text": "x"}}),
            problem('must be "plain_text"', "/blocks/1/text/type"),
            id="header-mrkdwn",
        ),
        pytest.param(
            with_block({"type": "header", "text": plain("x" * 151)}),
            problem("must be less than 151 characters", "/blocks/1/text/text"),
            id="header-151",
        ),
        pytest.param(
            with_block({"type": "section", "fields": [plain("f")] * 11}),
            problem("no more than 10 items allowed", "/blocks/1/fields"),
            id="11-fields",
        ),
        pytest.param(
            with_block({"type": "section", "fields": [plain("f" * 2001)]}),
            problem("must be less than 2001 characters", "/blocks/1/fields/0/text"),
            id="field-2001",
        ),
        pytest.param(
            with_block({"type": "context", "elements": [plain("c")] * 11}),
            problem("no more than 10 items allowed", "/blocks/1/elements"),
            id="11-context",
        ),
        pytest.param(
            with_block({"type": "actions", "elements": [button(f"a{i}", "v") for i in range(26)]}),
            problem("no more than 25 items allowed", "/blocks/1/elements"),
            id="26-actions",
        ),
        pytest.param(
            with_block({"type": "actions", "elements": []}),
            problem("must provide at least 1 items", "/blocks/1/elements"),
            id="0-actions",
        ),
        pytest.param(
            with_block({"type": "actions", "elements": [button("a", "v", "x" * 76)]}),
            problem("must be less than 76 characters", "/blocks/1/elements/0/text/text"),
            id="button-text-76",
        ),
        pytest.param(
            with_block({"type": "actions", "elements": [button("a" * 256, "v")]}),
            problem("must be less than 256 characters", "/blocks/1/elements/0/action_id"),
            id="action-id-256",
        ),
        pytest.param(
            with_block({"type": "actions", "elements": [button("a", "v" * 2001)]}),
            problem("must be less than 2001 characters", "/blocks/1/elements/0/value"),
            id="button-value-2001",
        ),
        pytest.param(
            with_block({"type": "actions", "elements": [button("a", "v", style="loud")]}),
            problem('must be "primary" or "danger"', "/blocks/1/elements/0/style"),
            id="button-style",
        ),
        pytest.param(
            with_block({"type": "actions", "elements": [button("a", "1"), button("a", "2")]}),
            problem("duplicate action_id: a", "/blocks/1/elements/1/action_id"),
            id="duplicate-action-id",
        ),
        pytest.param(
            with_block({"type": "actions", "elements": [{"type": "plain_text_input", "action_id": "t"}]}),
            problem("plain_text_input is not allowed in an actions block", "/blocks/1/elements/0/type"),
            id="input-in-actions",
        ),
        pytest.param(
            with_block({"type": "actions", "elements": [{"type": "slider", "action_id": "s"}]}),
            problem("unsupported type: slider", "/blocks/1/elements/0/type"),
            id="unknown-element",
        ),
        pytest.param(
            with_block(section("x", block_id="b" * 256)),
            problem("must be less than 256 characters", "/blocks/1/block_id"),
            id="block-id-256",
        ),
        pytest.param(
            [section("a", block_id="same"), section("b", block_id="same")],
            problem("duplicate block_id: same", "/blocks/1/block_id"),
            id="duplicate-block-id",
        ),
        pytest.param(
            with_block({"type": "actions", "elements": [{"type": "static_select", "action_id": "s"}]}),
            problem("must provide exactly one of options or option_groups", "/blocks/1/elements/0"),
            id="select-no-options",
        ),
        pytest.param(
            with_block(
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "static_select",
                            "action_id": "s",
                            "options": [option("a")],
                            "initial_option": option("b"),
                        }
                    ],
                }
            ),
            problem("must match one of the provided options", "/blocks/1/elements/0/initial_option"),
            id="initial-option-unknown",
        ),
        pytest.param(
            with_block(
                {
                    "type": "actions",
                    "elements": [{"type": "static_select", "action_id": "s", "options": [option("v" * 151)]}],
                }
            ),
            problem("must be less than 151 characters", "/blocks/1/elements/0/options/0/value"),
            id="option-value-151",
        ),
        pytest.param(
            with_block(
                {
                    "type": "actions",
                    "elements": [{"type": "overflow", "action_id": "o", "options": [option(str(i)) for i in range(6)]}],
                }
            ),
            problem("no more than 5 items allowed", "/blocks/1/elements/0/options"),
            id="overflow-6",
        ),
        pytest.param(
            with_block(
                {
                    "type": "actions",
                    "elements": [{"type": "datepicker", "action_id": "d", "initial_date": "24/11/2025"}],
                }
            ),
            problem("must be a date formatted YYYY-MM-DD", "/blocks/1/elements/0/initial_date"),
            id="bad-date",
        ),
        pytest.param(
            with_block({"type": "image", "image_url": "https://x/y.png"}),
            problem("missing required field: alt_text", "/blocks/1"),
            id="image-no-alt",
        ),
        pytest.param(
            with_block({"type": "input", "element": {"type": "plain_text_input"}}),
            problem("missing required field: label", "/blocks/1"),
            id="input-no-label",
        ),
        pytest.param(
            with_block(text_input("t", "L" * 2001)),
            problem("must be less than 2001 characters", "/blocks/1/label/text"),
            id="input-label-2001",
        ),
        pytest.param(
            with_block(text_input("t", max_length=3001)),
            problem("must be an integer between 1 and 3000", "/blocks/1/element/max_length"),
            id="input-max-length",
        ),
        pytest.param(
            with_block({"type": "input", "label": plain("l"), "element": button("b", "v")}),
            problem("button is not allowed in an input block", "/blocks/1/element/type"),
            id="button-in-input",
        ),
        pytest.param(
            with_block({"type": "rich_text", "elements": [{"type": "rich_text_blob", "elements": []}]}),
            problem("unsupported type: rich_text_blob", "/blocks/1/elements/0/type"),
            id="bad-rich-text",
        ),
        pytest.param({"type": "section"}, problem("must provide an array", "/blocks"), id="blocks-not-list"),
    ],
)
def test_invalid_message_blocks_name_the_offending_path(blocks: Any, expected: str) -> None:
    problems = validate_message_blocks(blocks)
    assert expected in problems, problems


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            {"title": plain("t" * 25)}, problem("must be less than 25 characters", "/view/title/text"), id="title-25"
        ),
        pytest.param(
            {"submit": plain("s" * 25)}, problem("must be less than 25 characters", "/view/submit/text"), id="submit-25"
        ),
        pytest.param(
            {"close": plain("c" * 25)}, problem("must be less than 25 characters", "/view/close/text"), id="close-25"
        ),
        pytest.param(
            {"private_metadata": "m" * 3001},
            problem("must be less than 3001 characters", "/view/private_metadata"),
            id="metadata-3001",
        ),
        pytest.param(
            {"callback_id": "c" * 256},
            problem("must be less than 256 characters", "/view/callback_id"),
            id="callback-256",
        ),
        pytest.param(
            {"blocks": [{"type": "divider"}] * 101},
            problem("no more than 100 items allowed", "/view/blocks"),
            id="101-blocks",
        ),
        pytest.param({"submit": None}, problem("must provide an object", "/view/submit"), id="submit-null"),
        pytest.param({"type": "sheet"}, problem("must be one of: modal, home", "/view/type"), id="unknown-view-type"),
        pytest.param(
            {"notify_on_close": "yes"}, problem("must be a boolean", "/view/notify_on_close"), id="flag-not-bool"
        ),
    ],
)
def test_invalid_views_name_the_offending_path(change: dict[str, Any], expected: str) -> None:
    view = modal()
    view.update(change)
    problems = validate_view(view)
    assert expected in problems, problems


def test_a_modal_needs_a_title_and_a_submit_button_for_inputs() -> None:
    view = modal()
    del view["title"], view["submit"]
    assert validate_view(view) == [
        problem("missing required field: title", "/view"),
        problem("must define `submit` to use an `input` block in modals", "/view/blocks/0"),
    ]


def test_home_views_need_no_title_but_modal_only_surfaces_refuse_them() -> None:
    home = {"type": "home", "blocks": [section("hi")]}
    assert validate_view(home) == []
    assert validate_view(home, allowed_types=("modal",)) == [problem("must be one of: modal", "/view/type")]


def test_validation_never_mutates_its_input() -> None:
    blocks = copy.deepcopy(EVERY_BLOCK)
    validate_message_blocks(blocks)
    assert blocks == EVERY_BLOCK


@pytest.mark.parametrize(
    ("text", "code"),
    [
        pytest.param("x" * 40_000, None, id="40000-ok"),
        pytest.param("x" * 40_001, "msg_too_long", id="40001-too-long"),
        pytest.param(None, None, id="absent"),
        pytest.param(12, "invalid_arguments", id="not-a-string"),
    ],
)
def test_message_text_length(text: object, code: str | None) -> None:
    assert validate_message_text(text) == code
