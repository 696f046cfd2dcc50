"""Block Kit validation as pure functions.

Every check returns Slack-style problem strings of the form
``[ERROR] <reason> [json-pointer:/blocks/2/text/text]`` so callers can put them
straight into ``response_metadata.messages``. Nothing here touches workspace state.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, Literal

Surface = Literal["message", "modal", "home"]

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000

SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
SECTION_FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
CONTEXT_ELEMENTS_MAX = 10
ACTIONS_ELEMENTS_MAX = 25
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
ACTION_ID_MAX = 255
BLOCK_ID_MAX = 255
URL_MAX = 3000
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
PLACEHOLDER_MAX = 150
MODAL_TITLE_MAX = 24
MODAL_BUTTON_MAX = 24
INPUT_LABEL_MAX = 2000
INPUT_HINT_MAX = 2000
PRIVATE_METADATA_MAX = 3000
CALLBACK_ID_MAX = 255
EXTERNAL_ID_MAX = 255
IMAGE_ALT_TEXT_MAX = 2000
TEXT_INPUT_LENGTH_MAX = 3000

BLOCK_TYPES = frozenset({"section", "header", "context", "divider", "actions", "input", "image", "rich_text"})

_SELECTS = frozenset(
    {
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
    }
)
_CHOICES = frozenset({"checkboxes", "radio_buttons"})
_PICKERS = frozenset({"datepicker", "timepicker", "datetimepicker"})
_TEXT_INPUTS = frozenset({"plain_text_input", "email_text_input", "url_text_input", "number_input"})

ACTIONS_ELEMENT_TYPES = frozenset({"button", "overflow"} | _SELECTS | _CHOICES | _PICKERS)
ACCESSORY_ELEMENT_TYPES = frozenset({"button", "overflow", "image"} | _SELECTS | _CHOICES | _PICKERS)
INPUT_ELEMENT_TYPES = frozenset(_SELECTS | _CHOICES | _PICKERS | _TEXT_INPUTS)
ELEMENT_TYPES = frozenset(ACTIONS_ELEMENT_TYPES | ACCESSORY_ELEMENT_TYPES | INPUT_ELEMENT_TYPES)
TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})

_RICH_TEXT_CONTAINERS = frozenset({"rich_text_section", "rich_text_list", "rich_text_preformatted", "rich_text_quote"})
_RICH_TEXT_LEAVES = frozenset({"text", "link", "emoji", "user", "channel", "usergroup", "date", "broadcast", "color"})

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_RE = re.compile(r"^\d{2}:\d{2}$")


def problem(reason: str, pointer: str) -> str:
    """Format one validation problem the way Slack reports it."""
    return f"[ERROR] {reason} [json-pointer:{pointer}]"


class _Report:
    """Accumulates problems while walking a payload."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, reason: str, pointer: str) -> None:
        """Record one problem."""
        self.problems.append(problem(reason, pointer))


# ---------------------------------------------------------------- primitives


def _too_long(limit: int) -> str:
    return f"must be less than {limit + 1} characters"


def _check_string(
    report: _Report, obj: dict[str, Any], key: str, pointer: str, *, limit: int | None, required: bool = False
) -> None:
    if key not in obj:
        if required:
            report.add(f"missing required field: {key}", pointer)
        return
    value = obj[key]
    where = f"{pointer}/{key}"
    if not isinstance(value, str):
        report.add("must be a string", where)
        return
    if required and value == "":
        report.add("must be more than 0 characters", where)
    if limit is not None and len(value) > limit:
        report.add(_too_long(limit), where)


def _check_bool(report: _Report, obj: dict[str, Any], key: str, pointer: str) -> None:
    if key in obj and not isinstance(obj[key], bool):
        report.add("must be a boolean", f"{pointer}/{key}")


def _check_object(report: _Report, value: object, pointer: str) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        report.add("must provide an object", pointer)
        return None
    return value


def _check_list(
    report: _Report, value: object, pointer: str, *, minimum: int = 0, maximum: int | None = None
) -> list[Any] | None:
    if not isinstance(value, list):
        report.add("must provide an array", pointer)
        return None
    if len(value) < minimum:
        report.add(f"must provide at least {minimum} items", pointer)
    if maximum is not None and len(value) > maximum:
        report.add(f"no more than {maximum} items allowed", pointer)
    return value


