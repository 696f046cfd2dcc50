"""Real Inspect AI logs for tests, written by running tiny evals against Inspect's mock model, fully offline.

Inspect keeps traces, a sample buffer and a "last eval" marker under the user's data directory and loads any
`.env` it finds above the working directory. While an eval runs here, the XDG directories point at a private
temporary folder, INSPECT_* variables from the developer's shell are set aside, and `.env` loading is off, so a
test neither writes to ~ nor depends on it. Not thread-safe (it edits os.environ and the warning filters).
"""

from __future__ import annotations

import atexit
import gc
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal
from unittest import mock
from zipfile import ZipFile

from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.log import EvalLog
from inspect_ai.model import ModelOutput, ModelUsage, get_model
from inspect_ai.scorer import accuracy, match, stderr
from inspect_ai.solver import Generate, Solver, TaskState, generate, solver

LogFormat = Literal["json", "eval"]
MODEL = "mockllm/model"
RIGHT, WRONG = "yes", "no"

_private_home: Path | None = None


def write_inspect_log(
    tmp_dir: Path,
    *,
    task_name: str,
    model_outputs_correct: int,
    samples: int,
    fmt: LogFormat,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Run a `samples`-long eval of which `model_outputs_correct` answers are right; return the log's path.

    The log's `match` score has accuracy = correct / samples and a stderr beside it.
    """
    if not 0 <= model_outputs_correct <= samples or samples < 1:
        raise ValueError(f"need 0 <= correct ({model_outputs_correct}) <= samples ({samples}) and samples >= 1")
    # Every sample expects the same answer, so the count of right answers does not depend on which sample
    # Inspect happens to hand which mock output (samples run concurrently).
    outputs = [_output(RIGHT)] * model_outputs_correct + [_output(WRONG)] * (samples - model_outputs_correct)
    task = Task(
        name=task_name,
        dataset=[
            Sample(id=index + 1, input=f"Question {index + 1}: answer yes or no.", target=RIGHT)
            for index in range(samples)
        ],
        solver=generate(),
        scorer=match(),
        metrics=[accuracy(), stderr()],
    )
    log = _run(task, tmp_dir, fmt=fmt, outputs=outputs, metadata=metadata)
    if log.status != "success":
        message = log.error.message if log.error else "no error recorded"
        raise AssertionError(f"the test eval did not succeed ({log.status}): {message}")
    return Path(log.location)


def write_failed_inspect_log(tmp_dir: Path, *, task_name: str = "broken_task", fmt: LogFormat = "eval") -> Path:
    """A log whose eval failed (its solver raises), so its status is "error"."""
    task = Task(name=task_name, dataset=[Sample(input="Question 1", target=RIGHT)], solver=_explode(), scorer=match())
    log = _run(task, tmp_dir, fmt=fmt, outputs=[_output(RIGHT)], metadata=None)
    if log.status != "error":
        raise AssertionError(f"expected a failed eval, got status {log.status!r}")
    return Path(log.location)


def write_corrupt_inspect_log(tmp_dir: Path, *, task_name: str = "cut_short") -> Path:
    """A real .eval log cut to half its length: the zip's central directory is gone."""
    path = write_inspect_log(tmp_dir, task_name=task_name, model_outputs_correct=1, samples=1, fmt="eval")
    with ZipFile(path) as archive:  # proves it was a readable zip before the cut
        assert archive.namelist()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@solver
def _explode() -> Solver:
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        raise RuntimeError("solver failed on purpose")

    return solve


def _output(text: str) -> ModelOutput:
    output = ModelOutput.from_content(model=MODEL, content=text)
    # Without usage Inspect counts tokens itself and would try to download a tokenizer.
    output.usage = ModelUsage(input_tokens=8, output_tokens=1, total_tokens=9)
    return output


def _run(
    task: Task, tmp_dir: Path, *, fmt: LogFormat, outputs: list[ModelOutput], metadata: Mapping[str, str] | None
) -> EvalLog:
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with _hermetic(tmp_dir):
        model = get_model(MODEL, custom_outputs=outputs, memoize=False)
        logs = inspect_eval(
            task,
            model=model,
            log_dir=str(tmp_dir),
            log_format=fmt,
            display="none",
            # The control channel would bind a socket; the tests never steer a running eval.
            ctl_server=False,
            metadata=dict(metadata) if metadata else None,
        )
    return logs[0]


@contextmanager
def _hermetic(log_dir: Path) -> Iterator[None]:
    home = _home()
    env: dict[str, str | None] = {name: None for name in os.environ if name.startswith("INSPECT_")}
    env |= {
        "INSPECT_LOG_DIR": str(log_dir),
        "INSPECT_DISPLAY": "none",
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_STATE_HOME": str(home / "state"),
        "HF_HUB_OFFLINE": "1",
    }
    saved = {name: os.environ.get(name) for name in env}
    _apply(env)
    try:
        with warnings.catch_warnings(), mock.patch("inspect_ai._eval.context.init_dotenv", _no_dotenv):
            # Inspect 0.3.285 leaves each sample's event stream unclosed (anyio warns when it is collected) and
            # passes tenacity a deprecated argument; neither is ours to fix, and pytest would fail on them.
            warnings.simplefilter("ignore", ResourceWarning)
            warnings.filterwarnings(
                "ignore", message="The 'initial' parameter is deprecated", category=DeprecationWarning
            )
            yield
            gc.collect()
    finally:
        _apply(saved)


def _apply(values: Mapping[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _no_dotenv(*_: Any) -> None:
    return None


def _home() -> Path:
    global _private_home
    if _private_home is None:
        _private_home = Path(tempfile.mkdtemp(prefix="tripwire-inspect-"))
        # Registered before Inspect's own exit hook (which compresses its trace file there), so it runs after it.
        atexit.register(shutil.rmtree, _private_home, ignore_errors=True)
    return _private_home
