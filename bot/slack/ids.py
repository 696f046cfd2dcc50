"""Every Slack action id, callback id and block id the bot uses: one place, no scattered literals."""

from __future__ import annotations

from enum import StrEnum


class ActionId(StrEnum):
    """Buttons on the incident card, in page DMs and in App Home."""

    ACKNOWLEDGE = "incident_acknowledge"
    ESCALATE = "incident_escalate"
    RESOLVE = "incident_resolve"
    REOPEN = "incident_reopen"
    SNOOZE = "incident_snooze"
    # A page DM's link to the card's channel: Slack opens the link and still sends the click, which is only acked.
    OPEN_CARD = "page_open_card"
    DIGEST_PUBLISH = "digest_publish"
    DIGEST_EDIT = "digest_edit"
    DIGEST_DISCARD = "digest_discard"


class CallbackId(StrEnum):
    """Modals and shortcuts."""

    NEW_INCIDENT = "incident_new"
    REPORT_SHORTCUT = "report_safety_incident"
    SNOOZE = "incident_snooze"
    DIGEST_EDIT = "digest_edit"


class BlockId(StrEnum):
    """Inputs of the new-incident modal (also the field names validation errors refer to)."""

    TITLE = "title"
    DESCRIPTION = "description"
    CATEGORY = "category"
    SEVERITY = "severity"
    MODEL = "model"
    CHECKPOINT = "checkpoint"
    DEPLOYMENT = "deployment"
    LINKS = "links"
    DURATION = "duration"
    REASON = "reason"
    SUMMARY = "summary"
    DIGEST_ACTIONS = "digest_actions"
    CARD_ACTIONS = "card_actions"
    PAGE_ACTIONS = "page_actions"


# Every input in the modal uses this action id; the block id says which field it is.
INPUT_ACTION = "value"
