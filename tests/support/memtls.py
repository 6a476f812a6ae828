"""Real OpenSSL handshakes between the real probe engines and a server, all in memory.

The probe runs on a :class:`~twisted.internet.testing.MemoryReactorClock`; the
server is a listening factory on the same reactor.  :func:`run_probe` joins
each client connection to the server with an in-memory pump, moves the bytes,
and advances the fake clock only when nothing else can happen, so timeouts and
the TLS 1.3 post-handshake wait pass in no real time.

:func:`handshake` is the short form: serve a chain (optionally asking for a
client certificate, limiting the version, answering HTTP) and return the
diagnosed result of probing it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL, crypto
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.interfaces import IHandshakeListener, IProtocolFactory, IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.test.iosim import ConnectionCompleter, IOPump
from zope.interface import implementer

from diagnostics.model.certificates import PrivateKey
from diagnostics.model.options import ProbeOptions, TrustConfig
from diagnostics.model.result import ProbeResult
from diagnostics.model.target import parse_target
from diagnostics.probes.dispatch import probe
from diagnostics.tls.crl_sources import CRLSources
from diagnostics.tls.serving import ServerCreator, server_context
from diagnostics.tls.trust import TrustCache

PORT = 4433
HTTP_OK = b"HTTP/1.1 200 OK\r\nServer: memtest\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
HTTP_NOT_ALLOWED = (
    b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\nContent-Length: 0\r\n"
    b"Connection: close\r\n\r\n"
)
HTTP_NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nServer: memtest\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
)
PLAIN_HTTP_ERROR = (
    b"HTTP/1.1 400 Bad Request\r\nServer: memtest\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
)
FTP_GREETING = b"220 FTP server ready\r\n"
# How much fake time the driver may let pass before it gives up on a probe.
_MAX_FAKE_SECONDS = 3600.0


# -- server applications ---------------------------------------------------------------


class CannedHTTP(Protocol):
    """Answers the first request with a fixed response (chosen by its method), then closes."""

    def __init__(self, default: bytes, by_method: Mapping[bytes, bytes]) -> None:
        self.default = default
        self.by_method = by_method
        self.received = bytearray()
        self.answered = False

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if not self.answered and b"\r\n\r\n" in self.received:
            self.answered = True
            method = bytes(self.received).split(b" ", 1)[0]
            assert self.transport is not None
            self.transport.write(self.by_method.get(method, self.default))
            self.transport.loseConnection()


def http_app(
    default: bytes = HTTP_OK, by_method: Mapping[bytes, bytes] | None = None
) -> Callable[[], Protocol]:
    """A server application answering any request with ``default`` (or by its method)."""
    return lambda: CannedHTTP(default, by_method or {})


class Idle(Protocol):
    """Reads and ignores everything; never writes, never closes."""

    def dataReceived(self, data: bytes) -> None:
        pass


@implementer(IHandshakeListener)
class CloseAfterHandshake(Protocol):
    """Closes the connection as soon as the TLS handshake is complete."""

    def handshakeCompleted(self) -> None:
        assert self.transport is not None
        self.transport.loseConnection()


class Greeting(Protocol):
    """A plain-text service that speaks first: writes its greeting on connect."""

    def __init__(self, greeting: bytes) -> None:
        self.greeting = greeting

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(self.greeting)


ServerMaker = Callable[[IReactorTime], IProtocolFactory]
"""Builds a listening factory for the reactor (the clock) the probe runs on."""


def plain_server(greeting: bytes) -> ServerMaker:
    """A server without TLS that writes ``greeting`` when a client connects."""
    return lambda _clock: Factory.forProtocol(lambda: Greeting(greeting))


def silent_server() -> ServerMaker:
    """A server that accepts connections and never writes anything."""
    return lambda _clock: Factory.forProtocol(Idle)


# -- TLS servers -------------------------------------------------------------------------


def tls_context(
    chain: Sequence[x509.Certificate],
    key: PrivateKey,
    *,
    require_client_cert: bool = False,
    client_ca: Sequence[x509.Certificate] = (),
    max_version: int | None = None,
    security_level: int | None = None,
) -> SSL.Context:
    """A server context for ``chain``; optionally asking for a client certificate.

    ``client_ca`` are both the CA names sent in the certificate request and the
    CAs the server verifies client certificates against.  ``security_level``
    lowers OpenSSL's level so that deliberately weak material can be served at all.
    """
    if security_level is None:
        ctx = server_context(chain, key)
    else:
        ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
        # The level must be lowered before the weak certificate is loaded.
        ctx.set_cipher_list(f"DEFAULT:@SECLEVEL={security_level}".encode("ascii"))
        ctx.use_certificate(crypto.X509.from_cryptography(chain[0]))
        ctx.use_privatekey(crypto.PKey.from_cryptography_key(key))
        ctx.check_privatekey()
        for extra in chain[1:]:
            ctx.add_extra_chain_cert(crypto.X509.from_cryptography(extra))
    if max_version is not None:
        ctx.set_max_proto_version(max_version)
    if require_client_cert:
        store = ctx.get_cert_store()
        assert store is not None
        for ca in client_ca:
            store.add_cert(crypto.X509.from_cryptography(ca))
        for ca in client_ca:
            ctx.add_client_ca(ca)

        def judge(
            _conn: SSL.Connection, _cert: crypto.X509, _errno: int, _depth: int, ok: int
        ) -> bool:
            return bool(ok)

        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, judge)
    return ctx


def tls_server(context: SSL.Context, app: Callable[[], Protocol] = Idle) -> ServerMaker:
    """A TLS server from a prepared context, running ``app`` inside the TLS layer."""

    def make(clock: IReactorTime) -> IProtocolFactory:
        # The TLS layer flushes its writes on ``clock``: the fake one, not the global reactor.
        return TLSMemoryBIOFactory(
            ServerCreator(context), False, Factory.forProtocol(app), clock=clock
        )

    return make


# -- trust and identity files ------------------------------------------------------------


def write_pem(path: Path, certificates: Sequence[x509.Certificate]) -> str:
    """Write certificates as one PEM bundle; the path as a string."""
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates))
    return str(path)


def write_key(path: Path, key: PrivateKey) -> str:
    """Write a private key as unencrypted PKCS#8 PEM; the path as a string."""
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(path)


