"""Domain errors. The Slack error handler turns each into an ephemeral message for the person who acted."""

from __future__ import annotations


class TripwireError(Exception):
    """A problem the user can fix; the message says how."""


class NotFound(TripwireError):
    """No such incident."""


class InvalidTransition(TripwireError):
    """The incident's status does not allow this action; nothing changed."""


class InvalidInput(TripwireError):
    """A command or form value is malformed."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AlreadyDone(TripwireError):
    """This request (a retry, a replay, a second click or submission) was handled before; it acts only once."""
