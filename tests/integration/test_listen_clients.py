"""``tlsdiag listen`` over HTTPS against real clients: curl, openssl s_client, Python's ssl.

Each test starts the listener on a loopback port, points a real client at it, reads the
session's JSON report, and stops the listener with SIGTERM (exit 0).
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.listening import PartnerFiles, listening, write_partner
from tests.support.servers import run_tlsdiag

CURL = shutil.which("curl")
OPENSSL = shutil.which("openssl")
needs_curl = pytest.mark.skipif(CURL is None, reason="no curl command")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="no openssl command")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> PartnerFiles:
    """Our server PKI and the partner's client certificates."""
    return write_partner(tmp_path_factory.mktemp("partner"))


def _curl(port: int, files: PartnerFiles, *extra: str, trust: bool = True) -> tuple[int, str]:
    """curl https://localhost:PORT/ → (HTTP status, body); status 0 when TLS failed."""
    assert CURL is not None
    command = [CURL, "-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "20"]
    if trust:
        command += ["--cacert", str(files.server.root)]
    done = subprocess.run(
        [*command, *extra, f"https://localhost:{port}/partner"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    body, _, status = done.stdout.rpartition("\n")
    return int(status or 0), body


def _closed(sock: socket.socket) -> bool:
    """The peer closed (or reset) the connection: nothing more will come."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _identity(pair: tuple[Path, Path]) -> list[str]:
    return ["--cert", str(pair[0]), "--key", str(pair[1])]


def _client_ca(files: PartnerFiles, *more: str) -> list[str]:
    return ["--client-ca", str(files.client_ca), *more]


@needs_curl
def test_curl_with_the_expected_certificate(files: PartnerFiles, tmp_path: Path) -> None:
    """An accepted client certificate with the expected CN: 200, the report in the body,
    a session report ok, and a server.jsonl line with the ECS client fields."""
    extra = _client_ca(files, "--expect-cn", "JohnD")
    with listening("https", files, tmp_path, extra) as listener:
        status, body = _curl(listener.port, files, *_identity(files.good))
        report = listener.report()
        events = listener.log_lines()
    assert status == 200
    assert body.startswith(f"OK client 127.0.0.1:{report['client']['port']} at https://")
    assert "client certificate 'CN = JohnD' accepted" in body
    assert (report["status"], report["findings"]) == ("ok", [])
    assert report["client"]["sni"] == "localhost"
    assert "http/1.1" in report["client"]["alpn_offered"]
    assert report["http"]["path"] == "/partner" and report["http"]["response_status"] == 200
    [event] = events
    assert event["event.action"] == "tls-listen" and event["log.logger"] == "tlsdiag.server"
    assert (event["client.address"], event["client.port"]) == (
        "127.0.0.1",
        report["client"]["port"],
    )
    assert event["tls.client.subject"] == "CN = JohnD"
    assert event["tls.client.issuer"] == "CN = Partner Root CA"
    assert event["tls.client.hash.sha256"] == report["served_chain"][0]["sha256"]
    assert event["tls.client.server_name"] == "localhost"
    assert event["tls.established"] is True and event["tls.version"] in ("1.2", "1.3")
    assert event["tlsdiag"]["status"] == "ok"


@needs_curl
@pytest.mark.parametrize(
    ("who", "finding"),
    [
        ("other", "client_certificate_rejected"),
        ("lower", "account_mismatch"),
        (None, "client_certificate_missing"),
    ],
)
def test_curl_refused_certificates(
    files: PartnerFiles, tmp_path: Path, who: str | None, finding: str
) -> None:
    """Another CA, a wrong-case CN, no certificate: 403 and the reason as primary finding
    (the case-only difference explained as such)."""
    identity = _identity(getattr(files, who)) if who else []
    with listening("https", files, tmp_path, _client_ca(files, "--expect-cn", "JohnD")) as lis:
        status, body = _curl(lis.port, files, *identity)
        report = lis.report()
    assert status == 403
    assert report["findings"][0]["id"] == finding
    assert report["findings"][0]["summary"] in body
    if who == "lower":
        assert "letter case" in report["findings"][0]["summary"]
    [event] = lis.log_lines()
    assert event["event.code"] == finding
    assert [f["id"] for f in event["tlsdiag"]["findings"]] == [f["id"] for f in report["findings"]]


@needs_curl
def test_curl_with_an_unreadable_certificate(files: PartnerFiles, tmp_path: Path) -> None:
    """curl (OpenSSL 3.0 loads and sends it) presents a client certificate with an invalid
    X.509 version: 403, malformed_certificate as the primary finding with the parser's
    message, never client_certificate_missing; server.jsonl has the same findings."""
    with listening("https", files, tmp_path, _client_ca(files, "--expect-cn", "JohnD")) as lis:
        status, body = _curl(lis.port, files, *_identity(files.unreadable))
        report = lis.report()
        [event] = lis.log_lines()
    assert status == 403
    primary = report["findings"][0]
    assert (primary["id"], primary["side"]) == ("malformed_certificate", "client")
    assert "('CN = JohnD'): 10 is not a valid X509 version" in primary["summary"]
    assert primary["summary"] in body
    ids = [f["id"] for f in report["findings"]]
    assert "client_certificate_missing" not in ids
    assert report["client_auth"]["sent"] is True and report["served_chain"] == []
    assert event["event.code"] == "malformed_certificate"
    assert event["error.message"] == primary["summary"]
    assert "tls.client.subject" not in event  # the partner's CA is not taken for its certificate
    assert [f["id"] for f in event["tlsdiag"]["findings"]] == ids


@needs_curl
def test_curl_that_refuses_our_certificate(files: PartnerFiles, tmp_path: Path) -> None:
    """curl without our CA rejects our certificate: the server side names 'unknown ca'."""
    with listening("https", files, tmp_path) as listener:
        status, _ = _curl(listener.port, files, trust=False)
        report = listener.report()
        [event] = listener.log_lines()
    assert status == 0
    assert report["status"] == "failed" and report["failed_phase"] == "handshake"
    assert "unknown ca" in report["error"]["reason"]
    assert report["findings"][0]["id"] == "server_certificate_rejected"
    assert "unknown ca" in event["error.message"] and event["tls.established"] is False


@needs_openssl
@pytest.mark.parametrize("with_cert", [True, False])
def test_openssl_s_client(files: PartnerFiles, tmp_path: Path, with_cert: bool) -> None:
    """openssl s_client with and without -cert: accepted, or client_certificate_missing."""
    assert OPENSSL is not None
    with listening("https", files, tmp_path, _client_ca(files)) as listener:
        command = [OPENSSL, "s_client", "-connect", f"127.0.0.1:{listener.port}"]
        command += ["-servername", "localhost", "-CAfile", str(files.server.root), "-quiet"]
        if with_cert:
            command += ["-cert", str(files.good[0]), "-key", str(files.good[1])]
        done = subprocess.run(
            command,
            input=b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
            capture_output=True,
            timeout=30,
        )
        report = listener.report()
    answer = done.stdout.decode(errors="replace")
    if with_cert:
        assert answer.startswith("HTTP/1.1 200 OK")
        assert report["status"] == "ok"
        assert report["client_auth"]["sent"] is True
    else:
        assert answer.startswith("HTTP/1.1 403 Forbidden")
        assert report["findings"][0]["id"] == "client_certificate_missing"


def test_python_ssl_client_asks_for_json(files: PartnerFiles, tmp_path: Path) -> None:
    """Python's ssl module as the client, Accept: application/json: the body is the same
    JSON result the listener reports."""
    context = ssl.create_default_context(cafile=str(files.server.root))
    context.load_cert_chain(str(files.good[0]), str(files.good[1]))
    with listening("https", files, tmp_path, _client_ca(files)) as listener:
        raw = socket.create_connection(("127.0.0.1", listener.port), timeout=15)
        with raw, context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET /x HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\r\n")
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
        report = listener.report()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"application/json" in head
    sent = json.loads(body)
    assert sent["status"] == "ok"
    assert sent["served_chain"][0]["sha256"] == report["served_chain"][0]["sha256"]
    assert sent["tls"]["version"] == report["tls"]["version"]


def test_plain_http_on_the_tls_port(files: PartnerFiles, tmp_path: Path) -> None:
    """A plain HTTP request gets a plain 400 answer naming the mistake."""
    with listening("https", files, tmp_path) as listener:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=15) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        report = listener.report()
    assert answer.startswith(b"HTTP/1.1 400 Bad Request")
    assert report["findings"][0]["id"] == "plain_http_on_tls_port"
    assert b"plain_http_on_tls_port" in answer


@needs_curl
def test_slow_and_garbage_clients_do_not_block_others(files: PartnerFiles, tmp_path: Path) -> None:
    """A client that sends nothing and one that sends garbage: a real client is served
    meanwhile; the silent one is cut off at the handshake timeout, the garbage one at once."""
    extra = ["--handshake-timeout", "1"]
    with listening("https", files, tmp_path, extra) as listener:
        silent = socket.create_connection(("127.0.0.1", listener.port), timeout=15)
        garbage = socket.create_connection(("127.0.0.1", listener.port), timeout=15)
        garbage.sendall(b"\x00\x01garbage that is not TLS\r\n" * 4)
        status, _ = _curl(listener.port, files)
        assert status == 200
        reports = [listener.report() for _ in range(3)]
        assert _closed(silent)
        silent.close()
        garbage.close()
    by_kind = {(r["error"] or {}).get("kind"): r for r in reports}
    assert by_kind[None]["status"] == "ok"
    assert by_kind["timeout"]["failed_phase"] == "handshake"
    assert by_kind["tls_error"]["findings"][0]["id"] in ("not_tls", "tls_protocol_error")


def test_idle_client_after_the_handshake_is_cut_off(files: PartnerFiles, tmp_path: Path) -> None:
    """A client that completes the handshake and then sends nothing is closed at the idle
    timeout (not the longer handshake timeout) and reported as the client's idle timeout."""
    context = ssl.create_default_context(cafile=str(files.server.root))
    extra = ["--idle-timeout", "0.5", "--handshake-timeout", "60"]
    with listening("https", files, tmp_path, extra) as listener:
        raw = socket.create_connection(("127.0.0.1", listener.port), timeout=15)
        with raw, context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.recv(1) == b""
        report = listener.report()
    assert report["error"]["kind"] == "timeout" and report["failed_phase"] == "application"
    finding = report["findings"][0]
    assert (finding["id"], finding["side"]) == ("timeout", "client")
    assert "0.5 s" in finding["summary"] and "handshake completed" in finding["detail"]


def test_oversized_request_head_gets_431(files: PartnerFiles, tmp_path: Path) -> None:
    """A request head over 16 KiB is answered 431 and reported as request_too_large."""
    context = ssl.create_default_context(cafile=str(files.server.root))
    with listening("https", files, tmp_path) as listener:
        raw = socket.create_connection(("127.0.0.1", listener.port), timeout=15)
        with raw, context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
        report = listener.report()
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert report["error"]["kind"] == "request_too_large"
    assert report["findings"][0]["id"] == "request_too_large"
    assert "16384" in report["findings"][0]["summary"]


def test_sigint_stops_cleanly_and_reports_the_open_session(
    files: PartnerFiles, tmp_path: Path
) -> None:
    """SIGINT: exit 0; a connection still open is reported as cut short by the stop."""
    with listening("ftpes", files, tmp_path) as listener:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=15) as sock:
            assert sock.recv(4) == b"220-"  # the session exists: its greeting arrived
            listener.process.send_signal(signal.SIGINT)
            assert listener.process.wait(timeout=15) == 0
        report = listener.report()
    assert (report["error"]["kind"], report["failed_phase"]) == ("listener_stopped", "starttls")
    assert report["findings"][0]["id"] == "listener_stopped"


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something else already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"--cert": "missing.pem"}, "cannot be read"),
        ({"--key": "client"}, "does not fit"),
        ({"url": "http://127.0.0.1:{port}"}, "unsupported scheme"),
        ({"url": "ftps://user:pw@127.0.0.1:{port}"}, "no user"),
        ({"--expect-cn": "JohnD"}, "need --client-ca"),
        ({"--log-dir": "file/sub"}, "--log-dir"),
        ({}, "cannot listen"),
    ],
)
def test_unusable_set_up_is_exit_2_without_traceback(
    files: PartnerFiles, tmp_path: Path, busy_port: int, change: dict[str, str], words: str
) -> None:
    """Missing files, a key for another certificate, a wrong scheme, --expect-cn without
    --client-ca, an unusable log folder, a port in use: one line on stderr, exit 2."""
    (tmp_path / "file").write_text("not a folder")
    values = {
        "url": "https://127.0.0.1:{port}",
        "--cert": str(files.server.served),
        "--key": str(files.server.key),
        "--log-dir": str(tmp_path / "logs"),
        **change,
    }
    if values["--key"] == "client":
        values["--key"] = str(files.good[1])
    args = [values.pop("url").format(port=busy_port)]
    for option, value in values.items():
        args += [option, value if value.startswith("/") else str(tmp_path / value)]
    run = run_tlsdiag("listen", *args)
    assert run.returncode == 2
    assert run.stderr.startswith("tlsdiag listen:") and words in run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
