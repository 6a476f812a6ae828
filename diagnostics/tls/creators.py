"""Twisted's TLS connections, recorded the way ``openssl s_client`` sees them, never aborting.

:class:`RecordingClientCreator` is our own ``IOpenSSLClientConnectionCreator``:
it sets SNI (never for IP literals), records every verify callback call and lets
the handshake continue, and captures the negotiated facts and both chains the
moment the handshake is done (see :mod:`diagnostics.tls.recording`).
:class:`RecordingServerCreator` does the same for the server side of a
listener: it records the client's certificate, SNI and offered ALPN protocols.
:func:`one_connection` is the factory of the protocol inside such a connection.
"""

from __future__ import annotations

from typing import Any

from OpenSSL import SSL
from twisted.internet.interfaces import (
    IAddress,
    IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator,
)
from twisted.internet.protocol import Factory, Protocol
from zope.interface import implementer

from diagnostics.model import certificates
from diagnostics.tls.recording import (
    OPENSSL_VERSION,
    HandshakeCapture,
    RecordingConnection,
    capture_of,
    check_hostname,
    session_reused,
    verify_reason,
)

__all__ = [
    "OPENSSL_VERSION",
    "HandshakeCapture",
    "RecordingClientCreator",
    "RecordingConnection",
    "RecordingServerCreator",
    "check_hostname",
    "one_connection",
    "select_alpn",
    "session_reused",
    "verify_reason",
]


class _OneConnection(Factory[Protocol]):
    """Hands out one protocol instance, once, and forgets it.

    Quiet: a noisy factory writes "Starting factory"/"Stopping factory" for every
    connection, which would flood the daemon's log.  Forgetful: a factory that kept its
    protocol would close a reference cycle through Twisted's TLS layer (which keeps its
    factory), leaving each connection and its OpenSSL state to the cycle collector.
    """

    noisy = False

    def __init__(self, protocol: Protocol) -> None:
        self._protocol: Protocol | None = protocol

    def buildProtocol(self, addr: IAddress | None) -> Protocol | None:
        protocol, self._protocol = self._protocol, None
        return protocol


def one_connection(protocol: Protocol) -> Factory[Protocol]:
    """A factory for exactly one connection, handing out ``protocol``, that logs nothing."""
    return _OneConnection(protocol)


@implementer(IOpenSSLClientConnectionCreator)
class RecordingClientCreator:
    """Client connections that record everything and never abort on a bad certificate."""

    def __init__(
        self,
        context: SSL.Context,
        servername: str | None,
        *,
        session: SSL.Session | None = None,
        alpn: tuple[bytes, ...] = (),
    ) -> None:
        self.context = context
        self.session = session
        self.alpn = alpn
        send_sni = servername if servername and not certificates.is_ip_literal(servername) else None
        self.capture = HandshakeCapture(servername=send_sni)

    def clientConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:
        """Build the pyOpenSSL connection for one TLS client connection."""
        conn = RecordingConnection(self.context, self.capture)
        if self.capture.servername:
            conn.set_tlsext_host_name(self.capture.servername.encode("idna"))
        if self.session is not None:
            conn.set_session(self.session)
        if self.alpn:
            conn.set_alpn_protos(list(self.alpn))
        conn.request_ocsp()
        return conn


def select_alpn(conn: SSL.Connection, offered: list[bytes]) -> Any:
    """A context's ALPN callback: record what the client offers, pick by preference.

    The preference is the ``preferred_alpn`` of the connection's capture.
    """
    capture = capture_of(conn)
    if capture is not None:
        capture.alpn_offered = tuple(p.decode("ascii", "replace") for p in offered)
        for protocol in capture.preferred_alpn:
            if protocol in offered:
                return protocol
    return SSL.NO_OVERLAPPING_PROTOCOLS


@implementer(IOpenSSLServerConnectionCreator)
class RecordingServerCreator:
    """Server connections that record the client's side of the handshake.

    ``verify_mode`` decides whether a client certificate is requested
    (``VERIFY_PEER``) or required (with ``VERIFY_FAIL_IF_NO_PEER_CERT``); a bad
    client certificate aborts the handshake only with ``strict``.  The context
    should have :func:`select_alpn` as its ALPN callback to see what is offered.
    """

    def __init__(
        self,
        context: SSL.Context,
        *,
        verify_mode: int = SSL.VERIFY_NONE,
        strict: bool = False,
        alpn: tuple[bytes, ...] = (),
    ) -> None:
        self.context = context
        self.verify_mode = verify_mode
        self.strict = strict
        self.capture = HandshakeCapture(server_side=True, preferred_alpn=alpn)

    def serverConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:
        """Build the pyOpenSSL connection for one accepted TLS connection."""
        return RecordingConnection(
            self.context, self.capture, verify_mode=self.verify_mode, strict=self.strict
        )
