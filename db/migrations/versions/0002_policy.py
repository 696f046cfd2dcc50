"""Policy-driven triage: levels and routes on incidents, deadline clocks, timers, and the policy versions seen.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incident") as batch:
        batch.add_column(sa.Column("level", sa.String(20), nullable=True))
        batch.add_column(sa.Column("route", sa.String(100), nullable=True))
        batch.add_column(sa.Column("restricted", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("policy_hash", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("explanation", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("actions", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("paged", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("ack_due_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("snoozed_until", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("snooze_reason", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("redacted_channel_id", sa.String(100), nullable=True))
        batch.add_column(sa.Column("redacted_ts", sa.String(50), nullable=True))
    op.create_table(
        "incident_deadline",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incident.id"), nullable=False, index=True),
        sa.Column("deadline_id", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("closed_at", UTCDateTime, nullable=True),
    )
    op.create_table(
        "timer",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incident.id"), nullable=True, index=True),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("fired_at", UTCDateTime, nullable=True),
        sa.Column("fired_by", sa.String(100), nullable=False, server_default=""),
    )
    op.create_index("ix_timer_due", "timer", ["status", "due_at"])
    op.create_table(
        "policy_version",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("loaded_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("policy_version")
    op.drop_table("timer")
    op.drop_table("incident_deadline")
    with op.batch_alter_table("incident") as batch:
        for name in (
            "level",
            "route",
            "restricted",
            "policy_hash",
            "explanation",
            "actions",
            "paged",
            "ack_due_at",
            "snoozed_until",
            "snooze_reason",
            "redacted_channel_id",
            "redacted_ts",
        ):
            batch.drop_column(name)
