"""`tripwire policy check` through the real CLI entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app.cli import main
from bot.policy.store import BUNDLED_POLICY

BROKEN = Path(__file__).parents[1] / "policy" / "broken"


def test_bundled_policy_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(BUNDLED_POLICY)]) == 0
    assert ": ok:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "phrase"),
    [
        pytest.param("unknown_route.yaml", "unknown route", id="unknown-route"),
        pytest.param("bad_timezone.yaml", "Europe/Londn", id="bad-timezone"),
        pytest.param("typo_key.yaml", "severty", id="typo"),
    ],
)
def test_broken_policy_exits_1_with_file_and_line(capsys: pytest.CaptureFixture[str], name: str, phrase: str) -> None:
    path = BROKEN / name
    marked = next(number for number, line in enumerate(path.read_text().splitlines(), 1) if "# BROKEN" in line)
    assert main(["policy", "check", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:{marked}: " in out and phrase in out


def test_missing_file_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["policy", "check", str(tmp_path / "nope.yaml")]) == 1
    assert "nope.yaml" in capsys.readouterr().out
