"""Leadership digests: one row per kind and period (drafted once), their charts, and the published snapshot.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("period_start", UTCDateTime, nullable=False),
        sa.Column("period_end", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("summary_override", sa.Text, nullable=True),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("blocks", sa.JSON, nullable=False),
        sa.Column("text_slack", sa.Text, nullable=False),
        sa.Column("text_md", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("review_channel", sa.String(100), nullable=False),
        sa.Column("review_ts", sa.String(50), nullable=True),
        sa.Column("publish_channel", sa.String(100), nullable=False),
        sa.Column("publish_ts", sa.String(50), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("decided_at", UTCDateTime, nullable=True),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.UniqueConstraint("kind", "period_start", name="uq_digest_period"),
    )
    op.create_table(
        "digest_chart",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("digest_id", sa.Integer, sa.ForeignKey("digest.id"), nullable=False, index=True),
        sa.Column("metric_id", sa.String(200), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("png", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("digest_chart")
    op.drop_table("digest")
