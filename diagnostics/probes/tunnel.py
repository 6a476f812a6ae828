"""A TCP connection for a probe: direct, or tunnelled through an HTTP proxy (``CONNECT``).

:class:`TunnelEndpoint` is a Twisted client endpoint: it connects to the proxy,
sends ``CONNECT host:port HTTP/1.1`` (with ``Proxy-Authorization: Basic`` when a
user is configured), reads the proxy's answer head (at most
:data:`MAX_ANSWER_HEAD` bytes, within the time it is given) and, on a 2xx answer,
hands the tunnel to the factory's protocol as if it were the TCP connection
itself: TLS from the first byte, or the FTP dialogue and ``AUTH TLS`` over it.
Any other answer, or none, is a :class:`TunnelError` naming what the proxy did.
The password is never part of an error, a record or a log line.
"""

from __future__ import annotations

import re
from typing import Any

from twisted.internet import defer, error
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint
from twisted.internet.interfaces import IProtocol, IProtocolFactory, IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure as TwistedFailure
from zope.interface import implementer

from diagnostics.model.certificates import is_ip_literal
from diagnostics.model.errors import TlsdiagError
from diagnostics.model.escape import escape
from diagnostics.model.proxy import Proxy
from diagnostics.model.result import ProxyFacts

__all__ = [
    "MAX_ANSWER_HEAD",
    "TunnelEndpoint",
    "TunnelError",
    "TunnelRecord",
    "direct_endpoint",
]

MAX_ANSWER_HEAD = 16 * 1024
"""The proxy's answer head (status line and headers) is read up to this many bytes."""

MAX_CHALLENGE = 256
"""Characters of a ``Proxy-Authenticate`` challenge kept in the record."""

_STATUS_LINE = re.compile(rb"^HTTP/1\.[01] ([0-9]{3})(?: ([^\r\n]*))?$")


def direct_endpoint(reactor: Any, host: str, port: int, timeout: float) -> IStreamClientEndpoint:
    """A plain TCP endpoint to an address (IPv4 or IPv6), or to a name."""
    seconds = max(0.05, timeout)
    if not is_ip_literal(host):
        return HostnameEndpoint(reactor, host, port, timeout=seconds)
    endpoint_class = TCP6ClientEndpoint if ":" in host else TCP4ClientEndpoint
    return endpoint_class(reactor, host, port, timeout=seconds)


class TunnelError(TlsdiagError, error.ConnectError):
    """The proxy did not open the tunnel; ``kind`` names why (``proxy_refused``…).

    A connection error as Twisted's are: whatever handles a failed connection (an FTPS
    data connection, a side check) handles a tunnel that did not open.
    """

    def __init__(self, kind: str, message: str) -> None:
        error.ConnectError.__init__(self, string=message)  # type: ignore[no-untyped-call]
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        return self.message


class TunnelRecord:
    """What the proxy did during one probe: the last answer, the tunnels opened.

    ``stage`` is where the latest tunnel is: ``connecting`` (TCP to the proxy),
    ``waiting`` (``CONNECT`` sent, no answer yet), ``open`` or ``failed``; a probe
    that runs out of time in its connect phase reads it to say whose silence it was.
    """

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.stage = "idle"
        self.status: int | None = None
        self.reason: str | None = None
        self.authenticate: str | None = None
        self.tunnels = 0

    def facts(self) -> ProxyFacts:
        """The record as result data."""
        return ProxyFacts(
            url=self.proxy.url,
            status=self.status,
            reason=self.reason,
            authenticate=self.authenticate,
            credentials_sent=self.proxy.sends_credentials,
            tunnels=self.tunnels,
        )


def _authority(host: str, port: int) -> bytes:
    name = f"[{host}]" if ":" in host else host
    return f"{name}:{port}".encode("idna")


