"""The shipped systemd unit: systemd accepts it, and it runs the daemon with real options."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "config" / "tlsdiag.service"
TLSDIAG = Path(sys.executable).with_name("tlsdiag")


def directives(text: str) -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit, by key (in order)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def exec_start() -> list[str]:
    (command,) = directives(UNIT.read_text())["ExecStart"]
    return shlex.split(command)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    """``systemd-analyze verify`` on the unit, ExecStart pointing at this tlsdiag."""
    assert TLSDIAG.exists()
    original = exec_start()[0]
    unit = tmp_path / "tlsdiag.service"
    unit.write_text(UNIT.read_text().replace(f"ExecStart={original} ", f"ExecStart={TLSDIAG} "))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""


def test_unit_hardening_and_reload() -> None:
    found = directives(UNIT.read_text())
    assert found["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert found["Restart"] == ["on-failure"]
    for key, value in {
        "DynamicUser": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "StateDirectory": "tlsdiag",
        "LogsDirectory": "tlsdiag",
    }.items():
        assert found[key] == [value], key
    assert "@system-service" in found["SystemCallFilter"]


def test_exec_start_options_are_real_cli_options() -> None:
    """Every option ExecStart passes is one ``tlsdiag daemon --help`` lists."""
    command = exec_start()
    assert Path(command[0]).name == "tlsdiag"
    assert command[1] == "daemon"
    helped = subprocess.run(
        [str(TLSDIAG), "daemon", "--help"], capture_output=True, text=True, timeout=60
    )
    assert helped.returncode == 0, helped.stderr
    options = [word for word in command[2:] if word.startswith("--")]
    assert options == ["--config", "--log-stdout"]
    for option in options:
        assert f" {option}" in helped.stdout, option
    # --config takes the next word; nothing else is left over.
    assert command[2:] == ["--config", "/etc/tlsdiag/tlsdiag.toml", "--log-stdout"]
