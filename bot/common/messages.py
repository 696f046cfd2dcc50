"""What services queue for the chat tool: one frozen dataclass per outbox kind, and how each is stored and read back.

An outbox row keeps a kind, a channel, an incident id and a JSON payload; `payload()` writes the payload and
`from_row()` reads it back, so both sides agree in this one place. Only bot/slack turns a message into Slack.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol, Self


class StoredMessage(Protocol):
    """An outbox row as it is read back (db.models.OutboxMessage is one)."""

    channel: str
    incident_id: int | None
    payload: dict[str, Any]


# -- incident cards and their threads


@dataclass(frozen=True)
class _CardMessage:
    incident_id: int
    channel: str
    # The copy of a restricted incident's card in the triage channel: it shows that the incident exists, and where.
    redacted: bool = False
    # Queued by a person's action (a click, a command), not by the bot: someone is looking at the card for it.
    by_person: bool = False

    def payload(self) -> dict[str, Any]:
        """What the row stores besides the address."""
        return {name: True for name in ("redacted", "by_person") if getattr(self, name)}

    @classmethod
    def from_row(cls, row: StoredMessage) -> Self:
        """The message a stored row holds."""
        return cls(
            incident_id=row.incident_id or 0,
            channel=row.channel,
            redacted=bool(row.payload.get("redacted")),
            by_person=bool(row.payload.get("by_person")),
        )


@dataclass(frozen=True)
class CardPost(_CardMessage):
    """Post an incident's card to a channel."""

    kind: ClassVar[str] = "card.post"


@dataclass(frozen=True)
class ResponseUrl:
    """The response_url of a click on a message's button: Slack lets it replace that message (`channel`, `ts`)."""

    url: str
    channel: str
    ts: str


@dataclass(frozen=True)
class CardUpdate(_CardMessage):
    """Edit a posted card in place to show the incident as it is now."""

    kind: ClassVar[str] = "card.update"
    # The response_url of the click on this card that asked for the edit, and when the click came (the bot's clock):
    # the edit can replace the card through it instead of spending chat.update's quota (bot/slack/calls.py).
    response_url: str | None = None
    clicked_at: datetime | None = None

    def payload(self) -> dict[str, Any]:
        """What the row stores besides the address."""
        if self.response_url is None or self.clicked_at is None:
            return super().payload()
        return super().payload() | {"response_url": self.response_url, "clicked_at": self.clicked_at.isoformat()}

    @classmethod
    def from_row(cls, row: StoredMessage) -> Self:
        """The message a stored row holds (rows queued before clicks carried a response_url have none)."""
        card = super().from_row(row)
        url, at = row.payload.get("response_url"), row.payload.get("clicked_at")
        if not url or not at:
            return card
        return replace(card, response_url=str(url), clicked_at=datetime.fromisoformat(at))


@dataclass(frozen=True)
class ThreadLine:
    """Reply in the card's thread with one timeline entry."""

    kind: ClassVar[str] = "thread.reply"
    incident_id: int
    channel: str
    timeline_entry_id: int

    def payload(self) -> dict[str, Any]:
        """What the row stores besides the address."""
        return {"timeline_entry_id": self.timeline_entry_id}

    @classmethod
    def from_row(cls, row: StoredMessage) -> Self:
        """The message a stored row holds."""
        entry = int(row.payload["timeline_entry_id"])
        return cls(incident_id=row.incident_id or 0, channel=row.channel, timeline_entry_id=entry)


# -- direct messages to the people paged


Urgency = Literal["reminder", "soon", "overdue"]


@dataclass(frozen=True)
class DeadlineBrief:
    """The deadline clock a reminder is about, and how urgent the reminder is (rising as the clock runs out)."""

    name: str
    due_at: datetime
    urgency: Urgency

    def as_json(self) -> dict[str, Any]:
        """The brief as JSON-ready values."""
        return {"name": self.name, "due_at": self.due_at.isoformat(), "urgency": self.urgency}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """A brief back from `as_json`."""
        urgency: Urgency = data["urgency"] if data["urgency"] in ("reminder", "soon", "overdue") else "reminder"
        return cls(name=str(data["name"]), due_at=datetime.fromisoformat(data["due_at"]), urgency=urgency)


