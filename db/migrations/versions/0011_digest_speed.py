"""What the digest needs to be drawn quickly on a large database.

- incident (created_at): the incidents opened in the period and in the one before it.
- eval_result (policy_metric, observed_at, model_family, checkpoint, value): one metric's points in a period,
  read from the index alone (it covers every column the chart reads); the series index leads with the model
  family, so it cannot range over time for all families at once. It also serves per-family history over weeks.
- eval_result (observed_at) for the flagged results only (a level or a near miss): small however many results
  cross nothing. The queries repeat this very condition, which is what lets the planners use a partial index.

db/models.py has the same Index entries.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Written out rather than imported from db.models: a migration keeps the schema of its own time.
FLAGGED_WHERE = "level IS NOT NULL OR near_miss IS NOT NULL"


def upgrade() -> None:
    op.create_index("ix_incident_created", "incident", ["created_at"])
    op.create_index(
        "ix_eval_result_metric_time",
        "eval_result",
        ["policy_metric", "observed_at", "model_family", "checkpoint", "value"],
    )
    op.create_index(
        "ix_eval_result_flagged",
        "eval_result",
        ["observed_at"],
        sqlite_where=sa.text(FLAGGED_WHERE),
        postgresql_where=sa.text(FLAGGED_WHERE),
    )


def downgrade() -> None:
    for name, table in (
        ("ix_eval_result_flagged", "eval_result"),
        ("ix_eval_result_metric_time", "eval_result"),
        ("ix_incident_created", "incident"),
    ):
        op.drop_index(name, table_name=table)
