"""A hostile partner client: what the listener answers it and prints holds no raw control byte.

The FTP reply framing first (pure): whatever the lines carry, a reply is its lines, each
ending in CRLF and starting with its code.  Then the real ``tlsdiag listen`` on loopback, in
its text form: an HTTPS client whose certificate CN, request path and User-Agent carry line
feeds, BEL, colour and window-title sequences and a forged ``Verify return code`` line, and an
explicit-FTPS client doing the same with its certificate and its commands.  The answers (HTTP
body, FTP replies) and the listener's standard output show the escapes; its JSON log keeps the
exact values.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import attrs
import pytest

from diagnostics.listener.ftps import reply_bytes
from tests.support import memtls, pki, servers
from tests.support.listening import Listening, start_listen

HOSTILE = "JohnD\nVerify return code: 0 (ok)\r\x07\x1b[31mred\x1b]0;title\x07\x9b"
ESCAPED = r"JohnD\0AVerify return code: 0 (ok)\0D\07\1B[31mred\1B]0;title\07\9B"
# Bytes a terminal obeys: C0 but the line ends the protocols need, DEL, and C1 in UTF-8.
RAW = re.compile(rb"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]")


def test_reply_framing_holds_whatever_the_lines_carry() -> None:
    """CR and LF inside a line cannot end it early, no line but the last starts "CODE ",
    and no control character is sent."""
    lines = [HOSTILE, "226 Transfer complete", "x\r\n226 forged", "\x00\x1b[2J\x9b"]
    data = reply_bytes(230, lines)
    assert data.endswith(b"\r\n")
    sent = data[:-2].split(b"\r\n")
    assert len(sent) == len(lines)
    assert all(line.startswith(b"230-") for line in sent[:-1])
    assert sent[-1].startswith(b"230 ")
    assert not re.search(rb"[\x00-\x1f\x7f]|\xc2[\x80-\x9f]", data[:-2].replace(b"\r\n", b""))
    assert (
        sent[0].decode()
        == "230-JohnD Verify return code: 0 (ok) \\07\\1B[31mred\\1B]0;title\\07\\9B"
    )
    assert sent[-1] == rb"230 \00\1B[2J\9B"


# -- the real listener --------------------------------------------------------------------


@attrs.frozen
class Setup:
    """The listener's files and a partner client certificate with the hostile CN."""

    server: servers.PKIFiles
    client_ca: Path
    client: tuple[str, str]  # (certificate, key) files


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    directory = tmp_path_factory.mktemp("hostile")
    root = pki.make_ca("Partner Root CA")
    client = pki.issue(root, HOSTILE, sans=(), ekus=(pki.CLIENT_AUTH,))
    return Setup(
        server=servers.write_pki(directory / "server"),
        client_ca=Path(memtls.write_pem(directory / "client_ca.pem", [root.cert])),
        client=(
            memtls.write_pem(directory / "client.pem", [client.cert]),
            memtls.write_key(directory / "client.key", client.key),
        ),
    )


@pytest.fixture
def listener(request: pytest.FixtureRequest, setup: Setup, tmp_path: Path) -> Iterator[Listening]:
    """``tlsdiag listen SCHEME://127.0.0.1:PORT --format text`` expecting the account JohnD."""
    port = servers.free_port()
    command = ["listen", f"{request.param}://127.0.0.1:{port}", "--format", "text"]
    command += ["--cert", str(setup.server.served), "--key", str(setup.server.key)]
    command += ["--client-ca", str(setup.client_ca), "--expect-cn", "JohnD"]
    command += ["--log-dir", str(tmp_path / "logs")]
    running = start_listen(command, port, tmp_path / "logs")
    try:
        yield running
    finally:
        running.stop()


def _client_context(setup: Setup) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(setup.server.root))
    context.load_cert_chain(*setup.client)
    return context


