"""The one vocabulary: statuses, severities, actions and policy levels."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Where an incident is in its life."""

    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


class Severity(StrEnum):
    """sev1 is the worst."""

    SEV1 = "sev1"
    SEV2 = "sev2"
    SEV3 = "sev3"
    SEV4 = "sev4"


class Action(StrEnum):
    """Everything a person or the bot can do: the timeline's actions and the policy's permissions."""

    CREATE = "create"
    ACKNOWLEDGE = "acknowledge"
    ESCALATE = "escalate"
    MITIGATE = "mitigate"
    RESOLVE = "resolve"
    DISMISS = "dismiss"
    REOPEN = "reopen"
    SEVERITY = "severity"
    ASSIGN = "assign"
    NOTE = "note"
    SNOOZE = "snooze"
    # Entries the bot itself writes, or that record a refusal; they are not transitions.
    PAGE = "page"
    REMIND = "remind"
    DEADLINE = "deadline"
    UNSNOOZE = "unsnooze"
    REFUSED = "refused"
    # Permissions that are not incident changes.
    PUBLISH_DIGEST = "publish_digest"
    EXPORT_AUDIT = "export_audit"


# The actions a policy's `permissions` block may name: people do these; the bot's own entries are not granted.
PERMISSIONS: frozenset[Action] = frozenset(
    {
        Action.ACKNOWLEDGE,
        Action.ESCALATE,
        Action.MITIGATE,
        Action.RESOLVE,
        Action.DISMISS,
        Action.REOPEN,
        Action.SEVERITY,
        Action.ASSIGN,
        Action.NOTE,
        Action.SNOOZE,
        Action.PUBLISH_DIGEST,
        Action.EXPORT_AUDIT,
    }
)


OPEN = frozenset({Status.TRIGGERED, Status.ACKNOWLEDGED, Status.MITIGATED})
CLOSED = frozenset({Status.RESOLVED, Status.DISMISSED})
SEVERITIES: tuple[Severity, ...] = tuple(Severity)


class LevelName(StrEnum):
    """How far a category has gone: watch < alert < threshold."""

    WATCH = "watch"
    ALERT = "alert"
    THRESHOLD = "threshold"

    @property
    def rank(self) -> int:
        """0 for watch, 1 for alert, 2 for threshold."""
        return LEVELS.index(self)


LEVELS: tuple[LevelName, ...] = (LevelName.WATCH, LevelName.ALERT, LevelName.THRESHOLD)


def severity_rank(severity: Severity) -> int:
    """1 for sev1 (the worst) up to 4 for sev4."""
    return int(severity.value.removeprefix("sev"))
