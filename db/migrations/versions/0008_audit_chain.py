"""A tamper-evident timeline: each entry carries the hash of the previous one.

Each incident's timeline is one chain: `seq` counts its entries from 1, `prev_hash` is the previous entry's hash
(64 zeros for the first) and `hash` is SHA-256 over the entry's canonical JSON and `prev_hash`
(bot/common/audit_chain.py). Existing rows are chained in id order; the append-only trigger refuses UPDATE, so it
is dropped around the backfill and created again in the same transaction.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from bot.common import audit_chain
from db.types import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

PG_TRIGGER = (
    "CREATE TRIGGER timeline_entry_append_only BEFORE UPDATE OR DELETE ON timeline_entry "
    "FOR EACH ROW EXECUTE FUNCTION timeline_entry_append_only()"
)
SQLITE_TRIGGER = (
    "CREATE TRIGGER timeline_entry_no_update BEFORE UPDATE ON timeline_entry "
    "BEGIN SELECT RAISE(ABORT, 'timeline_entry is append-only'); END"
)

timeline = sa.table(
    "timeline_entry",
    sa.column("id", sa.Integer),
    sa.column("incident_id", sa.Integer),
    sa.column("seq", sa.Integer),
    sa.column("at", UTCDateTime),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("before", sa.JSON),
    sa.column("after", sa.JSON),
    sa.column("note", sa.Text),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)


def _allow_updates(allow: bool) -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if allow:
        op.execute(
            "DROP TRIGGER timeline_entry_append_only ON timeline_entry"
            if postgres
            else "DROP TRIGGER timeline_entry_no_update"
        )
    else:
        op.execute(PG_TRIGGER if postgres else SQLITE_TRIGGER)


def _backfill() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(timeline).order_by(timeline.c.incident_id, timeline.c.id)).mappings().all()
    heads: dict[int, tuple[int, str]] = {}
    for row in rows:
        seq, prev_hash = heads.get(row["incident_id"], (0, audit_chain.GENESIS))
        seq += 1
        fields = audit_chain.entry_fields(
            incident_id=row["incident_id"],
            seq=seq,
            at=row["at"],
            actor=row["actor"],
            action=row["action"],
            before=row["before"],
            after=row["after"],
            note=row["note"],
        )
        digest = audit_chain.entry_hash(fields, prev_hash)
        bind.execute(
            timeline.update().where(timeline.c.id == row["id"]).values(seq=seq, prev_hash=prev_hash, hash=digest)
        )
        heads[row["incident_id"]] = (seq, digest)


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy of the table): a copy would lose the triggers on SQLite.
    op.add_column("timeline_entry", sa.Column("seq", sa.Integer, nullable=False, server_default="0"))
    op.add_column("timeline_entry", sa.Column("prev_hash", sa.String(64), nullable=False, server_default=""))
    op.add_column("timeline_entry", sa.Column("hash", sa.String(64), nullable=False, server_default=""))
    _allow_updates(True)
    _backfill()
    _allow_updates(False)
    op.create_index("uq_timeline_incident_seq", "timeline_entry", ["incident_id", "seq"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_timeline_incident_seq", table_name="timeline_entry")
    for name in ("hash", "prev_hash", "seq"):
        op.execute(f"ALTER TABLE timeline_entry DROP COLUMN {name}")
