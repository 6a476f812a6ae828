# -*- test-case-name: tests.tls.test_creators -*-
"""What one TLS handshake showed, recorded from pyOpenSSL's callbacks as it happens.

Pure data (pyOpenSSL, no Twisted): :class:`HandshakeCapture` keeps every verify
callback call as ``(depth, errno, certificate)``, the negotiated facts and both
chains; :class:`RecordingConnection` is a connection that fills one in, through
callbacks installed once on its context (:func:`record_handshakes`) that never abort.
Exceptions raised inside pyOpenSSL callbacks are trapped and kept, because
pyOpenSSL would otherwise lose them.  The connection creators that use this for
Twisted's TLS layer are in :mod:`diagnostics.tls.creators`; offline verification uses
it without them.
"""

from __future__ import annotations

import functools
import warnings
import weakref
from collections.abc import Callable, Sequence
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

from diagnostics.explain import catalogue, ocsp
from diagnostics.model import certificates
from diagnostics.model.result import (
    Finding,
    HostnameCheck,
    OCSPFacts,
    Severity,
    Side,
    TLSFacts,
    VerifyEvent,
)

OPENSSL_VERSION = SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode("ascii", "replace")


def verify_reason(code: int) -> str:
    """The linked OpenSSL's own text for a verify code."""
    return str(_ffi.string(_lib.X509_verify_cert_error_string(code)).decode("utf-8", "replace"))


# The same servers send the same certificates probe after probe: one cryptography object
# per certificate (bounded) also keeps what cryptography caches on it (parsed extensions)
# for the next reader.  A certificate that does not parse is never remembered: the
# parser's error comes again on every call.  Parsing is lazy: certificates.load_der
# touches the names, dates and serial, so that a field no reader can parse (a T61String
# cryptography refuses, say) makes the certificate unreadable here, not in a renderer.
@functools.lru_cache(maxsize=1024)
def _from_der(der: bytes) -> x509.Certificate:
    return certificates.load_der(der)


def as_cryptography(cert: crypto.X509) -> x509.Certificate:
    """``cert.to_cryptography()``, the same object for the same certificate."""
    return _from_der(crypto.dump_certificate(crypto.FILETYPE_ASN1, cert))


