"""Who is to blame for a certificate alert: what the probe sent decides, not the alert alone.

A server answering alert 48 (``unknown_ca``) rejects a certificate it was shown.  When
the probe sent one, that is our client certificate; when it sent none, the alert cannot
be about ours: a server that asked for a certificate requires one, a server that never
asked objects to something on its own side.  Every case is a real OpenSSL client
handshake in memory (:mod:`tests.support.memtls`) against a real OpenSSL server, or a
server answering the ClientHello with the alert record alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest
from OpenSSL import SSL
from twisted.internet.interfaces import IProtocolFactory, IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory

from diagnostics.model.options import ProbeOptions
from diagnostics.model.result import Phase, ProbeResult, Side, Status
from tests.support import memtls, pki

TLS12 = SSL.TLS1_2_VERSION
# Plain-text TLS 1.2 alert records: fatal (2), handshake_failure (40) and unknown_ca (48).
HANDSHAKE_FAILURE = b"\x15\x03\x03\x00\x02\x02\x28"
UNKNOWN_CA = b"\x15\x03\x03\x00\x02\x02\x30"
rewritten: list[int] = []
"""One mark per alert :class:`_AlertRewriter` changed (the test checks the server spoke)."""


@attrs.frozen
class Lab:
    root: pki.Issued
    leaf: pki.Issued
    client_root: pki.Issued
    rogue: pki.Issued


@pytest.fixture(scope="module")
def lab() -> Lab:
    root = pki.make_ca("Alert Root CA")
    rogue_root = pki.make_ca("Rogue Client CA")
    return Lab(
        root=root,
        leaf=pki.issue(root),
        client_root=pki.make_ca("Partner Client CA"),
        rogue=pki.issue(rogue_root, "stranger", sans=(), ekus=(pki.CLIENT_AUTH,)),
    )


class _AlertRewriter(ProtocolWrapper):
    """Sends what the TLS server writes, its handshake_failure alert turned into unknown_ca:
    a TLS library that reports a missing client certificate with alert 48."""

    def write(self, data: bytes) -> None:
        if HANDSHAKE_FAILURE in data:
            rewritten.append(1)
        super().write(data.replace(HANDSHAKE_FAILURE, UNKNOWN_CA))


class _RewritingFactory(WrappingFactory):
    protocol = _AlertRewriter


class _UnknownCAOnHello(Protocol):
    """Answers the ClientHello with a fatal unknown_ca alert and hangs up: no certificate
    request, no certificate of the server, only the alert (a proxy that could not verify
    its backend looks like this)."""

    def dataReceived(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(UNKNOWN_CA)
        self.transport.loseConnection()


def _probe(
    lab: Lab, tmp_path: Path, server: memtls.ServerMaker, *, identity: bool = False
) -> ProbeResult:
    client: dict[str, Any] = {}
    if identity:
        client = {"client_chain": (lab.rogue.cert,), "client_key": lab.rogue.key}
    trust = memtls.trust_config(tmp_path, [lab.root.cert], **client)
    return memtls.run_probe(
        server,
        f"tls://127.0.0.1:{memtls.PORT}/",
        ProbeOptions(trust=trust),
        servername="localhost",
    )


def _requiring_server(lab: Lab, *, rewrite: bool) -> memtls.ServerMaker:
    context = memtls.tls_context(
        (lab.leaf.cert,),
        lab.leaf.key,
        require_client_cert=True,
        client_ca=[lab.client_root.cert],
        max_version=TLS12,
    )
    inner = memtls.tls_server(context)
    if not rewrite:
        return inner

    def make(clock: IReactorTime) -> IProtocolFactory:
        return _RewritingFactory(inner(clock))

    return make


def test_unknown_ca_after_a_certificate_request_without_certificate(
    lab: Lab, tmp_path: Path
) -> None:
    """The server asked for a client certificate, none was sent, it answered unknown_ca:
    the server requires a certificate (client side acts: configure one), never
    'does not accept the CA that issued our client certificate'."""
    rewritten.clear()
    result = _probe(lab, tmp_path, _requiring_server(lab, rewrite=True))
    assert rewritten, "the server's alert was not rewritten"
    assert result.failure is not None
    assert (result.failure.phase, result.failure.reason) == (
        Phase.HANDSHAKE,
        "tlsv1 alert unknown ca",
    )
    assert result.client_auth is not None
    assert (result.client_auth.requested, result.client_auth.sent) == (True, False)
    first = result.findings[0]
    assert (first.id, first.side) == ("client_certificate_required", Side.CLIENT)
    assert "unknown_ca" in first.summary and "none was sent" in first.summary
    assert "CN = Partner Client CA" in first.detail  # the accepted issuer, from the request
    assert "client_certificate_rejected" not in [f.id for f in result.findings]
    assert "issued our client certificate" not in first.summary


@pytest.mark.parametrize("identity", [False, True], ids=["no-identity", "identity-configured"])
def test_unknown_ca_without_a_certificate_request(lab: Lab, tmp_path: Path, identity: bool) -> None:
    """Alert 48 in answer to the ClientHello, no certificate request: nothing of ours was
    judged (even with a client certificate configured, it was never sent); the server's
    side must look, and the finding says why."""
    server = lambda _clock: Factory.forProtocol(_UnknownCAOnHello)  # noqa: E731
    result = _probe(lab, tmp_path, server, identity=identity)
    assert result.status is Status.FAILED
    assert result.failure is not None and result.failure.reason == "tlsv1 alert unknown ca"
    assert result.client_auth is None
    first = result.findings[0]
    assert (first.id, first.side) == ("tls_alert_unknown_ca", Side.SERVER)
    assert "never asked for a client certificate" in first.summary
    assert "no certificate request" in first.detail
    assert "none was sent" in first.remedy
    assert "client_certificate_rejected" not in [f.id for f in result.findings]


def test_unknown_ca_for_a_certificate_we_sent_is_ours_to_fix(lab: Lab, tmp_path: Path) -> None:
    """The real OpenSSL server rejects our client certificate from an unknown CA with
    unknown_ca: that stays client_certificate_rejected, on the client's side."""
    result = _probe(lab, tmp_path, _requiring_server(lab, rewrite=False), identity=True)
    assert result.failure is not None
    assert result.failure.reason == "tlsv1 alert unknown ca"
    assert result.client_auth is not None and result.client_auth.sent is True
    first = result.findings[0]
    assert (first.id, first.side) == ("client_certificate_rejected", Side.CLIENT)
    assert "issued our client certificate" in first.summary
