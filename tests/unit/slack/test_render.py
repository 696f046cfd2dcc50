"""Escaping and rendering user text for Slack."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.common.limits import truncate
from bot.slack.blocks import BlockLimitError, as_dicts, incident_card, text_blocks
from bot.slack.text import mention, slack_date, slack_escape
from db.models import Incident


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        pytest.param("<!channel> look", "&lt;!channel&gt; look", id="channel-mention"),
        pytest.param("a & b", "a &amp; b", id="ampersand"),
        pytest.param("&lt;", "&amp;lt;", id="entity-stays-literal"),
        pytest.param("<https://evil.example|click>", "&lt;https://evil.example|click&gt;", id="link"),
    ],
)
def test_slack_escape(raw: str, escaped: str) -> None:
    assert slack_escape(raw) == escaped


def test_mention_only_for_user_ids() -> None:
    assert mention("U123ABC") == "<@U123ABC>"
    assert mention("inspect-pipeline") == "inspect-pipeline"
    assert mention("<!here>") == "&lt;!here&gt;"
    assert mention(None) == "nobody"


def test_slack_date_has_fallback_in_utc() -> None:
    when = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert slack_date(when) == f"<!date^{int(when.timestamp())}^{{date_short_pretty}} {{time}}|2026-03-29 00:30 UTC>"


def test_truncate_marks_the_cut() -> None:
    assert truncate("abcdef", 4, "…") == "abc…"
    assert truncate("abc", 4) == "abc"


def _incident(**overrides: object) -> Incident:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    fields: dict[str, object] = {
        "id": 7,
        "title": "Model <!channel> wrote exploit",
        "description": "",
        "reporter": "U1",
        "created_at": now,
        "updated_at": now,
    }
    fields.update(overrides)
    return Incident(**fields)  # type: ignore[arg-type]


def test_card_escapes_user_text_in_every_mrkdwn_field() -> None:
    card = incident_card(_incident(description="ping <!everyone> & <@U999>", model="m<x>"))
    mrkdwn = [
        obj["text"]
        for block in card
        for obj in [block.get("text", {}), *block.get("fields", []), *block.get("elements", [])]
        if isinstance(obj, dict) and obj.get("type") == "mrkdwn"
    ]
    joined = "\n".join(mrkdwn)
    assert "<!everyone>" not in joined and "&lt;!everyone&gt;" in joined
    assert "<@U999>" not in joined
    assert "m&lt;x&gt;" in joined


def test_card_truncates_long_description_with_a_note() -> None:
    card = incident_card(_incident(description="x" * 20_000))
    section = next(block for block in card if block["type"] == "section" and "text" in block)
    assert len(section["text"]["text"]) == 3000
    assert "20,000 characters in all" in section["text"]["text"]


def test_card_buttons_follow_status() -> None:
    def action_ids(status: str) -> list[str]:
        card = incident_card(_incident(status=status))
        return [element["action_id"] for element in card[-1]["elements"]]

    assert action_ids("triggered") == [
        "incident_acknowledge",
        "incident_escalate",
        "incident_snooze",
        "incident_resolve",
    ]
    assert action_ids("acknowledged") == ["incident_escalate", "incident_snooze", "incident_resolve"]
    assert action_ids("mitigated") == ["incident_resolve"]
    assert action_ids("resolved") == ["incident_reopen"]


def test_block_count_limit_is_enforced() -> None:
    many = text_blocks("\n".join("y" * 2999 for _ in range(60)))
    assert len(many) == 50
    with pytest.raises(BlockLimitError, match="51 blocks"):
        from slack_sdk.models.blocks import DividerBlock

        as_dicts([DividerBlock() for _ in range(51)])
