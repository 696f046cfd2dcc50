"""The production wheel: what it ships, what it leaves to extras, and that it runs in a venv of its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY = {"httpx", "inspect-ai", "psycopg", "pytest", "playwright"}


def run(*command: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a command outside the test's environment variables that could point it at this checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DATABASE_URL", "TRIPWIRE_POLICY")}
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def name_of(requirement: str) -> str:
    """The distribution name a Requires-Dist line starts with, lower-cased."""
    found = re.match(r"[A-Za-z0-9_.-]+", requirement)
    assert found is not None, requirement
    return found[0].lower()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", out, ROOT, cwd=out)
    assert built.returncode == 0, built.stderr
    [path] = out.glob("tripwire-*.whl")
    return path


def test_wheel_ships_the_packages_policy_and_templates_but_not_localslack(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = Parser().parsestr(archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode())
    assert {name.split("/")[0] for name in names} == {"bot", "db", "handlers", "tripwire-0.1.0.dist-info"}
    assert "bot/policies/default.yaml" in names
    templates = {p.relative_to(ROOT).as_posix() for p in (ROOT / "templates").rglob("*") if p.is_file()}
    assert templates and {"bot/" + name for name in templates} <= names
    assert "db/migrations/script.py.mako" in names
    required = metadata.get_all("Requires-Dist") or []
    core = {
        line.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower()
        for line in required
        if "extra ==" not in line
    }
    assert not core & DEV_ONLY, core & DEV_ONLY
    assert {"slack-bolt", "prometheus-client", "sqlmodel"} <= core
    assert {"inspect", "postgres", "dev"} <= set(metadata.get_all("Provides-Extra") or [])


def test_wheel_runs_in_a_fresh_venv_without_the_extras(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    created = run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    installed = run(
        venv / "bin" / "pip", "install", "-q", "-c", ROOT / "constraints.txt", wheel, cwd=tmp_path, timeout=900
    )
    assert installed.returncode == 0, installed.stderr
    tripwire = venv / "bin" / "tripwire"

    check = run(tripwire, "policy", "check", ROOT / "policies" / "default.yaml", cwd=tmp_path)
    assert check.returncode == 0 and ": ok: " in check.stdout, check.stdout + check.stderr
    probe = run(
        venv / "bin" / "python",
        "-c",
        "import importlib.util as u, bot.app.serve, bot.app.metrics\n"
        "from bot.policy.store import BUNDLED_POLICY\n"
        "print(BUNDLED_POLICY.is_file(), BUNDLED_POLICY.parent.parent.name)\n"
        "print(sorted(m for m in ('httpx', 'inspect_ai', 'psycopg', 'localslack') if u.find_spec(m) is None))",
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.splitlines() == ["True bot", "['httpx', 'inspect_ai', 'localslack', 'psycopg']"]
    preview = run(tripwire, "digest", "preview", cwd=tmp_path)  # the bundled policy and the templates, installed
    assert preview.returncode == 0 and "Weekly" in preview.stdout, preview.stderr

    log = tmp_path / "log.json"
    log.write_text("{}")
    ingest = run(tripwire, "ingest", "inspect", log, cwd=tmp_path)
    assert ingest.returncode == 1 and "pip install 'tripwire[inspect]'" in ingest.stderr, ingest.stderr
    dev = run(tripwire, "dev", "--port", "0", cwd=tmp_path)
    assert dev.returncode == 1 and "source checkout" in dev.stderr, dev.stderr
