"""Twisted's TLS connections, recorded the way ``openssl s_client`` sees them, never aborting.

:class:`RecordingClientCreator` is our own ``IOpenSSLClientConnectionCreator``:
it sets SNI (never for IP literals), records every verify callback call and lets
the handshake continue, and captures the negotiated facts and both chains the
moment the handshake is done (see :mod:`diagnostics.tls.recording`).
:class:`RecordingServerCreator` does the same for the server side of a
listener: it records the client's certificate, SNI and offered ALPN protocols.
"""

from __future__ import annotations

import weakref
from typing import Any

from OpenSSL import SSL
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator,
)
from zope.interface import implementer

from diagnostics.model import certificates
from diagnostics.tls.recording import (
    OPENSSL_VERSION,
    HandshakeCapture,
    check_hostname,
    instrument,
    session_reused,
    verify_reason,
)
from diagnostics.tls.stapling import capture_of, watch_staples

__all__ = [
    "OPENSSL_VERSION",
    "HandshakeCapture",
    "RecordingClientCreator",
    "RecordingServerCreator",
    "check_hostname",
    "instrument",
    "select_alpn",
    "session_reused",
    "verify_reason",
]


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
        conn = SSL.Connection(self.context, None)
        conn.set_app_data(tlsProtocol)
        if self.capture.servername:
            conn.set_tlsext_host_name(self.capture.servername.encode("idna"))
        if self.session is not None:
            conn.set_session(self.session)
        if self.alpn:
            conn.set_alpn_protos(list(self.alpn))
        instrument(conn, self.capture)
        watch_staples(conn, self.capture)
        conn.request_ocsp()
        return conn


# The capture of each server connection, for context-wide callbacks (Twisted's TLS
# layer owns the connections' app data).
_SERVER_CAPTURES: weakref.WeakKeyDictionary[SSL.Connection, weakref.ref[HandshakeCapture]] = (
    weakref.WeakKeyDictionary()
)


def select_alpn(conn: SSL.Connection, offered: list[bytes]) -> Any:
    """A context's ALPN callback: record what the client offers, pick by preference.

    The preference is the ``preferred_alpn`` of the connection's capture.
    """
    capture = capture_of(_SERVER_CAPTURES, conn)
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
        conn = SSL.Connection(self.context, None)
        _SERVER_CAPTURES[conn] = weakref.ref(self.capture)
        instrument(conn, self.capture, verify_mode=self.verify_mode, strict=self.strict)
        return conn
