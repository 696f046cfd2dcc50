"""A digest in Slack: its mrkdwn text, the review message in each state, and the renderer DigestService is given."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.common.limits import (
    FIELD_TEXT_MAX,
    HEADER_TEXT_MAX,
    MESSAGE_BLOCKS_MAX,
    SECTION_TEXT_MAX,
    SLACK_LIST_MAX,
    truncate,
)
from bot.digest.render import number, summary_shown
from bot.digest.views import CountTable, DigestContent, DraftState
from bot.slack.blocks import section
from bot.slack.ids import ActionId, BlockId
from bot.slack.text import render, slack_escape

MRKDWN_TEMPLATES = {"weekly": "digests/weekly.slack.j2", "risk-report": "digests/risk_report.slack.j2"}
REVIEW_STATES: tuple[DraftState, ...] = ("draft", "published", "discarded")


class SlackDigestRenderer:
    """A digest as Slack shows it: the mrkdwn text that is published, and the review message in each state."""

    def text(self, content: DigestContent, *, summary: str | None) -> str:
        """The digest as Slack mrkdwn."""
        return digest_mrkdwn(content, summary_override=summary)

    def review_states(self, content: DigestContent, *, summary: str | None, digest_id: int) -> dict[str, object]:
        """The review message in each state it can reach, rendered together with the text."""
        return {
            state: digest_blocks(content, summary_override=summary, digest_id=digest_id, state=state)
            for state in REVIEW_STATES
        }


# ---------------------------------------------------------------------------------------------------------------
# mrkdwn text


def digest_mrkdwn(digest: DigestContent, *, summary_override: str | None = None) -> str:
    """The digest as Slack mrkdwn (templates/digests/*.slack.j2): long lists stop at a few items."""
    return (
        render(
            MRKDWN_TEMPLATES[digest.kind],
            d=digest,
            summary=summary_shown(digest, summary_override),
            esc=slack_escape,
            num=number,
            fixed=fixed_table,
            more=SLACK_LIST_MAX,
        )
        + "\n"
    )


def fixed_table(table: CountTable) -> str:
    """A severity by category table in fixed-width text (for a Slack code block)."""
    header = ["severity", *table.categories, "total"]
    body = [[row.severity, *map(str, row.counts), str(row.total)] for row in table.rows]
    body.append(["total", *map(str, table.column_totals), str(table.total)])
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join(line(cells).rstrip() for cells in [header, *body])


# ---------------------------------------------------------------------------------------------------------------
# Block Kit for the review channel


def digest_blocks(
    digest: DigestContent, *, summary_override: str | None, digest_id: int, state: DraftState
) -> list[dict[str, Any]]:
    """The draft as the review channel sees it, with Publish / Edit / Discard while it is a draft."""
    summary = summary_shown(digest, summary_override)
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=truncate(digest.title, HEADER_TEXT_MAX), emoji=True)),
        section("*Summary*" + (" _(edited)_" if summary != digest.summary else "") + "\n" + slack_escape(summary)),
        section(_list_text("*Needs a decision*", [slack_escape(item) for item in digest.decisions], "Nothing.")),
        SectionBlock(
            fields=[
                MarkdownTextObject(text=truncate(f"*{name}*\n{slack_escape(value)}", FIELD_TEXT_MAX))
                for name, value in digest.key_numbers[:10]
            ]
        ),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=truncate(
                        slack_escape(
                            f"{digest.period_span} · policy {digest.policy_name} {digest.policy_version} · "
                            f"drafted {digest.generated}"
                        ),
                        FIELD_TEXT_MAX,
                    )
                )
            ]
        ),
    ]
    value = str(digest_id)
    if state == "draft":
        noun = "digest" if digest.kind == "weekly" else "risk report"
        blocks.append(
            ActionsBlock(
                block_id=BlockId.DIGEST_ACTIONS,
                elements=[
                    ButtonElement(
                        text="Publish",
                        action_id=ActionId.DIGEST_PUBLISH,
                        value=value,
                        style="primary",
                        confirm=ConfirmObject(
                            title=f"Publish this {noun}?",
                            text="It goes to the publish channel as shown here, and can be published only once.",
                            confirm="Publish",
                            deny="Cancel",
                        ),
                    ),
                    ButtonElement(text="Edit", action_id=ActionId.DIGEST_EDIT, value=value),
                    ButtonElement(
                        text="Discard",
                        action_id=ActionId.DIGEST_DISCARD,
                        value=value,
                        style="danger",
                        confirm=ConfirmObject(
                            title=f"Discard this {noun}?",
                            text="The draft is kept for the record but will not be published.",
                            confirm="Discard",
                            deny="Cancel",
                        ),
                    ),
                ],
            )
        )
    else:
        text = "✅ Published." if state == "published" else "🗑️ Discarded; not published."
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=text)]))
    if len(blocks) > MESSAGE_BLOCKS_MAX:
        raise ValueError(f"{len(blocks)} blocks, Slack allows {MESSAGE_BLOCKS_MAX}")
    return [block.to_dict() for block in blocks]


def _list_text(heading: str, items: Sequence[str], empty: str, limit: int = SECTION_TEXT_MAX) -> str:
    """A bulleted list within `limit` characters, ending with '…and N more' when not every item fits."""
    if not items:
        return f"{heading}\n{empty}"
    text = heading
    for index, item in enumerate(items):
        line = "\n• " + truncate(item, 500)
        # Room for the longest possible "…and N more" whenever something would still follow.
        reserve = len(f"\n…and {len(items)} more") if index < len(items) - 1 else 0
        if len(text) + len(line) + reserve > limit:
            return f"{text}\n…and {len(items) - index} more"
        text += line
    return text