def _check_text(
    report: _Report,
    value: object,
    pointer: str,
    *,
    limit: int | None,
    plain_only: bool = False,
) -> None:
    obj = _check_object(report, value, pointer)
    if obj is None:
        return
    kind = obj.get("type")
    if kind is None:
        report.add("missing required field: type", pointer)
    elif plain_only and kind != "plain_text":
        report.add('must be "plain_text"', f"{pointer}/type")
    elif kind not in TEXT_TYPES:
        report.add('must be "plain_text" or "mrkdwn"', f"{pointer}/type")
    _check_string(report, obj, "text", pointer, limit=limit, required=True)
    if "emoji" in obj:
        _check_bool(report, obj, "emoji", pointer)
        if kind == "mrkdwn":
            report.add("emoji is only allowed on plain_text", f"{pointer}/emoji")
    if "verbatim" in obj:
        _check_bool(report, obj, "verbatim", pointer)
        if kind == "plain_text":
            report.add("verbatim is only allowed on mrkdwn", f"{pointer}/verbatim")


def _check_optional_text(
    report: _Report, obj: dict[str, Any], key: str, pointer: str, *, limit: int, plain_only: bool = True
) -> None:
    if key in obj:
        _check_text(report, obj[key], f"{pointer}/{key}", limit=limit, plain_only=plain_only)


def _check_required_text(
    report: _Report, obj: dict[str, Any], key: str, pointer: str, *, limit: int, plain_only: bool
) -> None:
    if key not in obj:
        report.add(f"missing required field: {key}", pointer)
        return
    _check_text(report, obj[key], f"{pointer}/{key}", limit=limit, plain_only=plain_only)


# ---------------------------------------------------------------- composition objects


def _check_confirm(report: _Report, obj: dict[str, Any], pointer: str) -> None:
    if "confirm" not in obj:
        return
    where = f"{pointer}/confirm"
    confirm = _check_object(report, obj["confirm"], where)
    if confirm is None:
        return
    _check_required_text(report, confirm, "title", where, limit=100, plain_only=True)
    _check_required_text(report, confirm, "text", where, limit=300, plain_only=False)
    _check_required_text(report, confirm, "confirm", where, limit=30, plain_only=True)
    _check_required_text(report, confirm, "deny", where, limit=30, plain_only=True)
    if "style" in confirm and confirm["style"] not in ("primary", "danger"):
        report.add('must be "primary" or "danger"', f"{where}/style")


def _check_option(
    report: _Report, value: object, pointer: str, *, plain_only: bool = True, allow_url: bool = False
) -> None:
    option = _check_object(report, value, pointer)
    if option is None:
        return
    _check_required_text(report, option, "text", pointer, limit=OPTION_TEXT_MAX, plain_only=plain_only)
    _check_string(report, option, "value", pointer, limit=OPTION_VALUE_MAX, required=True)
    _check_optional_text(report, option, "description", pointer, limit=OPTION_TEXT_MAX, plain_only=plain_only)
    if "url" in option:
        if allow_url:
            _check_string(report, option, "url", pointer, limit=URL_MAX)
        else:
            report.add("url is only allowed on overflow options", f"{pointer}/url")


def _option_key(option: object) -> tuple[str, str] | None:
    if not isinstance(option, dict):
        return None
    text = option.get("text")
    label = text.get("text") if isinstance(text, dict) else None
    value = option.get("value")
    if not isinstance(label, str) or not isinstance(value, str):
        return None
    return (label, value)


def _declared_options(element: dict[str, Any]) -> list[Any]:
    options: list[Any] = []
    if isinstance(element.get("options"), list):
        options.extend(element["options"])
    for group in element.get("option_groups") or []:
        if isinstance(group, dict) and isinstance(group.get("options"), list):
            options.extend(group["options"])
    return options


