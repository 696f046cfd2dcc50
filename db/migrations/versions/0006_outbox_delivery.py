"""Slack calls effectively once: what the outbox needs to find a call whose outcome is unknown.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_message") as batch:
        batch.add_column(sa.Column("first_attempt_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("outcome_unknown", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("slack_channel", sa.String(100), nullable=True))
        batch.add_column(sa.Column("slack_ts", sa.String(50), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_message") as batch:
        batch.drop_column("slack_ts")
        batch.drop_column("slack_channel")
        batch.drop_column("outcome_unknown")
        batch.drop_column("first_attempt_at")
