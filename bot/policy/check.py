"""`tripwire policy check`: every problem in a policy file as `file:line: what is wrong`, sorted by line."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from bot.policy.loader import validate_policy_file
from bot.policy.values import Problem


def check_policy(path: str | Path) -> list[Problem]:
    """Every problem in the policy file at `path`, sorted by line; empty when it is usable."""
    _, problems = validate_policy_file(path)
    return sorted(problems, key=lambda p: (p.line, p.message))


def main_check(path: str | Path, *, out: TextIO) -> int:
    """Print the problems (or a one-line summary) to `out`; return the exit code, 0 when usable and 1 otherwise."""
    policy, problems = validate_policy_file(path)
    if problems or policy is None:
        for problem in sorted(problems, key=lambda p: (p.line, p.message)):
            print(problem, file=out)
        count = len(problems)
        print(f"{path}: {count} problem{'s' if count != 1 else ''}", file=out)
        return 1
    print(
        f"{path}: ok: {policy.name} version {policy.version} ({len(policy.categories)} categories, "
        f"{len(policy.metrics)} metrics, {len(policy.routes)} routes), sha256 {policy.content_hash[:12]}",
        file=out,
    )
    return 0
