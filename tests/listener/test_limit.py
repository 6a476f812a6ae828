"""A listener's connection limits: per address, in all, what is dropped and what is refused.

On a memory reactor with real TLS handshakes (pyOpenSSL clients over memory BIOs): at
``max_per_address`` or ``max_connections`` a newcomer drops the oldest connection still in
its handshake (of that address, or of the whole listener); a connection past its handshake
is never dropped; without one to drop the newcomer is refused.  Refusals and drops are
reported by reason, at most once a second.  Then the open-file limit (raised and fitted,
with fake ``getrlimit``/``setrlimit``), the options of ``tlsdiag listen`` and the keys of a
``[[listener]]``, and the real ``tlsdiag listen`` saying its limits and reporting refusals.
"""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
from OpenSSL import SSL
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from diagnostics.cli.main import build_parser
from diagnostics.daemon.config import load_config
from diagnostics.listener.refusals import Refusal, RefusedConnections
from diagnostics.listener.service import (
    REFUSED_REPORT_INTERVAL,
    RESERVED_FILES,
    ListenerFactory,
    OpenFiles,
    fit_limits,
    raise_open_files,
)
from diagnostics.listener.session import Limits, ListenerOptions, load_material
from diagnostics.model.result import ProbeResult
from diagnostics.render.session import PLAIN_TEXT_REPORTS
from tests.support import pki
from tests.support.daemon import daemon_config, run_service
from tests.support.listening import PartnerFiles, listening, write_partner
from tests.support.processes import read_lines

URL = "https://127.0.0.1:8443"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> PartnerFiles:
    """The listener's certificate and key (the partner's certificates are not used)."""
    return write_partner(tmp_path_factory.mktemp("limit"))


class Bench:
    """A listener factory on a memory reactor, with the sessions and refusals it reported."""

    def __init__(self, files: PartnerFiles, url: str = URL, **limits: Any) -> None:
        options = ListenerOptions(
            url=url,
            cert_file=str(files.server.served),
            key_file=str(files.server.key),
            limits=Limits(**limits),
        )
        self.reactor = MemoryReactorClock()  # type: ignore[no-untyped-call]
        self.sessions: list[ProbeResult] = []
        self.reports: list[RefusedConnections] = []
        self.factory = ListenerFactory(
            self.reactor,
            load_material(options),
            self.sessions.append,
            self.reports.append,
            reports=PLAIN_TEXT_REPORTS,
        )

    def connect(self, port: int, host: str = "127.0.0.1") -> Connection:
        """A TCP connection from ``host:port`` that has sent nothing yet."""
        addr = IPv4Address("TCP", host, port)
        protocol = self.factory.buildProtocol(addr)
        transport = StringTransport(peerAddress=addr)
        protocol.makeConnection(transport)
        return Connection(self, protocol, transport)

    def secured(self, port: int, host: str = "127.0.0.1") -> Connection:
        """A connection from ``host:port`` whose TLS handshake has completed."""
        connection = self.connect(port, host)
        connection.handshake()
        return connection

    def reasons(self) -> dict[str, int]:
        """The refusals reported so far, added up by reason."""
        total = {reason.value: 0 for reason in Refusal}
        for report in self.reports:
            for reason, count in report.reasons().items():
                total[reason] += count
        return total


class Connection:
    """One client connection of a :class:`Bench`."""

    def __init__(self, bench: Bench, protocol: Any, transport: StringTransport) -> None:
        self.bench = bench
        self.protocol = protocol
        self.transport = transport

    @property
    def closed(self) -> bool:
        """The listener closed (or aborted) the connection."""
        return bool(self.transport.disconnecting or self.transport.disconnected)

    def handshake(self, *, drip: bool = False) -> None:
        """Complete a real TLS handshake with the listener (no client certificate); with
        ``drip`` the client's bytes arrive one at a time."""
        client = SSL.Connection(SSL.Context(SSL.TLS_CLIENT_METHOD), None)
        client.set_connect_state()
        done = False
        for _ in range(10):
            with contextlib.suppress(SSL.WantReadError):
                client.do_handshake()
                done = True
            try:
                out = client.bio_read(65536)
            except SSL.WantReadError:
                out = b""
            for chunk in [out[n : n + 1] for n in range(len(out))] if drip else [out]:
                if chunk:
                    self.protocol.dataReceived(chunk)
            self.bench.reactor.advance(0)  # the TLS layer flushes its writes on the clock
            back = self.transport.value()
            self.transport.clear()
            if back:
                client.bio_write(back)
            if done and not out and not back:
                break
        assert done and not self.closed, "the handshake did not complete"

    def lose(self) -> None:
        """The TCP connection is gone (what the reactor says after a close or an abort)."""
        self.protocol.connectionLost(Failure(ConnectionDone()))


