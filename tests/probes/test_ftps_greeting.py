"""The FTPS greeting: slowness is waited for; only what the server sends names the port.

All in memory on a fake clock (:mod:`tests.support.memtls`, with the real ``AUTH TLS``
upgrade of :mod:`tests.support.memftp`): a server that greets after 6 s of a 10 s
timeout is probed like any other, and the probe's plain connection carries nothing before
the greeting; an implicit port probed as ``ftpes://`` and an explicit port probed as
``ftps://`` are still named by the bytes they answer with; a server that never greets
times out in the ``starttls`` phase.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from OpenSSL import SSL
from twisted.internet.protocol import Factory, Protocol

from diagnostics.model.options import ProbeOptions
from diagnostics.model.result import Phase, ProbeResult, Status
from tests.support import memftp, memtls, pki

URL = f"ftpes://127.0.0.1:{memtls.PORT}"


@attrs.frozen
class Server:
    root: pki.Issued
    leaf: pki.Issued

    def context(self, **options: object) -> SSL.Context:
        return memtls.tls_context((self.leaf.cert,), self.leaf.key, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def server() -> Server:
    root = pki.make_ca("FTPS Greeting Root CA")
    return Server(root=root, leaf=pki.issue(root))


def _options(server: Server, tmp_path: Path, timeout: float = 10.0) -> ProbeOptions:
    return ProbeOptions(
        trust=memtls.trust_config(tmp_path, [server.root.cert]),
        timeout=timeout,
        data_channel=False,
    )


def _probe(maker: memtls.ServerMaker, url: str, options: ProbeOptions) -> ProbeResult:
    return memftp.run_probe(maker, url, options)


def test_greeting_after_six_seconds_is_probed_normally(server: Server, tmp_path: Path) -> None:
    """Reverse DNS makes the server greet after 6 s (timeout 10 s): the probe waits, sends
    nothing before the greeting, upgrades with AUTH TLS and logs in; no wrong-port finding."""
    sessions: list[memftp.ExplicitFTPS] = []
    maker = memftp.explicit_server(server.context(), delay=6.0, sessions=sessions)
    result = _probe(maker, URL, _options(server, tmp_path))
    assert result.failure is None, result.failure
    ftp = result.ftp
    assert ftp is not None
    assert ftp["greeting"] == "slow but healthy FTP server"
    assert (ftp["auth"], ftp["login"], ftp["prot"]) == ("TLS", "ok", "P")
    assert ftp["suggested_scheme"] is None
    assert result.tls is not None and result.served_chain == (server.leaf.cert,)
    assert result.timings is not None and result.timings.total_s >= 6.0
    assert not [f for f in result.findings if f.id in ("ftps_implicit_port", "not_tls")]
    # The server's view: on the probe's connection the first thing it read was AUTH TLS.
    assert sessions[0].received[:1] == ["AUTH TLS"]


def test_server_that_never_greets_times_out_in_starttls(server: Server, tmp_path: Path) -> None:
    """No greeting at all, and no TLS on a second connection either: a timeout in the
    starttls phase after the whole timeout, not a wrong-scheme verdict."""
    maker = memftp.explicit_server(server.context(), delay=None)
    result = _probe(maker, URL, _options(server, tmp_path))
    assert result.failure is not None
    assert (result.failure.kind, result.failure.phase) == ("timeout", Phase.STARTTLS)
    assert result.timings is not None and result.timings.total_s >= 10.0
    assert result.ftp is not None and result.ftp["suggested_scheme"] is None
    assert result.findings[0].id not in ("ftps_implicit_port", "ftps_explicit_port")
    assert "second connection got no TLS answer" in result.findings[0].detail


def test_implicit_port_probed_as_explicit(server: Server, tmp_path: Path) -> None:
    """An implicit FTPS port (TLS first, greeting inside): silence on the plain connection,
    a completed handshake on the second one: ftps_implicit_port, the chain captured."""
    maker = memtls.tls_server(server.context(), lambda: memtls.Greeting(memtls.FTP_GREETING))
    result = _probe(maker, URL, _options(server, tmp_path))
    assert result.status is Status.FAILED
    assert result.failure is not None
    assert (result.failure.kind, result.failure.phase) == ("wrong_scheme", Phase.STARTTLS)
    assert result.ftp is not None and result.ftp["suggested_scheme"] == "ftps"
    assert result.findings[0].id == "ftps_implicit_port"
    assert f"ftps://127.0.0.1:{memtls.PORT}" in result.findings[0].remedy
    assert result.served_chain == (server.leaf.cert,)
    # Found as soon as the second connection's handshake was done, not at the deadline.
    assert result.timings is not None and result.timings.total_s < 5.0


class _RefusingTLS(Protocol):
    """A TLS port that waits for the ClientHello and refuses it with a fatal
    handshake_failure alert (a TLS server with nothing in common with us)."""

    def dataReceived(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(b"\x15\x03\x03\x00\x02\x02\x28")
        self.transport.loseConnection()


def test_implicit_port_that_answers_tls_with_an_alert(server: Server, tmp_path: Path) -> None:
    """An implicit port whose TLS refuses our ClientHello with an alert: the alert is TLS,
    so the port is still named implicit."""
    maker = lambda _clock: Factory.forProtocol(_RefusingTLS)  # noqa: E731
    result = _probe(maker, URL, _options(server, tmp_path))
    assert result.failure is not None
    assert result.failure.kind == "wrong_scheme", result.failure
    assert "alert handshake failure" in (result.failure.reason or "")
    assert result.findings[0].id == "ftps_implicit_port"


def test_tls_records_on_the_plain_connection(server: Server, tmp_path: Path) -> None:
    """A port that sends TLS records at once (here an alert from a TLS server that cannot
    start) is not FTP in clear: wrong_scheme at once, ftps suggested."""
    context = server.context(max_version=SSL.TLS1_1_VERSION)
    maker = memtls.tls_server(context, lambda: memtls.Greeting(memtls.FTP_GREETING))
    result = _probe(maker, URL, _options(server, tmp_path))
    assert result.failure is not None
    assert result.failure.kind == "wrong_scheme"
    assert "TLS records" in result.failure.message
    assert result.findings[0].id == "ftps_implicit_port"


def test_explicit_port_probed_as_implicit(server: Server, tmp_path: Path) -> None:
    """A port greeting '220' in plain text answers the ClientHello with text: the TLS
    error is 'wrong version number' and the finding is ftps_explicit_port."""
    maker = memtls.plain_server(memtls.FTP_GREETING)
    url = f"ftps://127.0.0.1:{memtls.PORT}"
    result = _probe(maker, url, _options(server, tmp_path))
    assert result.failure is not None
    assert result.failure.reason == "wrong version number"
    assert result.ftp is not None and result.ftp["suggested_scheme"] == "ftpes"
    assert result.findings[0].id == "ftps_explicit_port"