def _check_initial_options(report: _Report, element: dict[str, Any], pointer: str) -> None:
    known = {_option_key(o) for o in _declared_options(element)}
    if "initial_option" in element:
        where = f"{pointer}/initial_option"
        if _check_object(report, element["initial_option"], where) is not None and (
            _option_key(element["initial_option"]) not in known
        ):
            report.add("must match one of the provided options", where)
    if "initial_options" in element:
        where = f"{pointer}/initial_options"
        chosen = _check_list(report, element["initial_options"], where)
        for index, option in enumerate(chosen or []):
            if _option_key(option) not in known:
                report.add("must match one of the provided options", f"{where}/{index}")


def _check_options_list(
    report: _Report,
    element: dict[str, Any],
    pointer: str,
    *,
    minimum: int,
    maximum: int,
    plain_only: bool = True,
    allow_url: bool = False,
) -> None:
    if "options" not in element:
        report.add("missing required field: options", pointer)
        return
    options = _check_list(report, element["options"], f"{pointer}/options", minimum=minimum, maximum=maximum)
    for index, option in enumerate(options or []):
        _check_option(report, option, f"{pointer}/options/{index}", plain_only=plain_only, allow_url=allow_url)


# ---------------------------------------------------------------- elements


def _check_action_id(report: _Report, element: dict[str, Any], pointer: str) -> None:
    _check_string(report, element, "action_id", pointer, limit=ACTION_ID_MAX)


def _check_placeholder(report: _Report, element: dict[str, Any], pointer: str) -> None:
    _check_optional_text(report, element, "placeholder", pointer, limit=PLACEHOLDER_MAX)


def _button(report: _Report, element: dict[str, Any], pointer: str) -> None:
    _check_required_text(report, element, "text", pointer, limit=BUTTON_TEXT_MAX, plain_only=True)
    _check_action_id(report, element, pointer)
    _check_string(report, element, "value", pointer, limit=BUTTON_VALUE_MAX)
    _check_string(report, element, "url", pointer, limit=URL_MAX)
    _check_string(report, element, "accessibility_label", pointer, limit=75)
    if "style" in element and element["style"] not in ("primary", "danger"):
        report.add('must be "primary" or "danger"', f"{pointer}/style")
    _check_confirm(report, element, pointer)


def _static_select(report: _Report, element: dict[str, Any], pointer: str) -> None:
    _check_action_id(report, element, pointer)
    _check_placeholder(report, element, pointer)
    has_options = "options" in element
    has_groups = "option_groups" in element
    if has_options == has_groups:
        report.add("must provide exactly one of options or option_groups", pointer)
    if has_options:
        _check_options_list(report, element, pointer, minimum=1, maximum=100)
    if has_groups:
        where = f"{pointer}/option_groups"
        groups = _check_list(report, element["option_groups"], where, minimum=1, maximum=100)
        for index, group_value in enumerate(groups or []):
            group_where = f"{where}/{index}"
            group = _check_object(report, group_value, group_where)
            if group is None:
                continue
            _check_required_text(report, group, "label", group_where, limit=OPTION_TEXT_MAX, plain_only=True)
            _check_options_list(report, group, group_where, minimum=1, maximum=100)
    _check_initial_options(report, element, pointer)
    if element.get("type") == "multi_static_select":
        _check_max_selected(report, element, pointer)
    _check_confirm(report, element, pointer)


def _check_max_selected(report: _Report, element: dict[str, Any], pointer: str) -> None:
    if "max_selected_items" in element:
        value = element["max_selected_items"]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            report.add("must be an integer of at least 1", f"{pointer}/max_selected_items")


def _entity_select(initial_key: str, *, multi: bool) -> Callable[[_Report, dict[str, Any], str], None]:
    def check(report: _Report, element: dict[str, Any], pointer: str) -> None:
        _check_action_id(report, element, pointer)
        _check_placeholder(report, element, pointer)
        if initial_key in element:
            value = element[initial_key]
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value) if multi else isinstance(value, str)
            if not ok:
                expected = "an array of strings" if multi else "a string"
                report.add(f"must be {expected}", f"{pointer}/{initial_key}")
        if multi:
            _check_max_selected(report, element, pointer)
        _check_confirm(report, element, pointer)

    return check


