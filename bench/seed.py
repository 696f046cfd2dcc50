"""Seed a migrated database with many incidents straight through SQL (this measures commands, not filing)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from db.engine import make_engine
from db.migrate import upgrade
from db.models import Incident

PEOPLE = ("U0TRIAGER", "U0LEAD", "U0ADMIN", "U0REPORTER", None)
FAMILIES = [f"lab{chr(97 + k // 8)}-model{chr(97 + k % 8)}" for k in range(40)]
# Most incidents are history; a realistic open queue is a few percent of them.
STATUSES = ("resolved",) * 12 + ("dismissed",) * 3 + ("acknowledged", "mitigated", "triggered")


def incident_rows(count: int, now: datetime) -> list[dict[str, Any]]:
    """Rows for `count` incidents over the past year; columns not set here take the model's defaults."""
    rng = random.Random(11)
    # One model instance gives every column's default (building 100,000 instances would take a minute).
    defaults = Incident(title="", reporter="", created_at=now, updated_at=now).model_dump(exclude={"id"})
    rows = []
    for i in range(count):
        created = now - timedelta(seconds=rng.random() * 365 * 86400)
        status = rng.choice(STATUSES)
        restricted = i % 50 == 0
        acked = created + timedelta(minutes=rng.randint(1, 240)) if status != "triggered" else None
        row = dict(
            defaults,
            title=f"Seeded incident {i}: {FAMILIES[i % 40]} crossed a line",
            category="cbrn.bio" if restricted else "cyber",
            severity=rng.choice(("sev1", "sev2", "sev2", "sev3", "sev3", "sev3", "sev4")),
            status=status,
            model=FAMILIES[i % 40],
            checkpoint=f"ckpt-{i % 500}",
            reporter=rng.choice(PEOPLE[:4]),
            assignee=rng.choice(PEOPLE),
            source="inspect",
            policy_version="it-1",
            channel_id="C0RESTRICTED" if restricted else "C0TRIAGE",
            created_at=created,
            updated_at=acked or created,
            acknowledged_at=acked,
            resolved_at=acked + timedelta(hours=rng.randint(1, 72))
            if acked and status in ("resolved", "dismissed")
            else None,
            level=rng.choice(("watch", "alert", "threshold")),
            route="restricted" if restricted else "triage",
            restricted=restricted,
            ack_due_at=created + timedelta(minutes=30),
        )
        rows.append(row)
    return rows


def seed_incidents(database_url: str, count: int) -> None:
    """Migrate the database and bulk-insert `count` incidents."""
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        rows = incident_rows(count, datetime.now(UTC))
        table = Incident.__table__  # type: ignore[attr-defined]
        with engine.begin() as connection:
            for start in range(0, len(rows), 5_000):
                connection.execute(table.insert(), rows[start : start + 5_000])
    finally:
        engine.dispose()
