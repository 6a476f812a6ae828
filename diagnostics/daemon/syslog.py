"""Ship every event of the daemon's log streams to a syslog collector (``[daemon] syslog``).

Nothing here blocks the reactor or waits on the collector.  UDP sends one datagram per
message at once.  TCP keeps one connection with a bounded queue (:data:`QUEUE_SIZE`
messages) for the time it connects or the socket's buffer is full; while it is down
(between a failed attempt and the next one, with a backoff of 0.5 s doubling up to 30 s)
messages are dropped.  Every dropped message is counted in
``tlsdiag_syslog_dropped_total{reason}``.
"""

from __future__ import annotations

import collections
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from twisted.internet import defer, protocol
from twisted.internet.interfaces import IPushProducer
from twisted.python import threadable
from zope.interface import implementer

from diagnostics.daemon.syslogwire import (
    MAX_DATAGRAM_BYTES,
    MAX_MESSAGE_BYTES,
    SyslogAddress,
    format_message,
    octet_counted,
)

QUEUE_SIZE = 1000
CONNECT_TIMEOUT = 10.0
RESOLVE_TIMEOUT = 10.0
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
CLOSE_TIMEOUT = 2.0  # the most a stop waits for the last messages to be sent
STALL_TIMEOUT = 30.0  # a connection that accepts nothing for this long is dropped
DROP_REASONS = ("queue_full", "disconnected", "too_large", "send_error")


def dropped_counter(registry: CollectorRegistry) -> Counter:
    """``tlsdiag_syslog_dropped_total{reason}``, every reason at zero from the start."""
    counter = Counter(
        "tlsdiag_syslog_dropped",
        "Syslog messages not sent, by reason (queue full, collector down, too large, error).",
        ["reason"],
        registry=registry,
    )
    for reason in DROP_REASONS:
        counter.labels(reason)
    return counter


@implementer(IPushProducer)
class _Stream(protocol.Protocol):
    """The TCP connection: writes frames while the transport takes them."""

    def __init__(self, shipper: SyslogShipper) -> None:
        self.shipper = shipper
        self.paused = False
        self.stall: Any = None
        self.closed: defer.Deferred[None] | None = None  # fired by connectionLost

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.registerProducer(self, True)  # type: ignore[attr-defined]
        self.shipper._connected(self)

    def connectionLost(self, reason: Any = None) -> None:
        self._cancel_stall()
        if self.closed is not None:
            self.closed.callback(None)
        self.shipper._lost(self)

    def dataReceived(self, data: bytes) -> None:
        """A collector says nothing; ignore what it does."""

    def pauseProducing(self) -> None:
        self.paused = True
        if self.stall is None:
            self.stall = self.shipper.reactor.callLater(STALL_TIMEOUT, self._stalled)

    def resumeProducing(self) -> None:
        self.paused = False
        self._cancel_stall()
        self.shipper._drain()

    def stopProducing(self) -> None:
        self.paused = True

    def _stalled(self) -> None:
        self.stall = None
        assert self.transport is not None
        self.transport.abortConnection()  # type: ignore[attr-defined]

    def _cancel_stall(self) -> None:
        if self.stall is not None and self.stall.active():
            self.stall.cancel()
        self.stall = None


class _Factory(protocol.ClientFactory):
    noisy = False

    def __init__(self, shipper: SyslogShipper) -> None:
        self.shipper = shipper
        self.generation = shipper.generation

    def buildProtocol(self, addr: Any) -> _Stream:
        return _Stream(self.shipper)

    def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
        if self.generation == self.shipper.generation:
            self.shipper._lost(None)


