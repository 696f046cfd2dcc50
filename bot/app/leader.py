"""One replica leads the jobs that must run once (the digest): it holds a PostgreSQL advisory lock."""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)
DIGEST_LOCK = 0x7472_6970_0002  # "trip" + 2; the migration lock is + 1


class Leader:
    """Leadership held on a dedicated connection; SQLite runs one process per file, which always leads."""

    def __init__(self, engine: Engine, key: int = DIGEST_LOCK) -> None:
        self._engine = engine
        self._key = key
        self._connection: Connection | None = None

    def acquire(self) -> bool:
        """Take (or keep) the lead; False while another process holds it."""
        if self._engine.dialect.name != "postgresql":
            return True
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT 1"))
                return True
            except Exception:  # the session (and with it the lock) is gone; try to win it again below
                log.warning("lost the leader connection; re-electing")
                self.release()
        connection = self._engine.connect()
        won = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}).scalar())
        connection.commit()
        if won:
            self._connection = connection
        else:
            connection.close()
        return won

    def release(self) -> None:
        """Give the lead up. The connection is discarded, not pooled: the lock lives as long as its session."""
        if self._connection is not None:
            try:
                self._connection.invalidate()
                self._connection.close()
            finally:
                self._connection = None
