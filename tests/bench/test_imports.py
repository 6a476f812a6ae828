"""The benchmarks are not run by ``make test``, but they must still load and parse options."""

from __future__ import annotations

import subprocess
import sys

from tests.support.servers import REPO


def test_the_benchmarks_load() -> None:
    for module in ("tests.bench.run", "tests.bench.daemon"):
        done = subprocess.run(
            [sys.executable, "-m", module, "--help"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "usage:" in done.stdout
