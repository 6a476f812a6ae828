# -*- test-case-name: tests.integration.test_listen_clients -*-
"""One accepted connection of a listener: its TLS capture, its limits and its record.

A :class:`Session` is made for every TCP connection.  Its :class:`Gate` is
the connection's protocol: it enforces the handshake and idle timeouts, looks
at the first bytes (TLS, plain HTTP, or anything else) and hands the bytes to
the TLS layer and the application (HTTPS or FTP) from then on.  The server
side records exactly what the client side of a probe records: every verify
callback, both chains, the negotiated facts, plus the client's address, SNI
and offered ALPN protocols.  When the connection ends the session becomes a
:class:`~diagnostics.model.result.ProbeResult`, judged by :mod:`.verdict`.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
from cryptography import x509
from OpenSSL import SSL, crypto
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IAddress, IDelayedCall, IHandshakeListener, IReactorTime
from twisted.internet.protocol import Protocol, connectionDone
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure as TwistedFailure
from zope.interface import implementer

from diagnostics.listener.verdict import SessionPolicy, judge
from diagnostics.model import certificates
from diagnostics.model.caller import LISTENER, Caller
from diagnostics.model.certificates import PrivateKey
from diagnostics.model.result import (
    LISTEN_SCHEMES,
    ClientAuth,
    ClientInfo,
    Failure,
    Phase,
    ProbeResult,
    Target,
    Timings,
    peer_name,
)
from diagnostics.model.revocation import KnownCRL
from diagnostics.model.target import TargetError, parse_target
from diagnostics.tls.creators import RecordingServerCreator, one_connection, select_alpn
from diagnostics.tls.recording import unreadable_findings
from diagnostics.tls.serving import server_context
from diagnostics.tls.trust import (
    KEY_PASSWORD_OPTION,
    TrustError,
    add_anchors,
    apply_crls,
    load_certificates,
    load_crl,
    load_key,
    ssl_reason,
)

_HTTP_METHOD = re.compile(rb"^[A-Z]{3,10} ")
_SESSION_ID_CONTEXT = b"tlsdiag-listen"


@attrs.frozen
class Limits:
    """Bounds that keep one slow or hostile client from hurting the others.

    At ``max_connections`` (or ``max_per_address`` from one client address) a new
    connection makes room by dropping the oldest one still in its TLS handshake; only when
    every one is past it is the new connection refused (see :mod:`.service`).
    """

    max_connections: int = 1000
    max_per_address: int = 20
    handshake_timeout: float = 10.0
    idle_timeout: float = 60.0
    max_request_bytes: int = 16 * 1024
    max_line_bytes: int = 2048
    max_hello_bytes: int = 32 * 1024
    """The largest ClientHello taken (OpenSSL's own bound is 128 KiB, allocated as announced)."""


@attrs.frozen
class FTPFaults:
    """Deliberate FTPS faults, for the lab's endpoints (all off for ``tlsdiag listen``)."""

    refuse_auth: bool = False  # AUTH is answered 530, as by vsftpd with ssl_enable=NO
    require_session_reuse: bool = False  # a data connection that did not resume gets 522
    pasv_address: str | None = None  # PASV names this address instead of the control one


class SessionReports(typing.Protocol):
    """How a session's verdict is told to the partner's client.

    Given by whoever starts a listener (the renderers sit above the listener, see
    :data:`diagnostics.render.session.PLAIN_TEXT_REPORTS`).
    """

    def report(self, result: ProbeResult) -> str:
        """The full plain-text report (the HTTPS body, the FTP ``LIST`` listing)."""
        raise NotImplementedError

    def reply_lines(self, result: ProbeResult) -> list[str]:
        """The verdict and every finding's summary, one per line, for FTP reply texts."""
        raise NotImplementedError


@attrs.frozen
class ListenerOptions:
    """What ``tlsdiag listen`` (or a ``[[listener]]``) is asked to do, by file name."""

    url: str
    cert_file: str
    key_file: str
    client_ca_files: tuple[str, ...] = ()
    crl_files: tuple[str, ...] = ()
    require_client_cert: bool = False
    expect_cn: str | None = None
    limits: Limits = Limits()
    faults: FTPFaults = FTPFaults()
    caller: Caller = LISTENER
    """Whose settings the remedies name (the command's options, or a [[listener]]'s keys)."""
    key_password: str | None = attrs.field(default=None, repr=False)
    """The passphrase of an encrypted ``key_file`` (``--key-password-env``)."""


@attrs.frozen
class ListenerMaterial:
    """Loaded listener set-up: the parsed URL, the TLS context, the client CAs."""

    options: ListenerOptions
    target: Target
    context: SSL.Context
    client_cas: tuple[x509.Certificate, ...]
    policy: SessionPolicy
    crls: tuple[KnownCRL, ...] = ()
    """The CRLs client certificates are checked against (the leaf's issuer's)."""
    crl_errors: tuple[tuple[str, str], ...] = ()
    """Configured CRL sources without a usable CRL, and why (a URL that could not be fetched)."""
    chain: tuple[x509.Certificate, ...] = ()
    """The served chain, kept to build the context again with other CRLs."""
    key: PrivateKey | None = attrs.field(default=None, repr=False)

    @property
    def verify_mode(self) -> int:
        """Request a client certificate when client CAs are set; require it when strict."""
        if not self.client_cas:
            return SSL.VERIFY_NONE
        if self.options.require_client_cert:
            return SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT
        return SSL.VERIFY_PEER


def parse_listen_url(url: str) -> Target:
    """A listener URL (``https://``, ``ftps://``, ``ftpes://`` with an address); TargetError."""
    if "@" in url.partition("://")[2].partition("/")[0]:
        raise TargetError(f"{url!r}: a listener URL names an address and a port, no user")
    target = parse_target(url)
    if target.scheme not in LISTEN_SCHEMES:
        raise TargetError(f"{url!r}: a listener serves https://, ftps:// or ftpes://")
    return target


def _load_key(path: str, password: str | None, caller: Caller) -> PrivateKey:
    """The served key (PEM or DER, bounded read), decrypted with ``password``; never prompts."""
    option = "key_password_env" if caller is not LISTENER else KEY_PASSWORD_OPTION
    key: Any = load_key(path, "key file", password, option)
    return key  # type: ignore[no-any-return]


def load_material(
    options: ListenerOptions,
    *,
    crls: Sequence[KnownCRL] | None = None,
    crl_errors: Mapping[str, str] | None = None,
) -> ListenerMaterial:
    """Read the certificate, key, client CAs and CRLs; TrustError or TargetError when unusable.

    ``crls``, when given, are the CRLs of ``options.crl_files`` as already loaded (files and
    URLs, by :mod:`diagnostics.tls.crl_sources`); ``crl_errors`` names the sources without one.
    Otherwise every entry of ``crl_files`` is read as a file.
    """
    parse_listen_url(options.url)
    chain = load_certificates(options.cert_file, "certificate file")
    if not chain:
        raise TrustError(f"certificate file {options.cert_file!r} holds no certificate")
    key = _load_key(options.key_file, options.key_password, options.caller)
    client_cas = tuple(c for path in options.client_ca_files for c in load_certificates(path))
    if crls is None:
        crls = tuple(KnownCRL(load_crl(path), path) for path in options.crl_files)
    return material_from(
        options, chain, key, client_cas=client_cas, crls=crls, crl_errors=crl_errors
    )


def material_from(
    options: ListenerOptions,
    chain: Sequence[x509.Certificate],
    key: PrivateKey,
    *,
    client_cas: Sequence[x509.Certificate] = (),
    crls: Sequence[x509.CertificateRevocationList | KnownCRL] = (),
    crl_errors: Mapping[str, str] | None = None,
) -> ListenerMaterial:
    """Listener set-up from certificates and a key in memory (the files of ``options`` unread).

    ``crls``, or CRL sources in ``options.crl_files`` (even when none of them could be
    loaded, as ``crl_errors`` says), switch on CRL checking of the client's certificate
    (the leaf's issuer's CRL).
    """
    target = parse_listen_url(options.url)
    try:
        ctx = server_context(chain, key)
    except (SSL.Error, crypto.Error, ValueError) as exc:
        raise TrustError(
            f"key {options.key_file!r} does not fit certificate {options.cert_file!r}: "
            f"{ssl_reason(exc)}"
        ) from None
    # One session cache for the control and the data connections of an FTPS client.
    ctx.set_session_id(_SESSION_ID_CONTEXT)
    ctx.set_session_cache_mode(SSL.SESS_CACHE_SERVER)
    ctx.set_alpn_select_callback(select_alpn)
    store = ctx.get_cert_store()
    assert store is not None
    add_anchors(store, client_cas)
    for ca in client_cas:
        ctx.add_client_ca(ca)
    known = tuple(c if isinstance(c, KnownCRL) else KnownCRL(c, "a configured CRL") for c in crls)
    if known or options.crl_files:
        # A configured CRL that could not be loaded still checks: the client is then told
        # that its CA's CRL is missing instead of passing unchecked.
        apply_crls(store, [k.crl for k in known])
    policy = SessionPolicy(
        client_ca_names=tuple(certificates.dn(ca.subject) for ca in client_cas),
        require_client_cert=options.require_client_cert,
        expect_cn=options.expect_cn,
    )
    return ListenerMaterial(
        options,
        target,
        ctx,
        tuple(client_cas),
        policy,
        known,
        crl_errors=tuple((crl_errors or {}).items()),
        chain=tuple(chain),
        key=key,
    )


def with_crls(
    material: ListenerMaterial, crls: Sequence[KnownCRL], crl_errors: Mapping[str, str]
) -> ListenerMaterial:
    """The same listener set-up with other CRLs, in a new TLS context.

    Sessions already open keep the context they started with (an FTPS client's data
    connections resume its control connection's session in it); new ones get the new one.
    A new context, rather than CRLs added to the live store, drops the superseded CRLs.
    """
    if material.key is None:
        raise ValueError("this listener's material was built without its key")
    return material_from(
        material.options,
        material.chain,
        material.key,
        client_cas=material.client_cas,
        crls=crls,
        crl_errors=crl_errors,
    )


def looks_like_tls(data: bytes) -> bool:
    """The first bytes of a TLS record (handshake or alert, major version 3)."""
    return len(data) >= 2 and data[0] in (0x15, 0x16) and data[1] == 0x03


# A TLS record header (type, version, length) and a handshake header (type, length).
HELLO_HEAD = 9
_CLIENT_HELLO = 1


def hello_problem(head: bytes, limit: int) -> str | None:
    """What is wrong with a connection's first :data:`HELLO_HEAD` bytes, a handshake record.

    OpenSSL allocates a handshake message's buffer as soon as its header announces the
    length, up to 128 KiB: a ClientHello that announces more than ``limit`` bytes is refused
    before OpenSSL sees it, and so is a first record too short to hold the header (which a
    client would spread over several records only to get past this check).
    """
    record = int.from_bytes(head[3:5], "big")
    if record < 4:
        return f"the client's first TLS record holds {record} bytes, too few for a ClientHello"
    announced = int.from_bytes(head[6:9], "big")
    if head[5] == _CLIENT_HELLO and announced > limit:
        return (
            f"the client's ClientHello announces {announced} bytes; the listener takes at "
            f"most {limit}"
        )
    return None


def _address(addr: IAddress) -> tuple[str, int]:
    if isinstance(addr, IPv4Address | IPv6Address):
        return addr.host, addr.port
    return str(addr), 0


class Session:
    """One accepted connection, from the first byte to the close."""

    def __init__(
        self,
        reactor: IReactorTime,
        material: ListenerMaterial,
        reports: SessionReports,
        on_finished: Callable[[Session], None],
        on_secured: Callable[[Session], None] | None = None,
    ) -> None:
        self.reactor = reactor
        self.material = material
        self.reports = reports
        self.address, self.port = "", 0
        self.on_finished = on_finished
        self.on_secured = on_secured
        self.started = reactor.seconds()
        self.phase = Phase.HANDSHAKE
        self.creator: RecordingServerCreator | None = None
        self.handshake_at: float | None = None
        self.failure: Failure | None = None
        self.http: dict[str, Any] | None = None
        self.ftp: dict[str, Any] | None = None
        self.received_any = False
        self.finished = False
        self.concluded = False  # the client has had its answer; only the close remains
        self.transport: Any = None
        self._timer: IDelayedCall | None = None

    @property
    def limits(self) -> Limits:
        """This listener's bounds."""
        return self.material.options.limits

    # -- TLS ---------------------------------------------------------------------------

    def new_creator(self, *, alpn: tuple[bytes, ...] = ()) -> RecordingServerCreator:
        """The recording server creator of this session's control (or only) connection."""
        self.creator = RecordingServerCreator(
            self.material.context,
            verify_mode=self.material.verify_mode,
            strict=self.material.options.require_client_cert,
            alpn=alpn,
        )
        self.creator.capture.on_done = self.handshake_done
        return self.creator

    def data_creator(self) -> RecordingServerCreator:
        """A recording creator for a data connection: same context, never strict."""
        return RecordingServerCreator(self.material.context, verify_mode=self.material.verify_mode)

    def tls_protocol(self, app: Protocol, *, alpn: tuple[bytes, ...] = ()) -> Protocol:
        """The TLS layer (server side, recording) with ``app`` inside, not yet connected."""
        factory = TLSMemoryBIOFactory(
            self.new_creator(alpn=alpn), False, one_connection(app), clock=self.reactor
        )
        protocol: Protocol = factory.buildProtocol(None)
        return protocol

    def handshake_done(self) -> None:
        """The control connection's handshake completed: from now on the idle bound applies."""
        self.handshake_at = self.reactor.seconds()
        self.phase = Phase.APPLICATION
        self.touch()
        if self.on_secured is not None:
            self.on_secured(self)

    @property
    def secured(self) -> bool:
        """The (control) connection's handshake has completed."""
        return self.creator is not None and self.creator.capture.done

    # -- time bounds -------------------------------------------------------------------

    def start_timer(self) -> None:
        """The handshake bound, from the TCP connection on."""
        self._arm(self.limits.handshake_timeout)

    def touch(self) -> None:
        """Activity: restart the idle bound once the handshake is done."""
        if self.finished or not self.secured:
            return  # until then the handshake bound keeps running, whatever arrives
        self._arm(self.limits.idle_timeout)

    def _arm(self, seconds: float) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = self.reactor.callLater(seconds, self._expired)

    def hold(self) -> None:
        """Stop the clock while the session itself is busy (a transfer in progress)."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self.finished:
            return
        if not self.secured:
            seconds = self.limits.handshake_timeout
            what = "finished the TLS handshake" if self.received_any else "sent anything"
        else:
            seconds = self.limits.idle_timeout
            what = "sent anything more"
        self.fail(
            Failure(
                phase=self.phase,
                kind="timeout",
                message=f"the client has not {what} within {seconds:g} s; the listener "
                "closed the connection",
            )
        )
        self.abort()

    # -- the record --------------------------------------------------------------------

    def fail(self, failure: Failure) -> None:
        """Keep the first failure of the session."""
        if self.failure is None:
            self.failure = failure

    def lost(self, reason: TwistedFailure) -> None:
        """The connection (or its TLS layer) ended with ``reason``."""
        exc = reason.value
        if isinstance(exc, SSL.Error):
            text = ssl_reason(exc)
            phase = Phase.HANDSHAKE if not self.secured else self.phase
            self.fail(Failure(phase=phase, kind="tls_error", message=text, reason=text))
            return
        if self.secured or self.failure is not None:
            return
        if not self.received_any:
            message = "the client closed the connection without sending anything"
        elif self.phase is Phase.STARTTLS:
            message = "the client closed the connection without starting TLS (no AUTH TLS)"
        else:
            message = "the client closed the connection during the TLS handshake"
        kind = "connection_reset" if "reset" in str(exc).lower() else "connection_closed"
        self.fail(Failure(phase=self.phase, kind=kind, message=message))

    def result(self) -> ProbeResult:
        """The session as captured so far, not yet judged."""
        capture = self.creator.capture if self.creator is not None else None
        if capture is not None:
            capture.record_refused()
            if capture.callback_errors:
                exc = capture.callback_errors[0]
                self.failure = Failure(
                    phase=Phase.HANDSHAKE,
                    kind="internal",
                    message=f"error inside a TLS callback: {type(exc).__name__}: {exc}",
                )
        client_auth = None
        if self.material.client_cas:
            # A certificate cryptography cannot read was sent all the same.
            sent = bool(capture and (capture.served_chain or capture.unreadable))
            client_auth = ClientAuth(
                requested=True, sent=sent, ca_names=self.material.policy.client_ca_names
            )
        served, verified = capture.judged_chains() if capture else ((), ())
        now = self.reactor.seconds()
        result = ProbeResult(
            target=self.material.target,
            tls=capture.tls if capture else None,
            served_chain=served,
            verified_chain=verified,
            verify_events=tuple(capture.events) if capture else (),
            client_auth=client_auth,
            failure=self.failure,
            http=dict(self.http) if self.http is not None else None,
            ftp=dict(self.ftp) if self.ftp is not None else None,
            timings=Timings(
                connect_s=0.0,
                handshake_s=_delta(self.started, self.handshake_at),
                total_s=round(now - self.started, 6),
            ),
            started_at=self.started,
            client=ClientInfo(
                address=self.address,
                port=self.port,
                sni=capture.servername if capture else None,
                alpn_offered=capture.alpn_offered if capture else (),
            ),
        )
        if capture is None or not capture.unreadable:
            return result
        return attrs.evolve(result, findings=unreadable_findings(capture, peer_name(result)))

    def verdict(self) -> ProbeResult:
        """The session judged: findings filled in, the session's own first."""
        material = self.material
        return judge(
            self.result(),
            material.policy,
            trusted=material.client_cas,
            crls=material.crls,
            crl_errors=dict(material.crl_errors),
            caller=material.options.caller,
        )

    # -- the end -----------------------------------------------------------------------

    def refuse_hello(self, head: bytes) -> bool:
        """Refuse the connection when its first :data:`HELLO_HEAD` bytes of TLS (a handshake
        record) break :func:`hello_problem`: the failure is recorded and the connection
        aborted.  True when it was refused."""
        problem = hello_problem(head, self.limits.max_hello_bytes)
        if problem is None:
            return False
        self.fail(
            Failure(
                phase=Phase.HANDSHAKE,
                kind="tls_error",
                message=problem,
                reason="excessive message size",
            )
        )
        self.abort()
        return True

    def abort(self) -> None:
        """Drop the connection at once."""
        if self.transport is not None:
            self.transport.abortConnection()

    def finish(self) -> None:
        """The connection is gone: stop the clock, report once."""
        if self.finished:
            return
        self.finished = True
        self.hold()
        self.on_finished(self)


def _delta(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return round(end - start, 6)


@implementer(IHandshakeListener)
class Gate(Protocol):
    """The TCP connection's protocol: bounds, the first-byte check, then the layers inside.

    ``tls_first`` (HTTPS, implicit FTPS): the first bytes must be a TLS
    ClientHello; plain HTTP gets ``on_plain_http`` (an HTTP answer), anything
    else goes to OpenSSL, which names it.  Otherwise (explicit FTPS) the
    application speaks plain text at once and starts TLS itself.

    The gate keeps at most :data:`HELLO_HEAD` bytes of its own: a first record that is a
    handshake is held until its header and the ClientHello's are in, and refused when the
    ClientHello announces more than ``max_hello_bytes`` (see :func:`hello_problem`); every
    other byte goes on as it arrives.  Before the handshake ends a connection therefore holds
    what OpenSSL keeps of a partial record and a ClientHello of at most that size.
    """

    def __init__(
        self,
        session: Session,
        app: Protocol,
        *,
        tls_first: bool,
        alpn: tuple[bytes, ...] = (),
        on_plain_http: Callable[[bytes], None] | None = None,
    ) -> None:
        self.session = session
        self.app = app
        self.tls_first = tls_first
        self.alpn = alpn
        self.on_plain_http = on_plain_http
        self.inner: Protocol | None = None
        self._head = b""  # the first bytes of a handshake record, until HELLO_HEAD are in

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.session.transport = self.transport
        self.session.address, self.session.port = _address(self.transport.getPeer())
        self.session.start_timer()
        if not self.tls_first:
            self.session.phase = Phase.STARTTLS
            self.inner = self.app
            self.app.makeConnection(self.transport)  # type: ignore[no-untyped-call]

    def dataReceived(self, data: bytes) -> None:
        session = self.session
        first = not session.received_any
        session.received_any = True
        session.touch()
        if self.inner is None and (first or self._head):
            if self._head or data[:1] == b"\x16":
                self._head += data
                if len(self._head) < HELLO_HEAD:
                    return
                data, self._head = self._head, b""
                if session.refuse_hello(data):
                    return
            elif _HTTP_METHOD.match(data) and self.on_plain_http is not None:
                self.on_plain_http(data)
                return
            self.inner = session.tls_protocol(self.app, alpn=self.alpn)
            self.inner.makeConnection(self.transport)  # type: ignore[no-untyped-call]
        if self.inner is not None:
            self.inner.dataReceived(data)

    def handshakeCompleted(self) -> None:
        """TLS started in place (``AUTH TLS``) completed: tell the application."""
        if IHandshakeListener.providedBy(self.app):
            self.app.handshakeCompleted()

    def connectionLost(self, reason: TwistedFailure = connectionDone) -> None:
        try:
            if self.inner is not None:
                self.inner.connectionLost(reason)
            else:
                self.session.lost(reason)
        finally:
            self.session.finish()