def _external_select(report: _Report, element: dict[str, Any], pointer: str) -> None:
    _check_action_id(report, element, pointer)
    _check_placeholder(report, element, pointer)
    if "min_query_length" in element and not isinstance(element["min_query_length"], int):
        report.add("must be an integer", f"{pointer}/min_query_length")
    if element.get("type") == "multi_external_select":
        _check_max_selected(report, element, pointer)


def _overflow(report: _Report, element: dict[str, Any], pointer: str) -> None:
    _check_action_id(report, element, pointer)
    _check_options_list(report, element, pointer, minimum=1, maximum=5, allow_url=True)
    _check_confirm(report, element, pointer)


def _choices(report: _Report, element: dict[str, Any], pointer: str) -> None:
    _check_action_id(report, element, pointer)
    _check_options_list(report, element, pointer, minimum=1, maximum=10, plain_only=False)
    _check_initial_options(report, element, pointer)
    _check_confirm(report, element, pointer)


def _datepicker(report: _Report, element: dict[str, Any], pointer: str) -> None:
    _check_action_id(report, element, pointer)
    _check_placeholder(report, element, pointer)
    if "initial_date" in element and not (
        isinstance(element["initial_date"], str) and _DATE_RE.match(element["initial_date"])
    ):
        report.add("must be a date formatted YYYY-MM-DD", f"{pointer}/initial_date")
    _check_confirm(report, element, pointer)


def _timepicker(report: _Report, element: dict[str, Any], pointer: str) -> None:
    _check_action_id(report, element, pointer)
    _check_placeholder(report, element, pointer)
    if "initial_time" in element and not (
        isinstance(element["initial_time"], str) and _TIME_RE.match(element["initial_time"])
    ):
        report.add("must be a time formatted HH:mm", f"{pointer}/initial_time")
    _check_string(report, element, "timezone", pointer, limit=None)
    _check_confirm(report, element, pointer)


def _datetimepicker(report: _Report, element: dict[str, Any], pointer: str) -> None:
    _check_action_id(report, element, pointer)
    value = element.get("initial_date_time")
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        report.add("must be an integer", f"{pointer}/initial_date_time")
    _check_confirm(report, element, pointer)


def _plain_text_input(report: _Report, element: dict[str, Any], pointer: str) -> None:
    _check_action_id(report, element, pointer)
    _check_placeholder(report, element, pointer)
    _check_string(report, element, "initial_value", pointer, limit=None)
    _check_bool(report, element, "multiline", pointer)
    bounds: dict[str, int] = {}
    for key, low in (("min_length", 0), ("max_length", 1)):
        if key not in element:
            continue
        value = element[key]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= TEXT_INPUT_LENGTH_MAX:
            report.add(f"must be an integer between {low} and {TEXT_INPUT_LENGTH_MAX}", f"{pointer}/{key}")
        else:
            bounds[key] = value
    if "min_length" in bounds and "max_length" in bounds and bounds["min_length"] > bounds["max_length"]:
        report.add("must not be greater than max_length", f"{pointer}/min_length")


def _simple_text_input(report: _Report, element: dict[str, Any], pointer: str) -> None:
    _check_action_id(report, element, pointer)
    _check_placeholder(report, element, pointer)
    _check_string(report, element, "initial_value", pointer, limit=None)


def _number_input(report: _Report, element: dict[str, Any], pointer: str) -> None:
    _check_action_id(report, element, pointer)
    _check_placeholder(report, element, pointer)
    if "is_decimal_allowed" not in element:
        report.add("missing required field: is_decimal_allowed", pointer)
    else:
        _check_bool(report, element, "is_decimal_allowed", pointer)


def _image_element(report: _Report, element: dict[str, Any], pointer: str) -> None:
    if "image_url" not in element and "slack_file" not in element:
        report.add("missing required field: image_url", pointer)
    _check_string(report, element, "image_url", pointer, limit=URL_MAX)
    _check_string(report, element, "alt_text", pointer, limit=IMAGE_ALT_TEXT_MAX, required=True)


