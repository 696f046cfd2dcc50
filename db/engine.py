"""Engines for SQLite (WAL, one writer at a time) and PostgreSQL, and the unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlmodel import Session

from db.idempotency import claim_pending


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class DriverNotInstalled(ImportError):
    """The database URL needs a driver this install lacks; the message names the extra that brings it."""


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite files get WAL, foreign keys and BEGIN IMMEDIATE transactions.

    Parameters are hidden from SQL errors and echo: they carry what people reported, which must not reach the log.
    """
    url = normalise_url(url)
    if not url.startswith("sqlite"):
        try:
            return create_engine(url, pool_pre_ping=True, hide_parameters=True)
        except ImportError as exc:
            # psycopg is an extra: say which one rather than "No module named 'psycopg'".
            if url.startswith("postgresql+psycopg"):
                raise DriverNotInstalled(
                    "DATABASE_URL is a PostgreSQL URL, but the PostgreSQL driver (psycopg) is not installed: "
                    "pip install 'tripwire[postgres]'"
                ) from exc
            raise
    path = url.removeprefix("sqlite:///")
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's BEGIN below decide when a transaction starts.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Take the write lock up front: two deferred transactions that both upgrade to writers deadlock.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class UnitOfWork:
    """Opens one transaction per use; it commits on a clean exit and rolls back on an exception."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def __call__(self) -> Iterator[Session]:
        """Yield a session inside a transaction."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            # A repeated request stops here, before its effect; a first one claims its keys in this transaction.
            claim_pending(session)
            yield session
