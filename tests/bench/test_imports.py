"""The benchmarks are not run by ``make test``, but they must still load and parse options."""

from __future__ import annotations

import os
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


# A probe run from start to exit code: what it imports of the package.
PROBE_MODULES = """
import io, sys
from diagnostics.cli.main import main
code = main(["probe", "tls://127.0.0.1:1", "--format", "json"], io.StringIO())
print(code, " ".join(sorted(name for name in sys.modules if name.startswith("diagnostics"))))
"""


def test_probe_imports_only_what_it_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE_MODULES],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    code, _, names = done.stdout.strip().partition(" ")
    assert code == "3", done.stderr  # port 1 of loopback refuses: the probe failed
    modules = set(names.split())
    assert "diagnostics.probes.tls" in modules
    for prefix in ("diagnostics.daemon", "diagnostics.listener", "diagnostics.lab"):
        assert not any(m == prefix or m.startswith(prefix + ".") for m in modules), prefix
    for name in (
        "diagnostics.pki.generate",
        "diagnostics.pki.throwaway_ca",
        "diagnostics.cli.cert",
    ):
        assert name not in modules
