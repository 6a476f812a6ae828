"""The bounded wait after a TLS 1.3 handshake, where a server that asked for a client
certificate gives its verdict (an alert, or a session ticket).

Real OpenSSL handshakes in memory (:mod:`tests.support.memtls`) on a fake clock; the server's
TLS layer sits on a transport that passes its first flight and holds back everything after
it (its session tickets), so a probe that waits for post-handshake news waits the whole
``post_handshake_wait`` of fake time, and one that does not takes none.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from twisted.internet.interfaces import IProtocolFactory, IReactorTime
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory

from diagnostics.model.options import ProbeOptions
from diagnostics.model.result import ProbeResult, Status
from tests.support import memtls, pki

WAIT = 0.5
held: list[bytes] = []
"""What :class:`_FirstFlightOnly` kept from the client (the test checks the server spoke)."""


@attrs.frozen
class Lab:
    root: pki.Issued
    leaf: pki.Issued
    client_root: pki.Issued
    client: pki.Issued


@pytest.fixture(scope="module")
def lab() -> Lab:
    root = pki.make_ca("Wait Root CA")
    client_root = pki.make_ca("Wait Client CA")
    return Lab(
        root=root,
        leaf=pki.issue(root),
        client_root=client_root,
        client=pki.issue(client_root, "client", sans=(), ekus=(pki.CLIENT_AUTH,)),
    )


class _FirstFlightOnly(ProtocolWrapper):
    """Sends the server's first flight (ServerHello to Finished) and holds back the rest."""

    flights = 0

    def write(self, data: bytes) -> None:
        if self.flights:
            held.append(data)
            return
        self.flights += 1
        super().write(data)


class _FirstFlightFactory(WrappingFactory):
    protocol = _FirstFlightOnly


def _probe(lab: Lab, tmp_path: Path, *, ask_for_certificate: bool) -> ProbeResult:
    context = memtls.tls_context(
        (lab.leaf.cert,),
        lab.leaf.key,
        require_client_cert=ask_for_certificate,
        client_ca=[lab.client_root.cert],
    )
    inner = memtls.tls_server(context)

    def server(clock: IReactorTime) -> IProtocolFactory:
        return _FirstFlightFactory(inner(clock))

    trust = memtls.trust_config(
        tmp_path, [lab.root.cert], client_chain=(lab.client.cert,), client_key=lab.client.key
    )
    held.clear()
    return memtls.run_probe(
        server,
        f"tls://127.0.0.1:{memtls.PORT}/",
        ProbeOptions(trust=trust, post_handshake_wait=WAIT),
        servername="localhost",
    )


def test_bounded_wait_when_a_certificate_was_asked_for(lab: Lab, tmp_path: Path) -> None:
    """After presenting a certificate the server asked for, the probe waits for the server's
    verdict, at most ``post_handshake_wait``: here none comes (the tickets are held back),
    so the whole wait passes and the accepted probe is OK."""
    result = _probe(lab, tmp_path, ask_for_certificate=True)
    assert held, "the server wrote nothing after its first flight"
    assert result.status is Status.OK, result.failure
    assert result.client_auth is not None
    assert (result.client_auth.requested, result.client_auth.sent) == (True, True)
    assert result.timings.total_s is not None and result.timings.total_s >= WAIT
