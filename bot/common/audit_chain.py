"""The timeline's hash chain: canonical JSON, the hash of an entry, and verification of an export (pure)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# The prev_hash of an incident's first entry: each incident's timeline is its own chain.
GENESIS = "0" * 64
HASHED_FIELDS = ("incident", "seq", "at", "actor", "action", "before", "after", "note")


def canonical(value: Any) -> bytes:
    """One byte string per value: sorted keys, no spaces, UTF-8 (so any writer hashes the same bytes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def iso(at: datetime) -> str:
    """The timestamp as hashed: UTC, ISO 8601 with microseconds."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def entry_fields(
    *,
    incident_id: int,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    note: str,
) -> dict[str, Any]:
    """The hashed fields of one timeline entry, as plain JSON values."""
    return {
        "incident": incident_id,
        "seq": seq,
        "at": iso(at),
        "actor": str(actor),
        "action": str(action),
        "before": dict(before),
        "after": dict(after),
        "note": note,
    }


def entry_hash(fields: Mapping[str, Any], prev_hash: str) -> str:
    """SHA-256 over the canonical JSON of the entry's fields and the previous entry's hash."""
    body = {name: fields[name] for name in HASHED_FIELDS}
    body["prev_hash"] = prev_hash
    return hashlib.sha256(canonical(body)).hexdigest()


@dataclass(frozen=True)
class Verdict:
    """The outcome of verifying an export: ok, how many entries and chains, or the first problem found."""

    ok: bool
    entries: int
    chains: int
    problem: str = ""


def verify(lines: Iterable[str]) -> Verdict:
    """Check every line of an export: its hash matches its content and it follows its incident's previous entry."""
    heads: dict[int, tuple[int, str]] = {}
    count = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            incident, seq = int(record["incident"]), int(record["seq"])
            where = f"line {number} ({record.get('ref', f'INC-{incident}')} entry #{seq})"
            stored, prev_hash = str(record["hash"]), str(record["prev_hash"])
            computed = entry_hash(record, prev_hash)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return Verdict(False, count, len(heads), f"line {number}: not an audit entry ({exc!r})")
        count += 1
        if computed != stored:
            return Verdict(False, count, len(heads), f"{where}: altered (its hash does not match its content)")
        last_seq, last_hash = heads.get(incident, (0, GENESIS))
        if seq != last_seq + 1:
            what = "removed or moved" if seq > last_seq + 1 else "reordered or repeated"
            problem = f"{where}: {what} (INC-{incident} entry #{last_seq + 1} expected after #{last_seq})"
            return Verdict(False, count, len(heads), problem)
        if prev_hash != last_hash:
            return Verdict(False, count, len(heads), f"{where}: does not follow entry #{last_seq} (prev_hash differs)")
        heads[incident] = (seq, computed)
    return Verdict(True, count, len(heads))