@dataclass(frozen=True)
class IncidentBrief:
    """What a direct message says about an incident, as it stood when the message was queued."""

    ref: str
    title: str
    severity: str
    level: str | None
    category: str
    restricted: bool
    channel_id: str | None
    ack_due_at: datetime | None
    # Set on a reminder about a deadline clock rather than about the acknowledgement.
    deadline: DeadlineBrief | None = None

    def as_json(self) -> dict[str, Any]:
        """The brief as JSON-ready values (no `deadline` key on an ack reminder or a page, as before)."""
        due = self.ack_due_at.isoformat() if self.ack_due_at is not None else None
        data = {**asdict(self), "ack_due_at": due}
        del data["deadline"]
        return data | ({"deadline": self.deadline.as_json()} if self.deadline is not None else {})

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """A brief back from `as_json`."""
        due = data.get("ack_due_at")
        deadline = DeadlineBrief.from_json(data["deadline"]) if data.get("deadline") else None
        return cls(
            **{**data, "ack_due_at": datetime.fromisoformat(due) if due else None, "deadline": deadline},
        )


@dataclass(frozen=True)
class _DirectMessage:
    # A DM tells what was paged when it was paged, so it carries the incident as it stood then; the card, in
    # contrast, always shows the incident as it is now.
    incident_id: int
    user: str
    incident: IncidentBrief

    @property
    def channel(self) -> str:
        """A direct message is addressed to the person."""
        return self.user

    def payload(self) -> dict[str, Any]:
        """What the row stores besides the address."""
        return {"incident": self.incident.as_json()}

    @classmethod
    def from_row(cls, row: StoredMessage) -> Self:
        """The message a stored row holds."""
        brief = IncidentBrief.from_json(row.payload["incident"])
        return cls(incident_id=row.incident_id or 0, user=row.channel, incident=brief)


@dataclass(frozen=True)
class PageDM(_DirectMessage):
    """Tell one person they are paged for an incident."""

    kind: ClassVar[str] = "incident.page"


@dataclass(frozen=True)
class PageUpdate:
    """Edit one sent page DM to say what was done about the incident (its buttons follow the status)."""

    kind: ClassVar[str] = "page.update"
    incident_id: int
    # The page's address (the person), so the edit waits behind that page's post in the outbox's edit lane.
    user: str
    page_id: int
    action: str
    actor: str
    at: datetime
    # The incident's status and escalation step after the change: they decide the buttons and the words.
    status: str
    step: int

    @property
    def channel(self) -> str:
        """Keyed like the page it edits."""
        return self.user

    def payload(self) -> dict[str, Any]:
        """What the row stores besides the address."""
        return {
            "page": self.page_id,
            "action": self.action,
            "actor": self.actor,
            "at": self.at.isoformat(),
            "status": self.status,
            "step": self.step,
        }

    @classmethod
    def from_row(cls, row: StoredMessage) -> Self:
        """The message a stored row holds."""
        data = row.payload
        return cls(
            incident_id=row.incident_id or 0,
            user=row.channel,
            page_id=int(data["page"]),
            action=str(data["action"]),
            actor=str(data["actor"]),
            at=datetime.fromisoformat(data["at"]),
            status=str(data["status"]),
            step=int(data.get("step", 0)),
        )


@dataclass(frozen=True)
class ReminderDM(_DirectMessage):
    """Remind one person that an incident is still not acknowledged, or that one of its deadline clocks runs out."""

    kind: ClassVar[str] = "incident.reminder"


# -- digests in the review and publish channels


@dataclass(frozen=True)
class _DigestMessage:
    digest_id: int
    channel: str

    @property
    def incident_id(self) -> None:
        """A digest is about no single incident."""
        return None

    def payload(self) -> dict[str, Any]:
        """What the row stores besides the address."""
        return {"id": self.digest_id}

    @classmethod
    def from_row(cls, row: StoredMessage) -> Self:
        """The message a stored row holds."""
        return cls(digest_id=int(row.payload["id"]), channel=row.channel)


