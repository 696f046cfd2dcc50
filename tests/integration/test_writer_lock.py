"""SQLite's one writer, queued across processes (db/engine.py WriterLock): `tripwire serve` and its listener process
write to one file, and a writer waits on a file lock the kernel hands over, not on SQLite's polling busy handler.

The lock only orders writers; SQLite's own lock still guards the data. These tests check what the file lock adds: it
is held for a whole writing transaction and dies with its holder (kill -9), a forked child gets a turn of its own even
when a thread of the parent was writing at the fork, and writers of two processes lose no update.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from db.engine import UnitOfWork, make_engine, writer_lock

SCRIPT_HEAD = """
import sys
from sqlalchemy import text
from db.engine import UnitOfWork, make_engine
uow = UnitOfWork(make_engine(sys.argv[1]))
"""
# Holds a writing transaction with its row inserted until told to go on (or killed).
HOLDER = (
    SCRIPT_HEAD
    + """
with uow() as session:
    session.execute(text("INSERT INTO mark (who) VALUES ('holder')"))
    print("holding", flush=True)
    sys.stdin.readline()
"""
)
# Read-modify-write of one counter, by several threads, each increment its own writing transaction.
COUNTER = (
    SCRIPT_HEAD
    + """
import threading
def bump():
    for _ in range(int(sys.argv[2])):
        with uow() as session:
            n = session.execute(text("SELECT n FROM counter WHERE id = 1")).scalar_one()
            session.execute(text("UPDATE counter SET n = :n WHERE id = 1"), {"n": n + 1})
threads = [threading.Thread(target=bump) for _ in range(int(sys.argv[3]))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""
)


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Iterator[tuple[str, Path, UnitOfWork]]:
    """A SQLite file with two small tables: (its URL, the writer lock's path, a unit of work on it)."""
    path = tmp_path / "lock.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    uow = UnitOfWork(engine)
    with uow() as session:
        session.execute(text("CREATE TABLE mark (id INTEGER PRIMARY KEY, who TEXT NOT NULL)"))
        session.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
        session.execute(text("INSERT INTO counter (id, n) VALUES (1, 0)"))
    yield url, Path(f"{path}-writer"), uow
    engine.dispose()


def run_script(script: str, *args: str, stdin: int | None = None) -> subprocess.Popen[str]:
    """Start a Python script of this module's in a process of its own, in the project's root."""
    root = Path(__file__).resolve().parents[2]
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=root,
        stdin=stdin,
        stdout=subprocess.PIPE,
        text=True,
    )


def lock_is_free(lock_path: Path) -> bool:
    """Whether no process holds the writer file lock now (asked through a file of our own, without waiting)."""
    fd = os.open(lock_path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing the file lets go of a lock taken through it
    return True


def marks(uow: UnitOfWork) -> list[str]:
    with uow.read() as session:
        return [str(who) for who in session.execute(text("SELECT who FROM mark ORDER BY id")).scalars()]


def test_a_writer_holds_the_file_lock_for_its_transaction_and_a_kill_nine_lets_go(
    sqlite_file: tuple[str, Path, UnitOfWork],
) -> None:
    url, lock_path, uow = sqlite_file
    holder = run_script(HOLDER, url, stdin=subprocess.PIPE)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        assert not lock_is_free(lock_path), "a writing transaction in another process must hold the writer file lock"
        holder.kill()  # kill -9 mid-transaction
    finally:
        holder.kill()
        holder.communicate(timeout=30)
    # The kernel let go of the dead writer's lock with its files, and SQLite rolled its transaction back.
    assert lock_is_free(lock_path)
    with uow() as session:
        session.execute(text("INSERT INTO mark (who) VALUES ('after')"))
    assert marks(uow) == ["after"]


def test_a_child_forked_while_a_parent_thread_has_the_writer_turn_gets_a_turn_of_its_own(
    sqlite_file: tuple[str, Path, UnitOfWork],
) -> None:
    _, lock_path, uow = sqlite_file
    lock = writer_lock(uow.engine)
    assert lock is not None
    holding, release = threading.Event(), threading.Event()

    def hold_the_turn() -> None:
        # The turn alone, not a SQLite transaction: SQLite forbids carrying an open transaction across a fork.
        with lock.held():
            holding.set()
            release.wait(timeout=60)

    holder = threading.Thread(target=hold_the_turn)
    holder.start()
    assert holding.wait(timeout=30)
    uow.engine.dispose()  # no pooled connection crosses the fork
    pid = os.fork()
    if pid == 0:  # the child: the parent's thread is not here, and its turn is not the child's
        status = 1
        try:
            with uow() as session:
                session.execute(text("INSERT INTO mark (who) VALUES ('child')"))
            status = 0
        finally:
            os._exit(status)
    try:
        assert not lock_is_free(lock_path)
    finally:
        release.set()
        holder.join(timeout=60)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child could not write (it waited on the parent's turn)"
    assert marks(uow) == ["child"]
    assert lock_is_free(lock_path)


def test_writers_of_two_processes_and_many_threads_lose_no_update(sqlite_file: tuple[str, Path, UnitOfWork]) -> None:
    url, _, uow = sqlite_file
    runs = [run_script(COUNTER, url, "25", "4") for _ in range(2)]
    for run in runs:
        run.communicate(timeout=120)
        assert run.returncode == 0
    with uow.read() as session:
        assert session.execute(text("SELECT n FROM counter WHERE id = 1")).scalar_one() == 2 * 4 * 25


def test_a_folder_without_room_for_the_lock_file_still_writes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # The lock file's name taken by a folder: it cannot be opened, so writers fall back to SQLite's own waiting.
    path = tmp_path / "blocked.db"
    (tmp_path / "blocked.db-writer").mkdir()
    engine = make_engine(f"sqlite:///{path}")
    try:
        uow = UnitOfWork(engine)
        with uow() as session:
            session.execute(text("CREATE TABLE mark (id INTEGER PRIMARY KEY, who TEXT NOT NULL)"))
            session.execute(text("INSERT INTO mark (who) VALUES ('written')"))
        assert marks(uow) == ["written"]
        assert "no writer lock file" in caplog.text
    finally:
        engine.dispose()