def test_the_oldest_connection_in_its_handshake_makes_room_at_the_limit(
    files: PartnerFiles,
) -> None:
    """At max_connections a newcomer drops the oldest connection still in its handshake,
    never one past it; the dropped one is counted as evicted, reported with its own address,
    and makes no session report when its close arrives."""
    bench = Bench(files, max_connections=3)
    done = bench.secured(40000, "127.0.0.9")  # the oldest of all, past its handshake
    first = bench.connect(40001, "127.0.0.2")
    second = bench.connect(40002, "127.0.0.3")
    newcomer = bench.connect(40003, "127.0.0.4")
    assert first.closed and not second.closed and not newcomer.closed and not done.closed
    assert [(r.evicted, r.client_address, r.client_port) for r in bench.reports] == [
        (1, "127.0.0.2", 40001)
    ]
    first.lose()
    assert bench.sessions == []  # a dropped connection is a refusal, not a session
    assert len(bench.factory.sessions) == 3
    later = bench.connect(40004, "127.0.0.5")
    assert second.closed and not newcomer.closed and not later.closed and not done.closed
    assert bench.factory.refusals == {Refusal.EVICTED: 2}


def test_connections_past_their_handshake_are_never_dropped(files: PartnerFiles) -> None:
    """When every open connection has finished its handshake a newcomer is refused at once
    (reason max_connections), and the open ones keep their connection."""
    bench = Bench(files, max_connections=2)
    held = [bench.secured(40000), bench.secured(40001, "127.0.0.2")]
    refused = bench.connect(40002, "127.0.0.3")
    assert refused.closed and not any(c.closed for c in held)
    assert bench.reasons() == {"max_connections": 1, "max_per_address": 0, "evicted": 0}
    refused.lose()
    held[0].lose()  # one ends: a new connection gets its place
    assert not bench.connect(40003, "127.0.0.3").closed
    assert [r.client.port for r in bench.sessions if r.client] == [40000]  # the one that ended


def test_the_per_address_cap_drops_that_address_oldest_or_refuses(files: PartnerFiles) -> None:
    """At max_per_address a newcomer drops the oldest connection in its handshake of its
    own address (not an older one of another address); when all of that address's
    connections are past their handshake it is refused (reason max_per_address), while
    other addresses still get in."""
    bench = Bench(files, max_connections=100, max_per_address=2)
    other = bench.connect(40000, "127.0.0.2")  # older than every 127.0.0.1 connection
    pending = [bench.connect(40001), bench.connect(40002)]
    newcomer = bench.connect(40003)
    assert pending[0].closed and not pending[1].closed and not other.closed
    assert bench.reasons() == {"max_connections": 0, "max_per_address": 0, "evicted": 1}
    pending[1].handshake()
    newcomer.handshake()
    refused = bench.connect(40004)
    assert refused.closed and not pending[1].closed and not newcomer.closed
    assert not bench.connect(40005, "127.0.0.3").closed
    bench.reactor.advance(REFUSED_REPORT_INTERVAL)
    assert bench.reasons() == {"max_connections": 0, "max_per_address": 1, "evicted": 1}
    report = bench.reports[-1]
    assert (report.max_per_address, report.client_port) == (2, 40004)
    assert "127.0.0.1:40004" in report.finding().summary