def _address(cert: crypto.X509) -> int:
    """Where OpenSSL keeps ``cert``: the verify callback, the peer's chain and the built
    chain hand out the same certificate under new Python wrappers."""
    return int(_ffi.cast("uintptr_t", cert._x509))


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
    unreadable: tuple[str, ...] = ()
    """Why certificates the peer sent are missing from ``served_chain`` (the parser's words)."""
    leaf_unreadable: bool = False
    """The peer's own certificate is one of them: ``served_chain`` starts with its issuers."""
    strict: bool = False
    """OpenSSL's verdict on the peer's certificate stands (otherwise nothing aborts)."""
    closing_handshake_call: bool = False
    _converted: dict[int, tuple[crypto.X509, x509.Certificate]] = attrs.field(
        factory=dict, init=False, repr=False, eq=False
    )
    """The certificates of this connection already converted, by OpenSSL's address; the
    wrapper kept alongside holds a reference, so the address stays this certificate's."""

    def certificate(self, cert: crypto.X509) -> x509.Certificate:
        """:func:`as_cryptography` once per certificate of this connection: its verify
        calls, both chains and the stapled answer's check meet the same few certificates."""
        key = _address(cert)
        known = self._converted.get(key)
        if known is not None:
            return known[1]
        converted = as_cryptography(cert)  # a certificate that does not parse raises again
        self._converted[key] = (cert, converted)
        return converted

    def release(self) -> None:
        """Let go of the connection and its OpenSSL certificates once the result is taken.

        What the result needs is already copied out; without this, a connection (with its
        buffers and the peer's chain, some 100 KB of OpenSSL memory) would live until
        Python's cycle collector reaches a cycle of Twisted's that holds its creator.
        """
        self.connection = None
        self._converted.clear()

    def record_verify(self, cert: crypto.X509, errno: int, depth: int) -> None:
        """Keep one verify callback call."""
        try:
            as_crypto: x509.Certificate | None = self.certificate(cert)
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

    def record_info(self, conn: SSL.Connection, where: int, ret: int) -> None:
        """Follow one info callback call: the handshake's end, a certificate request,
        then what the peer sends after the handshake."""
        if where & SSL.SSL_CB_HANDSHAKE_DONE and not self.done:
            # The call that completed the handshake reports its own exit next:
            # that is no news from the peer (see below).
            self.closing_handshake_call = True
            self.record_done(conn)
            if self.on_done is not None:
                self.on_done()
        elif not self.done and where & SSL.SSL_CB_LOOP:
            if b"certificate request" in conn.get_state_string():
                self.certificate_requested = True
        elif self.closing_handshake_call and where & SSL.SSL_CB_EXIT:
            self.closing_handshake_call = False
        elif self.done and (where & SSL.SSL_CB_EXIT or where & SSL.SSL_CB_ALERT):
            # TLS 1.3 session tickets and alerts after the handshake.
            if (where & SSL.SSL_CB_READ_ALERT) == SSL.SSL_CB_READ_ALERT and ret >> 8 == 2:
                self.fatal_alert_received = ret & 0xFF
            self.post_handshake_activity += 1
            if self.on_activity is not None:
                self.on_activity()

    def record_staple(self, conn: SSL.Connection, data: bytes) -> None:
        """Keep what the server stapled (``b""``: nothing) in answer to our OCSP request."""
        peer = conn.get_peer_certificate()
        try:
            leaf = self.certificate(peer) if peer is not None else None
        except certificates.PARSE_ERRORS:  # a certificate cryptography refuses is judged elsewhere
            leaf = None
        self.ocsp = ocsp.read_staple(data, leaf)

    def record_chains(self, conn: SSL.Connection) -> None:
        """Keep the chain the peer sent and the one OpenSSL built, as far as they got.

        A certificate OpenSSL accepted but cryptography cannot read is left out of
        the chains; ``unreadable`` says which and why.
        """
        served = list(conn.get_peer_cert_chain() or [])
        if self.server_side:
            # On the server side OpenSSL's peer chain leaves out the client's own certificate.
            leaf = conn.get_peer_certificate()
            served = [leaf, *served] if leaf is not None else []
        self.served_chain, problems = _readable(served, self.certificate)
        self.verified_chain, _ = _readable(conn.get_verified_chain() or [], self.certificate)
        self.unreadable = tuple(problems.values())
        self.leaf_unreadable = 1 in problems

    def judged_chains(
        self,
    ) -> tuple[tuple[x509.Certificate, ...], tuple[x509.Certificate, ...]]:
        """The chain the peer sent and the one OpenSSL built, as they may be judged.

        Both are empty when the peer's own certificate is unreadable: every reader takes
        a chain's first certificate for the peer's own, and would judge an issuer as if
        it were (the malformed_certificate findings name them all).
        """
        if self.leaf_unreadable:
            return (), ()
        return self.served_chain, self.verified_chain

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


def _readable(
    chain: Sequence[crypto.X509], convert: Callable[[crypto.X509], x509.Certificate]
) -> tuple[tuple[x509.Certificate, ...], dict[int, str]]:
    """The certificates of ``chain`` cryptography can read (``convert`` reads one), and
    why the others (by position)."""
    out = []
    problems = {}
    for position, cert in enumerate(chain, 1):
        try:
            out.append(convert(cert))
        except certificates.PARSE_ERRORS as exc:
            with warnings.catch_warnings():
                # Deprecated for cryptography's API, which is exactly what cannot read it.
                warnings.simplefilter("ignore", DeprecationWarning)
                subject = _name_text(cert.get_subject()) or "an empty subject"
            problems[position] = f"certificate {position} of {len(chain)} ('{subject}'): {exc}"
    return tuple(out), problems


