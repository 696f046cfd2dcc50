"""End-to-end fixtures: `tripwire dev` as a real subprocess, and headless Chromium driven by Playwright.

Browser tests skip with the reason when no Chromium (or no Playwright) is found, except under ``CI=true``,
where a missing browser is a failure. A failing browser test leaves ``test-output/<test name>.png``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
URL_LINE = re.compile(r"^Tripwire dev workspace: (?P<url>http://\S+?)/?$")
BOT_LINE = re.compile(r"^bot listening on (?P<url>http://\S+?)/slack/events$")
T = TypeVar("T")
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class DevProcess:
    """A running `tripwire dev` subprocess and what it has printed."""

    process: subprocess.Popen[str]
    url: str
    stderr_path: Path
    stdout_lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None
    # Notified by the reader thread at every line and at the end of stdout (`ended`).
    printed: threading.Condition = field(default_factory=threading.Condition)
    ended: bool = False

    def wait_for_line(self, found: Callable[[str], T | None], timeout: float) -> T | None:
        """The first printed line `found` accepts, as `found` returns it; None if stdout ends or `timeout` passes."""
        seen = 0
        result: T | None = None

        def ready() -> bool:
            nonlocal seen, result
            for line in self.stdout_lines[seen:]:
                result = found(line)
                if result is not None:
                    return True
            seen = len(self.stdout_lines)
            return self.ended

        with self.printed:
            self.printed.wait_for(ready, timeout)
        return result

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """Send SIGTERM, wait for the exit and return the exit code (killing it if it hangs)."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(
                    f"tripwire dev ignored SIGTERM for {timeout} s; stderr:\n{self.stderr()}"
                ) from None
        finally:
            if self.reader is not None:
                self.reader.join(timeout)
            if self.process.stdout is not None:
                self.process.stdout.close()

    def stdout(self) -> str:
        """Everything printed to stdout so far."""
        return "".join(self.stdout_lines)

    def stderr(self) -> str:
        """Everything logged to stderr so far."""
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def bot_url(self, timeout: float = START_TIMEOUT) -> str:
        """The bot's own HTTP address (its webhooks), from the line `tripwire dev` prints after the workspace's."""
        match = self.wait_for_line(lambda line: BOT_LINE.match(line.strip()), timeout)
        if match is not None:
            return match["url"]
        raise AssertionError(f"tripwire dev printed no bot address; stdout:\n{self.stdout()}")


def start_dev(workdir: Path, *args: str, extra_env: Mapping[str, str] | None = None) -> DevProcess:
    """Start `tripwire dev --port 0` on the SQLite file in `workdir` and return once it prints its URL.

    A workdir used before is a restart: the database and the saved workspace of the earlier run are reused, and each
    run writes its own stderr log.

    The caller's SLACK_* and TRIPWIRE_* settings are left out; `extra_env` sets the ones a test wants.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TRIPWIRE_"))}
    env.update({"DATABASE_URL": f"sqlite:///{workdir}/dev.db", "PYTHONUNBUFFERED": "1", **(extra_env or {})})
    runs = len(list(workdir.glob("dev.stderr*.log")))
    stderr_path = workdir / ("dev.stderr.log" if runs == 0 else f"dev.stderr.{runs + 1}.log")
    with stderr_path.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.app.cli", "dev", "--port", "0", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            bufsize=1,
        )
    dev = DevProcess(process=process, url="", stderr_path=stderr_path)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with dev.printed:
                dev.stdout_lines.append(line)
                dev.printed.notify_all()
        with dev.printed:
            dev.ended = True
            dev.printed.notify_all()

    dev.reader = threading.Thread(target=read, name="tripwire-dev-stdout", daemon=True)
    dev.reader.start()
    match = dev.wait_for_line(lambda line: URL_LINE.match(line.strip()), START_TIMEOUT)
    if match is None:
        code = dev.stop()
        raise AssertionError(
            f"tripwire dev printed no URL within {START_TIMEOUT} s (exit {code}); stderr:\n{dev.stderr()}"
        )
    dev.url = match["url"]
    return dev


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    """One `tripwire dev` for a whole test module (starting it costs a second or two); it must stop cleanly."""
    running = start_dev(tmp_path_factory.mktemp("dev"))
    yield running
    code = running.stop()
    assert code == 0, f"tripwire dev exited with {code}; stderr:\n{running.stderr()}"


# ---------------------------------------------------------------- the browser


def find_chromium() -> str | None:
    """Return a Chromium executable: $TRIPWIRE_CHROMIUM, Debian's /usr/bin/chromium, or one on PATH."""
    for candidate in (os.environ.get("TRIPWIRE_CHROMIUM", ""), *CHROMIUM_CANDIDATES):
        if not candidate:
            continue
        found = candidate if os.path.isabs(candidate) else shutil.which(candidate)
        if found and os.path.isfile(found) and os.access(found, os.X_OK):
            return found
    return None


def browser_unavailable_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"Playwright is not installed ({exc}); pip install -e '.[dev]'"
    if find_chromium() is None:
        return f"no Chromium found (tried $TRIPWIRE_CHROMIUM, {', '.join(CHROMIUM_CANDIDATES)})"
    return None


def require_browser(reason: str | None, *, ci: bool, module: bool = False) -> None:
    """Skip with the reason when there is no browser, or fail instead when running under CI."""
    if reason is None:
        return
    if ci:
        pytest.fail(f"CI=true requires the browser tests to run: {reason}", pytrace=False)
    print(f"skipping browser tests: {reason}")
    pytest.skip(reason, allow_module_level=module)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium to drive; a skip (a failure under CI=true) when there is none."""
    require_browser(browser_unavailable_reason(), ci=os.environ.get("CI") == "true")
    found = find_chromium()
    assert found is not None
    return found


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    """Headless Chromium for one test module (a fresh profile directory, Playwright's default)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A new browser context and page per test; its clock is in Tokyo, unlike every seeded user's zone."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, timezone_id="Asia/Tokyo")
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[Any]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Save a screenshot of the page under test-output/<test name>.png when a browser test fails."""
    report: pytest.TestReport = yield
    page = getattr(item, "funcargs", {}).get("page")
    if report.when == "call" and report.failed and page is not None:
        OUTPUT.mkdir(exist_ok=True)
        path = OUTPUT / (re.sub(r"[^\w.-]+", "_", item.name) + ".png")
        try:
            page.screenshot(path=str(path), full_page=True)
            report.sections.append(("screenshot", str(path)))
        except Exception as exc:  # a crashed page must not hide the test's own failure
            report.sections.append(("screenshot", f"could not save {path}: {exc}"))
    return report
