# -*- test-case-name: tests.daemon.test_service -*-
"""A small JSON file that carries the daemon's transition state across restarts.

Written whole to a temporary file and renamed over the old one, so a crash
leaves either the previous state or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from typing import Any

from diagnostics.model.errors import TlsdiagError
from diagnostics.model.files import FileError, read_text

STATE_FILE = "state.json"
FORMAT = 1
# Far above what any real target list needs (a few hundred bytes per target); a bigger file
# is not ours or is damaged, and reading it whole would cost memory for nothing.
MAX_BYTES = 64 * 1024 * 1024


def _writable(folder: str) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def state_location(
    log_dir: str,
    state_file: str | None,
    *,
    log_stdout: bool,
    writable: Callable[[str], bool] = _writable,
) -> tuple[str | None, str | None]:
    """Where the state is kept: ``(path, None)``, or ``(None, why it is not kept)``.

    ``state_file`` is the configured file ("" for none, None for ``state.json`` in
    ``log_dir``).  With the logs on standard output the log folder may be absent or read-only
    (a container): then it is used only when it exists and can be written.
    """
    if state_file == "":
        return None, 'state_file is ""'
    if state_file is not None:
        return state_file, None
    path = os.path.join(log_dir, STATE_FILE)
    if not log_stdout:
        return path, None
    if not os.path.isdir(log_dir):
        return None, f"the logs go to standard output and the log folder {log_dir} does not exist"
    if not writable(log_dir):
        return None, f"the logs go to standard output and the log folder {log_dir} is read-only"
    return path, None


class StateError(TlsdiagError, ValueError):
    """A state file that cannot be used, with the reason."""


def load_state(path: str) -> dict[str, Any]:
    """The targets' state saved at ``path``; empty when there is none; StateError when damaged."""
    if not os.path.lexists(path):
        return {}
    try:
        data = json.loads(read_text(path, "state file", limit=MAX_BYTES))
    except FileError as exc:  # bounded, a regular file only (never a FIFO or a device)
        raise StateError(f"{path}: {exc.problem}") from None
    except ValueError as exc:
        raise StateError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StateError(f"{path}: not a tlsdiag state file of format {FORMAT}")
    targets = data.get("targets")
    if not isinstance(targets, dict):
        raise StateError(f"{path}: no targets object")
    return targets


def save_state(path: str, targets: dict[str, Any]) -> None:
    """Replace the file at ``path`` atomically with ``targets``; OSError when it cannot."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump({"format": FORMAT, "targets": targets}, out, separators=(",", ":"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
