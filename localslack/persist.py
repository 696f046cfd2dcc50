"""A workspace kept in a JSON file across restarts: written atomically as it changes, read back at start."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from pathlib import Path

from localslack.state import Workspace

log = logging.getLogger(__name__)

# Changes come in bursts (a card, its thread reply, the calls that made them): one write per burst is enough.
DEBOUNCE_SECONDS = 0.5


def save(workspace: Workspace, path: Path) -> int:
    """Write the workspace to `path` atomically (a temporary file beside it, then a rename); return its version."""
    data = workspace.dump()
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return int(data["version"])


def load(workspace: Workspace, path: Path) -> str | None:
    """Restore the workspace from `path` if it exists; return a one-line warning when the file cannot be used.

    An unusable file is renamed to `<name>.unreadable` rather than overwritten by the next save, so nothing the
    person had is lost without a trace.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        return _set_aside(path, exc)
    try:
        workspace.restore(json.loads(text))
    except ValueError as exc:  # json.JSONDecodeError is a ValueError too
        return _set_aside(path, exc)
    return None


def _set_aside(path: Path, problem: Exception) -> str:
    kept = path.with_name(path.name + ".unreadable")
    try:
        os.replace(path, kept)
    except OSError:
        where = "left in place"
    else:
        where = f"kept as {kept}"
    reason = " ".join(str(problem).split())[:200]
    return f"could not read the saved workspace {path} ({reason}); starting with an empty workspace ({where})"


class WorkspaceKeeper:
    """Saves a workspace to its file a moment after each burst of changes, and once more on stop."""

    def __init__(self, workspace: Workspace, path: Path, *, debounce: float = DEBOUNCE_SECONDS) -> None:
        self.workspace = workspace
        self.path = path
        self.debounce = debounce
        self.saved_version = -1
        self._saved = threading.Condition()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> WorkspaceKeeper:
        """Start watching for changes in a background thread."""
        self._thread = threading.Thread(target=self._run, name="localslack-keeper", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching and write the workspace as it is now."""
        with self.workspace.changed:
            self._stopping.set()
            self.workspace.changed.notify_all()
        if self._thread is not None:
            self._thread.join()
        self._save()

    def wait_saved(self, version: int, timeout: float) -> bool:
        """Block until the file holds `version` of the workspace or later; False when `timeout` passes first."""
        with self._saved:
            return self._saved.wait_for(lambda: self.saved_version >= version, timeout)

    def _run(self) -> None:
        ws = self.workspace
        while True:
            with ws.changed:
                while ws.version == self.saved_version and not self._stopping.is_set():
                    ws.changed.wait()
            if self._stopping.wait(self.debounce):
                return
            self._save()

    def _save(self) -> None:
        try:
            version = save(self.workspace, self.path)
        except OSError as exc:  # a full disk must not stop the workspace; the next change tries again
            log.warning("could not save the workspace to %s: %s", self.path, exc)
            return
        with self._saved:
            self.saved_version = version
            self._saved.notify_all()
