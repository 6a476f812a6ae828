"""``pip install .`` (not editable) gives a working tlsdiag, run from another folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.servers import REPO


def test_a_plain_install_runs_from_another_folder(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
         str(REPO)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args], cwd=elsewhere, env=env, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip

    where = run("-c", "import diagnostics; print(diagnostics.__file__)")
    assert where.stdout.startswith(str(target)), where.stdout + where.stderr
    schema = run("-m", "diagnostics", "schema")
    assert schema.returncode == 0, schema.stderr
    assert "served_chain" in json.loads(schema.stdout)["properties"]
    explained = run("-m", "diagnostics", "explain", "20")
    assert explained.returncode == 0 and "X509_V_ERR_UNABLE_TO_GET_ISSUER" in explained.stdout
    api = run("-c", "from diagnostics import verify_chain, probe, ProbeResult; print('ok')")
    assert api.stdout.strip() == "ok", api.stderr
    adapter = run("-c", "import diagnostics.cli.twistd as t; print(t.__file__)")
    assert adapter.stdout.startswith(str(target)), adapter.stdout + adapter.stderr
    assert (target / "twisted" / "plugins" / "tlsdiag_plugin.py").is_file()
    assert (target / "diagnostics" / "model" / "result.schema.json").is_file()
    assert (target / "diagnostics" / "py.typed").is_file()
