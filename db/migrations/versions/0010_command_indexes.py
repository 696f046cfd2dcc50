"""Indexes for the slash commands and the card clicks on a large database.

`/incident list open|mine` and App Home read the newest open incidents. The status index finds every open incident
and sorts them; these partial indexes hold only the open ones, in id order, so a page reads `limit` entries however
many incidents there are (db/models.py has the same Index entries, and the condition the queries repeat).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Written out rather than imported from db.models: a migration keeps the schema of its own time.
OPEN_WHERE = "status IN ('triggered', 'acknowledged', 'mitigated')"
INDEXES = {
    "ix_incident_open": ["id"],
    "ix_incident_open_reporter": ["reporter", "id"],
    "ix_incident_open_assignee": ["assignee", "id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(
            name,
            "incident",
            columns,
            sqlite_where=sa.text(OPEN_WHERE),
            postgresql_where=sa.text(OPEN_WHERE),
        )


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="incident")
