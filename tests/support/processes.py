"""Processes the tests start: tlsdiag in the background, waiting on it, stopping it, its files."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.servers import REPO, interruptible

DEADLINE = 30.0


def wait_for(what: str, check: Callable[[], Any], process: subprocess.Popen[bytes]) -> Any:
    """Poll ``check`` until it returns something true; fail if the daemon exits first."""
    deadline = time.monotonic() + DEADLINE
    while True:
        value = check()
        if value:
            return value
        if process.poll() is not None:
            raise AssertionError(f"daemon exited ({process.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        # Polling interval of a readiness loop, not a wait for an outcome.
        time.sleep(0.05)


def start_tlsdiag(*args: str, stdout: Any, stderr: Any) -> subprocess.Popen[bytes]:
    """``python -m diagnostics ARGS`` in the background, from the repository.

    SIGINT is handled as in a terminal even when the tests themselves run as a background job
    (which inherits SIGINT ignored), so that Ctrl-C can be tested.
    """
    command = [sys.executable, "-m", "diagnostics", *args]
    return subprocess.Popen(
        command,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        preexec_fn=interruptible,
    )


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None while it does not exist (or is being replaced)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def stop(process: subprocess.Popen[bytes], how: signal.Signals = signal.SIGTERM) -> int:
    """Send ``how`` (SIGTERM unless told), and the exit code."""
    if process.poll() is None:
        process.send_signal(how)
    try:
        return process.wait(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The whole JSON lines of a log file (none when it does not exist yet): a running daemon
    may be writing the last one right now."""
    if not path.exists():
        return []
    text = path.read_text()
    whole = text.splitlines()[: text.count("\n")]
    return [json.loads(line) for line in whole if line.strip()]
