"""How many samples a stored result is a mean over (Inspect's completed samples, lm-eval's n-samples, JSON `n`).

Nullable: older rows and sources without a count (Alertmanager) have none. Shown beside the stderr on cards
("0.625 ± 0.18 (n=8)"); the confident-crossing rule itself uses only the stderr.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("eval_result") as batch:
        batch.add_column(sa.Column("samples", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("eval_result") as batch:
        batch.drop_column("samples")