_ELEMENT_CHECKS: dict[str, Callable[[_Report, dict[str, Any], str], None]] = {
    "button": _button,
    "static_select": _static_select,
    "multi_static_select": _static_select,
    "external_select": _external_select,
    "multi_external_select": _external_select,
    "users_select": _entity_select("initial_user", multi=False),
    "multi_users_select": _entity_select("initial_users", multi=True),
    "conversations_select": _entity_select("initial_conversation", multi=False),
    "multi_conversations_select": _entity_select("initial_conversations", multi=True),
    "channels_select": _entity_select("initial_channel", multi=False),
    "multi_channels_select": _entity_select("initial_channels", multi=True),
    "overflow": _overflow,
    "checkboxes": _choices,
    "radio_buttons": _choices,
    "datepicker": _datepicker,
    "timepicker": _timepicker,
    "datetimepicker": _datetimepicker,
    "plain_text_input": _plain_text_input,
    "email_text_input": _simple_text_input,
    "url_text_input": _simple_text_input,
    "number_input": _number_input,
    "image": _image_element,
}


def _check_element(
    report: _Report, value: object, pointer: str, *, allowed: frozenset[str], container: str
) -> dict[str, Any] | None:
    element = _check_object(report, value, pointer)
    if element is None:
        return None
    kind = element.get("type")
    if kind is None:
        report.add("missing required field: type", pointer)
        return None
    if not isinstance(kind, str) or kind not in _ELEMENT_CHECKS:
        report.add(f"unsupported type: {kind}", f"{pointer}/type")
        return None
    if kind not in allowed:
        report.add(f"{kind} is not allowed in {container}", f"{pointer}/type")
        return None
    _ELEMENT_CHECKS[kind](report, element, pointer)
    return element


# ---------------------------------------------------------------- blocks


def _section(report: _Report, block: dict[str, Any], pointer: str, surface: Surface) -> None:
    if "text" not in block and "fields" not in block:
        report.add("must provide either text or fields", pointer)
    if "text" in block:
        _check_text(report, block["text"], f"{pointer}/text", limit=SECTION_TEXT_MAX)
    if "fields" in block:
        where = f"{pointer}/fields"
        fields = _check_list(report, block["fields"], where, minimum=1, maximum=SECTION_FIELDS_MAX)
        for index, field in enumerate(fields or []):
            _check_text(report, field, f"{where}/{index}", limit=SECTION_FIELD_TEXT_MAX)
    if "accessory" in block:
        _check_element(
            report,
            block["accessory"],
            f"{pointer}/accessory",
            allowed=ACCESSORY_ELEMENT_TYPES,
            container="a section accessory",
        )
    _check_bool(report, block, "expand", pointer)


def _header(report: _Report, block: dict[str, Any], pointer: str, surface: Surface) -> None:
    _check_required_text(report, block, "text", pointer, limit=HEADER_TEXT_MAX, plain_only=True)


def _context(report: _Report, block: dict[str, Any], pointer: str, surface: Surface) -> None:
    if "elements" not in block:
        report.add("missing required field: elements", pointer)
        return
    where = f"{pointer}/elements"
    elements = _check_list(report, block["elements"], where, minimum=1, maximum=CONTEXT_ELEMENTS_MAX)
    for index, value in enumerate(elements or []):
        item_where = f"{where}/{index}"
        item = _check_object(report, value, item_where)
        if item is None:
            continue
        if item.get("type") == "image":
            _image_element(report, item, item_where)
        else:
            _check_text(report, item, item_where, limit=None)


def _divider(report: _Report, block: dict[str, Any], pointer: str, surface: Surface) -> None:
    return None


def _check_unique_action_ids(report: _Report, elements: Iterable[tuple[str, dict[str, Any]]]) -> None:
    seen: set[str] = set()
    for pointer, element in elements:
        action_id = element.get("action_id")
        if not isinstance(action_id, str):
            continue
        if action_id in seen:
            report.add(f"duplicate action_id: {action_id}", f"{pointer}/action_id")
        seen.add(action_id)


