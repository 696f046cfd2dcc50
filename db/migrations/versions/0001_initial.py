"""Incidents, their append-only timeline, and the Slack outbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY_SQLITE = """
CREATE TRIGGER timeline_entry_no_{op} BEFORE {OP} ON timeline_entry
BEGIN SELECT RAISE(ABORT, 'timeline_entry is append-only'); END
"""

APPEND_ONLY_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION timeline_entry_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'timeline_entry is append-only'; END $$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.create_table(
        "incident",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("checkpoint", sa.String(200), nullable=False),
        sa.Column("deployment", sa.String(100), nullable=False),
        sa.Column("links", sa.JSON, nullable=False),
        sa.Column("reporter", sa.String(100), nullable=False, index=True),
        sa.Column("assignee", sa.String(100), nullable=True, index=True),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("policy_version", sa.String(100), nullable=False),
        sa.Column("escalation_level", sa.Integer, nullable=False),
        sa.Column("channel_id", sa.String(100), nullable=True),
        sa.Column("card_ts", sa.String(50), nullable=True),
        sa.Column("resolution_note", sa.Text, nullable=False),
        sa.Column("dismiss_reason", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("acknowledged_at", UTCDateTime, nullable=True),
        sa.Column("resolved_at", UTCDateTime, nullable=True),
    )
    op.create_table(
        "timeline_entry",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incident.id"), nullable=False, index=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("before", sa.JSON, nullable=False),
        sa.Column("after", sa.JSON, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incident.id"), nullable=True, index=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=True),
        sa.Column("last_error", sa.Text, nullable=False),
    )
    op.create_index("ix_outbox_due", "outbox_message", ["status", "next_attempt_at"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER timeline_entry_append_only BEFORE UPDATE OR DELETE ON timeline_entry "
            "FOR EACH ROW EXECUTE FUNCTION timeline_entry_append_only()"
        )
    else:
        for name in ("update", "delete"):
            op.execute(APPEND_ONLY_SQLITE.format(op=name, OP=name.upper()))


def downgrade() -> None:
    op.drop_table("outbox_message")
    op.drop_table("timeline_entry")
    op.drop_table("incident")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS timeline_entry_append_only()")
