"""Parsing `/incident` text."""

from __future__ import annotations

import pytest

from bot.common.errors import InvalidInput
from bot.incidents.commands import parse
from bot.slack.replies import error_text


@pytest.mark.parametrize(
    ("text", "name", "args", "rest"),
    [
        pytest.param("", "help", [], "", id="empty-is-help"),
        pytest.param("new Model leaked a key", "new", ["Model", "leaked", "a", "key"], "Model leaked a key", id="new"),
        pytest.param("LIST mine", "list", ["mine"], "mine", id="case-insensitive"),
        pytest.param("acknowledge INC-3", "ack", ["INC-3"], "INC-3", id="alias"),
        pytest.param(
            "note INC-3 a &lt; b &amp;&amp; c",
            "note",
            ["INC-3", "a", "<", "b", "&&", "c"],
            "INC-3 a < b && c",
            id="slack-entities-unescaped",
        ),
    ],
)
def test_parse_subcommands(text: str, name: str, args: list[str], rest: str) -> None:
    parsed = parse(text)
    assert (parsed.name, parsed.args, parsed.rest) == (name, args, rest)


def test_parse_unknown_subcommand_shows_help() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse("frobnicate INC-1", "/incident")
    message = error_text(caught.value)
    assert "`frobnicate` is not a /incident subcommand" in message
    assert "/incident ack INC-42" in message