@dataclass(frozen=True)
class DigestReview(_DigestMessage):
    """Post a new draft to the review channel, with its Publish / Edit / Discard buttons."""

    kind: ClassVar[str] = "digest.review"


@dataclass(frozen=True)
class DigestRefresh(_DigestMessage):
    """Edit the review message to show the draft's current text and state."""

    kind: ClassVar[str] = "digest.refresh"


@dataclass(frozen=True)
class DigestPublish(_DigestMessage):
    """Post the published digest to the publish channel."""

    kind: ClassVar[str] = "digest.publish"


@dataclass(frozen=True)
class DigestCharts(_DigestMessage):
    """Upload a digest's charts into the thread of its review or its published message."""

    kind: ClassVar[str] = "digest.charts"
    target: Literal["review", "publish"]
    # One upload carries at most FILES_PER_UPLOAD_MAX charts: this message uploads the batch starting at `first`.
    first: int = 0

    def payload(self) -> dict[str, Any]:
        """What the row stores besides the address."""
        payload: dict[str, Any] = {"id": self.digest_id, "target": self.target}
        return payload | {"first": self.first} if self.first else payload

    @classmethod
    def from_row(cls, row: StoredMessage) -> Self:
        """The message a stored row holds (rows queued before batches had no `first`: they start at 0)."""
        target: Literal["review", "publish"] = "review" if row.payload.get("target") == "review" else "publish"
        first = int(row.payload.get("first", 0))
        return cls(digest_id=int(row.payload["id"]), channel=row.channel, target=target, first=first)

    @classmethod
    def batches(
        cls, *, digest_id: int, channel: str, target: Literal["review", "publish"], count: int, size: int
    ) -> list[Self]:
        """One upload message per `size` charts, in order."""
        return [
            cls(digest_id=digest_id, channel=channel, target=target, first=first) for first in range(0, count, size)
        ]


# -- the policy file


@dataclass(frozen=True)
class PolicyRefusedNotice:
    """Tell an admin that a changed policy file was refused and which version stays in force."""

    kind: ClassVar[str] = "policy.refused"
    admin: str
    path: str
    version: str
    problems: tuple[str, ...]

    @property
    def channel(self) -> str:
        """The notice goes to the admin directly."""
        return self.admin

    @property
    def incident_id(self) -> None:
        """The notice is about no incident."""
        return None

    def payload(self) -> dict[str, Any]:
        """What the row stores besides the address."""
        return {"path": self.path, "version": self.version, "problems": list(self.problems)}

    @classmethod
    def from_row(cls, row: StoredMessage) -> Self:
        """The message a stored row holds."""
        payload = row.payload
        return cls(
            admin=row.channel,
            path=str(payload["path"]),
            version=str(payload["version"]),
            problems=tuple(str(problem) for problem in payload["problems"]),
        )


# -- messages Slack refused


@dataclass(frozen=True)
class ParkedNotice:
    """Tell an admin that Slack refused a queued message for good, so it was parked and will not be sent."""

    kind: ClassVar[str] = "outbox.parked"
    admin: str
    outbox_id: int
    message_kind: str
    message_channel: str
    error: str

    @property
    def channel(self) -> str:
        """The notice goes to the admin directly."""
        return self.admin

    @property
    def incident_id(self) -> None:
        """The notice names the incident in its payload's message, not as its own."""
        return None

    def payload(self) -> dict[str, Any]:
        """What the row stores besides the address."""
        return {
            "outbox_id": self.outbox_id,
            "kind": self.message_kind,
            "channel": self.message_channel,
            "error": self.error,
        }

    @classmethod
    def from_row(cls, row: StoredMessage) -> Self:
        """The message a stored row holds."""
        payload = row.payload
        return cls(
            admin=row.channel,
            outbox_id=int(payload["outbox_id"]),
            message_kind=str(payload["kind"]),
            message_channel=str(payload["channel"]),
            error=str(payload["error"]),
        )
