"""The outbox claim finds each channel's head among its unsent messages by an index, not a scan.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UNSENT = "status IN ('pending', 'sending')"


def upgrade() -> None:
    op.create_index(
        "ix_outbox_unsent_channel",
        "outbox_message",
        ["channel", "id"],
        sqlite_where=sa.text(UNSENT),
        postgresql_where=sa.text(UNSENT),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_unsent_channel", table_name="outbox_message")
