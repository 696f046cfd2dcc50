"""What a test needs from the machine: a skip with its reason locally, a failure under CI=true."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from typing import NoReturn

import pytest


def missing(reason: str, *, needed_by: str) -> NoReturn:
    """Skip, printing why; when CI=true the requirement is mandatory, so fail instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true requires {needed_by}: {reason}", pytrace=False)
    print(f"skipping {needed_by}: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Re-check a condition every 0.1 s until it holds; fail naming `what` after `timeout` seconds."""
    pause = threading.Event()
    for _ in range(int(timeout / 0.1)):
        if predicate():
            return
        pause.wait(0.1)
    raise AssertionError(f"timed out waiting for {what}")
