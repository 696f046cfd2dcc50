"""The audit export: every incident's timeline as JSON lines, each entry chained to the one before it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from bot.common import audit_chain
from bot.common.audit_chain import Verdict
from db import repositories as repo
from db.engine import UnitOfWork
from db.models import TimelineEntry

# Entries read per transaction: short transactions, so an export never holds SQLite's write lock for long.
BATCH = 1000


@dataclass(frozen=True)
class AuditSummary:
    """What `/incident audit` answers: the export's size, its first and last hashes, and whether it verifies."""

    since: datetime | None
    verdict: Verdict
    first_hash: str
    last_hash: str


def export_line(entry: TimelineEntry) -> str:
    """One entry as one JSON line: the hashed fields, its incident's ref and id, prev_hash and hash as stored."""
    fields = audit_chain.entry_fields(
        incident_id=entry.incident_id,
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        before=entry.before,
        after=entry.after,
        note=entry.note,
    )
    record = {"ref": f"INC-{entry.incident_id}", "id": entry.id, **fields}
    record |= {"prev_hash": entry.prev_hash, "hash": entry.hash}
    return json.dumps(record, ensure_ascii=False, sort_keys=True)


def export(uow: UnitOfWork, *, since: datetime | None) -> Iterator[str]:
    """Every whole timeline (with `since`: of incidents with an entry at or after it), incident by incident."""
    after = (0, 0)
    while True:
        with uow() as session:
            entries = repo.list_audit_entries(session=session, since=since, after=after, limit=BATCH)
            lines = [export_line(entry) for entry in entries]
        if not entries:
            return
        yield from lines
        after = (entries[-1].incident_id, entries[-1].seq)


def summarise(uow: UnitOfWork, *, since: datetime | None) -> AuditSummary:
    """Export and verify in one pass, keeping only the count and the first and last hashes."""
    first: list[str] = []
    last = ""

    def hashes() -> Iterator[str]:
        nonlocal last
        for line in export(uow, since=since):
            last = json.loads(line)["hash"]
            if not first:
                first.append(last)
            yield line

    verdict = audit_chain.verify(hashes())
    return AuditSummary(since=since, verdict=verdict, first_hash=first[0] if first else "", last_hash=last)
