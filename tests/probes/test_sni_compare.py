"""``--sni-compare``: one handshake without SNI after the probe, its leaf beside the probe's.

The servers are real ``openssl s_server`` processes on loopback, one serving another
certificate when the client names ``localhost`` (``-servername localhost -cert2``); every
probe is the ``tlsdiag probe`` command.  A server that refuses clients without SNI is a
Python TLS server whose SNI callback answers ``unrecognized_name``.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from diagnostics.model.jsonform import schema
from tests.support import ftpservers, servers
from tests.support.hostile import LoopbackServer
from tests.support.sni import Certs, write_certs

pytestmark = pytest.mark.skipif(servers.OPENSSL is None, reason="needs the openssl command")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return write_certs(tmp_path_factory.mktemp("sni"))


def _probe(url: str, certs: Certs, *more: str) -> tuple[int, dict[str, Any]]:
    run = servers.run_tlsdiag(
        "probe", url, "--ca", certs.root, "--servername", "localhost", "--format", "json", *more
    )
    assert run.stderr == "", run.stderr
    result = json.loads(run.stdout)
    jsonschema.validate(result, schema())
    return run.returncode, result


def _ids(result: dict[str, Any]) -> list[str]:
    return [f["id"] for f in result["findings"]]


def test_another_certificate_without_sni(tmp_path: Path, certs: Certs) -> None:
    """A server that serves its default certificate to clients without SNI: a warning on the
    server's side naming both subjects, and that the default one does not name localhost."""
    extra = ("-servername", "localhost", "-cert2", str(certs.named), "-key2", str(certs.named_key))
    with servers.s_server(tmp_path, certs.default, certs.default_key, extra=extra) as server:
        code, result = _probe(server.url(), certs, "--sni-compare")
    assert code == 1
    assert result["status"] == "problems"
    compared = result["sni_compare"]
    assert compared["servername"] == "localhost"
    assert compared["with_sni"]["subject"] == "CN = localhost"
    assert result["served_chain"][0]["sha256"] == compared["with_sni"]["sha256"]
    without = compared["without_sni"]
    assert (without["outcome"], without["subject"], without["san_dns"]) == (
        "accepted",
        "CN = default.example",
        ["default.example"],
    )
    assert (without["hostname_matched"], without["chain_verified"]) == (False, True)
    assert compared["differs"] is True
    (finding,) = [f for f in result["findings"] if f["id"] == "sni_certificate_differs"]
    assert (finding["severity"], finding["side"]) == ("warning", "server")
    assert "CN = default.example" in finding["summary"]
    assert "CN = localhost" in finding["summary"]
    assert "would not verify for localhost: it does not name localhost" in finding["detail"]
    assert "old Java" in finding["detail"]
    assert "default certificate" in finding["remedy"]
    assert "send SNI" in finding["remedy"]


def test_same_certificate_without_sni(tmp_path: Path, certs: Certs) -> None:
    """A server serving one certificate to everyone: no warning, an info line, exit 0."""
    with servers.s_server(tmp_path, certs.named, certs.named_key) as server:
        code, result = _probe(server.url(), certs, "--sni-compare")
    assert code == 0, result["findings"]
    assert result["sni_compare"]["differs"] is False
    assert result["sni_compare"]["without_sni"]["hostname_matched"] is True
    assert "sni_certificate_differs" not in _ids(result)
    assert [(f["id"], f["severity"]) for f in result["findings"] if f["id"].startswith("sni_")] == [
        ("sni_certificate_same", "info")
    ]


def test_without_the_option_no_second_handshake(tmp_path: Path, certs: Certs) -> None:
    """Without --sni-compare the key is null and the server sees the probe's connection only."""
    extra = ("-servername", "localhost", "-cert2", str(certs.named), "-key2", str(certs.named_key))
    with servers.s_server(tmp_path, certs.default, certs.default_key, extra=extra) as server:
        code, result = _probe(server.url(), certs)
    assert code == 0
    assert result["sni_compare"] is None
    assert not [i for i in _ids(result) if i.startswith("sni_")]


