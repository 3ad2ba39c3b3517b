"""Polling for a condition that a background thread (a live session, an emulated sensor) will make true."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(condition: Callable[[], object], timeout_s: float, what: Callable[[], object] | str) -> None:
    """Return once ``condition()`` holds; fail with ``what`` (or what it returns) after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what() if callable(what) else what
        time.sleep(0.02)
