"""Without a browser the browser tests skip and say why, except under CI=true, where that is a failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import conftest
from tests.e2e.conftest import browser_unavailable_reason, find_chromium, require_browser

pytestmark = pytest.mark.e2e


def test_missing_browser_skips_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(pytest.skip.Exception, match="no Chromium found"):
        require_browser("no Chromium found (tried here)", ci=False)
    assert "skipping browser tests: no Chromium found" in capsys.readouterr().out


def test_missing_browser_fails_under_ci() -> None:
    with pytest.raises(pytest.fail.Exception, match="CI=true requires the browser tests to run: no Chromium"):
        require_browser("no Chromium found (tried here)", ci=True)


def test_a_present_browser_neither_skips_nor_fails() -> None:
    assert require_browser(None, ci=True) is None  # type: ignore[func-returns-value]


def test_no_chromium_anywhere_is_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIPWIRE_CHROMIUM", "")
    monkeypatch.setattr(conftest, "CHROMIUM_CANDIDATES", ("/nonexistent/chromium", "no-such-browser-binary"))
    assert find_chromium() is None
    reason = browser_unavailable_reason()
    assert reason is not None and reason.startswith("no Chromium found")


def test_tripwire_chromium_overrides_the_search(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "my-chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("TRIPWIRE_CHROMIUM", str(fake))
    assert find_chromium() == str(fake)
