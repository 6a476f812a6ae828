"""The daemon's side of the version matrix and the follow-ups: the config keys, the
``tlsdiag_tls_version_accepted`` metric, and the per-host politeness they stay within."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from diagnostics.daemon.config import load_config
from diagnostics.daemon.metrics import ProbeMetrics, exposition, new_registry
from diagnostics.daemon.schedule import PER_HOST
from diagnostics.model.result import Attempt, ProbeResult
from diagnostics.model.target import parse_target
from diagnostics.probes.followups import MAX_FOLLOWUPS
from tests.support import monitoring
from tests.support.daemon import first_probe_of_each, samples
from tests.support.hostile import LoopbackServer

URL = "tls://127.0.0.1:8443"
PROTOCOL_VERSION_ALERT = b"\x15\x03\x01\x00\x02\x02\x46"


def _matrix() -> ProbeResult:
    return ProbeResult(
        target=parse_target(URL),
        versions=(
            Attempt("version", "TLSv1.3", 0, "accepted", "TLSv1.3", "TLS_AES_128_GCM_SHA256"),
            Attempt("version", "TLSv1.2", 0, "accepted", "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"),
            Attempt("version", "TLSv1.1", 0, "refused", reason="tlsv1 alert protocol version"),
            Attempt("version", "TLSv1", 0, "unsupported"),
        ),
    )


def test_config_keys(tmp_path: Path) -> None:
    """versions = true and followups = false reach the probe options; the defaults are off/on."""
    path = tmp_path / "tlsdiag.toml"
    path.write_text(
        '[[target]]\nurl = "tls://127.0.0.1:1"\nversions = true\nfollowups = false\n'
        '[[target]]\nurl = "tls://127.0.0.1:2"\n'
    )
    first, second = load_config(str(path), environ={}).targets
    assert (first.settings.options.versions, first.settings.options.followups) == (True, False)
    assert (second.settings.options.versions, second.settings.options.followups) == (False, True)


def test_version_accepted_metric() -> None:
    """One tlsdiag_tls_version_accepted sample per version tried: 1 accepted, 0 refused;
    a version the linked OpenSSL cannot offer has none."""
    metrics = ProbeMetrics()
    metrics.observe(URL, _matrix())
    found = samples(exposition(new_registry(metrics)))
    by_version = {
        dict(labels)["version"]: value
        for (name, labels), value in found.items()
        if name == "tlsdiag_tls_version_accepted"
    }
    assert by_version == {"TLS 1.3": 1.0, "TLS 1.2": 1.0, "TLS 1.1": 0.0}


@pytest.mark.skipif(monitoring.PROMTOOL is None, reason="needs promtool")
def test_version_metric_passes_promtool() -> None:
    """promtool check metrics accepts the exposition with the version metric."""
    metrics = ProbeMetrics()
    metrics.observe(URL, _matrix())
    text = exposition(new_registry(metrics))
    assert b"tlsdiag_tls_version_accepted{" in text
    run = monitoring.promtool("check", "metrics", stdin=text)
    assert run.returncode == 0 and not (run.stdout + run.stderr).strip(), run.stdout + run.stderr


class _Refuser:
    """Answers every ClientHello with protocol_version after holding it a moment; counts
    the connections open at once."""

    HOLD_S = 0.3  # how long the server takes to answer: overlapping probes would show

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open = 0
        self.most = 0
        self.total = 0

    def __call__(self, conn: Any, stopping: threading.Event) -> None:
        with self.lock:
            self.open += 1
            self.total += 1
            self.most = max(self.most, self.open)
        try:
            conn.recv(4096)
            stopping.wait(self.HOLD_S)
        finally:
            # Counted as open until answered: the client's next attempt may follow at once.
            with self.lock:
                self.open -= 1
        conn.sendall(PROTOCOL_VERSION_ALERT)


def test_followups_are_counted_in_per_host_politeness(tmp_path: Path) -> None:
    """Three targets of one host whose handshakes are refused: with their follow-ups the
    daemon never holds more than the per-host limit of connections to it at once."""
    refuser = _Refuser()
    server = LoopbackServer(refuser, "refuser")
    try:
        events = first_probe_of_each(tmp_path, server.port, "")
    finally:
        server.stop()
    followups = [e["tlsdiag"]["followups"] for e in events]
    assert all(1 <= len(f) <= MAX_FOLLOWUPS for f in followups), json.dumps(followups)
    assert refuser.total >= 3 * 2
    assert refuser.most <= PER_HOST
