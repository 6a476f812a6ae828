"""Hostile servers on loopback: every one is classified in time, nothing escapes, no fd leaks.

Each server below misbehaves on purpose on 127.0.0.1 (plain sockets and threads,
:mod:`tests.support.hostile`; TLS from Python's ``ssl`` with certificates made at test time
by :mod:`tests.support.crafted`).  ``tlsdiag probe --format json --timeout T`` runs against
each in a subprocess and must answer within T + 1 s (plus the interpreter's start) with a
sensible status and primary finding, and nothing on stderr that looks like a traceback.
Then one process probes the whole suite 1,000 times with :func:`diagnostics.probe_many`
under the real reactor and counts its open file descriptors before and after.
"""

from __future__ import annotations

import json
import random
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from cryptography.hazmat.primitives import serialization

from diagnostics.pki.throwaway_ca import Issued
from tests.support import crafted, pki
from tests.support.alive import run_script
from tests.support.hostile import Handler, Lines, LoopbackServer, drain
from tests.support.servers import REPO

T = 3.0
"""The probe timeout used against every server (seconds)."""
START_MARGIN = 3.0
"""What an interpreter start and the imports may add to the subprocess's wall time."""
NAT_ADDRESS = "203.0.113.7"
"""The address the PASV server names (TEST-NET-3): it must never be connected to."""
DRIP_BYTES = b"\x16\x03\x03\x40\x00" + bytes(64)
"""Sent one byte a second: a TLS record header announcing 16 KiB, then zeros."""


# -- the servers ---------------------------------------------------------------------------


def silent(conn: socket.socket, stopping: threading.Event) -> None:
    """Accepts and never answers."""
    drain(conn)


def random_bytes(conn: socket.socket, stopping: threading.Event) -> None:
    """Answers the ClientHello with 64 KiB of (seeded) random bytes that are not TLS."""
    conn.recv(65536)
    noise = bytearray(random.Random(13).randbytes(65536))
    noise[0] = 0x8F  # never a TLS content type
    conn.sendall(bytes(noise))
    drain(conn)


def plain_http(conn: socket.socket, stopping: threading.Event) -> None:
    """A web server without TLS: a 400 response to whatever arrives."""
    conn.recv(65536)
    conn.sendall(
        b"HTTP/1.1 400 Bad Request\r\nServer: hostile\r\nContent-Length: 0\r\n"
        b"Connection: close\r\n\r\n"
    )


def one_byte_a_second(conn: socket.socket, stopping: threading.Event) -> None:
    """After the ClientHello, a TLS record that arrives one byte a second."""
    conn.recv(65536)
    for byte in DRIP_BYTES:
        # The pacing is the server's behaviour; the wait ends early when the test stops.
        if stopping.wait(1.0):
            return
        conn.sendall(bytes([byte]))


def reset_after_client_hello(conn: socket.socket, stopping: threading.Event) -> None:
    """Reads the ClientHello and resets the connection (RST, not FIN)."""
    conn.recv(65536)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()


def close_after_server_hello(conn: socket.socket, stopping: threading.Event) -> None:
    """Reads the ClientHello, sends the start of a ServerHello, and closes."""
    conn.recv(65536)
    hello = b"\x16\x03\x03\x00\x7a" + b"\x02\x00\x00\x76\x03\x03" + bytes(range(32))
    conn.sendall(hello)


def tls_server(context: ssl.SSLContext) -> Handler:
    """A TLS server for ``context``: handshake, then read until the client leaves."""

    def serve(conn: socket.socket, stopping: threading.Event) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            drain(tls)

    return serve


def endless_greeting(conn: socket.socket, stopping: threading.Event) -> None:
    """An FTP greeting that never ends: ``220-`` lines until the client hangs up."""
    line = b"220-" + b"welcome " * 8 + b"\r\n"
    while not stopping.is_set():
        conn.sendall(line * 64)


def megabyte_line(conn: socket.socket, stopping: threading.Event) -> None:
    """One reply line of a megabyte."""
    conn.sendall(b"220 " + b"A" * 2**20 + b"\r\n")
    drain(conn)


def invalid_reply_code(conn: socket.socket, stopping: threading.Event) -> None:
    """A greeting whose code is not three digits."""
    conn.sendall(b"2x0 Service ready\r\n")
    drain(conn)


@attrs.define
class DataView:
    """The FTPS server's view of its data connections: who connected, to which port."""

    accepted: list[tuple[str, int]] = attrs.Factory(list)
    ports: list[int] = attrs.Factory(list)


