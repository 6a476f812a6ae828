"""The daemon's side of the reach options: ``sni_compare`` and ``family`` as target and module
keys, their config errors, and a real probe with ``sni_compare = true`` held within the per-host
politeness."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path
from typing import Any

from diagnostics.daemon.config import load_config
from diagnostics.daemon.schedule import PER_HOST
from tests.support.daemon import first_probe_of_each, problems
from tests.support.hostile import LoopbackServer
from tests.support.sni import Certs, write_certs


def test_config_keys(tmp_path: Path) -> None:
    """sni_compare and family reach the probe options of targets and modules; the defaults
    are off and either family."""
    path = tmp_path / "tlsdiag.toml"
    path.write_text(
        "[defaults]\nfamily = 4\n"
        '[[target]]\nurl = "tls://127.0.0.1:1"\nsni_compare = true\nfamily = 6\n'
        '[[target]]\nurl = "tls://127.0.0.1:2"\n'
        "[module.compare]\nsni_compare = true\n"
        '[module.plain]\nuser = "ftp"\n'
    )
    config = load_config(str(path), environ={})
    first, second = (t.settings.options for t in config.targets)
    assert (first.sni_compare, first.family) == (True, 6)
    assert (second.sni_compare, second.family) == (False, 4)
    assert config.modules["compare"].options.sni_compare is True
    assert config.modules["plain"].options.sni_compare is False
    bare = tmp_path / "bare.toml"
    bare.write_text('[[target]]\nurl = "tls://127.0.0.1:1"\n')
    options = load_config(str(bare), environ={}).targets[0].settings.options
    assert (options.sni_compare, options.family) == (False, None)


def test_config_errors_name_their_key(tmp_path: Path) -> None:
    """A wrong type or value is a config error with its key path; so is sni_compare on an
    ftpes:// target, where TLS starts only after AUTH TLS."""
    path = tmp_path / "tlsdiag.toml"
    path.write_text(
        '[[target]]\nurl = "tls://127.0.0.1:1"\nsni_compare = "yes"\n'
        '[[target]]\nurl = "tls://127.0.0.1:2"\nfamily = 5\n'
        '[[target]]\nurl = "tls://127.0.0.1:3"\nfamily = "6"\n'
        '[[target]]\nurl = "ftpes://127.0.0.1:4"\nsni_compare = true\n'
        "[module.m]\nsni_compare = 1\n"
    )
    found = problems(path)
    assert found["target[0].sni_compare"] == "must be true or false, not a string ('yes')"
    assert found["target[1].family"] == "must be 4 or 6, not 5"
    assert found["target[2].family"].startswith("must be a whole number, not a string")
    assert found["target[3].sni_compare"].startswith("is not made for ftpes:// URLs")
    assert found["module.m.sni_compare"].startswith("must be true or false, not an integer")


class _CountingTLS:
    """HTTPS server (Python's ssl) that serves default.example without SNI and localhost
    with it, holds each ClientHello a moment and counts the connections open at once."""

    HOLD_S = 0.3  # how long the server takes to answer: overlapping probes would show

    def __init__(self, certs: Certs) -> None:
        self.default = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.default.load_cert_chain(certs.default, certs.default_key)
        self.named = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.named.load_cert_chain(certs.named, certs.named_key)
        self.default.sni_callback = self._sni
        self.lock = threading.Lock()
        self.open = self.most = 0
        self.names: list[str | None] = []

    def _sni(self, conn: Any, name: str | None, _context: Any) -> None:
        with self.lock:
            self.names.append(name)
        if name == "localhost":
            conn.context = self.named

    def __call__(self, conn: socket.socket, stopping: threading.Event) -> None:
        with self.lock:
            self.open += 1
            self.most = max(self.most, self.open)
        try:
            stopping.wait(self.HOLD_S)
        finally:
            # Counted as open until answered: the client's next attempt may follow at once.
            with self.lock:
                self.open -= 1
        with self.default.wrap_socket(conn, server_side=True) as tls:
            if tls.recv(4096).startswith(b"HEAD "):
                tls.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")


def test_sni_compare_probe_within_per_host_politeness(tmp_path: Path) -> None:
    """Three targets of one host with sni_compare = true: each event carries the comparison
    and sni_certificate_differs, and the daemon never holds more than the per-host limit of
    connections to the host at once, the handshakes without SNI included."""
    certs = write_certs(tmp_path / "pki")
    handler = _CountingTLS(certs)
    server = LoopbackServer(handler, "sni")
    try:
        events = first_probe_of_each(
            tmp_path,
            server.port,
            f'ca = ["{certs.root}"]\nservername = "localhost"\nsni_compare = true\n',
        )
    finally:
        server.stop()
    for event in events:
        compared = event["tlsdiag"]["sni_compare"]
        assert compared["differs"] is True, compared
        assert compared["without_sni"]["subject"] == "CN = default.example"
        ids = [f["id"] for f in event["tlsdiag"]["findings"]]
        assert "sni_certificate_differs" in ids
    assert None in handler.names and "localhost" in handler.names
    assert handler.most <= PER_HOST