def trust_config(
    directory: Path,
    trust: Sequence[x509.Certificate] = (),
    client_chain: Sequence[x509.Certificate] = (),
    client_key: PrivateKey | None = None,
) -> TrustConfig:
    """A trust configuration whose files are written into ``directory``."""
    ca_files = (write_pem(directory / "trust.pem", trust),) if trust else ()
    if client_key is None or not client_chain:
        return TrustConfig(ca_files=ca_files)
    return TrustConfig(
        ca_files=ca_files,
        cert_file=write_pem(directory / "client.pem", client_chain),
        key_file=write_key(directory / "client.key", client_key),
    )


# -- driving a probe -----------------------------------------------------------------------


def run_probe(
    server: ServerMaker,
    url: str,
    options: ProbeOptions,
    *,
    servername: str | None = None,
    more_servers: Mapping[int, ServerMaker] | None = None,
    crl_sources: CRLSources | None = None,
) -> ProbeResult:
    """Probe ``url`` (port :data:`PORT`) against ``server``, all in memory; the diagnosed result.

    ``more_servers`` listen on other ports of the same reactor (a CRL
    distribution point, say); the probe's CRLs come from ``crl_sources``
    (fresh ones by default).
    """
    reactor = MemoryReactorClock()  # type: ignore[no-untyped-call]
    reactor.listenTCP(PORT, server(reactor), interface="127.0.0.1")  # type: ignore[no-untyped-call]
    for port, more in (more_servers or {}).items():
        reactor.listenTCP(port, more(reactor), interface="127.0.0.1")  # type: ignore[no-untyped-call]
    d = probe(
        reactor,
        parse_target(url, servername=servername),
        options,
        cache=TrustCache(),
        crl_sources=crl_sources or CRLSources(),
    )
    result: ProbeResult = drive(reactor, d)
    return result


