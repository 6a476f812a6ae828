"""Reach: IPv6 literal URLs, the address used, the fall back to the next address.

The IPv6 servers are real ``openssl s_server`` and vsftpd processes listening on ``[::1]``
(the tests are skipped only when this machine cannot listen on ::1).  For a name resolving to
several addresses, the probe runs with a resolver that answers the test's addresses in order
(``tests.support.resolving``); the connections themselves are real.
"""

from __future__ import annotations

import http.server
import json
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from twisted.internet import error
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure as TwistedFailure

import diagnostics
from diagnostics.model.jsonform import schema
from diagnostics.model.result import AddressTried
from tests.support import ftpservers, resolving, servers

pytestmark = pytest.mark.skipif(servers.OPENSSL is None, reason="needs the openssl command")
needs_ipv6 = pytest.mark.skipif(not servers.ipv6_loopback(), reason="no ::1 on this machine")
needs_vsftpd = pytest.mark.skipif(
    not ftpservers.vsftpd_available(), reason="vsftpd is not installed"
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> servers.PKIFiles:
    return servers.write_pki(tmp_path_factory.mktemp("pki"), prefix="Reach", key_type="rsa")


def _json(run: servers.CommandRun) -> dict[str, Any]:
    assert run.stderr == "", run.stderr
    result: dict[str, Any] = json.loads(run.stdout)
    jsonschema.validate(result, schema())
    return result


def _probe(url: str, pki: servers.PKIFiles, *more: str) -> dict[str, Any]:
    run = servers.run_tlsdiag("probe", url, "--ca", pki.root, "--format", "json", *more)
    return _json(run)


def _ids(result: dict[str, Any]) -> list[str]:
    return [f["id"] for f in result["findings"]]


# -- IPv6 literals -------------------------------------------------------------------------


@needs_ipv6
def test_ipv6_literal_tls(tmp_path: Path, pki: servers.PKIFiles) -> None:
    """tls://[::1]:PORT reaches s_server on ::1; the result says which address was used."""
    with servers.s_server(tmp_path, pki.leaf, pki.key, chain=pki.intermediate, host="::1") as srv:
        assert srv.url().startswith("tls://[::1]:")
        result = _probe(srv.url(), pki, "--servername", "localhost")
    assert result["status"] == "ok", result["findings"]
    assert result["target"]["host"] == "::1"
    assert result["connection"] == {"address": "::1", "family": 6, "tried": []}
    assert result["source"]["address"] == "::1"


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self) -> None:
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


class _HTTPS6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True


@needs_ipv6
def test_ipv6_literal_https(pki: servers.PKIFiles) -> None:
    """https://[::1]:PORT: the handshake and the HTTP request over IPv6 (the Host header
    carries the address in brackets)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.served, pki.key)
    server = _HTTPS6(("::1", 0), _Answer)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = _probe(f"https://[::1]:{server.server_address[1]}/", pki)
    finally:
        server.shutdown()
        server.server_close()
    assert result["failed_phase"] is None, result["error"]
    assert result["http"]["status"] == 204
    assert result["connection"] == {"address": "::1", "family": 6, "tried": []}


@needs_ipv6
def test_ipv6_literal_with_ipv4_forced(pki: servers.PKIFiles) -> None:
    """-4 with an IPv6 literal: a failed result in the resolve phase that says why."""
    run = servers.run_tlsdiag("probe", "tls://[::1]:1", "-4", "--format", "json")
    result = _json(run)
    assert run.returncode == 3
    assert result["failed_phase"] == "resolve"
    assert "::1 is an IPv6 address but -4 was asked" in result["error"]["message"]


@needs_ipv6
@needs_vsftpd
@pytest.mark.parametrize(("scheme", "implicit"), [("ftpes", False), ("ftps", True)])
def test_ftps_over_ipv6(tmp_path: Path, pki: servers.PKIFiles, scheme: str, implicit: bool) -> None:
    """vsftpd on ::1: the control connection and the EPSV data channel both over IPv6."""
    server = ftpservers.start_vsftpd(tmp_path, pki, implicit=implicit, host="::1")
    try:
        result = _probe(server.url(scheme), pki, "--servername", "localhost")
    finally:
        server.stop()
    assert result["failed_phase"] is None, result["error"]
    assert result["connection"]["address"] == "::1"
    data = result["ftp"]["data_channel"]
    assert (data["passive"], data["ok"]) == ("EPSV", True), data


# -- a name with several addresses ---------------------------------------------------------


def _resolving(url: str, addresses: list[str], *options: str) -> dict[str, Any]:
    """Probe ``url`` with every name resolving to ``addresses``, in order."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.resolving", url, *addresses, "--", *options],
        cwd=servers.REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    jsonschema.validate(result, schema())
    return result


