"""Golden files: the checked-in renders are the specification; UPDATE_GOLDEN=1 rewrites them."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, text: str, *, folder: Path = GOLDEN) -> None:
    """Fail with a unified diff when `text` differs from <folder>/<name> (write it first with UPDATE_GOLDEN=1)."""
    path = folder / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_bytes(text.encode("utf-8"))
    expected = path.read_bytes().decode("utf-8") if path.exists() else ""
    if text != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"golden/{name}",
                tofile="rendered",
            )
        )
        pytest.fail(f"{name} differs from its golden file (UPDATE_GOLDEN=1 rewrites it):\n{diff}", pytrace=False)
