"""Real Inspect AI logs, written by running tiny offline evals in this test run, read back as results."""

from __future__ import annotations

import math
import struct
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from inspect_ai.log import read_eval_log, write_eval_log
from sqlmodel import Session, func, select

from bot.app.asgi import Tripwire
from bot.app.cli import main
from bot.common.errors import InvalidInput
from bot.ingest.inspect_log import LogTooLarge, read_inspect_log
from bot.ingest.signing import sign
from db.models import EvalResult
from localslack import LocalSlack
from tests.conftest import TEST_POLICY
from tests.support.inspect_logs import (
    LogFormat,
    write_corrupt_inspect_log,
    write_failed_inspect_log,
    write_inspect_log,
)
from tests.support.payloads import encode, lm_eval_results

RECEIVED = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
SECRET = "webhook-secret-for-tests"
FORMATS: tuple[LogFormat, ...] = ("json", "eval")


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[LogFormat, Path]:
    """One successful 3-of-5 log per format, shared by the read-back tests of this module."""
    folder = tmp_path_factory.mktemp("inspect-logs")
    return {
        fmt: write_inspect_log(
            folder / fmt,
            task_name="inspect_evals/bio_uplift_mcq",
            model_outputs_correct=3,
            samples=5,
            fmt=fmt,
            metadata={"checkpoint": "ckpt-420", "team": "bio"},
        )
        for fmt in FORMATS
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_log_reads_back_as_one_accuracy_result_with_its_stderr(logs: dict[LogFormat, Path], fmt: LogFormat) -> None:
    path = logs[fmt]
    assert path.suffix == f".{fmt}"
    header = read_eval_log(str(path), header_only=True)
    assert header.results is not None
    (score,) = header.results.scores
    (result,) = read_inspect_log(path, received_at=RECEIVED)
    assert result.value == pytest.approx(3 / 5)
    # Inspect's stderr() is the sample standard deviation over sqrt(n): sqrt(0.6 * 0.4 / 4) for 3 right of 5.
    assert result.stderr == pytest.approx(math.sqrt(0.6 * 0.4 / 4))
    assert result.stderr == score.metrics["stderr"].value
    assert (result.source, result.model, result.task, result.scorer, result.metric) == (
        "inspect",
        "mockllm/model",
        "bio_uplift_mcq",
        "match",
        "accuracy",
    )
    assert result.run_id == header.eval.run_id
    assert result.observed_at == datetime.fromisoformat(header.eval.created)
    assert result.observed_at.tzinfo is not None
    assert result.checkpoint == "ckpt-420"
    assert result.labels["team"] == "bio"
    assert result.labels["eval_id"] == header.eval.eval_id
    assert result.labels["inspect_task"] == "inspect_evals/bio_uplift_mcq"


def test_both_formats_carry_the_same_numbers(logs: dict[LogFormat, Path]) -> None:
    (as_json,) = read_inspect_log(logs["json"], received_at=RECEIVED)
    (as_eval,) = read_inspect_log(logs["eval"], received_at=RECEIVED)
    assert (as_json.value, as_json.stderr, as_json.task) == (as_eval.value, as_eval.stderr, as_eval.task)
    assert as_json.run_id != as_eval.run_id  # two evals, two runs


@pytest.mark.parametrize(
    ("correct", "samples", "fmt"),
    [
        pytest.param(0, 4, "json", id="none-right"),
        pytest.param(4, 4, "eval", id="all-right"),
        pytest.param(2, 3, "eval", id="two-of-three"),
    ],
)
def test_accuracy_is_correct_over_samples(tmp_path: Path, correct: int, samples: int, fmt: LogFormat) -> None:
    path = write_inspect_log(tmp_path, task_name="ctf_easy", model_outputs_correct=correct, samples=samples, fmt=fmt)
    (result,) = read_inspect_log(path, received_at=RECEIVED)
    assert result.value == pytest.approx(correct / samples)
    assert result.task == "ctf_easy"
    assert "inspect_task" not in result.labels
    assert result.checkpoint is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_failed_eval_is_refused_on_its_status(tmp_path: Path, fmt: LogFormat) -> None:
    path = write_failed_inspect_log(tmp_path, fmt=fmt)
    with pytest.raises(InvalidInput) as caught:
        read_inspect_log(path, received_at=RECEIVED)
    assert caught.value.field == "status"
    assert "status 'error'" in str(caught.value)
    assert "solver failed on purpose" in str(caught.value)


def test_a_truncated_eval_zip_is_refused_as_unreadable(tmp_path: Path) -> None:
    path = write_corrupt_inspect_log(tmp_path)
    with pytest.raises(InvalidInput) as caught:
        read_inspect_log(path, received_at=RECEIVED)
    assert caught.value.field == "log"
    assert "not a readable Inspect log" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        pytest.param("results_2026.json", encode(lm_eval_results()), id="lm-eval-file-as-json"),
        pytest.param("upload.json", b"{not json", id="broken-json"),
        pytest.param("upload.eval", b"PK\x03\x04 this is no archive", id="zip-magic-only"),
    ],
)
def test_files_that_are_not_inspect_logs_are_refused(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidInput) as caught:
        read_inspect_log(path, received_at=RECEIVED)
    assert caught.value.field == "log"
    assert name in str(caught.value)