@pytest.mark.parametrize(
    "dead", ["127.0.0.2", pytest.param("::1", marks=needs_ipv6)], ids=["ipv4", "ipv6"]
)
def test_fallback_to_the_next_address(tmp_path: Path, pki: servers.PKIFiles, dead: str) -> None:
    """The first address refuses the connection, the second has the server: the probe
    succeeds on the second, and the result names the first and its error."""
    with servers.s_server(tmp_path, pki.leaf, pki.key, chain=pki.intermediate) as server:
        url = f"tls://localhost:{server.port}"
        result = _resolving(url, [dead, "127.0.0.1"], "--ca", str(pki.root))
    assert result["status"] == "ok", result["findings"]
    family = 6 if ":" in dead else 4
    assert result["connection"] == {
        "address": "127.0.0.1",
        "family": 4,
        "tried": [{"address": dead, "family": family, "error": "connection_refused"}],
    }
    (finding,) = [f for f in result["findings"] if f["id"] == "address_fallback"]
    assert (finding["severity"], finding["side"]) == ("info", "server")
    shown = f"[{dead}]" if ":" in dead else dead
    assert f"{shown}:{server.port} (connection_refused)" in finding["summary"]
    assert f"127.0.0.1:{server.port} instead" in finding["summary"]


def test_no_fallback_no_finding(tmp_path: Path, pki: servers.PKIFiles) -> None:
    """The first address answers: nothing tried before it, no address_fallback."""
    with servers.s_server(tmp_path, pki.leaf, pki.key, chain=pki.intermediate) as server:
        url = f"tls://localhost:{server.port}"
        result = _resolving(url, ["127.0.0.1", "127.0.0.2"], "--ca", str(pki.root))
    assert result["connection"] == {"address": "127.0.0.1", "family": 4, "tried": []}
    assert "address_fallback" not in _ids(result)


def test_family_forced(tmp_path: Path, pki: servers.PKIFiles) -> None:
    """-4 leaves the IPv6 address out (no fallback needed); -6 with IPv4 answers only fails
    in the resolve phase."""
    with servers.s_server(tmp_path, pki.leaf, pki.key, chain=pki.intermediate) as server:
        url = f"tls://localhost:{server.port}"
        four = _resolving(url, ["::1", "127.0.0.1"], "-4", "--ca", str(pki.root))
        six = _resolving(url, ["127.0.0.1"], "-6", "--ca", str(pki.root))
    assert four["connection"] == {"address": "127.0.0.1", "family": 4, "tried": []}
    assert four["status"] == "ok"
    assert (six["status"], six["failed_phase"], six["connection"]) == ("failed", "resolve", None)


def test_every_address_refused() -> None:
    """No address answers: the probe fails in the connect phase and lists both."""
    dead = servers.ClosedPort()
    try:
        url = f"tls://localhost:{dead.port}"
        result = _resolving(url, ["127.0.0.2", "127.0.0.1"])
    finally:
        dead.close()
    assert (result["status"], result["failed_phase"]) == ("failed", "connect")
    assert result["connection"]["address"] is None
    assert [t["address"] for t in result["connection"]["tried"]] == ["127.0.0.2", "127.0.0.1"]
    assert "address_fallback" not in _ids(result)


def test_each_address_gets_its_share_of_the_time() -> None:
    """An address that never answers does not eat the whole timeout: with two addresses the
    first gets half of it, the next one what is left; the first's error is recorded."""
    reactor = MemoryReactorClock()
    reactor.nameResolver = resolving.FixedResolver(["::1", "127.0.0.1"])  # type: ignore[assignment]
    target = diagnostics.parse_target("tls://partner.test:8443")
    results: list[diagnostics.ProbeResult] = []
    diagnostics.probe(reactor, target, diagnostics.ProbeOptions(timeout=10.0)).addCallback(
        results.append
    )
    first = reactor.tcpClients[0]
    assert (first[0], first[3]) == ("::1", 5.0)
    reactor.advance(5.0)
    connector = reactor.connectors[0]
    first[2].clientConnectionFailed(connector, TwistedFailure(error.TimeoutError()))
    second = reactor.tcpClients[1]
    assert (second[0], second[3]) == ("127.0.0.1", 5.0)
    reactor.advance(6.0)
    (result,) = results
    assert result.connection is not None
    assert result.connection.tried == (AddressTried("::1", 6, "timeout"),)
