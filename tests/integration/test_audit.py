"""The tamper-evident timeline: hash chains written by every writer, the export, its verification, `/incident audit`."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from bot.app import cli
from bot.app.asgi import Tripwire
from bot.common import audit_chain
from bot.common.clock import ManualClock
from bot.incidents.audit import export, summarise
from bot.incidents.lifecycle import validate_draft
from bot.incidents.records import PermissionDenied
from db.engine import make_engine
from db.migrate import upgrade
from db.models import TimelineEntry
from localslack import BackgroundServer, LocalSlack
from tests.conftest import LEAD, REPORTER, TEST_POLICY, TRIAGE_CHANNEL, TRIAGER, make_settings, open_bot
from tests.integration.test_incident_lifecycle import last_ephemeral

WRITERS = 8
ROOT = Path(__file__).resolve().parents[2]


def file_incident(bot: Tripwire, title: str = "Model wrote an exploit") -> int:
    """File an incident through the service and return its id."""
    draft, errors = validate_draft(title=title, category="cyber", severity="sev3", model="frontier-x")
    assert draft is not None, errors
    incident = bot.incidents.report(draft=draft, reporter=REPORTER)
    assert incident.id is not None
    return incident.id


def exported(bot: Tripwire, since: datetime | None = None) -> list[str]:
    return list(export(bot.uow, since=since))


def run_cli(argv: list[str], database_url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    for name, value in make_settings(database_url).model_dump(by_alias=True).items():
        if value is not None and name.isupper():
            monkeypatch.setenv(name, str(value))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(argv)
    return code, out.getvalue()


@pytest.fixture
def chained(database_url: str, clock: ManualClock) -> Iterator[Tripwire]:
    """A bot with two incidents an hour apart, the first worked through several changes."""
    with open_bot(database_url, clock=clock) as bot:
        first = file_incident(bot)
        bot.incidents.acknowledge(incident_id=first, actor=TRIAGER)
        bot.incidents.add_note(incident_id=first, actor=REPORTER, text="transcript attached")
        bot.incidents.resolve(incident_id=first, actor=TRIAGER, note="patched")
        clock.advance(hours=1)
        file_incident(bot, "Second incident")
        yield bot


# ------------------------------------------------------------------------------------------ the chain as written


def test_every_writer_chains_entries_per_incident(chained: Tripwire) -> None:
    lines = exported(chained)
    records = [json.loads(line) for line in lines]
    assert [(r["ref"], r["seq"]) for r in records][:4] == [("INC-1", 1), ("INC-1", 2), ("INC-1", 3), ("INC-1", 4)]
    assert records[0]["prev_hash"] == audit_chain.GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(records[:4]))
    second = [r for r in records if r["ref"] == "INC-2"]
    assert second[0]["seq"] == 1 and second[0]["prev_hash"] == audit_chain.GENESIS
    assert audit_chain.verify(lines) == audit_chain.Verdict(True, len(lines), 2)


def test_export_is_the_same_when_repeated(chained: Tripwire) -> None:
    assert exported(chained) == exported(chained)


def test_since_exports_whole_timelines_of_incidents_active_since(chained: Tripwire, clock: ManualClock) -> None:
    since = clock()
    assert [json.loads(line)["ref"] for line in exported(chained, since=since)] == ["INC-2"]
    clock.advance(hours=1)
    chained.incidents.add_note(incident_id=1, actor=REPORTER, text="one more thing")
    lines = exported(chained, since=clock())
    # INC-1 is exported whole, from its first entry, so the export still verifies.
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3, 4, 5]
    assert audit_chain.verify(lines).ok
    assert exported(chained, since=clock() + timedelta(seconds=1)) == []


def test_concurrent_writers_on_one_incident_form_one_unbroken_chain(database_url: str) -> None:
    with open_bot(database_url) as bot:
        incident_id = file_incident(bot)
        barrier = threading.Barrier(WRITERS)
        errors: list[BaseException] = []

        def write(index: int) -> None:
            try:
                barrier.wait(timeout=10)
                if index % 2:
                    bot.incidents.add_note(incident_id=incident_id, actor=REPORTER, text=f"note {index}")
                else:
                    # A refusal appends without the incident lock a change holds: the append must take it.
                    with pytest.raises(PermissionDenied):
                        bot.incidents.dismiss(incident_id=incident_id, actor=REPORTER, reason=f"refused {index}")
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(index,)) for index in range(WRITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert errors == []
        with bot.uow() as session:
            seqs = session.exec(
                select(TimelineEntry.seq)
                .where(TimelineEntry.incident_id == incident_id)
                .order_by(col(TimelineEntry.id))
            ).all()
        assert list(seqs) == list(range(1, WRITERS + 2))
        lines = exported(bot)
        assert audit_chain.verify(lines).ok
        actions = sorted(json.loads(line)["action"] for line in lines)
        assert actions == ["create"] + ["note"] * (WRITERS // 2) + ["refused"] * (WRITERS // 2)


HALF_WRITTEN = """
import sys
from datetime import UTC, datetime
from db import repositories as repo
from db.engine import UnitOfWork, make_engine

