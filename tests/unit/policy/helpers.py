"""Builders shared by the policy tests: the bundled and minimal policies, and small variations written inline."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bot.policy.document import Policy
from bot.policy.loader import load_policy, parse_policy
from bot.policy.triage import Result

HERE = Path(__file__).parent
REPO = HERE.parents[2]
DEFAULT_POLICY = REPO / "policies" / "default.yaml"
MINIMAL_POLICY = HERE / "minimal.yaml"
BROKEN = HERE / "broken"
NOW = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)


@cache
def default_policy() -> Policy:
    """The bundled policy, loaded once."""
    return load_policy(DEFAULT_POLICY)


def minimal_data() -> dict[str, Any]:
    """A fresh, mutable copy of the minimal policy as plain data."""
    data = yaml.safe_load(MINIMAL_POLICY.read_text())
    assert isinstance(data, dict)
    return copy.deepcopy(data)


def build(data: dict[str, Any]) -> Policy:
    """Validate plain data through the same YAML path a file takes."""
    return parse_policy(yaml.safe_dump(data, sort_keys=False), filename="inline.yaml")


def result(
    *,
    value: float,
    task: str = "ctf_pro",
    metric: str = "accuracy",
    source: str = "inspect",
    scorer: str | None = None,
    labels: dict[str, str] | None = None,
    model: str = "frontier-2-20260301",
) -> Result:
    """A result with defaults that match the minimal policy's cyber.ctf metric."""
    return Result(
        source=source,
        model=model,
        checkpoint="ckpt-100",
        task=task,
        scorer=scorer,
        metric=metric,
        value=value,
        stderr=0.01,
        run_id="run-1",
        observed_at=NOW,
        labels=labels or {},
    )
