"""The review channel's Publish / Edit / Discard buttons and the edit form."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.common.errors import InvalidInput
from bot.digest.service import DigestService
from bot.slack.ids import ActionId, BlockId, CallbackId
from bot.slack.modals import digest_edit_modal
from handlers.views import form_values


def handle_digest_decision(ack: Ack, action: dict[str, Any], body: dict[str, Any], digests: DigestService) -> None:
    """Publish or discard; the review message is updated through the outbox."""
    ack()
    verb = digests.publish if action["action_id"] == ActionId.DIGEST_PUBLISH else digests.discard
    verb(digest_id=int(action["value"]), actor=body["user"]["id"])


def handle_digest_edit_button(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], client: WebClient, digests: DigestService
) -> None:
    """Open the summary editor with the current summary."""
    ack()
    digest = digests.get(digest_id=int(action["value"]))
    summary = digest.summary_override or str(digest.data.get("summary", ""))
    client.views_open(trigger_id=body["trigger_id"], view=digest_edit_modal(digest_id=digest.id or 0, summary=summary))


def handle_digest_edit_submission(ack: Ack, body: dict[str, Any], view: dict[str, Any], digests: DigestService) -> None:
    """Save the new summary, or show why not next to the field."""
    digest_id = int(json.loads(view.get("private_metadata") or "{}")["digest_id"])
    try:
        digests.edit(digest_id=digest_id, actor=body["user"]["id"], summary=form_values(view).get(BlockId.SUMMARY, ""))
    except InvalidInput as exc:
        ack(response_action="errors", errors={BlockId.SUMMARY: str(exc)})
        return
    ack()


def register(app: App) -> None:
    """Listen for the digest buttons and form."""
    app.action(ActionId.DIGEST_PUBLISH.value)(handle_digest_decision)
    app.action(ActionId.DIGEST_DISCARD.value)(handle_digest_decision)
    app.action(ActionId.DIGEST_EDIT.value)(handle_digest_edit_button)
    app.view(CallbackId.DIGEST_EDIT.value)(handle_digest_edit_submission)
