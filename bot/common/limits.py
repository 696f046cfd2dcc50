"""Slack's limits on what a message, a view or a text may hold (Block Kit reference), and the cut to them."""

from __future__ import annotations

from typing import Final

MESSAGE_BLOCKS_MAX: Final = 50
VIEW_BLOCKS_MAX: Final = 100
SECTION_TEXT_MAX: Final = 3000
FIELD_TEXT_MAX: Final = 2000
HEADER_TEXT_MAX: Final = 150
INPUT_TEXT_MAX: Final = 3000
# Files shared by one files.completeUploadExternal call: Slack refuses larger batches (seen failing above ~14).
FILES_PER_UPLOAD_MAX: Final = 10
# Not Slack's: how many characters of a title a digest line shows, and how many items a Slack list shows.
LABEL_MAX: Final = 80
SLACK_LIST_MAX: Final = 10


def truncate(text: str, limit: int, note: str = "…") -> str:
    """Cut text to `limit` characters, ending with `note` when something was cut."""
    return text if len(text) <= limit else text[: max(0, limit - len(note))] + note
