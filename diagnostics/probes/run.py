"""What every probe engine shares: the deadline, the phase, TCP and the TLS handshake.

An engine is a coroutine ``async def body(run: ProbeRun) -> None`` that walks
through the phases; :func:`run_probe` turns it into the engine contract
``Deferred[ProbeResult]`` that never errbacks: every exception, a timeout
included, becomes a result whose ``failure`` names the phase it happened in.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Coroutine
from typing import Any, cast

from OpenSSL import SSL
from twisted.internet import defer, error
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import (
    IHostResolution,
    IProtocol,
    IProtocolFactory,
    IReactorCore,
    IReactorTCP,
    IReactorTime,
    IStreamClientEndpoint,
    ITLSTransport,
    ITransport,
)
from twisted.internet.protocol import Protocol, connectionDone
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure as TwistedFailure
from zope.interface import providedBy
from zope.interface.declarations import Provides

from diagnostics.model.errors import TlsdiagError
from diagnostics.model.options import ProbeOptions
from diagnostics.model.result import (
    AddressTried,
    ClientAuth,
    Connection,
    Failure,
    Phase,
    ProbeResult,
    SourceAddress,
    Target,
    Timings,
)
from diagnostics.probes.tunnel import TunnelEndpoint, TunnelError, TunnelRecord, direct_endpoint
from diagnostics.tls.creators import RecordingClientCreator, check_hostname, one_connection
from diagnostics.tls.recording import HandshakeCapture, unreadable_findings
from diagnostics.tls.trust import TrustMaterial, ssl_reason

__all__ = [
    "ProbeAborted",
    "ProbeRun",
    "Stream",
    "handshake_finished",
    "run_probe",
]


class ProbeAborted(TlsdiagError):
    """An engine stops the probe on purpose, with the failure to report."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class Stream(Protocol):
    """The application end of a connection: buffers what arrives, reports the loss.

    A protocol attached with :meth:`attach` (an HTTP client, say) takes over
    the bytes from then on; the stream keeps watching for the loss.
    """

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.lost_reason: TwistedFailure | None = None
        self.on_data: Callable[[], None] | None = None
        self.on_lost: Callable[[TwistedFailure], None] | None = None
        self.inner: Protocol | None = None

    def attach(self, inner: Protocol) -> None:
        """Hand the connection to another protocol (HTTP, FTP data)."""
        self.inner = inner
        assert self.transport is not None
        inner.makeConnection(self.transport)  # type: ignore[no-untyped-call]
        if self.buffer:
            data, self.buffer = bytes(self.buffer), bytearray()
            inner.dataReceived(data)

    def dataReceived(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.dataReceived(data)
            return
        self.buffer += data
        if self.on_data is not None:
            self.on_data()

    def connectionLost(self, reason: TwistedFailure = connectionDone) -> None:
        self.lost_reason = reason
        if self.inner is not None:
            self.inner.connectionLost(reason)
        if self.on_lost is not None:
            self.on_lost(reason)


# Twisted's TLS layer gives each new connection the interfaces of the TCP transport under it,
# one instance declaration per interface.  zope.interface shares such declarations only while
# one is alive (a weak cache), and computing one anew (its resolution order) costs more than
# the rest of connecting: held here, by (protocol class, interface), the next connection finds
# them.  Bounded by the few classes and interfaces a probe meets.
_DECLARATIONS: dict[tuple[type, object], object] = {}


def keep_declarations(protocol: object) -> None:
    """Keep the interface declarations a TLS ``protocol`` was given from its transport."""
    cls = type(protocol)
    for interface in providedBy(getattr(protocol, "transport", None)):
        if (cls, interface) not in _DECLARATIONS:
            _DECLARATIONS[(cls, interface)] = Provides(cls, interface)


def _classify(exc: BaseException) -> tuple[str, str | None]:
    """A connection-level exception as (kind, OpenSSL reason)."""
    if isinstance(exc, SSL.Error):
        return ("tls_error", ssl_reason(exc))
    if isinstance(exc, error.DNSLookupError):
        return ("resolve_failed", None)
    if isinstance(exc, error.ConnectionRefusedError):
        return ("connection_refused", None)
    if isinstance(exc, error.TimeoutError | defer.TimeoutError | defer.CancelledError):
        return ("timeout", None)
    if isinstance(exc, error.NoRouteError):
        return ("no_route", None)
    unreachable = (errno.ENETUNREACH, errno.EHOSTUNREACH)
    if isinstance(exc, error.ConnectError) and exc.osError in unreachable:
        return ("no_route", None)
    if isinstance(exc, error.ConnectionLost | error.ConnectionDone):
        text = str(exc)
        if "reset" in text.lower() or "104" in text:
            return ("connection_reset", None)
        return ("connection_closed", None)
    if isinstance(exc, error.ConnectError):
        return ("connection_refused" if "refused" in str(exc).lower() else "connect_error", None)
    return ("internal", None)


def unwrap(failure: TwistedFailure) -> BaseException:
    """The innermost exception of a Twisted failure (HTTP client failures nest them)."""
    exc: BaseException = failure.value  # type: ignore[assignment]
    reasons = getattr(exc, "reasons", None)
    while reasons:
        inner = reasons[0]
        exc = inner.value if isinstance(inner, TwistedFailure) else inner  # type: ignore[assignment]
        reasons = getattr(exc, "reasons", None)
    return exc


class ProbeRun:
    """One probe in progress: its phase, its deadline, its connection and its capture."""

    def __init__(
        self, reactor: Any, target: Target, options: ProbeOptions, material: TrustMaterial
    ) -> None:
        self.reactor = reactor
        self.target = target
        self.options = options
        self.material = material
        self.phase = Phase.RESOLVE
        self.started = reactor.seconds()
        self.connected_at: float | None = None
        self.handshake_at: float | None = None
        self.creator: RecordingClientCreator | None = None
        self.captures: list[HandshakeCapture] = []  # of every TLS connection, released at the end
        self.transport: ITransport | None = None
        self.http: dict[str, Any] | None = None
        self.ftp: dict[str, Any] | None = None
        self.peer_address: str | None = None
        self.source: SourceAddress | None = None  # our end of the first connection
        proxy = options.proxy.for_target(target) if options.proxy is not None else None
        self.tunnel = TunnelRecord(proxy) if proxy is not None else None
        """What the HTTP proxy did, when this probe's connections go through one."""
        self.connection: Connection | None = None

    # -- time --------------------------------------------------------------------------

    def remaining(self) -> float:
        """Seconds left before the probe's deadline (at least a small positive number)."""
        elapsed = float(self.reactor.seconds()) - self.started
        return max(0.05, float(self.options.timeout - elapsed))

    # -- resolution and TCP ------------------------------------------------------------

    async def resolve(self) -> list[tuple[int, str]]:
        """The addresses of the target host, IPv4/IPv6 as asked (``-4``/``-6``)."""
        self.phase = Phase.RESOLVE
        host = self.target.host
        family = self.options.family
        try:
            literal = socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        except OSError:
            literal = None
        if literal is not None:
            fam = 6 if ":" in host else 4
            if family is not None and family != fam:
                raise ProbeAborted(
                    Failure(
                        phase=Phase.RESOLVE,
                        kind="resolve_failed",
                        message=f"{host} is an IPv{fam} address but -{family} was asked",
                    )
                )
            return [(fam, host)]
        found: list[tuple[int, str]] = []
        done: defer.Deferred[None] = defer.Deferred()

        class Receiver:
            def resolutionBegan(self, resolution: IHostResolution) -> None:
                pass

            def addressResolved(self, address: object) -> None:
                if isinstance(address, IPv4Address):
                    found.append((4, address.host))
                elif isinstance(address, IPv6Address):
                    found.append((6, address.host))

            def resolutionComplete(self) -> None:
                done.callback(None)

        types: list[type[IPv4Address] | type[IPv6Address]] | None = None
        if family == 4:
            types = [IPv4Address]
        elif family == 6:
            types = [IPv6Address]
        self.reactor.nameResolver.resolveHostName(
            Receiver(), host, self.target.port, addressTypes=types
        )
        await done
        if not found:
            raise error.DNSLookupError(host)
        unique: list[tuple[int, str]] = []
        for item in found:
            if item not in unique:
                unique.append(item)
        return unique

    def endpoint(self, host: str, port: int, timeout: float | None = None) -> IStreamClientEndpoint:
        """The one way a probe makes a TCP connection to ``host:port``: direct, or through
        the HTTP proxy (``CONNECT``); bounded by ``timeout`` (default: the time left)."""
        seconds = self.remaining() if timeout is None else timeout
        if self.tunnel is not None:
            proxy = self.tunnel.proxy
            return TunnelEndpoint(self.reactor, proxy, host, port, seconds, self.tunnel)
        return direct_endpoint(self.reactor, host, port, seconds)

    async def connect(self, factory: IProtocolFactory) -> IProtocol:
        """Connect TCP to the first address that answers; the factory's protocol is returned.

        The addresses are tried in order, each within its share of the time left; the
        ones that failed are recorded in ``connection``.  Through a proxy the target's
        name is not resolved here: the proxy resolves it.
        """
        if self.tunnel is not None:
            self.phase = Phase.CONNECT
            protocol = await self.endpoint(self.target.host, self.target.port).connect(factory)
            return self._connected(protocol, self.target.host)
        addresses = await self.resolve()
        self.phase = Phase.CONNECT
        last: BaseException | None = None
        tried: list[AddressTried] = []
        for index, (fam, address) in enumerate(addresses):
            # An address that never answers (a black-holed IPv6 route) must leave time for
            # the next ones: each gets its share of what is left, the last one all of it.
            share = self.remaining() / (len(addresses) - index)
            try:
                protocol = await self.endpoint(address, self.target.port, share).connect(factory)
            except (error.ConnectError, OSError) as exc:
                last = exc
                tried.append(AddressTried(address, fam, _classify(exc)[0]))
                self.connection = Connection(None, None, tuple(tried))
                continue
            self.connection = Connection(address, fam, tuple(tried))
            return self._connected(protocol, address)
        assert last is not None
        raise last

    def _connected(self, protocol: IProtocol, address: str) -> IProtocol:
        self.peer_address = address
        self.connected_at = self.reactor.seconds()
        self.transport = getattr(protocol, "transport", None)
        self.source = _source_of(self.transport)
        return protocol

    # -- TLS ---------------------------------------------------------------------------

    def new_creator(
        self, *, servername: str | None = None, session: SSL.Session | None = None
    ) -> RecordingClientCreator:
        """A recording client creator for this target (one per TLS connection).

        The name sent is ``servername``, by default the target's (unless SNI is off).
        """
        if servername is None and self.options.send_sni:
            servername = self.target.verify_name
        creator = RecordingClientCreator(self.material.context, servername, session=session)
        self.captures.append(creator.capture)
        return creator

    def release(self) -> None:
        """Let go of every TLS connection's OpenSSL state once the result is built."""
        for capture in self.captures:
            capture.release()

    async def connect_tls(self) -> Stream:
        """TCP connect, then a TLS handshake from the first byte; the stream is returned."""
        stream = Stream()
        self.creator = self.new_creator()
        inner = one_connection(stream)
        # The TLS layer schedules its buffered writes on this clock: it must be the
        # probe's reactor, not the global one.
        factory = TLSMemoryBIOFactory(self.creator, True, inner, clock=self.reactor)
        keep_declarations(await self.connect(factory))
        await self.handshake(stream, self.creator)
        return stream

    async def start_tls(self, stream: Stream) -> None:
        """Upgrade the connected TCP connection to TLS in place (``AUTH TLS``) and wait.

        The new creator becomes the probe's creator: its capture is what the
        result reports.
        """
        self.creator = self.new_creator()
        transport: Any = ITLSTransport(self.transport)
        transport.startTLS(self.creator)
        await self.handshake(stream, self.creator)

    async def handshake(self, stream: Stream, creator: RecordingClientCreator) -> None:
        """Wait for the handshake on ``stream`` to finish (or fail)."""
        self.phase = Phase.HANDSHAKE
        await handshake_finished(stream, creator)
        self._handshake_done()

    def _handshake_done(self) -> None:
        self.handshake_at = self.reactor.seconds()
        assert self.creator is not None
        if self.creator.capture.callback_errors:
            exc = self.creator.capture.callback_errors[0]
            raise ProbeAborted(
                Failure(
                    phase=Phase.HANDSHAKE,
                    kind="internal",
                    message=f"error inside a TLS callback: {type(exc).__name__}: {exc}",
                )
            )

    async def settle(self, stream: Stream) -> None:
        """Give a TLS 1.3 server a bounded moment to reject us after the handshake.

        TLS 1.3 servers judge the client certificate after the client considers
        the handshake complete; the verdict (a session ticket or an alert) comes
        right after.  We wait for the first post-handshake record, or the loss of
        the connection, at most ``post_handshake_wait`` seconds.  The wait also
        covers a server that asked for no certificate: closing before its session
        tickets are out makes it log a connection closed during its handshake.
        """
        assert self.creator is not None
        capture = self.creator.capture
        waiting = (
            stream.lost_reason is None
            and capture.tls is not None
            and capture.tls.version == "TLSv1.3"
            and capture.post_handshake_activity == 0
        )
        if waiting:
            d: defer.Deferred[None] = defer.Deferred()

            def wake(*_args: object) -> None:
                if not d.called:
                    # Let the TLS layer finish the record that woke us.
                    self.reactor.callLater(0, _fire, d)

            def activity() -> None:
                # After a fatal alert the TLS layer drops the connection with the
                # error; wake on that loss, which carries the reason, not before it.
                if capture.fatal_alert_received is None:
                    wake()

            capture.on_activity = activity
            stream.on_lost = wake
            timer = self.reactor.callLater(
                min(self.options.post_handshake_wait, self.remaining()), wake
            )
            try:
                await d
            finally:
                if timer.active():
                    timer.cancel()
                capture.on_activity = None
        self.check_lost(stream)

    def check_lost(self, stream: Stream) -> None:
        """Raise the TLS error that closed the stream, if one did."""
        reason = stream.lost_reason
        if reason is not None and isinstance(reason.value, SSL.Error):
            raise reason.value

    def check_lost_as_handshake(self, stream: Stream) -> None:
        """After a failed exchange: a TLS error that closed the stream belongs to the handshake."""
        reason = stream.lost_reason
        if reason is not None and isinstance(reason.value, SSL.Error):
            self.phase = Phase.HANDSHAKE
            raise reason.value

    def close(self) -> None:
        """Close the connection politely (TLS close_notify, then TCP FIN)."""
        if self.transport is not None:
            self.transport.loseConnection()

    def abort(self) -> None:
        """Drop the connection at once."""
        transport = self.transport
        if transport is not None and hasattr(transport, "abortConnection"):
            transport.abortConnection()
        elif transport is not None:
            transport.loseConnection()

    # -- result ------------------------------------------------------------------------

    def failure_from(self, exc: BaseException) -> Failure:
        """Turn any exception into a failure in the current phase."""
        if isinstance(exc, ProbeAborted):
            return exc.failure
        if isinstance(exc, TunnelError):
            return Failure(phase=self.phase, kind=exc.kind, message=exc.message)
        kind, reason = _classify(exc)
        if kind == "timeout":
            return Failure(
                phase=self.phase,
                kind="timeout",
                message=f"no answer within the {self.options.timeout:g} s timeout "
                f"({self.phase.value} phase)",
            )
        if kind == "internal":
            return Failure(
                phase=self.phase, kind="internal", message=f"{type(exc).__name__}: {exc}"
            )
        message = reason or str(exc) or type(exc).__name__
        return Failure(phase=self.phase, kind=kind, message=message, reason=reason)

    def result(self, failure: Failure | None = None) -> ProbeResult:
        """The probe's result as captured so far."""
        now = self.reactor.seconds()
        capture = self.creator.capture if self.creator is not None else None
        client_auth = None
        if capture is not None:
            capture.record_refused()
            if capture.certificate_requested:
                client_auth = ClientAuth(
                    requested=True,
                    sent=self.options.trust.cert_file is not None,
                    ca_names=capture.client_ca_names(),
                )
        served, verified = capture.judged_chains() if capture else ((), ())
        leaf = served[0] if served else None
        host = self.target.host
        peer = f"{f'[{host}]' if ':' in host else host}:{self.target.port}"
        timings = Timings(
            connect_s=_delta(self.started, self.connected_at),
            handshake_s=_delta(self.connected_at, self.handshake_at),
            total_s=round(now - self.started, 6),
        )
        return ProbeResult(
            target=self.target,
            tls=capture.tls if capture else None,
            served_chain=served,
            verified_chain=verified,
            verify_events=tuple(capture.events) if capture else (),
            hostname=check_hostname(leaf, self.target.verify_name) if leaf is not None else None,
            client_auth=client_auth,
            failure=failure,
            http=self.http,
            ftp=self.ftp,
            timings=timings,
            started_at=self.started,
            ocsp=capture.ocsp if capture else None,
            findings=unreadable_findings(capture, peer) if capture else (),
            source=self.source,
            proxy=self.tunnel.facts() if self.tunnel is not None else None,
            connection=self.connection,
        )


def _source_of(transport: ITransport | None) -> SourceAddress | None:
    """Our end of a connected TCP transport (None for a transport without an address)."""
    host = getattr(transport, "getHost", None)
    address = host() if host is not None else None
    if isinstance(address, (IPv4Address, IPv6Address)):
        return SourceAddress(address.host, address.port)
    return None


async def handshake_finished(stream: Stream, creator: RecordingClientCreator) -> None:
    """Wait until the handshake recorded by ``creator`` on ``stream`` is done; the TLS
    error (or the loss) that ended it instead is raised."""
    capture = creator.capture
    if capture.done:
        return
    d: defer.Deferred[None] = defer.Deferred()

    def done() -> None:
        if not d.called:
            d.callback(None)

    def lost(reason: TwistedFailure) -> None:
        if not d.called:
            d.errback(reason)

    capture.on_done = done
    stream.on_lost = lost
    await d


def _fire(d: defer.Deferred[None]) -> None:
    if not d.called:
        d.callback(None)


def _delta(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return round(end - start, 6)


def run_probe(
    reactor: IReactorTime | IReactorTCP | IReactorCore | Any,
    target: Target,
    options: ProbeOptions,
    material: TrustMaterial,
    body: Callable[[ProbeRun], Coroutine[Any, Any, None]],
) -> defer.Deferred[ProbeResult]:
    """Run an engine body under the probe's deadline; the Deferred never errbacks."""
    run = ProbeRun(reactor, target, options, material)
    d: defer.Deferred[None] = defer.Deferred.fromCoroutine(body(run))
    d.addTimeout(options.timeout, cast(IReactorTime, reactor))

    def succeeded(_: None) -> ProbeResult:
        run.close()
        try:
            return run.result()
        finally:
            run.release()

    def failed(reason: TwistedFailure) -> ProbeResult:
        run.abort()
        try:
            return run.result(run.failure_from(unwrap(reason)))
        except Exception as exc:  # a bug of ours must still give a result
            return ProbeResult(
                target=target,
                failure=Failure(
                    phase=run.phase, kind="internal", message=f"{type(exc).__name__}: {exc}"
                ),
            )
        finally:
            run.release()

    return d.addCallbacks(succeeded, failed)
