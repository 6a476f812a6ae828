"""A daemon service in process: a config file, a memory clock, probes that see given leaves."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from diagnostics.daemon.config import ConfigError, load_config
from diagnostics.daemon.service import make_service
from diagnostics.model.result import ProbeResult, Target
from tests.support import pki
from tests.support.processes import read_lines


def result_with_leaf(target: Target, leaf: pki.Issued) -> ProbeResult:
    """A completed probe result that saw ``leaf``."""
    return ProbeResult(target=target, served_chain=(leaf.cert,))


def daemon_config(tmp_path: Path, extra: str = "", **daemon: str | int) -> Path:
    """A config file with one target and the given [daemon] keys (log_dir "logs" by default)."""
    keys = {"log_dir": "logs", "metrics_listen": "127.0.0.1:0", **daemon}
    lines = ["[daemon]"] + [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    lines += ["[defaults]", "interval = 10", "[[target]]", 'url = "tls://127.0.0.1:1"', extra]
    path = tmp_path / "tlsdiag.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_service(
    config_file: Path, plan: list[pki.Issued], reactor: MemoryReactorClock | None = None, **kw: Any
) -> Any:
    """Start a daemon service on a memory clock whose probes see the leaves of ``plan`` in turn;
    advance until the plan is used up; the service (still running)."""
    config = load_config(str(config_file), environ={})
    reactor = reactor or MemoryReactorClock()
    if reactor.seconds() == 0:
        reactor.advance(pki.utcnow().timestamp())

    def fake_probe(_reactor: Any, target: Target, _options: Any) -> defer.Deferred[ProbeResult]:
        return defer.succeed(result_with_leaf(target, plan.pop(0)))

    service = make_service(config, reactor=reactor, probe=fake_probe, handle_sighup=False, **kw)
    service.startService()
    for _ in range(1000):
        if not plan:
            break
        reactor.advance(1)
    assert not plan
    return service


def client_actions(log_dir: Path) -> list[str]:
    """The transition events of client.jsonl, in order (probe summaries left out)."""
    events = read_lines(log_dir / "client.jsonl")
    return [e["event.action"] for e in events if e["event.action"] != "tls-probe"]


def first_probe_of_each(directory: Path, port: int, defaults: str) -> list[dict[str, Any]]:
    """Run a real ``tlsdiag daemon`` on three https targets of one loopback host (paths a, b,
    c on ``port``) with the ``[defaults]`` lines given, until each was probed once; its
    ``tls-probe`` events are returned."""
    import subprocess

    from tests.support.processes import start_tlsdiag, stop, wait_for

    targets = "".join(f'[[target]]\nurl = "https://127.0.0.1:{port}/{name}"\n' for name in "abc")
    config = directory / "tlsdiag.toml"
    config.write_text(
        '[daemon]\nlog_dir = "logs"\nmetrics_listen = "127.0.0.1:0"\n'
        f"[defaults]\ninterval = 1\ntimeout = 10\n{defaults}{targets}"
    )
    logs = directory / "logs"
    process = start_tlsdiag(
        "daemon", "--config", str(config), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:

        def three_probes() -> list[dict[str, Any]]:
            events = [
                e for e in read_lines(logs / "client.jsonl") if e["event.action"] == "tls-probe"
            ]
            return events if len({e["url.full"] for e in events}) == 3 else []

        events: list[dict[str, Any]] = wait_for("a probe of each target", three_probes, process)
        return events
    finally:
        stop(process)


@functools.cache
def config_ca() -> pki.Issued:
    """One CA for the whole module (key generation is the slow part)."""
    return pki.make_ca("Config Test Root")


def write(tmp_path: Path, text: str) -> Path:
    """A config file in ``tmp_path`` with a CA file next to it."""
    (tmp_path / "ca.pem").write_bytes(pki.pem([config_ca().cert]))
    path = tmp_path / "tlsdiag.toml"
    path.write_text(text)
    return path


def problems(path: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The problems of a config file as {key path: message}."""
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), environ=environ or {})
    for problem in caught.value.problems:
        assert problem.file == str(path)
    return {p.key: p.message for p in caught.value.problems}


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition as {(name, sorted labels): value}."""
    found = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found
