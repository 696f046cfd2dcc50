"""Stored results wait for the triage worker; trend state per metric and model family.

`eval_result.triaged_at` NULL means the row waits for triage (a partial index finds those rows without scanning
the history); `claimed_until` is the lease of a request that triages its own rows. Rows stored before this
revision were triaged when they arrived: they get `triaged_at = received_at`. `trend_state` keeps each series'
recent points so a trend check reads one row instead of up to 500.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

UNTRIAGED = sa.text("triaged_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("eval_result") as batch:
        batch.add_column(sa.Column("triaged_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("claimed_until", UTCDateTime, nullable=True))
    op.execute("UPDATE eval_result SET triaged_at = received_at")
    op.create_index(
        "ix_eval_result_untriaged", "eval_result", ["id"], sqlite_where=UNTRIAGED, postgresql_where=UNTRIAGED
    )
    op.create_table(
        "trend_state",
        sa.Column("policy_metric", sa.String(200), primary_key=True),
        sa.Column("model_family", sa.String(500), primary_key=True),
        sa.Column("points", sa.JSON, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("trend_state")
    op.drop_index("ix_eval_result_untriaged", table_name="eval_result")
    with op.batch_alter_table("eval_result") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("triaged_at")