def test_refusals_are_reported_at_most_once_a_second(files: PartnerFiles) -> None:
    """The first refusal is reported at once; those within the next second make one report
    with their count and the last client; a stop reports what is still unreported."""
    bench = Bench(files, max_connections=1)
    bench.secured(40000)  # the one session
    refused = bench.connect(40001)
    assert refused.closed  # closed at once
    assert [(r.count, r.client_port) for r in bench.reports] == [(1, 40001)]
    for port in (40002, 40003, 40004):
        bench.connect(port)
    bench.reactor.advance(REFUSED_REPORT_INTERVAL * 0.9)
    assert len(bench.reports) == 1
    bench.reactor.advance(REFUSED_REPORT_INTERVAL * 0.2)
    assert [(r.count, r.client_port) for r in bench.reports[1:]] == [(3, 40004)]
    bench.reactor.advance(REFUSED_REPORT_INTERVAL * 10)
    assert len(bench.reports) == 2  # nothing more to say
    bench.connect(40005)  # more than a second later: at once again
    bench.connect(40006)
    bench.factory.close_all()
    assert [(r.count, r.client_port) for r in bench.reports[2:]] == [(1, 40005), (1, 40006)]
    assert bench.factory.refused == 6
    last = bench.reports[-1]
    assert (last.url, last.limit, last.client_address) == (URL, 1, "127.0.0.1")
    assert last.finding().id == "listener_connection_limit"


def test_a_report_carries_every_reason() -> None:
    """One report of refusals for all three reasons: their counts in the JSON form and each
    named in the summary, the bounds with them."""
    report = RefusedConnections(
        URL, 6, 1000, "127.0.0.7", 50000, max_per_address=20, per_address=2, evicted=3
    )
    form = report.to_json()
    assert form["reasons"] == {"max_connections": 1, "max_per_address": 2, "evicted": 3}
    assert (form["refused"], form["max_connections"], form["max_per_address"]) == (6, 1000, 20)
    summary = report.finding().summary
    assert summary.startswith(f"6 connections were refused or dropped at {URL}: ")
    assert "1 refused because 1000 connections were already open" in summary
    assert "2 refused because their address already had 20 connections open" in summary
    assert "3 dropped before finishing the TLS handshake" in summary
    assert summary.endswith("(the last: 127.0.0.7:50000).")
    assert report.render().startswith("REFUSED 6 connections")
    dropped = RefusedConnections(URL, 1, 1000, evicted=1).finding().summary
    assert dropped.startswith("1 connection was dropped at ")


# -- the bytes held before the handshake ----------------------------------------------------


def _hello_head(record: int, announced: int) -> bytes:
    """A TLS record header and a ClientHello's handshake header."""
    return b"\x16\x03\x01" + record.to_bytes(2, "big") + b"\x01" + announced.to_bytes(3, "big")


def test_a_clienthello_announcing_more_than_the_limit_is_refused(files: PartnerFiles) -> None:
    """OpenSSL allocates what a ClientHello's header announces (up to 128 KiB): one that
    announces more than max_hello_bytes is closed as soon as its 9 header bytes are in, even
    dripped one at a time, and reported as an excessive message; so is a first record too
    short to hold the header.  Nothing before the 9th byte reaches OpenSSL."""
    bench = Bench(files, max_hello_bytes=4096)
    head = _hello_head(16384, 4097)
    dripping = bench.connect(40000)
    for byte in head[:-1]:
        dripping.protocol.dataReceived(bytes([byte]))
    assert not dripping.closed
    assert dripping.protocol.inner is None
    dripping.protocol.dataReceived(head[-1:] + bytes(100))
    assert dripping.closed
    dripping.lose()
    short = bench.connect(40001)
    short.protocol.dataReceived(b"\x16\x03\x01\x00\x02\x01\x00" + _hello_head(16384, 100))
    assert short.closed
    short.lose()
    refused, too_short = bench.sessions
    assert refused.failure is not None and too_short.failure is not None
    assert refused.failure.message == (
        "the client's ClientHello announces 4097 bytes; the listener takes at most 4096"
    )
    assert "first TLS record holds 2 bytes" in too_short.failure.message
    assert refused.findings[0].id == too_short.findings[0].id == "excessive_message_size"
    fits = bench.connect(40002)
    fits.protocol.dataReceived(_hello_head(16384, 4096))
    assert not fits.closed and fits.protocol.inner is not None