with UnitOfWork(make_engine(sys.argv[1]))() as session:
    repo.append_timeline(session=session, incident_id=1, at=datetime.now(UTC), actor="U0X", action="note",
                         before={}, after={}, note="never committed")
    session.flush()
    print("appended", flush=True)
    sys.stdin.readline()  # holds the transaction (and the incident's lock) open until killed
"""


def test_writer_killed_mid_append_leaves_the_chain_whole(chained: Tripwire, database_url: str) -> None:
    command = [sys.executable, "-c", HALF_WRITTEN, database_url]
    with subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as writer:
        try:
            assert writer.stdout is not None and writer.stdout.readline().strip() == b"appended"
        finally:
            writer.kill()  # SIGKILL: no rollback runs in the writer, the database must discard its entry itself
            writer.wait(timeout=30)
    chained.incidents.add_note(incident_id=1, actor=REPORTER, text="after the kill")
    records = [json.loads(line) for line in exported(chained) if json.loads(line)["ref"] == "INC-1"]
    assert [(r["seq"], r["note"]) for r in records][-1] == (5, "after the kill")
    assert "never committed" not in {r["note"] for r in records}
    assert audit_chain.verify(exported(chained)).ok


def test_duplicate_seq_is_refused_by_the_database(chained: Tripwire) -> None:
    with pytest.raises(DBAPIError), Session(chained.engine) as session:
        session.add(
            TimelineEntry(incident_id=1, seq=1, at=datetime.now(UTC), actor="x", action="note", prev_hash="", hash="")
        )
        session.commit()


def test_entries_are_still_append_only(chained: Tripwire) -> None:
    for statement in ("UPDATE timeline_entry SET note = 'edited' WHERE id = 1", "DELETE FROM timeline_entry"):
        with pytest.raises(DBAPIError), chained.engine.begin() as connection:
            connection.execute(text(statement))


# ------------------------------------------------------------------------------------------ verification


def tamper(lines: list[str], how: str) -> list[str]:
    """The export with one thing done to it, as an operator or a forger might."""
    records = [json.loads(line) for line in lines]
    if how == "altered":
        records[1]["note"] = "nothing to see"
    elif how == "altered-hash-recomputed":
        records[1]["note"] = "nothing to see"
        records[1]["hash"] = audit_chain.entry_hash(records[1], records[1]["prev_hash"])
    elif how == "removed":
        del records[1]
    elif how == "first-removed":
        del records[0]
    elif how == "reordered":
        records[1], records[2] = records[2], records[1]
    elif how == "repeated":
        records.insert(2, records[1])
    return [json.dumps(record) for record in records]


@pytest.mark.parametrize(
    ("how", "problem"),
    [
        pytest.param("altered", "line 2 (INC-1 entry #2): altered", id="altered"),
        pytest.param("altered-hash-recomputed", "line 3 (INC-1 entry #3): does not follow entry #2", id="rehashed"),
        pytest.param("removed", "line 2 (INC-1 entry #3): removed or moved", id="removed"),
        pytest.param("first-removed", "line 1 (INC-1 entry #2): removed", id="first-removed"),
        pytest.param("reordered", "line 2 (INC-1 entry #3): removed or moved", id="reordered"),
        pytest.param("repeated", "line 3 (INC-1 entry #2): reordered or repeated", id="repeated"),
    ],
)
def test_verify_names_the_first_entry_tampered_with(chained: Tripwire, how: str, problem: str) -> None:
    verdict = audit_chain.verify(tamper(exported(chained), how))
    assert not verdict.ok
    assert verdict.problem.startswith(problem)


def test_verify_refuses_a_line_that_is_no_entry() -> None:
    verdict = audit_chain.verify(['{"incident": 1}'])
    assert (verdict.ok, verdict.problem.startswith("line 1: not an audit entry")) == (False, True)


def test_an_edit_in_the_database_shows_in_the_next_export(chained: Tripwire) -> None:
    # An operator with the database can drop the trigger; the chain still gives the edit away.
    dialect = chained.engine.dialect.name
    with chained.engine.begin() as connection:
        if dialect == "postgresql":
            connection.execute(text("ALTER TABLE timeline_entry DISABLE TRIGGER timeline_entry_append_only"))
        else:
            connection.execute(text("DROP TRIGGER timeline_entry_no_update"))
        connection.execute(text("UPDATE timeline_entry SET actor = 'U0SOMEONE' WHERE incident_id = 1 AND seq = 2"))
    verdict = audit_chain.verify(exported(chained))
    assert verdict.problem.startswith("line 2 (INC-1 entry #2): altered")


# ------------------------------------------------------------------------------------------ the migration


def test_migration_chains_rows_written_before_it(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0007")
        at = datetime(2026, 11, 1, 9, 30, 15, 123456, tzinfo=UTC)
        with engine.begin() as connection:
            for incident_id in (1, 2):
                connection.execute(
                    text(
                        "INSERT INTO incident (id, title, description, category, severity, status, model, checkpoint,"
                        " deployment, links, reporter, source, policy_version, escalation_level, resolution_note,"
                        " dismiss_reason, created_at, updated_at, restricted, policy_hash, explanation, actions,"
                        " paged, snooze_reason, result_count) VALUES (:id, 't', '', 'cyber', 'sev3', 'triggered',"
                        " '', '', '', '[]', 'U0R', 'slack', 'v1', 0, '', '', :at, :at, false, '', '', '[]', '[]',"
                        " '', 0)"
                    ),
                    {"id": incident_id, "at": at},
                )
            for index, incident_id in enumerate((1, 2, 1, 1)):
                connection.execute(
                    text(
                        "INSERT INTO timeline_entry (incident_id, at, actor, action, before, after, note)"
                        " VALUES (:incident, :at, 'U0R', 'note', '{}', :after, :note)"
                    ),
                    {"incident": incident_id, "at": at, "after": json.dumps({"n": index}), "note": f"old {index}"},
                )
        upgrade(engine)
        with Session(engine) as session:
            rows = session.exec(select(TimelineEntry).order_by(col(TimelineEntry.id))).all()
        assert [(row.incident_id, row.seq) for row in rows] == [(1, 1), (2, 1), (1, 2), (1, 3)]
        assert rows[2].prev_hash == rows[0].hash and rows[1].prev_hash == audit_chain.GENESIS
        from bot.incidents.audit import export_line

        lines = [export_line(row) for row in sorted(rows, key=lambda row: (row.incident_id, row.seq))]
        assert audit_chain.verify(lines) == audit_chain.Verdict(True, 4, 2)
        with pytest.raises(DBAPIError), engine.begin() as connection:
            connection.execute(text("UPDATE timeline_entry SET note = 'x'"))
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------------------ the command line


def test_cli_export_then_verify(
    chained: Tripwire, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = run_cli(["audit", "export"], database_url, monkeypatch)
    assert code == 0
    assert out.splitlines() == exported(chained)
    path = tmp_path / "audit.jsonl"
    path.write_text(out)
    code, said = run_cli(["audit", "verify", str(path)], database_url, monkeypatch)
    assert (code, said.startswith("OK: 5 entries in 2 incident timelines")) == (0, True)
    path.write_text("\n".join(tamper(out.splitlines(), "removed")))
    code, said = run_cli(["audit", "verify", str(path)], database_url, monkeypatch)
    assert (code, said.startswith("FAILED: line 2 (INC-1 entry #3): removed")) == (1, True)


# ------------------------------------------------------------------------------------------ Slack


@pytest.fixture
def audit_policy(tmp_path: Path) -> Path:
    """The test policy, with the audit export given to the safety lead only."""
    path = tmp_path / "policy.yaml"
    body = TEST_POLICY.read_text().replace(
        "  publish_digest: [safety_lead, leadership]",
        "  publish_digest: [safety_lead, leadership]\n  export_audit: [safety_lead]",
    )
    assert "export_audit" in body
    path.write_text(body)
    return path


def test_audit_subcommand_answers_a_permitted_person_with_size_and_hashes(
    slack: LocalSlack, database_url: str, audit_policy: Path
) -> None:
    with open_bot(database_url, slack_url=slack.api_url, TRIPWIRE_POLICY=str(audit_policy)) as bot:
        server = BackgroundServer(bot.asgi)
        server.start()
        slack.request_url = server.url + "/slack/events"
        try:
            file_incident(bot)
            summary = summarise(bot.uow, since=None)
            slack.slash_command(LEAD, "audit", channel_id=TRIAGE_CHANNEL)
            shown = last_ephemeral(slack, LEAD)
            assert "1 timeline entries in 1 incident timelines" in shown
            assert summary.first_hash in shown and "Every hash and link checks out" in shown
            slack.slash_command(TRIAGER, "audit 2026-11-01", channel_id=TRIAGE_CHANNEL)
            refused = last_ephemeral(slack, TRIAGER)
            assert "can't export the audit trail" in refused and summary.first_hash not in refused
            slack.slash_command(LEAD, "audit yesterday", channel_id=TRIAGE_CHANNEL)
            assert "`yesterday` is not a date" in last_ephemeral(slack, LEAD)
        finally:
            server.stop()
