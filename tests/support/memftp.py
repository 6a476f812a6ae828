"""FTPS in memory: a scripted explicit-FTPS server and real ``AUTH TLS`` upgrades.

:mod:`twisted.test.iosim`, which :mod:`tests.support.memtls` drives, only pretends to
start TLS on a connection.  :func:`run_probe` replaces that pretence, for one probe,
with a real TLS layer (OpenSSL on both sides), so an ``ftpes://`` probe performs the
real handshake after ``AUTH TLS``.  :class:`ExplicitFTPS` is the server: it greets after
a chosen delay on the fake clock (or never), upgrades on ``AUTH TLS`` and answers the
few commands a probe without a data channel sends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from OpenSSL import SSL
from twisted.internet.interfaces import IProtocolFactory, IReactorTime
from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineReceiver
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.test import iosim

from diagnostics.model.options import ProbeOptions
from diagnostics.model.result import ProbeResult
from diagnostics.tls.serving import ServerCreator
from tests.support import memtls


class _Raw:
    """The bytes side of a fake transport under a real TLS layer (writes skip the TLS)."""

    def __init__(self, transport: iosim.FakeTransport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        _PLAIN_WRITE(self._transport, data)

    def writeSequence(self, data: list[bytes]) -> None:
        _PLAIN_WRITE(self._transport, b"".join(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


_PLAIN_WRITE = iosim.FakeTransport.write


@contextlib.contextmanager
def real_starttls(clock: list[IReactorTime]) -> Iterator[None]:
    """While active, ``startTLS`` on an iosim transport starts real TLS (clock: ``clock[0]``)."""

    def start_tls(self: Any, creator: Any, normal: bool = True) -> None:
        factory = TLSMemoryBIOFactory(creator, not self.isServer, Factory(), clock=clock[0])
        layer = factory.protocol(factory, self.protocol, False)
        self.protocol = layer  # bytes that arrive now go through the TLS layer
        self.real_tls = layer
        layer.makeConnection(_Raw(self))

    def write(self: Any, data: bytes) -> None:
        layer = getattr(self, "real_tls", None)
        if layer is not None:
            layer.write(data)
        else:
            _PLAIN_WRITE(self, data)

    patches = {"startTLS": start_tls, "write": write}
    saved = {name: getattr(iosim.FakeTransport, name) for name in patches}
    for name, value in patches.items():
        setattr(iosim.FakeTransport, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(iosim.FakeTransport, name, value)


class ExplicitFTPS(LineReceiver):
    """An explicit-FTPS server: greets after ``delay`` seconds (None: never), AUTH TLS.

    Before ``AUTH TLS`` only ``AUTH`` and ``QUIT`` are accepted; afterwards any user
    logs in, ``PBSZ``/``PROT`` succeed and ``QUIT`` ends the session.
    """

    delimiter = b"\r\n"

    def __init__(self, clock: IReactorTime, context: SSL.Context, delay: float | None) -> None:
        self.clock = clock
        self.context = context
        self.delay = delay
        self.received: list[str] = []
        self.protected = False
        self.greeted = False

    def connectionMade(self) -> None:
        if self.delay is not None:
            self.clock.callLater(self.delay, self.greet)

    def greet(self) -> None:
        self.greeted = True
        self.sendLine(b"220 slow but healthy FTP server")

    def lineReceived(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        self.received.append(text)
        verb = text.split(" ", 1)[0].upper()
        if verb == "AUTH":
            self.sendLine(b"234 AUTH TLS ok")
            assert self.transport is not None
            self.transport.startTLS(ServerCreator(self.context))  # type: ignore[attr-defined]
            self.protected = True
        elif verb == "QUIT":
            self.sendLine(b"221 Goodbye")
            assert self.transport is not None
            self.transport.loseConnection()
        elif not self.protected:
            self.sendLine(b"530 Please use AUTH TLS first")
        elif verb == "USER":
            self.sendLine(b"331 Password please")
        elif verb == "PASS":
            self.sendLine(b"230 Logged in")
        elif verb in ("PBSZ", "PROT"):
            self.sendLine(b"200 OK")
        else:
            self.sendLine(b"502 Not implemented")


def explicit_server(
    context: SSL.Context, *, delay: float | None, sessions: list[ExplicitFTPS] | None = None
) -> memtls.ServerMaker:
    """A server maker for :class:`ExplicitFTPS`; each session is appended to ``sessions``."""

    def make(clock: IReactorTime) -> IProtocolFactory:
        def build() -> ExplicitFTPS:
            session = ExplicitFTPS(clock, context, delay)
            if sessions is not None:
                sessions.append(session)
            return session

        return Factory.forProtocol(build)

    return make


def run_probe(server: memtls.ServerMaker, url: str, options: ProbeOptions) -> ProbeResult:
    """:func:`tests.support.memtls.run_probe` with real TLS behind ``AUTH TLS``."""
    clock: list[IReactorTime] = []

    def make(reactor: IReactorTime) -> IProtocolFactory:
        clock.append(reactor)
        return server(reactor)

    with real_starttls(clock):
        return memtls.run_probe(make, url, options, servername="localhost")