def test_a_clienthello_dripped_a_byte_at_a_time_still_completes(files: PartnerFiles) -> None:
    """A real client whose bytes arrive one at a time finishes its handshake: the gate's
    holding of the first 9 bytes loses nothing."""
    bench = Bench(files)
    connection = bench.connect(40000)
    connection.handshake(drip=True)
    assert not bench.factory.pending and len(bench.factory.sessions) == 1


# -- the open-file limit --------------------------------------------------------------------


class FakeLimits:
    """``getrlimit``/``setrlimit`` of RLIMIT_NOFILE, without touching the process."""

    def __init__(self, soft: int, hard: int, *, fails: bool = False) -> None:
        self.value = (soft, hard)
        self.fails = fails

    def get(self, which: int) -> tuple[int, int]:
        assert which == resource.RLIMIT_NOFILE
        return self.value

    def set(self, which: int, value: tuple[int, int]) -> None:
        assert which == resource.RLIMIT_NOFILE
        if self.fails or value[0] > self.value[1] >= 0:
            raise ValueError("not allowed to raise maximum limit")
        self.value = value


def test_the_open_file_limit_is_raised_to_the_hard_limit() -> None:
    """The soft limit goes up to the hard one and both are said; one that cannot be raised
    is kept, with the reason; an unlimited soft limit is left alone."""
    fake = FakeLimits(1024, 65536)
    files = raise_open_files(fake.get, fake.set)
    assert fake.value == (65536, 65536)
    assert files == OpenFiles(65536, 65536, 1024)
    assert files.describe() == "open-file limit 65536 (raised from 1024, the hard limit)"
    stuck = raise_open_files(*(lambda f: (f.get, f.set))(FakeLimits(256, 4096, fails=True)))
    assert (stuck.soft, stuck.hard, stuck.error) == (
        256,
        4096,
        "not allowed to raise maximum limit",
    )
    assert "could not be raised" in stuck.describe()
    at_hard = FakeLimits(4096, 4096)
    assert raise_open_files(at_hard.get, at_hard.set).describe() == (
        "open-file limit 4096 (the hard limit)"
    )
    unlimited = FakeLimits(resource.RLIM_INFINITY, resource.RLIM_INFINITY)
    assert raise_open_files(unlimited.get, unlimited.set).soft is None


def test_max_connections_is_lowered_to_fit_the_open_files(files: PartnerFiles) -> None:
    """An open-file limit that cannot hold max_connections lowers it (one file per HTTPS
    connection, three per FTPS session, RESERVED_FILES kept) and says so; one that can leaves
    it as asked."""

    def options(url: str) -> ListenerOptions:
        return ListenerOptions(url=url, cert_file="c", key_file="k")

    small = OpenFiles(256, 256, 256)
    https, capacity = fit_limits(options(URL), small)
    assert https.limits.max_connections == 256 - RESERVED_FILES
    assert https.limits.max_per_address == Limits().max_per_address
    assert capacity.lowered and capacity.asked == Limits().max_connections
    assert capacity.message() == (
        "open-file limit 256 (the hard limit): at most 192 connections "
        "(--max-connections 1000 lowered to fit), 20 per client address"
    )
    ftps, _ = fit_limits(options("ftps://127.0.0.1:990"), small, option="max_connections")
    assert ftps.limits.max_connections == (256 - RESERVED_FILES) // 3
    roomy, capacity = fit_limits(options(URL), OpenFiles(20000, 20000, 1024))
    assert roomy.limits.max_connections == 1000 and not capacity.lowered
    assert capacity.to_json() == {
        "open_files": {"limit": 20000, "hard": 20000, "before": 1024, "error": None},
        "max_connections": 1000,
        "max_connections_asked": 1000,
        "max_per_address": 20,
    }