def _stopped_output(listener: Listening) -> bytes:
    """Everything the listener printed, read after a clean stop."""
    assert listener.stop() == 0
    assert listener.stdout is not None
    return listener.stdout.read()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _logged_strings(listener: Listening) -> list[str]:
    """Every string value of every JSON event the listener logged."""
    found: list[str] = []
    for path in sorted(listener.log_dir.glob("*.jsonl")):
        for line in path.read_text("utf-8").splitlines():
            found.extend(_strings(json.loads(line)))
    return found


def _assert_printable(data: bytes) -> None:
    assert RAW.search(data) is None, data


@pytest.mark.parametrize("listener", ["https"], indirect=True)
def test_https_answer_and_output_are_escaped(listener: Listening, setup: Setup) -> None:
    """Client certificate CN, request path and User-Agent with control characters: the 403
    body and the printed report show them escaped; the JSON log has them exact."""
    path = "/p\x1b[31m\x07ath"
    agent = "ua\x1b]0;title\x07\x00end"
    raw = socket.create_connection(("127.0.0.1", listener.port), timeout=15)
    with raw, _client_context(setup).wrap_socket(raw, server_hostname="localhost") as tls:
        request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: {agent}\r\n\r\n"
        tls.sendall(request.encode("latin-1"))
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403 Forbidden")
    _assert_printable(body.replace(b"\n", b""))
    text = body.decode()
    assert r"GET /p\1B[31m\07ath HTTP/1.1  user-agent=ua\1B]0;title\07\00end" in text
    assert ESCAPED in text
    assert not any(line.startswith("Verify return code") for line in text.split("\n"))
    printed = _stopped_output(listener)
    _assert_printable(printed.replace(b"\n", b""))
    assert ESCAPED.encode() in printed
    logged = _logged_strings(listener)
    assert agent in logged and path in logged


def _read_reply(stream: BinaryIO) -> bytes:
    """One whole FTP reply, as sent (up to and including its last line)."""
    reply = b""
    while True:
        line = stream.readline()
        assert line, "the listener closed the control connection"
        reply += line
        if re.match(rb"\d{3} ", line):
            return reply


def _command(sock: Any, stream: BinaryIO, line: str) -> bytes:
    sock.sendall(line.encode("latin-1") + b"\r\n")
    return _read_reply(stream)


@pytest.mark.parametrize("listener", ["ftpes"], indirect=True)
def test_ftp_replies_and_output_are_escaped(listener: Listening, setup: Setup) -> None:
    """Commands with control characters are echoed escaped; after AUTH TLS with the hostile
    certificate, the 230 reply's verdict lines quote its CN escaped, in intact framing."""
    raw = socket.create_connection(("127.0.0.1", listener.port), timeout=15)
    with raw:
        plain = raw.makefile("rb")
        assert _read_reply(plain).startswith(b"220-")
        refused = _command(raw, plain, "AUTH \x1b]0;title\x07")
        assert refused == b"504 AUTH \\1B]0;title\\07 is not supported; use AUTH TLS.\r\n"
        assert _command(raw, plain, "AUTH TLS").startswith(b"234 ")
        with _client_context(setup).wrap_socket(raw, server_hostname="localhost") as tls:
            stream = tls.makefile("rb")
            unknown = _command(tls, stream, "X\x1b[2JY")
            assert unknown == b"502 X\\1B[2JY is not implemented by tlsdiag listen.\r\n"
            assert _command(tls, stream, "USER JohnD").startswith(b"331 ")
            logged_in = _command(tls, stream, "PASS secret")
            _command(tls, stream, "QUIT")
    lines = logged_in[:-2].split(b"\r\n")
    assert all(line.startswith(b"230-") for line in lines[:-1]) and lines[-1].startswith(b"230 ")
    _assert_printable(logged_in.replace(b"\r\n", b""))
    assert ESCAPED.encode() in logged_in
    printed = _stopped_output(listener)
    _assert_printable(printed.replace(b"\n", b""))
    assert ESCAPED.encode() in printed
    assert any(HOSTILE in value for value in _logged_strings(listener))
