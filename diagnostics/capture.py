"""Record a TLS handshake the way ``openssl s_client`` sees it, without ever aborting.

:class:`RecordingClientCreator` is our own ``IOpenSSLClientConnectionCreator``:
it sets SNI (never for IP literals), records every verify callback call as
``(depth, errno, certificate)`` and lets the handshake continue, and captures
the negotiated facts and both chains the moment the handshake is done.
:class:`RecordingServerCreator` does the same for the server side of a
listener: it records the client's certificate, SNI and offered ALPN protocols.
Exceptions raised inside pyOpenSSL callbacks are trapped and kept, because
pyOpenSSL would otherwise lose them.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import attrs
from cryptography import x509
from OpenSSL import SSL, crypto
from OpenSSL._util import ffi as _ffi
from OpenSSL._util import lib as _lib
from service_identity import CertificateError, VerificationError
from service_identity.cryptography import (
    verify_certificate_hostname,
    verify_certificate_ip_address,
)
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator,
)
from zope.interface import implementer

from diagnostics import catalogue, certs, stapling
from diagnostics.model import HostnameCheck, OCSPFacts, TLSFacts, VerifyEvent

OPENSSL_VERSION = SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode("ascii", "replace")


def verify_reason(code: int) -> str:
    """The linked OpenSSL's own text for a verify code."""
    return str(_ffi.string(_lib.X509_verify_cert_error_string(code)).decode("utf-8", "replace"))


def _name_text(name: crypto.X509Name) -> str:
    parts = []
    for key, value in name.get_components():
        parts.append(f"{key.decode('ascii', 'replace')} = {value.decode('utf-8', 'replace')}")
    return ", ".join(parts)


def session_reused(conn: SSL.Connection) -> bool:
    """True when the handshake resumed an earlier session."""
    return bool(_lib.SSL_session_reused(conn._ssl))


@attrs.define
class HandshakeCapture:
    """What one connection's handshake showed, filled in as it happens."""

    servername: str | None = None
    events: list[VerifyEvent] = attrs.Factory(list)
    callback_errors: list[BaseException] = attrs.Factory(list)
    done: bool = False
    tls: TLSFacts | None = None
    served_chain: tuple[x509.Certificate, ...] = ()
    verified_chain: tuple[x509.Certificate, ...] = ()
    post_handshake_activity: int = 0
    fatal_alert_received: int | None = None
    certificate_requested: bool = False
    on_done: Callable[[], None] | None = None
    on_activity: Callable[[], None] | None = None
    connection: SSL.Connection | None = None
    ocsp: OCSPFacts | None = None  # None: no staple was asked for, or the handshake stopped first
    server_side: bool = False
    alpn_offered: tuple[str, ...] = ()
    preferred_alpn: tuple[bytes, ...] = ()

    def record_verify(self, cert: crypto.X509, errno: int, depth: int) -> None:
        """Keep one verify callback call."""
        try:
            as_crypto: x509.Certificate | None = cert.to_cryptography()
        except Exception:  # a certificate cryptography refuses is still an event
            as_crypto = None
        self.events.append(
            VerifyEvent(
                depth=depth,
                code=errno,
                name=catalogue.verify_name(errno),
                reason=verify_reason(errno),
                certificate=as_crypto,
            )
        )

    def record_staple(self, conn: SSL.Connection, data: bytes) -> None:
        """Keep what the server stapled (``b""``: nothing) in answer to our OCSP request."""
        try:
            leaf = conn.get_peer_certificate(as_cryptography=True)
        except ValueError:  # a certificate cryptography refuses is judged elsewhere
            leaf = None
        self.ocsp = stapling.read_staple(data, leaf)

    def record_chains(self, conn: SSL.Connection) -> None:
        """Keep the chain the peer sent and the one OpenSSL built, as far as they got."""
        served = conn.get_peer_cert_chain(as_cryptography=True) or []
        verified = conn.get_verified_chain(as_cryptography=True) or []
        if self.server_side:
            # On the server side OpenSSL's peer chain leaves out the client's own certificate.
            leaf = conn.get_peer_certificate(as_cryptography=True)
            served = [leaf, *served] if leaf is not None else []
        self.served_chain = tuple(served)
        self.verified_chain = tuple(verified)

    def record_refused(self) -> None:
        """After a handshake that did not finish: keep what the peer had already sent."""
        conn = self.connection
        if self.done or conn is None:
            return
        try:
            self.record_chains(conn)
        except Exception as exc:  # a half-torn connection must not hide the real failure
            self.callback_errors.append(exc)

    def client_ca_names(self) -> tuple[str, ...]:
        """The CA names the peer sent with its certificate request."""
        if self.connection is None:
            return ()
        try:
            return tuple(_name_text(n) for n in self.connection.get_client_ca_list())
        except Exception:  # nothing to report is an answer too
            return ()

    def record_done(self, conn: SSL.Connection) -> None:
        """Capture chains and negotiated facts at handshake completion."""
        self.record_chains(conn)
        if self.server_side:
            sni = conn.get_servername()
            # SNI travels as an A-label (ASCII); it is reported as sent.
            self.servername = sni.decode("ascii", "replace") if sni else None
        alpn = conn.get_alpn_proto_negotiated()
        self.tls = TLSFacts(
            version=conn.get_protocol_version_name(),
            cipher=conn.get_cipher_name(),
            alpn=alpn.decode("ascii", "replace") if alpn else None,
            session_reused=session_reused(conn),
            openssl_version=OPENSSL_VERSION,
            client_ca_names=self.client_ca_names(),
            servername_sent=self.servername,
        )
        self.done = True