def _actions(report: _Report, block: dict[str, Any], pointer: str, surface: Surface) -> None:
    if "elements" not in block:
        report.add("missing required field: elements", pointer)
        return
    where = f"{pointer}/elements"
    elements = _check_list(report, block["elements"], where, minimum=1, maximum=ACTIONS_ELEMENTS_MAX)
    checked: list[tuple[str, dict[str, Any]]] = []
    for index, value in enumerate(elements or []):
        item_where = f"{where}/{index}"
        element = _check_element(report, value, item_where, allowed=ACTIONS_ELEMENT_TYPES, container="an actions block")
        if element is not None:
            checked.append((item_where, element))
    _check_unique_action_ids(report, checked)


def _input(report: _Report, block: dict[str, Any], pointer: str, surface: Surface) -> None:
    _check_required_text(report, block, "label", pointer, limit=INPUT_LABEL_MAX, plain_only=True)
    _check_optional_text(report, block, "hint", pointer, limit=INPUT_HINT_MAX)
    _check_bool(report, block, "optional", pointer)
    _check_bool(report, block, "dispatch_action", pointer)
    if "element" not in block:
        report.add("missing required field: element", pointer)
        return
    _check_element(
        report, block["element"], f"{pointer}/element", allowed=INPUT_ELEMENT_TYPES, container="an input block"
    )


def _image_block(report: _Report, block: dict[str, Any], pointer: str, surface: Surface) -> None:
    _image_element(report, block, pointer)
    _check_optional_text(report, block, "title", pointer, limit=IMAGE_ALT_TEXT_MAX)


def _rich_text_leaves(report: _Report, value: object, pointer: str) -> None:
    leaves = _check_list(report, value, pointer)
    for index, leaf_value in enumerate(leaves or []):
        where = f"{pointer}/{index}"
        leaf = _check_object(report, leaf_value, where)
        if leaf is None:
            continue
        kind = leaf.get("type")
        if kind not in _RICH_TEXT_LEAVES:
            report.add(f"unsupported type: {kind}", f"{where}/type")
        elif kind == "text":
            _check_string(report, leaf, "text", where, limit=None, required=True)
        elif kind == "link":
            _check_string(report, leaf, "url", where, limit=URL_MAX, required=True)


def _rich_text(report: _Report, block: dict[str, Any], pointer: str, surface: Surface) -> None:
    if "elements" not in block:
        report.add("missing required field: elements", pointer)
        return
    where = f"{pointer}/elements"
    parts = _check_list(report, block["elements"], where)
    for index, part_value in enumerate(parts or []):
        part_where = f"{where}/{index}"
        part = _check_object(report, part_value, part_where)
        if part is None:
            continue
        kind = part.get("type")
        if kind not in _RICH_TEXT_CONTAINERS:
            report.add(f"unsupported type: {kind}", f"{part_where}/type")
            continue
        if "elements" not in part:
            report.add("missing required field: elements", part_where)
            continue
        if kind == "rich_text_list":
            if part.get("style") not in ("bullet", "ordered"):
                report.add('must be "bullet" or "ordered"', f"{part_where}/style")
            sections = _check_list(report, part["elements"], f"{part_where}/elements")
            for section_index, section in enumerate(sections or []):
                section_where = f"{part_where}/elements/{section_index}"
                section_obj = _check_object(report, section, section_where)
                if section_obj is not None:
                    _rich_text_leaves(report, section_obj.get("elements"), f"{section_where}/elements")
        else:
            _rich_text_leaves(report, part["elements"], f"{part_where}/elements")


_BLOCK_CHECKS: dict[str, Callable[[_Report, dict[str, Any], str, Surface], None]] = {
    "section": _section,
    "header": _header,
    "context": _context,
    "divider": _divider,
    "actions": _actions,
    "input": _input,
    "image": _image_block,
    "rich_text": _rich_text,
}


def _walk_blocks(report: _Report, blocks: object, pointer: str, surface: Surface) -> None:
    limit = MAX_MESSAGE_BLOCKS if surface == "message" else MAX_VIEW_BLOCKS
    items = _check_list(report, blocks, pointer, maximum=limit)
    seen_block_ids: set[str] = set()
    for index, value in enumerate(items or []):
        where = f"{pointer}/{index}"
        block = _check_object(report, value, where)
        if block is None:
            continue
        kind = block.get("type")
        if kind is None:
            report.add("missing required field: type", where)
            continue
        if not isinstance(kind, str) or kind not in _BLOCK_CHECKS:
            report.add(f"unsupported type: {kind}", f"{where}/type")
            continue
        if "block_id" in block:
            _check_string(report, block, "block_id", where, limit=BLOCK_ID_MAX)
            block_id = block["block_id"]
            if isinstance(block_id, str):
                if block_id in seen_block_ids:
                    report.add(f"duplicate block_id: {block_id}", f"{where}/block_id")
                seen_block_ids.add(block_id)
        _BLOCK_CHECKS[kind](report, block, where, surface)


