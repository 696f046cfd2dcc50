"""What an install without an extra says: inspect-ai, psycopg, and the source-only localslack for `tripwire dev`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, func, select

from bot.app.asgi import Tripwire
from bot.app.cli import main
from bot.ingest.inspect_log import INSPECT_MISSING
from bot.ingest.signing import sign
from db.engine import DriverNotInstalled, make_engine
from db.models import EvalResult
from localslack import LocalSlack
from tests.conftest import POSTGRES_URL, TEST_POLICY
from tests.support.inspect_logs import write_inspect_log

SECRET = "webhook-secret-for-tests"


def hide(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    """Make `package` (and its submodules) unimportable, as in an install without it, until the test ends."""
    for name in [name for name in sys.modules if name == package or name.startswith(package + ".")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, package, None)


def test_inspect_hook_without_inspect_ai_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, slack: LocalSlack, bot: Tripwire, tmp_path: Path
) -> None:
    log = write_inspect_log(tmp_path, task_name="ctf_demo", model_outputs_correct=3, samples=4, fmt="json")
    hide(monkeypatch, "inspect_ai")
    bot.settings.webhook_secret = SECRET
    body, timestamp = log.read_bytes(), int(time.time())
    assert slack.request_url is not None
    response = httpx.post(
        slack.request_url.removesuffix("/slack/events") + "/hooks/inspect",
        content=body,
        headers={"X-Tripwire-Timestamp": str(timestamp), "X-Tripwire-Signature": sign(SECRET, body, timestamp)},
        timeout=60,
    )
    assert response.status_code == 400
    assert response.json() == {"error": INSPECT_MISSING, "field": "log"}
    assert "pip install 'tripwire[inspect]'" in INSPECT_MISSING
    with Session(bot.engine) as session:
        assert session.exec(select(func.count()).select_from(EvalResult)).one() == 0


def test_cli_ingest_inspect_without_inspect_ai_exits_1_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log = write_inspect_log(tmp_path / "logs", task_name="ctf_demo", model_outputs_correct=3, samples=4, fmt="eval")
    hide(monkeypatch, "inspect_ai")
    database = tmp_path / "tripwire.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("TRIPWIRE_POLICY", str(TEST_POLICY))
    assert main(["ingest", "inspect", str(log)]) == 1
    assert capsys.readouterr().err == f"tripwire: {INSPECT_MISSING}\n"
    assert not database.exists()  # refused before touching anything


def test_postgres_url_without_psycopg_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hide(monkeypatch, "psycopg")
    with pytest.raises(DriverNotInstalled, match=r"pip install 'tripwire\[postgres\]'"):
        make_engine(POSTGRES_URL)
    monkeypatch.setenv("DATABASE_URL", POSTGRES_URL)
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tripwire: DATABASE_URL is a PostgreSQL URL") and "tripwire[postgres]" in err


def test_dev_without_localslack_says_it_needs_the_source_checkout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hide(monkeypatch, "localslack")
    monkeypatch.delitem(sys.modules, "bot.app.dev", raising=False)  # imported afresh, as in a production install
    assert main(["dev", "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert "localslack is missing" in err and "source checkout" in err and "make run" in err
