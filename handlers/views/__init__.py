"""Modal submissions: the report form and the snooze form."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Protocol

from slack_bolt import Ack, App

from bot.common.errors import AlreadyDone, InvalidInput, InvalidTransition, NotFound
from bot.incidents.lifecycle import UNSTORABLE, validate_draft
from bot.incidents.records import PermissionDenied
from bot.incidents.service import IncidentService
from bot.policy.values import parse_duration
from bot.slack.ids import BlockId, CallbackId
from bot.slack.modals import filed_modal


def form_values(view: dict[str, Any]) -> dict[str, str]:
    """Flatten view.state.values into {block_id: text}, whatever element type held the value."""
    values: dict[str, str] = {}
    for block_id, elements in view.get("state", {}).get("values", {}).items():
        for element in elements.values():
            selected = element.get("selected_option") or {}
            values[block_id] = str(element.get("value") or selected.get("value") or "")
    return values


# The report form's inputs, by block id: what validate_draft takes (anything else a submission carries is ignored).
DRAFT_FIELDS = (
    BlockId.TITLE,
    BlockId.DESCRIPTION,
    BlockId.CATEGORY,
    BlockId.SEVERITY,
    BlockId.MODEL,
    BlockId.CHECKPOINT,
    BlockId.DEPLOYMENT,
    BlockId.LINKS,
)


class CommandSetting(Protocol):
    """The one setting the confirmation needs: the slash command's name (bot.app.config.Settings has it)."""

    @property
    def command(self) -> str: ...


def handle_new_incident_submission(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], incidents: IncidentService, settings: CommandSetting
) -> None:
    """Validate field by field; store the incident, then turn the form into its confirmation."""
    values = form_values(view)
    draft, errors = validate_draft(**{field.value: values.get(field, "") for field in DRAFT_FIELDS})
    if draft is None:
        ack(response_action="errors", errors=errors)
        return
    incident = incidents.report(draft=draft, reporter=body["user"]["id"])
    ack(response_action="update", view=filed_modal(incident, command=settings.command))


# Refusals that concern the snooze as a whole (who asks, the incident's state) rather than one value typed: the person
# is looking at the form, so they are shown on it, next to the duration, instead of in a direct message they would
# have to go and find. `/incident snooze` answers the same refusals ephemerally (bot/incidents/commands.py).
WHOLE_FORM_REFUSALS = (PermissionDenied, InvalidTransition, NotFound)
# The same form sent again, and nothing to refuse now (a policy reload gave the person the role, or the first one
# snoozed and this is a double submission): it is not acted on twice, a new form would be.
SUBMITTED_BEFORE = "This form was sent already. To snooze now, close it and press Snooze on the card again."


def handle_snooze_submission(ack: Ack, body: dict[str, Any], view: dict[str, Any], incidents: IncidentService) -> None:
    """Snooze the incident, or keep the form open with the refusal next to the field it concerns."""
    values = form_values(view)
    if UNSTORABLE.search(values.get(BlockId.REASON, "")):
        ack(response_action="errors", errors={BlockId.REASON: "Remove the control or broken characters."})
        return
    try:
        acted = _snooze_once(
            incidents,
            incident_id=int(json.loads(view.get("private_metadata") or "{}")["incident_id"]),
            actor=body["user"]["id"],
            duration=parse_duration(values.get(BlockId.DURATION, "")),
            reason=values.get(BlockId.REASON, ""),
        )
    except InvalidInput as exc:
        ack(response_action="errors", errors={exc.field or BlockId.REASON: str(exc)})
    except WHOLE_FORM_REFUSALS as exc:
        ack(response_action="errors", errors={BlockId.DURATION: str(exc)})
    else:
        if acted:
            ack()
        else:
            ack(response_action="errors", errors={BlockId.DURATION: SUBMITTED_BEFORE})


def _snooze_once(incidents: IncidentService, *, incident_id: int, actor: str, duration: timedelta, reason: str) -> bool:
    """Snooze; False if this very form was sent before (it is not acted on twice). Raises what is refused now."""
    try:
        incidents.snooze(incident_id=incident_id, actor=actor, duration=duration, reason=reason)
    except AlreadyDone:
        # The same form (same view hash) came before. A form still open was refused by role then, and the refusal's
        # timeline entry claimed the submission: say why it is still refused, if it is.
        incidents.check_snooze(incident_id=incident_id, actor=actor)
        return False
    return True


def register(app: App) -> None:
    """Listen for both forms."""
    app.view(CallbackId.NEW_INCIDENT.value)(handle_new_incident_submission)
    app.view(CallbackId.SNOOZE.value)(handle_snooze_submission)