class _TunnelProtocol(Protocol):
    """Speaks ``CONNECT`` to the proxy, then relays the connection to the real protocol."""

    def __init__(
        self,
        endpoint: TunnelEndpoint,
        factory: IProtocolFactory,
        done: defer.Deferred[IProtocol],
    ) -> None:
        self.endpoint = endpoint
        self.application = factory  # not "factory": Factory.buildProtocol sets that
        self.done = done
        self.buffer = bytearray()
        self.inner: IProtocol | None = None

    def connectionMade(self) -> None:
        endpoint = self.endpoint
        authority = _authority(endpoint.host, endpoint.port)
        lines = [b"CONNECT " + authority + b" HTTP/1.1", b"Host: " + authority]
        credentials = endpoint.proxy.authorization()
        if credentials is not None:
            lines.append(b"Proxy-Authorization: " + credentials)
        assert self.transport is not None
        self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n")
        endpoint.record.stage = "waiting"

    def dataReceived(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.dataReceived(data)
            return
        if self.done.called:
            return
        self.buffer += data
        start = bytes(self.buffer[:5])
        if start != b"HTTP/"[: len(start)]:
            self._refuse(
                TunnelError(
                    "proxy_bad_answer",
                    f"{self.endpoint.proxy.url} did not answer CONNECT in HTTP "
                    f"(it sent {_shown(bytes(self.buffer[:40]))})",
                )
            )
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or end > MAX_ANSWER_HEAD:
            if len(self.buffer) > MAX_ANSWER_HEAD:
                self._refuse(
                    TunnelError(
                        "proxy_bad_answer",
                        f"{self.endpoint.proxy.url} sent an answer head over "
                        f"{MAX_ANSWER_HEAD // 1024} KiB without ending it",
                    )
                )
            return
        head, rest = bytes(self.buffer[:end]), bytes(self.buffer[end + 4 :])
        self.buffer = bytearray()
        self._answered(head, rest)

    def _answered(self, head: bytes, rest: bytes) -> None:
        record = self.endpoint.record
        url = self.endpoint.proxy.url
        status_line, *header_lines = head.split(b"\r\n")
        matched = _STATUS_LINE.match(status_line)
        if matched is None:
            self._refuse(
                TunnelError(
                    "proxy_bad_answer",
                    f"{url} answered CONNECT with a line that is no HTTP status line "
                    f"({_shown(status_line[:80])})",
                )
            )
            return
        status = int(matched.group(1))
        reason = (matched.group(2) or b"").decode("latin-1")[:200]
        record.status, record.reason = status, reason
        headers = _headers(header_lines)
        if 200 <= status < 300:
            record.stage = "open"
            record.tunnels += 1
            assert self.transport is not None
            inner = self.application.buildProtocol(self.transport.getPeer())
            if inner is None:
                self._refuse(TunnelError("internal", "the probe's protocol factory gave none"))
                return
            self.inner = inner
            inner.makeConnection(self.transport)
            self.done.callback(inner)
            if rest:
                inner.dataReceived(rest)
            return
        challenge = headers.get("proxy-authenticate")
        record.authenticate = challenge[:MAX_CHALLENGE] if challenge else None
        answer = f"{url} answered CONNECT with {status} {reason}".rstrip()
        self._refuse(TunnelError(_kind_of(status), answer))

    def _refuse(self, exc: TunnelError) -> None:
        self.endpoint.record.stage = "failed"
        if not self.done.called:
            self.done.errback(exc)
        transport: Any = self.transport
        if transport is not None:
            transport.abortConnection()

    def connectionLost(self, reason: TwistedFailure = connectionDone) -> None:
        if self.inner is not None:
            self.inner.connectionLost(reason)
            return
        if not self.done.called:
            self.endpoint.record.stage = "failed"
            self.done.errback(
                TunnelError(
                    "proxy_bad_answer",
                    f"{self.endpoint.proxy.url} closed the connection without answering CONNECT",
                )
            )


def _headers(lines: list[bytes]) -> dict[str, str]:
    """The answer's headers, lower-case names, the first of each kept (latin-1 text)."""
    found: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(b":")
        if sep:
            key = name.strip().lower().decode("latin-1")
            found.setdefault(key, value.strip().decode("latin-1"))
    return found


def _kind_of(status: int) -> str:
    if status == 407:
        return "proxy_auth_required"
    if status in (502, 503, 504):
        return "proxy_upstream_failed"
    return "proxy_refused"


def _shown(data: bytes) -> str:
    """Bytes a peer sent, as text safe for a one-line message."""
    return repr(escape(data.decode("latin-1")))


@implementer(IStreamClientEndpoint)
class TunnelEndpoint:
    """Connect to ``host:port`` through the HTTP proxy ``proxy`` (``CONNECT``).

    The whole exchange (TCP to the proxy and its answer) is bounded by ``timeout``;
    the protocol built by the factory gets the tunnel as its transport.
    """

    def __init__(
        self,
        reactor: Any,
        proxy: Proxy,
        host: str,
        port: int,
        timeout: float,
        record: TunnelRecord,
    ) -> None:
        self.reactor = reactor
        self.proxy = proxy
        self.host = host
        self.port = port
        self.timeout = max(0.05, timeout)
        self.record = record

    def connect(self, protocolFactory: IProtocolFactory) -> defer.Deferred[IProtocol]:
        """Open the tunnel; the factory's protocol once the proxy said yes."""
        record = self.record
        record.stage = "connecting"
        connecting: defer.Deferred[Any] | None = None
        tunnel: _TunnelProtocol | None = None

        def give_up(_: object = None) -> None:
            """Out of time (our own timer, or the probe's deadline cancelling us)."""
            waited = record.stage == "waiting"
            if connecting is not None and not connecting.called:
                connecting.cancel()  # errbacks ``done`` as proxy_unreachable
            if tunnel is not None and tunnel.transport is not None:
                tunnel.transport.abortConnection()  # type: ignore[attr-defined]
            if not done.called:
                record.stage = "failed"
                kind = "proxy_timeout" if waited else "proxy_unreachable"
                what = "did not answer CONNECT" if waited else "did not accept the connection"
                done.errback(TunnelError(kind, f"the proxy {self.proxy.url} {what} in time"))

        done: defer.Deferred[IProtocol] = defer.Deferred(give_up)
        tunnel = _TunnelProtocol(self, protocolFactory, done)
        factory = Factory.forProtocol(lambda: tunnel)
        factory.noisy = False
        to_proxy = direct_endpoint(self.reactor, self.proxy.host, self.proxy.port, self.timeout)
        connecting = to_proxy.connect(factory)

        def unreachable(reason: TwistedFailure) -> None:
            record.stage = "failed"
            if not done.called:
                done.errback(TunnelError("proxy_unreachable", self._unreachable(reason.value)))

        connecting.addErrback(unreachable)
        timer = self.reactor.callLater(self.timeout, give_up)

        def stop_timer(value: Any) -> Any:
            if timer.active():
                timer.cancel()
            return value

        return done.addBoth(stop_timer)

    def _unreachable(self, exc: object) -> str:
        url = self.proxy.url
        if isinstance(exc, error.ConnectionRefusedError):
            return f"the proxy {url} refused the connection (nothing listens there)"
        if isinstance(exc, error.DNSLookupError):
            return f"the proxy's host name {self.proxy.host} does not resolve"
        if isinstance(exc, error.TimeoutError | defer.CancelledError):
            return f"the proxy {url} did not accept the connection in time"
        return f"the proxy {url} cannot be reached: {exc}"