def _trap(capture: HandshakeCapture, func: Callable[..., Any]) -> Callable[..., Any]:
    """Run a pyOpenSSL callback so that an exception is kept instead of lost."""

    def wrapper(*args: Any) -> Any:
        try:
            return func(*args)
        except BaseException as exc:
            capture.callback_errors.append(exc)
            return True

    return wrapper


def instrument(
    conn: SSL.Connection,
    capture: HandshakeCapture,
    *,
    verify_mode: int | None = None,
    strict: bool = False,
) -> None:
    """Install the recording verify and info callbacks on a connection.

    ``verify_mode`` defaults to the context's mode (at least ``VERIFY_PEER``);
    with ``strict`` OpenSSL's own verdict stands, otherwise nothing aborts.
    """
    capture.connection = conn

    def on_verify(
        _conn: SSL.Connection, cert: crypto.X509, errno: int, depth: int, ok: int
    ) -> bool:
        capture.record_verify(cert, errno, depth)
        # Not strict: never abort, the events are judged afterwards.
        return bool(ok) if strict else True

    closing_handshake_call = False

    def on_info(info_conn: SSL.Connection, where: int, ret: int) -> None:
        nonlocal closing_handshake_call
        if where & SSL.SSL_CB_HANDSHAKE_DONE and not capture.done:
            # The call that completed the handshake reports its own exit next:
            # that is no news from the peer (see below).
            closing_handshake_call = True
            capture.record_done(info_conn)
            if capture.on_done is not None:
                capture.on_done()
        elif not capture.done and where & SSL.SSL_CB_LOOP:
            if b"certificate request" in info_conn.get_state_string():
                capture.certificate_requested = True
        elif closing_handshake_call and where & SSL.SSL_CB_EXIT:
            closing_handshake_call = False
        elif capture.done and (where & SSL.SSL_CB_EXIT or where & SSL.SSL_CB_ALERT):
            # TLS 1.3 session tickets and alerts after the handshake.
            if (where & SSL.SSL_CB_READ_ALERT) == SSL.SSL_CB_READ_ALERT and ret >> 8 == 2:
                capture.fatal_alert_received = ret & 0xFF
            capture.post_handshake_activity += 1
            if capture.on_activity is not None:
                capture.on_activity()

    if verify_mode is None:
        verify_mode = conn.get_context().get_verify_mode() or SSL.VERIFY_PEER
    conn.set_verify(verify_mode, _trap(capture, on_verify))
    conn.set_info_callback(_trap(capture, on_info))


# The OCSP callback belongs to the context, which many probes share: it finds the
# capture of the connection it is called for here.  The values are weak too: a capture
# holds its connection, so a strong value would keep every entry (and every connection
# of a long-running daemon) alive for ever.
_STAPLE_CAPTURES: weakref.WeakKeyDictionary[SSL.Connection, weakref.ref[HandshakeCapture]] = (
    weakref.WeakKeyDictionary()
)


def _capture_of(
    captures: weakref.WeakKeyDictionary[SSL.Connection, weakref.ref[HandshakeCapture]],
    conn: SSL.Connection,
) -> HandshakeCapture | None:
    ref = captures.get(conn)
    return ref() if ref is not None else None


def _on_staple(conn: SSL.Connection, data: bytes, _arg: object) -> bool:
    capture = _capture_of(_STAPLE_CAPTURES, conn)
    if capture is not None:
        _trap(capture, capture.record_staple)(conn, data)
    return True  # never abort: the staple is judged afterwards


def record_staples(context: SSL.Context) -> None:
    """Let a client context record stapled OCSP responses (before its first connection)."""
    context.set_ocsp_client_callback(_on_staple)


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
        send_sni = servername if servername and not certs.is_ip_literal(servername) else None
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
        _STAPLE_CAPTURES[conn] = weakref.ref(self.capture)
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
    capture = _capture_of(_SERVER_CAPTURES, conn)
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


def check_hostname(leaf: x509.Certificate | None, name: str) -> HostnameCheck | None:
    """Check ``name`` (DNS name or IP literal) against the leaf with service_identity.

    Always data, never an exception: a SAN that cannot be parsed is reported in ``error``.
    """
    if leaf is None:
        return None
    sans = certs.subject_alt_names(leaf)
    names = [*sans.dns, *sans.ip]
    if not sans.present:
        names = [f"CN={cn}" for cn in certs.common_names(leaf.subject)]
    if sans.error is not None:
        return HostnameCheck(name=name, matched=None, names_in_cert=tuple(names), error=sans.error)
    try:
        if certs.is_ip_literal(name):
            verify_certificate_ip_address(leaf, name)
        else:
            verify_certificate_hostname(leaf, name)
    except VerificationError:
        return HostnameCheck(name=name, matched=False, names_in_cert=tuple(names))
    except CertificateError as exc:
        # No SAN at all: like every modern client, service_identity ignores the CN.
        del exc
        return HostnameCheck(name=name, matched=False, names_in_cert=tuple(names))
    except (ValueError, UnicodeError) as exc:
        return HostnameCheck(name=name, matched=None, names_in_cert=tuple(names), error=str(exc))
    return HostnameCheck(name=name, matched=True, names_in_cert=tuple(names))