def ftps_server(context: ssl.SSLContext, *, data: str, view: DataView) -> Handler:
    """Explicit FTPS: AUTH TLS, any login, PROT P only.  ``PASV`` names NAT_ADDRESS.

    ``data="ok"``: each passive command opens a loopback listener whose connection gets
    the listing over TLS.  ``data="never"``: the port named has nothing listening.
    """

    def passive_port() -> socket.socket | int:
        listener = socket.create_server(("127.0.0.1", 0))
        port: int = listener.getsockname()[1]
        view.ports.append(port)
        if data == "never":
            listener.close()  # the data connection will never open
            return port
        listener.settimeout(10)
        return listener

    def serve(conn: socket.socket, stopping: threading.Event) -> None:
        io = Lines(conn)
        io.send("220 hostile FTPS ready")
        protected = False
        listener: socket.socket | None = None
        while (line := io.readline()) is not None:
            verb, _, argument = line.partition(" ")
            verb = verb.upper()
            if verb == "AUTH":
                io.send("234 AUTH TLS accepted")
                io.start_tls(context)
                protected = True
            elif verb == "QUIT":
                io.send("221 Goodbye")
                return
            elif not protected:
                io.send("530 Use AUTH TLS first")
            elif verb == "USER":
                io.send("331 Password")
            elif verb == "PASS":
                io.send("230 Logged in")
            elif verb in ("PBSZ", "TYPE"):
                io.send("200 OK")
            elif verb == "PROT":
                io.send("200 OK" if argument.strip().upper() == "P" else "534 PROT P only")
            elif verb in ("PASV", "EPSV"):
                opened = passive_port()
                port = opened if isinstance(opened, int) else opened.getsockname()[1]
                listener = None if isinstance(opened, int) else opened
                if verb == "PASV":
                    numbers = NAT_ADDRESS.replace(".", ",") + f",{port // 256},{port % 256}"
                    io.send(f"227 Entering Passive Mode ({numbers})")
                else:
                    io.send(f"229 Entering Extended Passive Mode (|||{port}|)")
            elif verb == "LIST" and listener is not None:
                io.send("150 Here comes the listing")
                with listener:
                    raw, peer = listener.accept()
                view.accepted.append(peer)
                listener = None
                with context.wrap_socket(raw, server_side=True) as channel:
                    channel.sendall(b"-rw-r--r-- 1 ftp ftp 0 Jan 1 00:00 hostile.txt\r\n")
                io.send("226 Transfer complete")
            else:
                io.send("502 Not implemented")

    return serve


# -- the suite -------------------------------------------------------------------------------


@attrs.frozen
class Case:
    """One hostile server and what a sensible verdict on it looks like."""

    name: str
    scheme: str
    port: int
    accepted: Callable[[dict[str, Any]], bool]
    """True when the JSON result classifies the server sensibly."""

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"


@attrs.frozen
class Suite:
    cases: tuple[Case, ...]
    ca_file: Path
    pasv: DataView
    never: DataView

    def case(self, name: str) -> Case:
        return next(c for c in self.cases if c.name == name)


def _context(directory: Path, name: str, chain: list[bytes], key: Any) -> ssl.SSLContext:
    cert_file, key_file = directory / f"{name}.pem", directory / f"{name}.key"
    cert_file.write_bytes(b"".join(chain))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


def _pem(issued: Issued) -> bytes:
    return pki.pem([issued.cert])


def _der_pem(der: bytes) -> bytes:
    return ssl.DER_cert_to_PEM_cert(der).encode("ascii")


def _failed(phase: str, *kinds: str) -> Callable[[dict[str, Any]], bool]:
    return lambda r: (
        r["status"] == "failed" and r["failed_phase"] == phase and (r["error"]["kind"] in kinds)
    )


