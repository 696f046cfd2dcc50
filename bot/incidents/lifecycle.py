"""The incident lifecycle as pure rules: which action is allowed from which status, and what it sets."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.common.errors import InvalidInput, InvalidTransition
from bot.common.limits import HEADER_TEXT_MAX
from bot.common.vocabulary import CLOSED, OPEN, Action, Severity, Status

# Which statuses each action may start from, and the status it leaves behind (None: unchanged).
TRANSITIONS: dict[Action, tuple[frozenset[Status], Status | None]] = {
    Action.ACKNOWLEDGE: (frozenset({Status.TRIGGERED}), Status.ACKNOWLEDGED),
    # Escalating hands the incident to the next responder, who must acknowledge it again.
    Action.ESCALATE: (frozenset({Status.TRIGGERED, Status.ACKNOWLEDGED}), Status.TRIGGERED),
    Action.MITIGATE: (frozenset({Status.TRIGGERED, Status.ACKNOWLEDGED}), Status.MITIGATED),
    Action.RESOLVE: (OPEN, Status.RESOLVED),
    Action.DISMISS: (OPEN, Status.DISMISSED),
    Action.REOPEN: (CLOSED, Status.TRIGGERED),
    Action.SEVERITY: (OPEN, None),
    Action.ASSIGN: (OPEN, None),
    Action.NOTE: (OPEN | CLOSED, None),
    Action.SNOOZE: (frozenset({Status.TRIGGERED, Status.ACKNOWLEDGED}), None),
}

VERB = {
    Action.ACKNOWLEDGE: "ack",
    Action.ESCALATE: "escalate",
    Action.MITIGATE: "mitigate",
    Action.RESOLVE: "resolve",
    Action.DISMISS: "dismiss",
    Action.REOPEN: "reopen",
    Action.SEVERITY: "sev",
    Action.ASSIGN: "assign",
    Action.NOTE: "note",
    Action.SNOOZE: "snooze",
}


def next_status(action: Action, current: Status, ref: str) -> Status:
    """Return the status after `action`, or raise InvalidTransition saying what would be allowed."""
    allowed, target = TRANSITIONS[action]
    if current not in allowed:
        hint = "reopen it first with `reopen " + ref + "`" if current in CLOSED else "it is already " + current
        needs = " or ".join(sorted(allowed))
        raise InvalidTransition(f"{ref} is {current}: `{VERB[action]}` needs it to be {needs}; {hint}.")
    return target if target is not None else current


INCIDENT_REF = re.compile(r"^(?:INC-?)?(\d{1,12})$", re.IGNORECASE)


def parse_ref(text: str) -> int:
    """Turn `INC-42` (or `inc42`, or `42`) into 42."""
    match = INCIDENT_REF.match(text.strip())
    if not match:
        raise InvalidInput(f"`{text}` is not an incident ID; IDs look like INC-42.", field="id")
    return int(match.group(1))


def parse_severity(text: str) -> Severity:
    """Accept sev1..sev4 (any case)."""
    try:
        return Severity(text.strip().lower())
    except ValueError:
        raise InvalidInput(f"`{text}` is not a severity; use sev1, sev2, sev3 or sev4.", field="severity") from None


@dataclass(frozen=True)
class Draft:
    """What a reporter submits: validated before anything is stored."""

    title: str
    description: str = ""
    category: str = "unclassified"
    severity: Severity = Severity.SEV3
    model: str = ""
    checkpoint: str = ""
    deployment: str = ""
    links: tuple[str, ...] = ()


TITLE_MAX = HEADER_TEXT_MAX
# The incident table's column sizes (db/models.py Incident): longer values are refused here, not by the database.
MODEL_MAX, CHECKPOINT_MAX, DEPLOYMENT_MAX, CATEGORY_MAX, SEVERITY_MAX = 200, 200, 100, 100, 10
URL = re.compile(r"^https?://[^\s<>|]+$")
# NUL (PostgreSQL text refuses it) and lone surrogates (not encodable as UTF-8): no database can store them.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _field_problems(fields: dict[str, tuple[str, int | None]]) -> dict[str, str]:
    """Per field: a character no database stores, or more characters than its column holds (None: unbounded)."""
    errors: dict[str, str] = {}
    for name, (value, limit) in fields.items():
        if UNSTORABLE.search(value):
            errors[name] = "Remove the control or broken characters from this field (a NUL or a lone surrogate)."
        elif limit is not None and len(value.strip()) > limit:
            errors[name] = f"Keep this to {limit} characters (it has {len(value.strip())})."
    return errors


def validate_draft(
    *,
    title: str,
    description: str = "",
    category: str = "",
    severity: str = "",
    model: str = "",
    checkpoint: str = "",
    deployment: str = "",
    links: str = "",
) -> tuple[Draft | None, dict[str, str]]:
    """Check form values; return a Draft, or the field-level errors (field name -> message)."""
    title = " ".join(title.split())
    errors = _field_problems(
        {
            "title": (title, TITLE_MAX),
            "severity": (severity, SEVERITY_MAX),
            # Text and JSON columns: a long description is stored whole (the card shows its start).
            "description": (description, None),
            "category": (category, CATEGORY_MAX),
            "model": (model, MODEL_MAX),
            "checkpoint": (checkpoint, CHECKPOINT_MAX),
            "deployment": (deployment, DEPLOYMENT_MAX),
            "links": (links, None),
        }
    )
    if not title:
        errors["title"] = "Give the incident a title."
    sev = Severity.SEV3
    if severity and "severity" not in errors:
        try:
            sev = parse_severity(severity)
        except InvalidInput as exc:
            errors["severity"] = str(exc)
    link_list = tuple(line.strip() for line in links.splitlines() if line.strip())
    bad = [link for link in link_list if not URL.match(link)]
    if bad and "links" not in errors:
        errors["links"] = f"Not a web link: {bad[0][:80]} (one http(s) URL per line)."
    if errors:
        return None, errors
    return (
        Draft(
            title=title,
            description=description.strip(),
            category=category.strip() or "unclassified",
            severity=sev,
            model=model.strip(),
            checkpoint=checkpoint.strip(),
            deployment=deployment.strip(),
            links=link_list,
        ),
        {},
    )