def unreadable_findings(capture: HandshakeCapture, peer: str) -> tuple[Finding, ...]:
    """A malformed_certificate finding for each certificate of ``peer`` left out as unreadable."""
    who = "client" if capture.server_side else "server"
    owner = Side.CLIENT if capture.server_side else Side.SERVER
    return tuple(
        Finding(
            "malformed_certificate",
            Severity.ERROR,
            owner,
            f"The {who} {peer} sent a certificate that cannot be read: {problem}",
            "OpenSSL took it in the handshake, but it is not well-formed X.509: the parser "
            "that reads certificate facts refuses it, so it is missing from the chain shown. "
            "Clients stricter than OpenSSL refuse the connection.",
            f"Reissue the certificate with a standard CA tool (X.509 v3) and install it on "
            f"the {who}.",
        )
        for problem in capture.unreadable
    )


def trap(capture: HandshakeCapture, func: Callable[..., Any], *args: Any) -> Any:
    """Run ``func(*args)`` inside a pyOpenSSL callback: an exception is kept, not lost."""
    try:
        return func(*args)
    except BaseException as exc:
        capture.callback_errors.append(exc)
        return True


def capture_of(conn: SSL.Connection) -> HandshakeCapture | None:
    """The capture a connection records into (None for a connection that does not record)."""
    return conn.capture() if isinstance(conn, RecordingConnection) else None


def _on_verify(conn: SSL.Connection, cert: crypto.X509, errno: int, depth: int, ok: int) -> bool:
    capture = capture_of(conn)
    if capture is None:
        return bool(ok)
    trap(capture, capture.record_verify, cert, errno, depth)
    # Not strict: never abort, the events are judged afterwards.
    return bool(ok) if capture.strict else True


def _on_info(conn: SSL.Connection, where: int, ret: int) -> None:
    capture = capture_of(conn)
    if capture is not None:
        trap(capture, capture.record_info, conn, where, ret)


# The contexts whose verify and info callbacks record.  They are installed once per
# context, before its first connection: set on each connection, pyOpenSSL builds two C
# callbacks (and their Python wrappers) every time.
_RECORDING: weakref.WeakSet[SSL.Context] = weakref.WeakSet()


def record_handshakes(context: SSL.Context) -> None:
    """Install the recording verify and info callbacks on ``context`` (once, before its
    first connection).  The verify mode stays the context's (at least ``VERIFY_PEER``)."""
    if context in _RECORDING:
        return
    context.set_verify(context.get_verify_mode() or SSL.VERIFY_PEER, _on_verify)
    context.set_info_callback(_on_info)
    _RECORDING.add(context)


class RecordingConnection(SSL.Connection):
    """A connection whose handshake is recorded into ``capture`` by its context's callbacks.

    ``verify_mode`` defaults to the context's; with ``strict`` OpenSSL's own verdict on
    the peer's certificate stands, otherwise nothing aborts.  The connection refers to
    its capture weakly: the capture holds the connection, and whoever runs the
    connection holds the capture.
    """

    def __init__(
        self,
        context: SSL.Context,
        capture: HandshakeCapture,
        *,
        verify_mode: int | None = None,
        strict: bool = False,
    ) -> None:
        record_handshakes(context)
        super().__init__(context, None)
        self.capture = weakref.ref(capture)
        capture.connection = self
        capture.strict = strict
        if verify_mode is not None:
            self.set_verify(verify_mode)  # the context's callback stays


def check_hostname(leaf: x509.Certificate | None, name: str) -> HostnameCheck | None:
    """Check ``name`` (DNS name or IP literal) against the leaf with service_identity.

    Always data, never an exception: a SAN that cannot be parsed is reported in ``error``.
    """
    if leaf is None:
        return None
    return _check_hostname(leaf, name)


# A daemon checks the same name against the same certificate on every round.
@functools.lru_cache(maxsize=1024)
def _check_hostname(leaf: x509.Certificate, name: str) -> HostnameCheck:
    sans = certificates.subject_alt_names(leaf)
    names = [*sans.dns, *sans.ip]
    if not sans.present:
        names = [f"CN={cn}" for cn in certificates.common_names(leaf.subject)]
    if sans.error is not None:
        return HostnameCheck(name=name, matched=None, names_in_cert=tuple(names), error=sans.error)
    try:
        if certificates.is_ip_literal(name):
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
