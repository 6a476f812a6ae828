"""Calls that must return in bounded time, failing the test instead of hanging it.

A read of a named pipe nobody writes to blocks forever; :func:`within` runs such a call in a
daemon thread and fails after ``seconds`` (the thread is left behind, blocked, and dies with
the test process), so that code which would wait fails its test rather than stopping the suite.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def within(call: Callable[[], Any], seconds: float = 10.0) -> Any:
    """``call()``'s value (or its exception); AssertionError when it runs past ``seconds``."""
    outcome: list[tuple[str, Any]] = []

    def run() -> None:
        try:
            outcome.append(("value", call()))
        except BaseException as exc:  # handed to the caller below
            outcome.append(("error", exc))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert outcome, f"still running after {seconds} s"
    kind, value = outcome[0]
    if kind == "error":
        raise value
    return value
