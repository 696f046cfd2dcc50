"""Engines for SQLite (WAL, one writer at a time) and PostgreSQL, and the unit of work."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlmodel import Session

from db.idempotency import claim_pending

log = logging.getLogger(__name__)

# The execution option that marks a read-only unit of work's connection (see `UnitOfWork.read`).
READ_ONLY = "tripwire_read_only"
# How long a SQLite writer waits for the write lock: the busy timeout below, and the in-process queue before it.
WRITER_WAIT_SECONDS = 30
# Connections beyond the ones kept open: enough for every listener thread (bot/app/wiring.py LISTENER_THREADS), the
# outbox workers and the scheduler at once, so a reader never waits for a connection held by writers that wait for
# the write lock. SQLite connections cost a file handle; PostgreSQL's count against max_connections per replica.
POOL_SIZE = 10
SQLITE_OVERFLOW = 54
PG_OVERFLOW = 30


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
            engine = create_engine(
                url, pool_pre_ping=True, hide_parameters=True, pool_size=POOL_SIZE, max_overflow=PG_OVERFLOW
            )
        except ImportError as exc:
            # psycopg is an extra: say which one rather than "No module named 'psycopg'".
            if url.startswith("postgresql+psycopg"):
                raise DriverNotInstalled(
                    "DATABASE_URL is a PostgreSQL URL, but the PostgreSQL driver (psycopg) is not installed: "
                    "pip install 'tripwire[postgres]'"
                ) from exc
            raise

        @event.listens_for(engine, "begin")
        def _on_begin_postgresql(conn: Any) -> None:
            if conn.get_execution_options().get(READ_ONLY):
                # Readers never wait on writers in PostgreSQL anyway; READ ONLY makes a stray write fail loudly.
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")

        return engine
    path = url.removeprefix("sqlite:///")
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": WRITER_WAIT_SECONDS},
        hide_parameters=True,
        pool_size=POOL_SIZE,
        max_overflow=SQLITE_OVERFLOW,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's BEGIN below decide when a transaction starts.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # A 202 promises the results are stored: every commit fsyncs the WAL (NORMAL would survive kill -9 only).
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            # A reader takes no lock: in WAL mode it reads a snapshot and never waits on the writer. query_only makes
            # a write in it fail at once rather than upgrade the lock (which could deadlock with another writer).
            conn.exec_driver_sql("PRAGMA query_only=ON")
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("PRAGMA query_only=OFF")
            # Take the write lock up front: two deferred transactions that both upgrade to writers deadlock.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class WriterBusy(TimeoutError):
    """A writing unit of work waited longer than SQLite's busy timeout for the other writers in this process."""


class WriterLock:
    """One writer at a time on a SQLite file, queued rather than polled: threads on a lock, processes on a file lock.

    SQLite has one writer at a time, and its busy handler polls with sleeps of up to 100 ms: under contention a waiting
    writer sleeps past the moment the lock frees, and one (the outbox) can starve for seconds. Here a writer first
    takes this process's lock, then an exclusive flock on `<database>-writer`, which the kernel hands to the next
    process the moment it is let go (`tripwire serve` and its listener process write to one file). SQLite's own lock
    still decides; a process that does not take this one (the sqlite3 shell, say) is waited for by polling, as before.
    A process that dies drops its flock with its files; one that hangs holding it holds SQLite's lock too.
    """

    def __init__(self, database: str | None) -> None:
        self._threads = threading.RLock()
        self._path = f"{database}-writer" if database and database != ":memory:" else None
        self._depth = 0
        self._fd: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the write turn (reentrant within a thread)."""
        # As long as SQLite's own busy timeout: a writer stuck that long fails as it did before, rather than hang.
        if not self._threads.acquire(timeout=WRITER_WAIT_SECONDS):
            raise WriterBusy(f"another writer held the database for over {WRITER_WAIT_SECONDS} s")
        try:
            self._depth += 1
            fd = self._file() if self._depth == 1 else None
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)  # blocks without the GIL until the other process lets go
            try:
                yield
            finally:
                self._depth -= 1
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _file(self) -> int | None:
        if self._path is not None and self._fd is None:
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                # A folder this process may not write to: writers of other processes are waited for by SQLite's
                # polling, as without this lock; the database itself is no less safe.
                log.warning("no writer lock file %s (%s); other processes' writers are polled for", self._path, exc)
                self._path = None
        return self._fd

    def forked(self) -> None:
        """In a child just forked: nothing of the parent's turn is the child's. A thread that held the turn is not
        in the child, and a flock belongs to the open file the two share, so the child opens one of its own (the
        inherited one is closed, so the parent's lock does not outlive the parent in the child)."""
        self._threads = threading.RLock()
        self._depth = 0
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        if self._fd is not None:
            os.close(self._fd)


# Weak: a lock (and its open file) goes with the last unit of work on its file (tests open hundreds of files).
_WRITER_LOCKS: weakref.WeakValueDictionary[str, WriterLock] = weakref.WeakValueDictionary()
_WRITER_LOCKS_GUARD = threading.Lock()


def _forked() -> None:
    global _WRITER_LOCKS_GUARD
    _WRITER_LOCKS_GUARD = threading.Lock()
    for lock in list(_WRITER_LOCKS.values()):
        lock.forked()


os.register_at_fork(after_in_child=_forked)


def writer_lock(engine: Engine) -> WriterLock | None:
    """The process's writer lock for a SQLite engine's file (one per file, whatever the engines); None elsewhere."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    key = os.path.abspath(database) if database and database != ":memory:" else f"memory:{id(engine)}"
    with _WRITER_LOCKS_GUARD:
        lock = _WRITER_LOCKS.get(key)
        if lock is None:
            lock = _WRITER_LOCKS[key] = WriterLock(None if key.startswith("memory:") else key)
        return lock


class UnitOfWork:
    """Opens one transaction per use; it commits on a clean exit and rolls back on an exception.

    `uow()` is a writing transaction (on SQLite it holds the write lock from its first statement) and claims the
    request's idempotency keys; `uow.read()` is a read-only one that waits on no writer and claims nothing.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reader = engine.execution_options(**{READ_ONLY: True})
        self._writers = writer_lock(engine)

    @contextmanager
    def _one_writer(self) -> Iterator[None]:
        if self._writers is None:
            yield
            return
        with self._writers.held():
            yield

    @contextmanager
    def __call__(self) -> Iterator[Session]:
        """Yield a session inside a transaction."""
        with self._one_writer(), Session(self.engine, expire_on_commit=False) as session, session.begin():
            # A repeated request stops here, before its effect; a first one claims its keys in this transaction.
            claim_pending(session)
            yield session

    def apply_each(self, changes: Sequence[Callable[[Session], None]]) -> list[Exception | None]:
        """Make several independent changes in one writing transaction (one commit), each in a savepoint of its own:
        one that raises is undone alone. Per change, its error or None; raises if the transaction itself fails (then
        none was made)."""
        errors: list[Exception | None] = []
        with self() as session:
            for change in changes:
                try:
                    with session.begin_nested():
                        change(session)
                except Exception as exc:  # the caller hands it to whoever asked for this change
                    errors.append(exc)
                else:
                    errors.append(None)
        return errors

    @contextmanager
    def read(self) -> Iterator[Session]:
        """Yield a session in a read-only transaction: it never waits on a writer, and a write in it fails.

        It claims no idempotency keys: a read has no effect to repeat, so a repeated request just reads again, and a
        later writing unit of work in the same request still claims them with its effect.
        """
        with Session(self._reader, expire_on_commit=False) as session, session.begin():
            yield session
