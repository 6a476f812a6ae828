"""Connections over a listener's ``--max-connections``: refused, counted and reported."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport

from diagnostics.listener.refusals import RefusedConnections
from diagnostics.listener.service import REFUSED_REPORT_INTERVAL, ListenerFactory
from diagnostics.listener.session import Limits, ListenerOptions, load_material
from diagnostics.render.session import PLAIN_TEXT_REPORTS
from tests.support.listening import PartnerFiles, listening, write_partner


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> PartnerFiles:
    """The listener's certificate and key (the partner's certificates are not used)."""
    return write_partner(tmp_path_factory.mktemp("limit"))


def _client(port: int) -> IPv4Address:
    return IPv4Address("TCP", "127.0.0.1", port)


def _connect(port: int) -> tuple[socket.socket, int]:
    """A connection to the listener on ``port`` and its client port.

    A refused connection is reset by the listener as soon as it accepts it; on a busy
    machine that reset can arrive before ``connect`` returns (its error is ECONNRESET), so it
    is not an error here.  The client port is known from the bind, whatever ``connect`` says.
    """
    sock = socket.socket()
    sock.settimeout(10)
    sock.bind(("127.0.0.1", 0))
    client_port = int(sock.getsockname()[1])
    with contextlib.suppress(ConnectionResetError):
        sock.connect(("127.0.0.1", port))
    return sock, client_port


def test_refusals_are_reported_at_most_once_a_second(files: PartnerFiles) -> None:
    """The first refusal is reported at once; those within the next second make one report
    with their count and the last client; a stop reports what is still unreported."""
    options = ListenerOptions(
        url="https://127.0.0.1:8443",
        cert_file=str(files.server.served),
        key_file=str(files.server.key),
        limits=Limits(max_connections=1),
    )
    reactor = MemoryReactorClock()  # type: ignore[no-untyped-call]
    reports: list[RefusedConnections] = []
    factory = ListenerFactory(
        reactor,
        load_material(options),
        lambda _r: None,
        reports.append,
        reports=PLAIN_TEXT_REPORTS,
    )
    factory.buildProtocol(_client(40000)).makeConnection(StringTransport())  # the one session
    refused = factory.buildProtocol(_client(40001))
    transport = StringTransport()
    refused.makeConnection(transport)
    assert transport.disconnecting or transport.disconnected  # closed at once
    assert [(r.count, r.client_port) for r in reports] == [(1, 40001)]
    for port in (40002, 40003, 40004):
        factory.buildProtocol(_client(port))
    reactor.advance(REFUSED_REPORT_INTERVAL * 0.9)
    assert len(reports) == 1
    reactor.advance(REFUSED_REPORT_INTERVAL * 0.2)
    assert [(r.count, r.client_port) for r in reports[1:]] == [(3, 40004)]
    reactor.advance(REFUSED_REPORT_INTERVAL * 10)
    assert len(reports) == 2  # nothing more to say
    factory.buildProtocol(_client(40005))  # more than a second later: at once again
    factory.buildProtocol(_client(40006))
    factory.close_all()
    assert [(r.count, r.client_port) for r in reports[2:]] == [(1, 40005), (1, 40006)]
    assert factory.refused == 6
    last = reports[-1]
    assert (last.url, last.limit, last.client_address) == ("https://127.0.0.1:8443", 1, "127.0.0.1")
    assert last.finding().id == "listener_connection_limit"


def test_refused_connections_on_stdout_and_in_server_jsonl(
    files: PartnerFiles, tmp_path: Path
) -> None:
    """``tlsdiag listen --max-connections 1``: with one connection open, further ones are
    refused and reported on standard output and in server.jsonl with the finding id."""
    with listening("https", files, tmp_path, ["--max-connections", "1"]) as running:
        held = socket.create_connection(("127.0.0.1", running.port), timeout=10)
        extra = [_connect(running.port)]
        try:
            counted: list[dict[str, Any]] = [running.report()]
            extra += [_connect(running.port)]
            while sum(r["refused"] for r in counted) < 2:
                counted.append(running.report())
            ports = [client_port for _sock, client_port in extra]
        finally:
            for sock in [held, *(sock for sock, _port in extra)]:
                sock.close()
    # After the stop: the listener writes server.jsonl after standard output.
    events = [e for e in running.log_lines() if e["event.action"] == "tls-listen-refused"]
    assert counted[0]["refused"] == 1
    assert all(r["max_connections"] == 1 for r in counted)
    assert {r["findings"][0]["id"] for r in counted} == {"listener_connection_limit"}
    assert counted[-1]["client"]["port"] == ports[-1]
    assert [e["tlsdiag"]["refused"] for e in events] == [r["refused"] for r in counted]
    first = events[0]
    assert first["event.code"] == "listener_connection_limit"
    assert first["event.outcome"] == "failure"
    assert first["log.level"] == "warning"
    assert first["url.full"] == f"https://127.0.0.1:{running.port}"
    assert first["client.address"] == "127.0.0.1"
    assert first["client.port"] == ports[0]
