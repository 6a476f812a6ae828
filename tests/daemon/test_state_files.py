"""The daemon's state file goes through the bounded reader: a device or a named pipe named
as ``state_file`` is a StateError at once, never an endless read or a wait."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from diagnostics.daemon.state import StateError, load_state
from tests.support.deadline import within


@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_a_state_file_that_is_no_regular_file(tmp_path: Path, kind: str) -> None:
    """/dev/zero and a FIFO with no writer: StateError naming what it is, within a second."""
    if kind == "fifo":
        path = str(tmp_path / "state.json")
        os.mkfifo(path)
        what = "is a named pipe (FIFO), not a regular file"
    else:
        path, what = "/dev/zero", "is a character device, not a regular file"
    started = time.monotonic()
    with pytest.raises(StateError) as caught:
        within(lambda: load_state(path))
    assert str(caught.value) == f"{path}: {what}"
    assert time.monotonic() - started < 1.0


def test_a_missing_state_file_is_no_state(tmp_path: Path) -> None:
    """No file yet: empty state, as before."""
    assert load_state(str(tmp_path / "absent.json")) == {}
