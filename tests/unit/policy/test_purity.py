"""The policy, triage and on-call modules stay pure: no Slack, database or template imports, no clock reads."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.unit.policy.helpers import REPO

MODULES = ("bot.policy.loader", "bot.policy.check", "bot.policy.triage", "bot.policy.oncall")
FORBIDDEN = ("slack_bolt", "slack_sdk", "sqlmodel", "sqlalchemy", "jinja2")


def test_importing_the_domain_pulls_in_no_adapters() -> None:
    script = (
        "import sys\n"
        f"import {', '.join(MODULES)}\n"
        f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == ""


@pytest.mark.parametrize("module", MODULES)
def test_no_clock_reads(module: str) -> None:
    source = (REPO / (module.replace(".", "/") + ".py")).read_text()
    assert not re.search(r"\.now\(|utcnow\(|\btime\.time\(|\bdate\.today\(", source)
