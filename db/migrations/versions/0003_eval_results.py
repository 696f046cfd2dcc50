"""Eval history: every ingested result, with what the policy said of it; alert grouping on incidents.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eval_result",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("run_id", sa.String(500), nullable=False),
        sa.Column("task", sa.String(500), nullable=False),
        sa.Column("scorer", sa.String(500), nullable=False),
        sa.Column("metric", sa.String(500), nullable=False),
        sa.Column("model", sa.String(500), nullable=False),
        sa.Column("model_family", sa.String(500), nullable=False),
        sa.Column("checkpoint", sa.String(500), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("stderr", sa.Float, nullable=True),
        sa.Column("observed_at", UTCDateTime, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("url", sa.String(2000), nullable=True),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("policy_metric", sa.String(200), nullable=True),
        sa.Column("level", sa.String(20), nullable=True),
        sa.Column("near_miss", sa.String(20), nullable=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incident.id"), nullable=True, index=True),
        sa.UniqueConstraint("source", "run_id", "task", "scorer", "metric", name="uq_eval_result_identity"),
    )
    op.create_index("ix_eval_result_series", "eval_result", ["policy_metric", "model_family", "observed_at"])
    op.create_index("ix_eval_result_observed", "eval_result", ["observed_at"])
    with op.batch_alter_table("incident") as batch:
        batch.add_column(sa.Column("dedup_key", sa.String(800), nullable=True))
        batch.add_column(sa.Column("metric_id", sa.String(200), nullable=True))
        batch.add_column(sa.Column("result_count", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_value", sa.Float, nullable=True))
        batch.add_column(sa.Column("worst_value", sa.Float, nullable=True))
        batch.add_column(sa.Column("last_seen_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("alert_key", sa.String(300), nullable=True))
        batch.create_index("ix_incident_dedup", ["dedup_key", "last_seen_at"])
        batch.create_index("ix_incident_alert_key", ["alert_key"])


def downgrade() -> None:
    with op.batch_alter_table("incident") as batch:
        batch.drop_index("ix_incident_alert_key")
        batch.drop_index("ix_incident_dedup")
        for name in (
            "dedup_key",
            "metric_id",
            "result_count",
            "last_value",
            "worst_value",
            "last_seen_at",
            "alert_key",
        ):
            batch.drop_column(name)
    op.drop_table("eval_result")
