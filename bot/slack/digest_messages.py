"""A digest in Slack: its mrkdwn text, the review message in each state, and the renderer DigestService is given."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
)

from bot.common.limits import (
    FIELD_TEXT_MAX,
    MESSAGE_BLOCKS_MAX,
    SECTION_TEXT_MAX,
    SLACK_LIST_MAX,
    truncate,
)
from bot.digest.render import number, summary_shown
from bot.digest.views import CountTable, DigestContent, DraftState
from bot.slack.ids import ActionId, BlockId
from bot.slack.modals import published_digest
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
    text = (
        render(
            MRKDWN_TEMPLATES[digest.kind],
            d=digest,
            summary=summary_shown(digest, summary_override),
            esc=slack_escape,
            num=number,
            fixed=fixed_table,
            it=slack_italic,
            more=SLACK_LIST_MAX,
        )
        + "\n"
    )
    # The post is split into sections at line breaks; a longer line (a reviewer's long summary) would be refused.
    return "\n".join(part for line in text.split("\n") for part in _wrapped(line))


# A line of the digest text is at most this long, leaving room in a section for the lines around it.
LINE_MAX = SECTION_TEXT_MAX - 500


def _wrapped(line: str) -> list[str]:
    """A line split at spaces into pieces of at most LINE_MAX characters (hard splits only without spaces)."""
    parts = []
    while len(line) > LINE_MAX:
        cut = line.rfind(" ", 0, LINE_MAX)
        cut = cut if cut > 0 else LINE_MAX
        parts.append(line[:cut])
        line = line[cut:].lstrip(" ")
    return [*parts, line]


def slack_italic(text: str) -> str:
    """Italic mrkdwn that renders: Slack ends `_…_` at an underscore, so words holding one (America/Los_Angeles,
    cyber.ctf_solve) stand upright between italic runs, and each line is italicised on its own."""
    return "\n".join(_italic_line(line) for line in text.split("\n"))


def _italic_line(line: str) -> str:
    out: list[str] = []
    run: list[str] = []
    for word in line.split(" "):
        if word and "_" not in word:
            run.append(word)
            continue
        if run:
            out.append(f"_{' '.join(run)}_")
            run = []
        out.append(word)
    if run:
        out.append(f"_{' '.join(run)}_")
    return " ".join(out)


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
    """The draft as the review channel sees it: exactly the post Publish sends, then a note and the buttons."""
    summary = summary_shown(digest, summary_override)
    # The same builder the publish call uses (bot/slack/calls.py), on the same title and text: what is reviewed is
    # what is published. Two blocks are kept free for the note and the buttons.
    post = published_digest(title=digest.title, text=digest_mrkdwn(digest, summary_override=summary_override))
    blocks: list[dict[str, Any]] = post[: MESSAGE_BLOCKS_MAX - 2]
    edited = " The summary was edited in review." if summary != digest.summary else ""
    value = str(digest_id)
    if state == "draft":
        noun = "digest" if digest.kind == "weekly" else "risk report"
        note = f"Draft {noun}, drafted {digest.generated}. Publish posts the message above as it is.{edited}"
        actions = ActionsBlock(
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
        blocks += [_context(note), actions.to_dict()]
    else:
        text = "✅ Published." if state == "published" else "🗑️ Discarded; not published."
        blocks.append(_context(text + edited))
    if len(blocks) > MESSAGE_BLOCKS_MAX:
        raise ValueError(f"{len(blocks)} blocks, Slack allows {MESSAGE_BLOCKS_MAX}")
    return blocks


def _context(text: str) -> dict[str, Any]:
    return ContextBlock(elements=[MarkdownTextObject(text=truncate(slack_escape(text), FIELD_TEXT_MAX))]).to_dict()