# ---------------------------------------------------------------- public entry points


def validate_blocks(blocks: object, *, surface: Surface = "message", pointer: str = "/blocks") -> list[str]:
    """Check a list of blocks for the given surface and return the problems found."""
    report = _Report()
    _walk_blocks(report, blocks, pointer, surface)
    return report.problems


def validate_message_blocks(blocks: object, pointer: str = "/blocks") -> list[str]:
    """Check the blocks of a message (at most 50) and return the problems found."""
    return validate_blocks(blocks, surface="message", pointer=pointer)


def validate_view(
    view: object, *, allowed_types: Iterable[str] = ("modal", "home"), pointer: str = "/view"
) -> list[str]:
    """Check a modal or App Home view object and return the problems found."""
    report = _Report()
    obj = _check_object(report, view, pointer)
    if obj is None:
        return report.problems
    kind = obj.get("type")
    allowed = tuple(allowed_types)
    if kind is None:
        report.add("missing required field: type", pointer)
        return report.problems
    if kind not in allowed:
        report.add("must be one of: " + ", ".join(allowed), f"{pointer}/type")
        return report.problems
    surface: Surface = "modal" if kind == "modal" else "home"
    if kind == "modal":
        _check_required_text(report, obj, "title", pointer, limit=MODAL_TITLE_MAX, plain_only=True)
    else:
        _check_optional_text(report, obj, "title", pointer, limit=MODAL_TITLE_MAX)
    _check_optional_text(report, obj, "submit", pointer, limit=MODAL_BUTTON_MAX)
    _check_optional_text(report, obj, "close", pointer, limit=MODAL_BUTTON_MAX)
    _check_string(report, obj, "private_metadata", pointer, limit=PRIVATE_METADATA_MAX)
    _check_string(report, obj, "callback_id", pointer, limit=CALLBACK_ID_MAX)
    _check_string(report, obj, "external_id", pointer, limit=EXTERNAL_ID_MAX)
    for flag in ("notify_on_close", "clear_on_close", "submit_disabled"):
        _check_bool(report, obj, flag, pointer)
    if "blocks" not in obj:
        report.add("missing required field: blocks", pointer)
        return report.problems
    _walk_blocks(report, obj["blocks"], f"{pointer}/blocks", surface)
    if kind == "modal" and "submit" not in obj and isinstance(obj["blocks"], list):
        for index, block in enumerate(obj["blocks"]):
            if isinstance(block, dict) and block.get("type") == "input":
                report.add("must define `submit` to use an `input` block in modals", f"{pointer}/blocks/{index}")
                break
    return report.problems


def validate_message_text(text: object) -> str | None:
    """Return the Slack error code for unacceptable message text, or None."""
    if text is None:
        return None
    if not isinstance(text, str):
        return "invalid_arguments"
    if len(text) > MAX_MESSAGE_TEXT:
        return "msg_too_long"
    return None


def iter_elements(blocks: Iterable[Any]) -> Iterable[tuple[str | None, dict[str, Any]]]:
    """Yield (block_id, element) for every interactive element in a list of blocks."""
    for block in blocks:
        if not isinstance(block, dict):
            continue
        block_id = block.get("block_id")
        kind = block.get("type")
        candidates: list[Any] = []
        if kind == "actions":
            candidates = list(block.get("elements") or [])
        elif kind == "section" and "accessory" in block:
            candidates = [block["accessory"]]
        elif kind == "input" and "element" in block:
            candidates = [block["element"]]
        for element in candidates:
            if isinstance(element, dict) and element.get("type") in ELEMENT_TYPES and element["type"] != "image":
                yield (block_id if isinstance(block_id, str) else None, element)
