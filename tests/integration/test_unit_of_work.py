"""`UnitOfWork.apply_each`: independent changes share one transaction, and one that fails is undone alone (the outbox
records many deliveries' outcomes this way). On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, event, insert, select
from sqlmodel import Session

from db.engine import UnitOfWork, make_engine

METADATA = MetaData()
MARK = Table("mark", METADATA, Column("id", Integer, primary_key=True), Column("who", String, nullable=False))


@pytest.fixture
def uow(database_url: str) -> Iterator[UnitOfWork]:
    engine = make_engine(database_url)
    METADATA.create_all(engine)
    yield UnitOfWork(engine)
    engine.dispose()


def marker(who: str, *, then_fail: bool = False) -> Callable[[Session], None]:
    def change(session: Session) -> None:
        session.execute(insert(MARK).values(who=who))
        if then_fail:
            raise ValueError(f"{who} failed after its insert")

    return change


def test_a_failing_change_is_undone_alone_and_the_rest_share_one_commit(uow: UnitOfWork) -> None:
    commits: list[object] = []
    event.listen(uow.engine, "commit", commits.append)
    errors = uow.apply_each([marker("a"), marker("b", then_fail=True), marker("c")])
    assert [type(error) for error in errors] == [type(None), ValueError, type(None)]
    assert str(errors[1]) == "b failed after its insert"
    assert len(commits) == 1
    with uow.read() as session:
        assert list(session.execute(select(MARK.c.who).order_by(MARK.c.id)).scalars()) == ["a", "c"]


def test_nothing_to_change_is_an_empty_answer(uow: UnitOfWork) -> None:
    assert uow.apply_each([]) == []