def _finding(*ids: str) -> Callable[[dict[str, Any]], bool]:
    return lambda r: bool(r["findings"]) and r["findings"][0]["id"] in ids


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    directory = tmp_path_factory.mktemp("hostile")
    root = pki.make_ca("Hostile Root CA")
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(_pem(root))
    good = pki.issue(root, sans=crafted.SANS)
    deep = crafted.long_chain(root, 50)
    negative, negative_base = crafted.negative_serial(root)
    subject, subject_base = crafted.invalid_utf8_name(root, "subject")
    san, san_base = crafted.invalid_utf8_name(root, "san")
    bad_sans = crafted.malformed_sans(root)
    many = crafted.many_sans(root, 10_000)
    contexts = {
        "10000-sans": _context(directory, "many", [_pem(many)], many.key),
        "50-chain": _context(directory, "deep", [_pem(i) for i in deep], deep[0].key),
        "malformed-san": _context(directory, "malformed", [_pem(bad_sans)], bad_sans.key),
        "negative-serial": _context(directory, "neg", [_der_pem(negative)], negative_base.key),
        "utf8-subject": _context(directory, "subject", [_der_pem(subject)], subject_base.key),
        "utf8-san": _context(directory, "san", [_der_pem(san)], san_base.key),
    }
    ftps_context = _context(directory, "ftps", [_pem(good)], good.key)
    pasv, never = DataView(), DataView()
    handshake = _failed("handshake", "tls_error", "connection_closed", "connection_reset")
    malformed = _finding("malformed_certificate")
    plan: list[tuple[str, str, Handler, Callable[[dict[str, Any]], bool]]] = [
        ("silent", "tls", silent, _failed("handshake", "timeout")),
        ("random-bytes", "tls", random_bytes, _failed("handshake", "tls_error")),
        ("plain-http", "https", plain_http, _finding("plain_http_on_tls_port", "not_tls")),
        ("one-byte-a-second", "tls", one_byte_a_second, _failed("handshake", "timeout")),
        ("reset-after-hello", "tls", reset_after_client_hello, handshake),
        ("close-after-server-hello", "tls", close_after_server_hello, handshake),
        (
            "10000-sans",
            "tls",
            tls_server(contexts["10000-sans"]),
            _finding("excessive_message_size"),
        ),
        (
            "50-chain",
            "tls",
            tls_server(contexts["50-chain"]),
            lambda r: r["status"] == "ok" and len(r["verified_chain"]) == 51,
        ),
        ("malformed-san", "tls", tls_server(contexts["malformed-san"]), malformed),
        (
            "negative-serial",
            "tls",
            tls_server(contexts["negative-serial"]),
            # OpenSSL reads it: verified (no error), the serial shown, and named as
            # breaking RFC 5280 (a warning).
            lambda r: (
                r["status"] == "problems"
                and not r["verify_errors"]
                and r["served_chain"][0]["serial"].startswith("-")
                and r["findings"][0]["id"] == "serial_not_positive"
                and r["findings"][0]["side"] == "server"
            ),
        ),
        ("utf8-subject", "tls", tls_server(contexts["utf8-subject"]), malformed),
        ("utf8-san", "tls", tls_server(contexts["utf8-san"]), malformed),
        ("endless-greeting", "ftpes", endless_greeting, _failed("starttls", "ftp_protocol")),
        ("megabyte-line", "ftpes", megabyte_line, _failed("starttls", "ftp_protocol")),
        ("invalid-code", "ftpes", invalid_reply_code, _failed("starttls", "ftp_protocol")),
        (
            "pasv-nat",
            "ftpes",
            ftps_server(ftps_context, data="ok", view=pasv),
            lambda r: "ftps_pasv_address" in [f["id"] for f in r["findings"]],
        ),
        (
            "data-never-opens",
            "ftpes",
            ftps_server(ftps_context, data="never", view=never),
            _failed("application", "ftp_data_channel"),
        ),
    ]
    servers = [LoopbackServer(handler, name) for name, _, handler, _ in plan]
    cases = tuple(
        Case(name, scheme, server.port, accepted)
        for (name, scheme, _, accepted), server in zip(plan, servers, strict=True)
    )
    try:
        yield Suite(cases, ca_file, pasv, never)
    finally:
        for server in servers:
            server.stop()


def _probe(suite: Suite, case: Case) -> tuple[dict[str, Any], float, str]:
    """``tlsdiag probe`` in a subprocess: the JSON result, the wall time, stderr."""
    command = [sys.executable, "-m", "diagnostics", "probe", case.url]
    command += ["--ca", str(suite.ca_file), "--format", "json", "--timeout", str(T)]
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, capture_output=True, timeout=T + 30, check=False)
    wall = time.monotonic() - started
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode in (0, 1, 3), (case.name, done.returncode, stderr)
    result: dict[str, Any] = json.loads(done.stdout)
    return result, wall, stderr


