"""SQLModel tables. Status and severity are plain strings (no native enums, so migrations can extend them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, LargeBinary, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from db.types import UTCDateTime

# An incident in one of these statuses is open. OPEN_WHERE is the open indexes' condition: a query uses a partial
# index only when its WHERE has this very condition, with the values written in (not bound parameters).
OPEN_STATUSES = ("triggered", "acknowledged", "mitigated")
OPEN_WHERE = "status IN ({})".format(", ".join(f"'{status}'" for status in OPEN_STATUSES))
# An outbox message not yet sent (or failed for good): the rows the delivery worker's claim looks among.
OUTBOX_UNSENT_WHERE = "status IN ('pending', 'sending')"
# A result that crossed a level or fell in a near-miss band; the digest's flagged-results query repeats it.
FLAGGED_WHERE = "level IS NOT NULL OR near_miss IS NOT NULL"


class Incident(SQLModel, table=True):
    """One AI-safety incident, filed by a person or raised by a pipeline."""

    __tablename__ = "incident"
    # Only open incidents, newest first (`/incident list`, App Home): small however many were ever closed.
    __table_args__ = (
        Index("ix_incident_open", "id", sqlite_where=text(OPEN_WHERE), postgresql_where=text(OPEN_WHERE)),
        Index(
            "ix_incident_open_reporter",
            "reporter",
            "id",
            sqlite_where=text(OPEN_WHERE),
            postgresql_where=text(OPEN_WHERE),
        ),
        Index(
            "ix_incident_open_assignee",
            "assignee",
            "id",
            sqlite_where=text(OPEN_WHERE),
            postgresql_where=text(OPEN_WHERE),
        ),
        # The digest: incidents opened in a period (migration 0011).
        Index("ix_incident_created", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=300)
    description: str = Field(default="", sa_type=Text)
    category: str = Field(default="unclassified", max_length=100)
    severity: str = Field(default="sev3", max_length=10)
    status: str = Field(default="triggered", max_length=20, index=True)
    model: str = Field(default="", max_length=200)
    checkpoint: str = Field(default="", max_length=200)
    deployment: str = Field(default="", max_length=100)
    links: list[str] = Field(default_factory=list, sa_type=JSON)
    reporter: str = Field(max_length=100, index=True)
    assignee: str | None = Field(default=None, max_length=100, index=True)
    source: str = Field(default="slack", max_length=50)
    policy_version: str = Field(default="", max_length=100)
    escalation_level: int = 0
    channel_id: str | None = Field(default=None, max_length=100)
    card_ts: str | None = Field(default=None, max_length=50)
    resolution_note: str = Field(default="", sa_type=Text)
    dismiss_reason: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    level: str | None = Field(default=None, max_length=20)
    route: str | None = Field(default=None, max_length=100)
    restricted: bool = False
    policy_hash: str = Field(default="", max_length=64)
    explanation: str = Field(default="", sa_type=Text)
    actions: list[str] = Field(default_factory=list, sa_type=JSON)
    paged: list[str] = Field(default_factory=list, sa_type=JSON)
    ack_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    snoozed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    snooze_reason: str = Field(default="", sa_type=Text)
    redacted_channel_id: str | None = Field(default=None, max_length=100)
    redacted_ts: str | None = Field(default=None, max_length=50)
    dedup_key: str | None = Field(default=None, max_length=800)
    metric_id: str | None = Field(default=None, max_length=200)
    result_count: int = 0
    last_value: float | None = None
    worst_value: float | None = None
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    alert_key: str | None = Field(default=None, max_length=300)

    @property
    def ref(self) -> str:
        """The ID people type: INC-42."""
        return f"INC-{self.id}"


class TimelineEntry(SQLModel, table=True):
    """One change to an incident: who, when, what, before and after. Append-only (a trigger enforces it)."""

    __tablename__ = "timeline_entry"
    # One chain per incident: seq counts its entries from 1, each hash covers the entry and the previous hash.
    __table_args__ = (Index("uq_timeline_incident_seq", "incident_id", "seq", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    seq: int = 0
    at: datetime = Field(sa_type=UTCDateTime)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=50)
    before: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    after: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    note: str = Field(default="", sa_type=Text)
    prev_hash: str = Field(default="", max_length=64)
    hash: str = Field(default="", max_length=64)


class OutboxMessage(SQLModel, table=True):
    """A Slack call that must not be lost, written in the same transaction as the change it reports."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        # Each channel's head among its unsent messages (db/queues.py claim_due_outbox), found without a scan.
        Index(
            "ix_outbox_unsent_channel",
            "channel",
            "id",
            sqlite_where=text(OUTBOX_UNSENT_WHERE),
            postgresql_where=text(OUTBOX_UNSENT_WHERE),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=30)
    channel: str = Field(max_length=100)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    status: str = Field(default="pending", max_length=10)
    attempts: int = 0
    created_at: datetime = Field(sa_type=UTCDateTime)
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str = Field(default="", sa_type=Text)
    # When the first call went out (wall time, compared with Slack's clock): where to look for a post whose answer
    # was lost.
    first_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A call went out and its answer never came (crash, timeout, reset): look before sending again.
    outcome_unknown: bool = False
    # Where Slack put the message (the conversation id, a DM's too) and its ts, answered or found.
    slack_channel: str | None = Field(default=None, max_length=100)
    slack_ts: str | None = Field(default=None, max_length=50)