def drive(reactor: MemoryReactorClock, d: Deferred[Any]) -> Any:
    """Run connections on a memory reactor until ``d`` fires; its result (or its exception).

    Bytes are pumped until nothing moves; then the clock jumps to the next
    scheduled call, until the Deferred has fired.
    """
    outcome: list[Any] = []
    errors: list[Any] = []
    d.addCallbacks(outcome.append, errors.append)
    completer = ConnectionCompleter(reactor)
    pumps: list[IOPump] = []
    started = reactor.seconds()
    while not outcome and not errors:
        pump = completer.succeedOnce()
        if pump is not None:
            pumps.append(pump)
        moved = [p.flush() for p in pumps]  # type: ignore[no-untyped-call]
        if outcome or errors or pump is not None or any(moved):
            continue
        pending = [call.getTime() for call in reactor.getDelayedCalls()]
        if not pending:
            raise AssertionError("stuck: no bytes to move and nothing scheduled")
        reactor.advance(max(0.0, min(pending) - reactor.seconds()))
        if reactor.seconds() - started > _MAX_FAKE_SECONDS:
            raise AssertionError("not finished within an hour of fake time")
    if errors:
        errors[0].raiseException()
    return outcome[0]


def listener_session(
    reactor: MemoryReactorClock, factory: Any, url: str, trust: TrustConfig
) -> ProbeResult:
    """Probe ``url`` (a listener of ``factory`` on the same memory reactor, checked as
    localhost) with ``trust``; the listener's judged session of that connection.

    The factory's session callback is still called, and restored afterwards.
    """
    logged = factory.on_session
    finished: Deferred[ProbeResult] = Deferred()

    def on_session(result: ProbeResult) -> None:
        logged(result)
        finished.callback(result)

    factory.on_session = on_session
    attempt = probe(
        reactor,
        parse_target(url, servername="localhost"),
        ProbeOptions(trust=trust),
        cache=TrustCache(),
    )
    try:
        _client, session = drive(reactor, gatherResults([attempt, finished]))
    finally:
        factory.on_session = logged
    assert isinstance(session, ProbeResult)
    return session


def handshake(
    server_chain: Sequence[x509.Certificate],
    server_key: PrivateKey,
    *,
    directory: Path,
    trust: Sequence[x509.Certificate] = (),
    client_identity: tuple[Sequence[x509.Certificate], PrivateKey] | None = None,
    servername: str | None = "localhost",
    server_requires_client_cert: bool = False,
    client_ca: Sequence[x509.Certificate] = (),
    max_version: int | None = None,
    security_level: int | None = None,
    https: bool = False,
    http_response: bytes = HTTP_OK,
    app: Callable[[], Protocol] | None = None,
    options: ProbeOptions | None = None,
) -> ProbeResult:
    """Serve ``server_chain`` in memory and probe it with tls:// (or https://); diagnosed.

    The probe connects to 127.0.0.1 and checks (and sends as SNI) ``servername``;
    with ``servername=None`` it checks the address itself.  ``trust`` is the
    probe's CA list, ``client_identity`` its (chain, key).  With ``https`` the
    server answers any request with ``http_response``; ``app`` replaces the
    application behind the server's TLS layer altogether.
    """
    context = tls_context(
        server_chain,
        server_key,
        require_client_cert=server_requires_client_cert,
        client_ca=client_ca,
        max_version=max_version,
        security_level=security_level,
    )
    if app is None:
        app = http_app(http_response) if https else Idle
    chain, key = client_identity if client_identity is not None else ((), None)
    config = trust_config(directory, trust, chain, key)
    scheme = "https" if https else "tls"
    return run_probe(
        tls_server(context, app),
        f"{scheme}://127.0.0.1:{PORT}/",
        attrs.evolve(options or ProbeOptions(), trust=config),
        servername=servername,
    )