NAMES = [
    "silent",
    "random-bytes",
    "plain-http",
    "one-byte-a-second",
    "reset-after-hello",
    "close-after-server-hello",
    "10000-sans",
    "50-chain",
    "malformed-san",
    "negative-serial",
    "utf8-subject",
    "utf8-san",
    "endless-greeting",
    "megabyte-line",
    "invalid-code",
    "pasv-nat",
    "data-never-opens",
]


@pytest.mark.parametrize("name", NAMES)
def test_hostile_server_is_classified_in_time(suite: Suite, name: str) -> None:
    """The probe ends within T + 1 s with a sensible verdict; no traceback, no internal error."""
    case = suite.case(name)
    result, wall, stderr = _probe(suite, case)
    assert "Traceback" not in stderr, stderr
    assert "Warning" not in stderr, stderr  # a peer's data never prints library warnings
    primary = result["findings"][0] if result["findings"] else None
    summary = (result["status"], result["failed_phase"], result["error"], primary)
    assert case.accepted(result), summary
    assert primary is None or primary["id"] != "internal_error", summary
    assert result["timings"]["total_s"] <= T + 1, summary
    assert wall <= T + 1 + START_MARGIN, (wall, summary)


def test_pasv_address_is_reported_and_never_used(suite: Suite) -> None:
    """PASV names 203.0.113.7: the finding names it, and every data connection the server
    saw came from loopback to its loopback port (the named address was never tried)."""
    suite.pasv.accepted.clear()
    suite.pasv.ports.clear()
    result, _, _ = _probe(suite, suite.case("pasv-nat"))
    ftp = result["ftp"]
    assert (ftp["pasv_address"], ftp["pasv_address_differs"]) == (NAT_ADDRESS, True)
    assert ftp["data_channel"]["ok"] is True, ftp["data_channel"]
    finding = next(f for f in result["findings"] if f["id"] == "ftps_pasv_address")
    assert NAT_ADDRESS in finding["summary"]
    assert suite.pasv.accepted, "no data connection reached the server"
    assert {host for host, _ in suite.pasv.accepted} == {"127.0.0.1"}
    # Every data connection went to a port the server opened on loopback, and only as
    # many as the passive commands the server answered.
    assert len(suite.pasv.accepted) <= len(suite.pasv.ports)


_FD_SCRIPT = """
import collections, gc, json, os, sys
from twisted.internet import reactor, task
import diagnostics
from tests.support.alive import run_under_reactor, track_client_connections

made = track_client_connections()

urls, ca, count = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
options = diagnostics.ProbeOptions(
    trust=diagnostics.TrustConfig(ca_files=(ca,)), timeout=float(sys.argv[4])
)
targets = [diagnostics.parse_target(url) for url in urls]

def fds():
    return len(os.listdir("/proc/self/fd"))

async def main():
    await diagnostics.probe_many(reactor, targets, options)  # warm-up: caches, resolver
    before = fds()
    batch = [targets[i % len(targets)] for i in range(count)]
    results = await diagnostics.probe_many(reactor, batch, options, concurrency=50)
    # Closing transports finish on the next reactor turns: poll, bounded.  What a failed
    # handshake left in a cycle of Twisted's goes with a collection, or leaks.
    for _ in range(100):
        gc.collect()
        if fds() <= before and not made:
            break
        await task.deferLater(reactor, 0.05, lambda: None)
    statuses = collections.Counter(r.status.value for r in results)
    internal = sum(1 for r in results if r.findings and r.findings[0].id == "internal_error")
    print(json.dumps({"before": before, "after": fds(), "count": len(results),
                      "statuses": statuses, "internal": internal, "tls_alive": len(made)}))

run_under_reactor(main)
"""

FD_SLACK = 8
"""Descriptors a long-running process may legitimately hold more at the end (a cache)."""


def test_no_descriptor_growth_after_a_thousand_probes(suite: Suite, tmp_path: Path) -> None:
    """1,000 probes of the whole suite in one process (probe_many, real reactor): the open
    descriptors after are those before, within a small constant slack, and no TLS
    connection of theirs is still alive."""
    urls = [case.url for case in suite.cases]
    script = tmp_path / "fds.py"
    report = run_script(_FD_SCRIPT, script, json.dumps(urls), str(suite.ca_file), "1000", "2.0")
    assert report["count"] == 1000
    assert report["internal"] == 0, report
    assert report["after"] <= report["before"] + FD_SLACK, report
    assert report["tls_alive"] == 0, report  # no TLS connection outlives its probe