def test_a_missing_file_is_refused_as_unreadable(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        read_inspect_log(tmp_path / "gone.eval", received_at=RECEIVED)
    assert caught.value.field == "log"


def test_scores_repeated_under_several_reducers_stay_distinct(logs: dict[LogFormat, Path], tmp_path: Path) -> None:
    # Epochs with reducers ["mean", "max"] log the same score name twice; each must keep its own identity.
    log = read_eval_log(str(logs["eval"]))
    assert log.results is not None
    mean = log.results.scores[0].model_copy(update={"reducer": "mean"})
    top = mean.model_copy(update={"reducer": "max"})
    top.metrics = {"accuracy": top.metrics["accuracy"].model_copy(update={"value": 1.0})}
    log.results.scores = [mean, top]
    path = tmp_path / "two-reducers.eval"
    write_eval_log(log, str(path))
    results = read_inspect_log(path, received_at=RECEIVED)
    assert [(r.scorer, r.metric, r.value, r.labels["reducer"]) for r in results] == [
        ("match:mean", "accuracy", pytest.approx(0.6), "mean"),
        ("match:max", "accuracy", 1.0, "max"),
    ]
    assert results[1].stderr is None  # the max view has no stderr of its own


def test_a_log_without_scores_is_refused(logs: dict[LogFormat, Path], tmp_path: Path) -> None:
    log = read_eval_log(str(logs["json"]))
    log.results = None
    path = tmp_path / "unscored.json"
    write_eval_log(log, str(path))
    with pytest.raises(InvalidInput) as caught:
        read_inspect_log(path, received_at=RECEIVED)
    assert caught.value.field == "results"


def test_naive_receive_time_is_a_programming_error(logs: dict[LogFormat, Path]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        read_inspect_log(logs["json"], received_at=datetime(2026, 11, 23, 15, 0))


# ------------------------------------------------------------------------------------------ bounded expansion


def zip_bomb(path: Path, *, declared: int) -> Path:
    """A tiny zip whose central directory says its one entry expands to `declared` bytes (a zip bomb's header)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("header.json", b"{}" * 100)
    data = bytearray(path.read_bytes())
    directory = data.index(b"PK\x01\x02")
    # The central directory's uncompressed-size field (offset 24): what a reader would inflate to.
    struct.pack_into("<I", data, directory + 24, declared)
    path.write_bytes(bytes(data))
    return path


def test_zip_declaring_a_huge_expansion_is_refused_before_inflating(tmp_path: Path) -> None:
    bomb = zip_bomb(tmp_path / "bomb.eval", declared=4_000_000_000)
    assert bomb.stat().st_size < 1024
    with pytest.raises(LogTooLarge) as refused:
        read_inspect_log(bomb, received_at=RECEIVED)
    assert refused.value.field == "log" and "4000000000 bytes" in str(refused.value)


def test_real_eval_log_over_a_small_limit_is_refused_and_under_it_read(logs: dict[LogFormat, Path]) -> None:
    path = logs["eval"]
    with zipfile.ZipFile(path) as archive:
        expanded = sum(info.file_size for info in archive.infolist())
    with pytest.raises(LogTooLarge):
        read_inspect_log(path, received_at=RECEIVED, max_bytes=expanded - 1)
    assert len(read_inspect_log(path, received_at=RECEIVED, max_bytes=expanded)) == 1
    # A .json log is not compressed: its size is the body's, which TRIPWIRE_MAX_BODY_BYTES bounds.
    assert len(read_inspect_log(logs["json"], received_at=RECEIVED, max_bytes=1)) == 1


def test_zip_bomb_by_webhook_is_413_and_stores_nothing(slack: LocalSlack, bot: Tripwire, tmp_path: Path) -> None:
    assert bot.settings.max_log_bytes == 50 * 1024 * 1024  # the default
    bot.settings.webhook_secret = SECRET
    body = zip_bomb(tmp_path / "bomb.eval", declared=bot.settings.max_log_bytes + 1).read_bytes()
    timestamp = int(time.time())
    headers = {"X-Tripwire-Timestamp": str(timestamp), "X-Tripwire-Signature": sign(SECRET, body, timestamp)}
    assert slack.request_url is not None
    url = slack.request_url.removesuffix("/slack/events") + "/hooks/inspect"
    response = httpx.post(url, content=body, headers=headers, timeout=30)
    assert response.status_code == 413
    assert response.json()["field"] == "log" and "TRIPWIRE_MAX_LOG_BYTES" in response.json()["error"]
    with Session(bot.engine) as session:
        assert session.exec(select(func.count()).select_from(EvalResult)).one() == 0


def test_cli_refuses_a_zip_bomb_with_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, database_url: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TRIPWIRE_POLICY", str(TEST_POLICY))
    monkeypatch.setenv("TRIPWIRE_MAX_LOG_BYTES", "1000000")
    bomb = zip_bomb(tmp_path / "bomb.eval", declared=1_000_001)
    assert main(["ingest", "inspect", str(bomb)]) == 1
    said = capsys.readouterr()
    assert "refused (log)" in said.err and "over the 1000000-byte limit" in said.err
    assert "0 results stored" in said.out