class IncidentDeadline(SQLModel, table=True):
    """A deadline clock a policy level started (a capability decision, an external report)."""

    __tablename__ = "incident_deadline"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    deadline_id: str = Field(max_length=100)
    name: str = Field(max_length=200)
    started_at: datetime = Field(sa_type=UTCDateTime)
    due_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default="running", max_length=20)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Timer(SQLModel, table=True):
    """Something that must happen at a time (a page, a reminder, a deadline falling due); claimed exactly once."""

    __tablename__ = "timer"
    __table_args__ = (Index("ix_timer_due", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=30)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    due_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default="pending", max_length=12)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    fired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    fired_by: str = Field(default="", max_length=100)


class PolicyVersion(SQLModel, table=True):
    """Every distinct policy file the bot has run with, so incidents and digests can name what applied."""

    __tablename__ = "policy_version"

    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(max_length=100)
    content_hash: str = Field(max_length=64, unique=True)
    source: str = Field(max_length=500)
    content: str = Field(sa_type=Text)
    loaded_at: datetime = Field(sa_type=UTCDateTime)


class EvalResult(SQLModel, table=True):
    """One stored evaluation number (the eval history), with what the policy said of it when it arrived."""

    __tablename__ = "eval_result"
    __table_args__ = (
        UniqueConstraint("source", "run_id", "task", "scorer", "metric", name="uq_eval_result_identity"),
        Index("ix_eval_result_series", "policy_metric", "model_family", "observed_at"),
        Index("ix_eval_result_observed", "observed_at"),
        # The digest (migration 0011): a metric's chart points from the index alone, and the flagged results only.
        Index("ix_eval_result_metric_time", "policy_metric", "observed_at", "model_family", "checkpoint", "value"),
        Index(
            "ix_eval_result_flagged",
            "observed_at",
            sqlite_where=text(FLAGGED_WHERE),
            postgresql_where=text(FLAGGED_WHERE),
        ),
        # The triage worker's queue: only the rows still waiting, so the index stays small however long the history.
        Index(
            "ix_eval_result_untriaged",
            "id",
            sqlite_where=text("triaged_at IS NULL"),
            postgresql_where=text("triaged_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=20)
    run_id: str = Field(max_length=500)
    task: str = Field(max_length=500)
    scorer: str = Field(default="", max_length=500)
    metric: str = Field(max_length=500)
    model: str = Field(max_length=500)
    model_family: str = Field(max_length=500)
    checkpoint: str = Field(default="", max_length=500)
    value: float
    stderr: float | None = None
    # How many samples the value is a mean over, when the source says (migration 0012).
    samples: int | None = None
    observed_at: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(sa_type=UTCDateTime)
    url: str | None = Field(default=None, max_length=2000)
    labels: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    policy_metric: str | None = Field(default=None, max_length=200)
    level: str | None = Field(default=None, max_length=20)
    near_miss: str | None = Field(default=None, max_length=20)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    # None: stored, waiting for the triage worker (bot/ingest/worker.py).
    triaged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A request triaging its own rows holds them until then; the background worker leaves them alone till it passes.
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TrendState(SQLModel, table=True):
    """The recent points of one series (metric, model family), kept by the triage worker for the trend check."""

    __tablename__ = "trend_state"

    policy_metric: str = Field(primary_key=True, max_length=200)
    model_family: str = Field(primary_key=True, max_length=500)
    # [[observed_at ISO, checkpoint, value], ...], oldest first, bounded by the metric's trend window.
    points: list[list[Any]] = Field(default_factory=list, sa_type=JSON)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Digest(SQLModel, table=True):
    """A digest for one kind and period: drafted once (unique), reviewed, then published or discarded."""

    __tablename__ = "digest"
    __table_args__ = (UniqueConstraint("kind", "period_start", name="uq_digest_period"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    period_start: datetime = Field(sa_type=UTCDateTime)
    period_end: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default="draft", max_length=12)
    summary_override: str | None = Field(default=None, sa_type=Text)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    # The review message for each state (draft, published, discarded), rendered when the text is.
    blocks: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    text_slack: str = Field(default="", sa_type=Text)
    text_md: str = Field(default="", sa_type=Text)
    content_hash: str = Field(default="", max_length=64)
    review_channel: str = Field(max_length=100)
    review_ts: str | None = Field(default=None, max_length=50)
    publish_channel: str = Field(max_length=100)
    publish_ts: str | None = Field(default=None, max_length=50)
    created_at: datetime = Field(sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by: str | None = Field(default=None, max_length=100)


class DigestChart(SQLModel, table=True):
    """A chart PNG rendered for a digest, kept so the published snapshot can be uploaded again unchanged."""

    __tablename__ = "digest_chart"

    id: int | None = Field(default=None, primary_key=True)
    digest_id: int = Field(foreign_key="digest.id", index=True)
    metric_id: str = Field(max_length=200)
    title: str = Field(max_length=500)
    png: bytes = Field(sa_type=LargeBinary)


class DedupClaim(SQLModel, table=True):
    """Which incident results with a dedup key group onto: one row per key (the primary key), so one holder.

    The row stays when its holder closes (holder None), so a later crossing locks an existing row instead of
    racing to insert one; see db/repositories.py `claim_dedup_key`.
    """

    __tablename__ = "dedup_claim"

    dedup_key: str = Field(primary_key=True, max_length=800)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", unique=True)


class IdempotencyKey(SQLModel, table=True):
    """A request a sender may repeat (a retry, a replay, a double click), claimed once with the effect it caused."""

    __tablename__ = "idempotency_key"

    key: str = Field(primary_key=True, max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