class SyslogShipper:
    """Sends formatted events to the configured collector; :meth:`configure` changes it."""

    def __init__(self, reactor: Any, dropped: Counter) -> None:
        self.reactor = reactor
        self.dropped = dropped
        self.address: SyslogAddress | None = None
        self.hostname = socket.gethostname()
        self.procid = os.getpid()
        self.queue: collections.deque[bytes] = collections.deque()
        self.state = "off"  # off, resolving, connecting, up, down
        self.stream: _Stream | None = None
        self.connector: Any = None
        self.udp: Any = None
        self.udp_host: str | None = None
        self.retry: Any = None
        self.backoff = BACKOFF_FIRST
        self.generation = 0  # bumped by configure: late callbacks of an old address do nothing

    # -- configuration ------------------------------------------------------------------

    def configure(self, address: SyslogAddress | None) -> None:
        """Send to ``address`` from now on (None: stop shipping)."""
        if address == self.address:
            return
        self.stop()
        self.address = address
        self.generation += 1
        if address is None:
            return
        if address.scheme == "udp":
            self._resolve(address)
        else:
            self._connect()

    def stop(self) -> defer.Deferred[None]:
        """Close the connection or socket; fires once what was written is flushed (at most
        :data:`CLOSE_TIMEOUT` later).  Queued messages are discarded."""
        closed: defer.Deferred[None] = defer.succeed(None)
        stream = self.stream
        if self.state == "up" and stream is not None and stream.transport is not None:
            closed = stream.closed = defer.Deferred()
            transport: Any = stream.transport
            abort = self.reactor.callLater(CLOSE_TIMEOUT, transport.abortConnection)
            closed.addBoth(lambda _: abort.cancel() if abort.active() else None)
        self.state = "off"
        self.address = None
        self.queue.clear()
        if self.retry is not None and self.retry.active():
            self.retry.cancel()
        self.retry = None
        if self.connector is not None:
            self.connector.disconnect()
            self.connector = None
        self.stream = None
        if self.udp is not None:
            self.udp.stopListening()
            self.udp = None
        return closed

    # -- sending ------------------------------------------------------------------------

    def ship(self, stream: str, line: str) -> None:
        """Send one event line of ``stream``; never raises, never waits."""
        if self.address is None:
            return
        # From another thread (Twisted's thread pool logs too): hop to the reactor's.
        if threadable.ioThread is not None and threadable.ioThread != threading.get_ident():
            self.reactor.callFromThread(self.ship, stream, line)
            return
        try:
            message = format_message(
                line, stream=stream, hostname=self.hostname, procid=self.procid
            )
        except Exception:
            self._drop("send_error")
            return
        udp = self.address.scheme == "udp"
        if len(message) > (MAX_DATAGRAM_BYTES if udp else MAX_MESSAGE_BYTES):
            self._drop("too_large")
        elif udp:
            self._send_datagram(message)
        else:
            self._send_frame(octet_counted(message))

    def _drop(self, reason: str) -> None:
        self.dropped.labels(reason).inc()

    def _send_datagram(self, message: bytes) -> None:
        if self.udp is None or self.udp_host is None or self.address is None:
            self._drop("disconnected")
            return
        try:
            self.udp.write(message, (self.udp_host, self.address.port))
        except Exception:
            self._drop("send_error")

    def _send_frame(self, frame: bytes) -> None:
        stream = self.stream
        if self.state == "up" and stream is not None and not stream.paused and not self.queue:
            self._write(frame)
            return
        if self.state in ("up", "connecting"):
            if len(self.queue) >= QUEUE_SIZE:
                self._drop("queue_full")
            else:
                self.queue.append(frame)
            return
        self._drop("disconnected")

    def _write(self, frame: bytes) -> None:
        assert self.stream is not None and self.stream.transport is not None
        try:
            self.stream.transport.write(frame)
        except Exception:
            self._drop("send_error")

    def _drain(self) -> None:
        while self.queue and self.stream is not None and not self.stream.paused:
            self._write(self.queue.popleft())

    # -- UDP ----------------------------------------------------------------------------

    def _resolve(self, address: SyslogAddress) -> None:
        self.state = "resolving"
        generation = self.generation
        resolving: defer.Deferred[str] = self.reactor.resolve(address.host)
        resolving.addTimeout(RESOLVE_TIMEOUT, self.reactor)

        def resolved(host: str) -> None:
            if generation != self.generation:
                return
            self.udp_host = host
            self.udp = self.reactor.listenUDP(
                0, protocol.DatagramProtocol(), interface="::" if ":" in host else "0.0.0.0"
            )
            self.state = "up"

        def failed(_: Any) -> None:
            if generation != self.generation:
                return
            self.state = "down"
            self._schedule(lambda: self._resolve(address))

        resolving.addCallbacks(resolved, failed)

    # -- TCP ----------------------------------------------------------------------------

    def _connect(self) -> None:
        assert self.address is not None
        self.retry = None
        self.state = "connecting"
        self.connector = self.reactor.connectTCP(
            self.address.host, self.address.port, _Factory(self), timeout=CONNECT_TIMEOUT
        )

    def _connected(self, stream: _Stream) -> None:
        if self.state != "connecting":
            assert stream.transport is not None
            stream.transport.loseConnection()
            return
        self.stream = stream
        self.state = "up"
        self.backoff = BACKOFF_FIRST
        self._drain()

    def _lost(self, stream: _Stream | None) -> None:
        if self.state == "off" or (stream is not None and stream is not self.stream):
            return
        self.stream = None
        self.connector = None
        self.state = "down"
        for _ in range(len(self.queue)):
            self._drop("disconnected")
        self.queue.clear()
        self._schedule(self._connect)

    def _schedule(self, call: Callable[[], None]) -> None:
        self.retry = self.reactor.callLater(self.backoff, call)
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)
