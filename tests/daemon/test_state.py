"""Where the daemon keeps its transition state: ``state.json`` in the log folder, another
``[daemon] state_file``, or nowhere (``state_file = ""``, or the logs on standard output
without a writable log folder), said once in the daemon stream."""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from diagnostics.daemon.config import ConfigError, load_config
from diagnostics.daemon.state import STATE_FILE, state_location
from diagnostics.model.result import ProbeResult, Target
from tests.support import pki
from tests.support.daemon import client_actions, daemon_config, result_with_leaf, run_service
from tests.support.processes import read_lines


def _stdout_events(out: str, action: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.splitlines()]
    return [e for e in lines if e["event.action"] == action]


def _expiring() -> pki.Issued:
    return pki.issue(pki.make_ca("Root"), not_after=pki.utcnow() + datetime.timedelta(days=20))


def test_state_location_rules(tmp_path: Path) -> None:
    """state.json in the log folder by default; a configured file wins; "" keeps none; with
    the logs on standard output an absent or read-only log folder keeps none, with the reason."""
    logs = str(tmp_path / "logs")
    assert state_location(logs, None, log_stdout=False) == (os.path.join(logs, STATE_FILE), None)
    assert state_location(logs, "/elsewhere/s.json", log_stdout=True) == ("/elsewhere/s.json", None)
    assert state_location(logs, "", log_stdout=False)[0] is None
    path, why = state_location(logs, None, log_stdout=True)
    assert path is None and why is not None and "does not exist" in why
    (tmp_path / "logs").mkdir()
    assert state_location(logs, None, log_stdout=True)[0] == os.path.join(logs, STATE_FILE)


def test_a_read_only_log_folder_with_log_stdout_keeps_no_state(tmp_path: Path) -> None:
    """--log-stdout with a log folder that cannot be written (a read-only mount in a
    container; simulated, as root may write anywhere else): no state, the reason says so."""
    logs = tmp_path / "logs"
    logs.mkdir()
    path, why = state_location(str(logs), None, log_stdout=True, writable=lambda _folder: False)
    assert path is None and why is not None and "read-only" in why
    assert state_location(str(logs), None, log_stdout=False, writable=lambda _f: False)[0]


def test_log_stdout_without_a_log_folder_runs_and_says_once_that_events_repeat(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--log-stdout and no log folder: the daemon runs, says once (a warning in the daemon
    stream) that transition events repeat after a restart, writes nothing, and a restart
    indeed repeats the expiry warning."""
    config_file = daemon_config(tmp_path)
    leaf = _expiring()
    for _ in range(2):
        run_service(config_file, [leaf, leaf], log_stdout=True).stopService()
    out = capsys.readouterr().out
    warnings = _stdout_events(out, "state")
    assert [w["log.level"] for w in warnings] == ["warning", "warning"]  # once per start
    assert "expiry_warning" in warnings[0]["message"]
    assert "does not exist" in warnings[0]["message"]
    assert len(_stdout_events(out, "expiry_warning")) == 2
    assert not (tmp_path / "logs").exists()


def test_log_stdout_keeps_state_in_a_writable_log_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--log-stdout with an existing, writable log folder: state.json is kept there and a
    restart does not repeat the expiry warning."""
    config_file = daemon_config(tmp_path)
    (tmp_path / "logs").mkdir()
    leaf = _expiring()
    for _ in range(2):
        run_service(config_file, [leaf, leaf], log_stdout=True).stopService()
    out = capsys.readouterr().out
    assert len(_stdout_events(out, "expiry_warning")) == 1
    assert [e["log.level"] for e in _stdout_events(out, "state")] == ["info"]  # loaded
    assert (tmp_path / "logs" / STATE_FILE).exists()


def test_state_file_key_moves_the_state(tmp_path: Path) -> None:
    """[daemon] state_file names the file (relative to the configuration, its folder made)."""
    config_file = daemon_config(tmp_path, state_file="var/tlsdiag-state.json")
    run_service(config_file, [_expiring()]).stopService()
    saved = json.loads((tmp_path / "var" / "tlsdiag-state.json").read_text())
    assert set(saved["targets"]) == {"tls://127.0.0.1:1"}
    assert not (tmp_path / "logs" / STATE_FILE).exists()


def test_empty_state_file_keeps_no_state(tmp_path: Path) -> None:
    """state_file = "": nothing is written, an info event says why, events repeat."""
    config_file = daemon_config(tmp_path, state_file="")
    leaf = _expiring()
    for _ in range(2):
        run_service(config_file, [leaf]).stopService()
    assert not (tmp_path / "logs" / STATE_FILE).exists()
    states = [
        e for e in read_lines(tmp_path / "logs" / "daemon.jsonl") if e["event.action"] == "state"
    ]
    assert [e["log.level"] for e in states] == ["info", "info"]
    assert 'state_file is ""' in states[0]["message"]
    assert client_actions(tmp_path / "logs") == ["expiry_warning", "expiry_warning"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [("[1]", "not an array"), ('"  "', "not a blank string"), ('"logs"', "is a folder")],
)
def test_bad_state_file_values(tmp_path: Path, value: str, problem: str) -> None:
    """A state_file that is not a file name is a configuration error naming the key."""
    (tmp_path / "logs").mkdir()
    config_file = tmp_path / "tlsdiag.toml"
    config_file.write_text(f"[daemon]\nstate_file = {value}\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(config_file), environ={})
    (found,) = info.value.problems
    assert found.key == "daemon.state_file" and problem in found.message


def test_a_failing_save_is_logged_once(tmp_path: Path) -> None:
    """A state file that cannot be written is a warning at the first failed save only, not at
    every later one."""
    (tmp_path / "blocker").write_text("a file where a folder should be")
    config_file = daemon_config(tmp_path, state_file="blocker/state.json")
    ca = pki.make_ca("Root")
    leaves = [pki.issue(ca) for _ in range(3)]
    reactor = MemoryReactorClock()
    service = run_service(config_file, [leaves[0]], reactor=reactor)
    later = iter(leaves[1:] * 10)

    def changing(_reactor: Any, target: Target, _options: Any) -> defer.Deferred[ProbeResult]:
        return defer.succeed(result_with_leaf(target, next(later)))

    service.probe_function = changing
    # A second at a time: each run is due 9 to 11 s (the jitter) after the previous one ran,
    # and a clock jumping by whole intervals would start it late and fit fewer runs in.
    for _ in range(30):
        reactor.advance(1)  # probes with another leaf each, and save attempts after them
    service.stopService()
    assert client_actions(tmp_path / "logs").count("chain_changed") >= 2
    logged = read_lines(tmp_path / "logs" / "daemon.jsonl")
    not_saved = [e for e in logged if e["message"].startswith("transition state not saved")]
    assert len(not_saved) == 1 and not_saved[0]["log.level"] == "warning"