# -- options, configuration keys, the real command ------------------------------------------


def test_listen_options_default_to_the_listener_limits(capsys: pytest.CaptureFixture[str]) -> None:
    """``--max-connections`` and ``--max-per-address`` default to Limits' defaults, and
    ``listen --help`` shows them."""
    parser = build_parser()
    args = parser.parse_args(["listen", URL, "--cert", "c", "--key", "k"])
    assert (args.max_connections, args.max_per_address) == (
        Limits().max_connections,
        Limits().max_per_address,
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["listen", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--max-connections N" in text and "(default: 1000)" in text
    assert "--max-per-address N" in text and "(default: 20)" in text


def test_listener_limit_keys(tmp_path: Path) -> None:
    """A [[listener]] takes max_connections and max_per_address (whole numbers ≥ 1), and
    its listener runs with them; the listener-start event says the open-file limit and the
    limits in force."""
    chain = pki.make_chain()
    (tmp_path / "listener.pem").write_bytes(pki.pem(chain.served))
    (tmp_path / "listener.key").write_bytes(pki.key_pem(chain.leaf.key))
    section = (
        '[[listener]]\nurl = "https://127.0.0.1:9441"\n'
        'cert = "listener.pem"\nkey = "listener.key"\n'
    )
    bad = daemon_config(tmp_path, section + "max_connections = 0\nmax_per_address = 'x'\n")
    with pytest.raises(ValueError) as raised:
        load_config(str(bad))
    assert "listener[0].max_connections: must be at least 1, not 0" in str(raised.value)
    assert "listener[0].max_per_address: must be a whole number" in str(raised.value)
    config_file = daemon_config(tmp_path, section + "max_connections = 50\nmax_per_address = 5\n")
    service = run_service(config_file, [pki.issue(pki.make_ca("Root"))])
    (running,) = service.listeners.values()
    limits = running.listener.factory.limits
    service.stopService()
    assert (limits.max_connections, limits.max_per_address) == (50, 5)
    (start,) = [
        e
        for e in read_lines(tmp_path / "logs" / "daemon.jsonl")
        if e["event.action"] == "listener-start"
    ]
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert start["tlsdiag"]["open_files"]["limit"] == soft
    assert (start["tlsdiag"]["max_connections"], start["tlsdiag"]["max_per_address"]) == (50, 5)
    assert "open-file limit" in start["message"] and "at most 50 connections" in start["message"]


def test_listen_says_its_limits_and_lowers_max_connections(
    files: PartnerFiles, tmp_path: Path
) -> None:
    """``tlsdiag listen`` says the open-file limit and its connection limits on standard error
    once it listens; with a hard limit of 200 files it holds fewer connections, and says so."""
    with listening("https", files, tmp_path) as running:
        pass
    assert running.capacity.startswith("open-file limit ")
    assert running.capacity.endswith(": at most 1000 connections, 20 per client address")
    with listening("https", files, tmp_path, open_files=200) as running:
        pass
    assert running.capacity == (
        f"open-file limit 200 (the hard limit): at most {200 - RESERVED_FILES} connections "
        "(--max-connections 1000 lowered to fit), 20 per client address"
    )


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


def test_refused_connections_on_stdout_and_in_server_jsonl(
    files: PartnerFiles, tmp_path: Path
) -> None:
    """``tlsdiag listen --max-connections 1``: with one connection open past its handshake,
    further ones are refused and reported on standard output and in server.jsonl with the
    finding id and the reason."""
    with listening("https", files, tmp_path, ["--max-connections", "1"]) as running:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", running.port), timeout=10)
        held = context.wrap_socket(raw)  # the handshake is done: it is never dropped
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
    assert all(r["max_connections"] == 1 and r["max_per_address"] == 20 for r in counted)
    assert sum(r["reasons"]["max_connections"] for r in counted) == 2
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
    assert json.dumps(first["tlsdiag"]["reasons"]) == json.dumps(counted[0]["reasons"])
