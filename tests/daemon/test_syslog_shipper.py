"""The TCP shipper on a memory reactor: bounded queue, drops counted, backoff, stalls."""

from __future__ import annotations

import json

from prometheus_client import CollectorRegistry
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from diagnostics.daemon.syslog import (
    BACKOFF_FIRST,
    BACKOFF_MAX,
    QUEUE_SIZE,
    STALL_TIMEOUT,
    SyslogShipper,
    dropped_counter,
)
from diagnostics.daemon.syslogwire import MAX_MESSAGE_BYTES, parse_address

LINE = json.dumps({"log.level": "info", "event.action": "tls-probe"})


def shipper() -> tuple[SyslogShipper, MemoryReactorClock, CollectorRegistry]:
    reactor = MemoryReactorClock()
    registry = CollectorRegistry()
    ship = SyslogShipper(reactor, dropped_counter(registry))
    ship.configure(parse_address("tcp://127.0.0.1:6514"))
    return ship, reactor, registry


def dropped(registry: CollectorRegistry, reason: str) -> float:
    value = registry.get_sample_value("tlsdiag_syslog_dropped_total", {"reason": reason})
    assert value is not None
    return value


def connect(reactor: MemoryReactorClock, index: int = -1) -> StringTransport:
    factory = reactor.tcpClients[index][2]
    stream = factory.buildProtocol(None)
    transport = StringTransport()
    stream.makeConnection(transport)
    return transport


def test_queue_while_connecting_is_bounded_then_flushed_in_order() -> None:
    ship, reactor, registry = shipper()
    for _ in range(QUEUE_SIZE + 5):
        ship.ship("client", LINE)
    assert dropped(registry, "queue_full") == 5
    transport = connect(reactor)
    data = transport.value()
    assert data.count(b" tlsdiag ") == QUEUE_SIZE
    length, _, rest = data.partition(b" ")
    assert rest[: int(length)].endswith(LINE.encode())
    ship.ship("client", LINE)
    assert transport.value().count(b" tlsdiag ") == QUEUE_SIZE + 1


def test_refused_collector_drops_and_retries_with_bounded_backoff() -> None:
    ship, reactor, registry = shipper()
    delays = []
    for attempt in range(10):
        connector = reactor.tcpClients[-1]
        assert connector[3] == 10.0  # every connection attempt has a timeout
        reactor.tcpClients[-1][2].clientConnectionFailed(None, Failure(ConnectionRefusedError()))
        ship.ship("daemon", LINE)
        assert dropped(registry, "disconnected") == attempt + 1
        (call,) = reactor.getDelayedCalls()
        delays.append(call.getTime() - reactor.seconds())
        reactor.advance(delays[-1])
    assert delays[0] == BACKOFF_FIRST
    assert max(delays) == BACKOFF_MAX
    assert len(reactor.tcpClients) == 11
    connect(reactor)
    assert ship.state == "up"


def test_stalled_collector_is_dropped_and_the_queue_bounded() -> None:
    ship, reactor, registry = shipper()
    transport = connect(reactor)
    assert ship.stream is not None
    ship.stream.pauseProducing()  # the socket's buffer is full
    for _ in range(QUEUE_SIZE + 1):
        ship.ship("client", LINE)
    assert dropped(registry, "queue_full") == 1
    reactor.advance(STALL_TIMEOUT)
    assert transport.disconnecting or ship.state == "down"


def test_too_large_is_dropped() -> None:
    ship, reactor, registry = shipper()
    connect(reactor)
    ship.ship("client", json.dumps({"message": "x" * MAX_MESSAGE_BYTES}))
    assert dropped(registry, "too_large") == 1


def test_off_ships_nothing_and_counts_nothing() -> None:
    reactor = MemoryReactorClock()
    registry = CollectorRegistry()
    ship = SyslogShipper(reactor, dropped_counter(registry))
    ship.ship("client", LINE)
    assert reactor.tcpClients == []
    assert dropped(registry, "disconnected") == 0
