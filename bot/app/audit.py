"""`tripwire audit export` and `tripwire audit verify`: the timeline as JSON lines, and its check."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from bot.app.config import Settings
from bot.common.audit_chain import verify


def export_command(settings: Settings, *, since: datetime | None) -> int:
    """Write every entry (with `since`: the whole timelines of incidents active since then) to stdout."""
    from bot.app.wiring import build_core
    from bot.incidents.audit import export

    core = build_core(settings)
    try:
        for line in export(core.uow, since=since):
            sys.stdout.write(line + "\n")
    finally:
        core.engine.dispose()
    return 0


def verify_command(path: Path) -> int:
    """Exit 0 with OK, or 1 naming the first entry altered, removed or reordered."""
    try:
        with path.open(encoding="utf-8") as lines:
            verdict = verify(lines)
    except OSError as exc:
        print(f"tripwire: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 1
    if not verdict.ok:
        print(f"FAILED: {verdict.problem}")
        return 1
    print(f"OK: {verdict.entries} entries in {verdict.chains} incident timelines, every hash and link checks out")
    return 0
