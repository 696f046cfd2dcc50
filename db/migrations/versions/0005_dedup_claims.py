"""One open incident per dedup key, enforced by the database: a claim row per key names the incident holding it.

The key is the primary key, so two writers cannot both hold it; the holder is unique, so an incident holds one key.
Backfill: each key's open incidents give the claim to the newest (highest id); older duplicates stay open unclaimed.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OPEN_STATUSES = ("triggered", "acknowledged", "mitigated")


def upgrade() -> None:
    op.create_table(
        "dedup_claim",
        sa.Column("dedup_key", sa.String(800), primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incident.id"), nullable=True, unique=True),
    )
    incident = sa.table(
        "incident", sa.column("id", sa.Integer), sa.column("dedup_key", sa.String), sa.column("status", sa.String)
    )
    newest_open = (
        sa.select(incident.c.dedup_key, sa.func.max(incident.c.id))
        .where(incident.c.dedup_key.is_not(None), incident.c.status.in_(OPEN_STATUSES))
        .group_by(incident.c.dedup_key)
    )
    claim = sa.table("dedup_claim", sa.column("dedup_key", sa.String), sa.column("incident_id", sa.Integer))
    op.execute(claim.insert().from_select(["dedup_key", "incident_id"], newest_open))


def downgrade() -> None:
    op.drop_table("dedup_claim")