def test_text_shows_the_finding(tmp_path: Path, certs: Certs) -> None:
    """The text output carries the finding; s_client's layout has no trace of the comparison."""
    extra = ("-servername", "localhost", "-cert2", str(certs.named), "-key2", str(certs.named_key))
    with servers.s_server(tmp_path, certs.default, certs.default_key, extra=extra) as server:
        common = (server.url(), "--ca", certs.root, "--servername", "localhost")
        text = servers.run_tlsdiag("probe", *common, "--sni-compare", "--format", "text")
        plain = servers.run_tlsdiag("probe", *common, "--format", "s_client")
        compared = servers.run_tlsdiag("probe", *common, "--sni-compare", "--format", "s_client")
    assert text.returncode == 1
    assert "sni_certificate_differs" in text.stdout
    assert "clients that send no SNI" in text.stdout
    assert "default.example" not in compared.stdout
    # Same layout line for line, whatever the option (times and the PEM aside).
    assert len(plain.lines) == len(compared.lines)


class _NeedsSNI:
    """TLS server (Python's ssl) that ends every handshake without SNI with unrecognized_name."""

    def __init__(self, certs: Certs) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certs.named, certs.named_key)
        self.context.sni_callback = self._sni
        self.lock = threading.Lock()
        self.names: list[str | None] = []

    def _sni(self, _conn: Any, name: str | None, _context: Any) -> int | None:
        with self.lock:
            self.names.append(name)
        return None if name else ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME

    def __call__(self, conn: socket.socket, stopping: threading.Event) -> None:
        with self.context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)


def test_server_refusing_clients_without_sni(certs: Certs) -> None:
    """A server that refuses handshakes without SNI: sni_required (warning, server side)."""
    handler = _NeedsSNI(certs)
    server = LoopbackServer(handler, "needs-sni")
    try:
        code, result = _probe(f"tls://127.0.0.1:{server.port}", certs, "--sni-compare")
    finally:
        server.stop()
    assert handler.names == ["localhost", None]
    assert code == 1
    without = result["sni_compare"]["without_sni"]
    assert without["outcome"] == "refused"
    assert "unrecognized name" in without["reason"]
    assert without["sha256"] is None
    assert result["sni_compare"]["differs"] is None
    (finding,) = [f for f in result["findings"] if f["id"] == "sni_required"]
    assert (finding["severity"], finding["side"]) == ("warning", "server")
    assert "refuses clients that send no SNI" in finding["summary"]


def test_ip_address_without_servername_is_skipped(tmp_path: Path, certs: Certs) -> None:
    """Probing by address sends no SNI: nothing to compare, said as an info line."""
    with servers.s_server(tmp_path, certs.named, certs.named_key) as server:
        run = servers.run_tlsdiag(
            "probe", server.url(), "--ca", certs.root, "--sni-compare", "--format", "json"
        )
    result = json.loads(run.stdout)
    assert result["sni_compare"]["without_sni"]["outcome"] == "skipped"
    assert "sni_compare_incomplete" in _ids(result)


def test_ftpes_is_refused_with_one_line() -> None:
    """--sni-compare is not made after AUTH TLS: exit 2 with one line, nothing probed."""
    run = servers.run_tlsdiag("probe", "ftpes://127.0.0.1:1", "--sni-compare")
    assert run.returncode == 2
    assert run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1
    assert "--sni-compare is not made for ftpes://" in run.stderr


@pytest.mark.skipif(not ftpservers.vsftpd_available(), reason="vsftpd is not installed")
def test_implicit_ftps(tmp_path: Path) -> None:
    """ftps:// (TLS from the first byte): the handshake without SNI goes to the implicit port
    too; vsftpd has one certificate, so it is the same."""
    files = servers.write_pki(tmp_path / "pki", prefix="FTPS", key_type="rsa")
    server = ftpservers.start_vsftpd(tmp_path, files, implicit=True)
    try:
        run = servers.run_tlsdiag(
            "probe", server.url("ftps"), "--ca", files.root, "--sni-compare", "--format", "json"
        )
    finally:
        server.stop()
    result = json.loads(run.stdout)
    assert result["target"]["servername"] == "localhost"
    compared = result["sni_compare"]
    assert (compared["without_sni"]["outcome"], compared["differs"]) == ("accepted", False)
    assert compared["with_sni"]["sha256"] == files.leaf_sha256
    assert "sni_certificate_same" in _ids(result)
