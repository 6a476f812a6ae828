"""``tlsdiag listen`` over FTPS against real clients: Python's ftplib (explicit and implicit,
which does not resume the TLS session on the data channel) and curl (which does)."""

from __future__ import annotations

import contextlib
import ftplib
import shutil
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from diagnostics.probes.ftps import parse_epsv, parse_pasv
from tests.support.listening import PartnerFiles, listening, write_partner

CURL = shutil.which("curl")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> PartnerFiles:
    """Our server PKI and the partner's client certificates."""
    return write_partner(tmp_path_factory.mktemp("partner"))


def _context(files: PartnerFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(files.server.root))
    context.load_cert_chain(str(files.good[0]), str(files.good[1]))
    return context


class ImplicitFTP(ftplib.FTP_TLS):
    """ftplib speaking implicit FTPS: TLS from the first byte of the control connection."""

    def connect(self, host: str = "", port: int = 0, timeout: float = -999, **_: Any) -> str:
        self.host, self.port = host, port
        raw = socket.create_connection((host, port), timeout=15)
        self.sock = self.context.wrap_socket(raw, server_hostname=host)
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome


def _list(ftp: ftplib.FTP_TLS) -> tuple[list[str], str]:
    ftp.login("JohnD", "any password")
    ftp.prot_p()
    lines: list[str] = []
    done = ftp.retrlines("LIST", lines.append)
    ftp.quit()
    return lines, done


@pytest.mark.parametrize("scheme", ["ftpes", "ftps"])
def test_ftplib_does_not_resume_the_data_session(
    files: PartnerFiles, tmp_path: Path, scheme: str
) -> None:
    """ftplib (explicit and implicit) gets the report as a listing; the data connection did
    not resume the control session, and the listener reports exactly that."""
    with listening(scheme, files, tmp_path, ["--client-ca", str(files.client_ca)]) as listener:
        cls = ftplib.FTP_TLS if scheme == "ftpes" else ImplicitFTP
        ftp = cls(context=_context(files), timeout=15)
        welcome = ftp.connect("localhost", listener.port)
        lines, done = _list(ftp)
        report = listener.report()
    if scheme == "ftps":
        assert "client certificate 'CN = JohnD' accepted" in welcome
    assert lines[0].startswith("PROBLEMS client 127.0.0.1:")
    assert "did NOT resume" in done
    assert report["findings"][0]["id"] == "ftps_data_not_resumed"
    [data] = report["ftp"]["data_connections"]
    assert data["command"] == "LIST" and data["tls"]["session_reused"] is False
    assert data["bytes"] > 0
    assert report["ftp"]["user"] == "JohnD" and "PASS ****" in report["ftp"]["commands"]
    assert report["ftp"]["mode"] == ("explicit" if scheme == "ftpes" else "implicit")


def _curl_ftp(
    port: int, files: PartnerFiles, identity: tuple[Path, Path], *extra: str
) -> subprocess.CompletedProcess[str]:
    """curl --ssl-reqd ftp://localhost:PORT/ with a client certificate (the listing on stdout)."""
    assert CURL is not None
    command = [CURL, "-s", "--max-time", "20", "--ssl-reqd", "--cacert", str(files.server.root)]
    command += ["--cert", str(identity[0]), "--key", str(identity[1]), *extra]
    return subprocess.run(
        [*command, f"ftp://localhost:{port}/"], capture_output=True, text=True, timeout=30
    )


@pytest.mark.skipif(CURL is None, reason="no curl command")
def test_curl_resumes_the_data_session(files: PartnerFiles, tmp_path: Path) -> None:
    """curl --ssl-reqd (explicit FTPS) resumes the control session on the data connection:
    the session is ok and the listing is the report."""
    with listening("ftpes", files, tmp_path, ["--client-ca", str(files.client_ca)]) as listener:
        done = _curl_ftp(listener.port, files, files.good)
        report = listener.report()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK client 127.0.0.1:")
    assert report["status"] == "ok", report["findings"]
    [data] = report["ftp"]["data_connections"]
    assert data["tls"]["session_reused"] is True


@pytest.mark.skipif(CURL is None, reason="no curl command")
def test_curl_with_an_unreadable_certificate(files: PartnerFiles, tmp_path: Path) -> None:
    """curl presents a client certificate cryptography cannot read: the login reply and the
    listing name malformed_certificate first; no client_certificate_missing."""
    with listening("ftpes", files, tmp_path, ["--client-ca", str(files.client_ca)]) as listener:
        done = _curl_ftp(listener.port, files, files.unreadable, "-v")
        report = listener.report()
    assert done.returncode == 0, done.stderr
    primary = report["findings"][0]
    assert primary["id"] == "malformed_certificate"
    assert "10 is not a valid X509 version" in primary["summary"]
    login = [line for line in done.stderr.splitlines() if line.startswith("< 230-")]
    assert login[1] == f"< 230-[error] malformed_certificate: {primary['summary']}"
    assert primary["summary"] in done.stdout.splitlines()[0]
    assert "client_certificate_missing" not in done.stdout + done.stderr


def test_client_hello_before_auth_on_the_explicit_port(files: PartnerFiles, tmp_path: Path) -> None:
    """An implicit-FTPS client on the explicit port (TLS at once, no AUTH TLS) is named."""
    context = ssl.create_default_context(cafile=str(files.server.root))
    with listening("ftpes", files, tmp_path) as listener:
        raw = socket.create_connection(("127.0.0.1", listener.port), timeout=15)
        with raw, pytest.raises((ssl.SSLError, OSError)):
            context.wrap_socket(raw, server_hostname="localhost")
        report = listener.report()
    assert report["ftp"]["tls_before_auth"] is True
    assert report["findings"][0]["id"] == "ftps_tls_before_auth"


def test_login_in_clear_before_auth_is_refused(files: PartnerFiles, tmp_path: Path) -> None:
    """A plain FTP client sends USER before AUTH TLS: 530, reported as ftps_client_cleartext."""
    with listening("ftpes", files, tmp_path) as listener:
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", listener.port, timeout=15)
        with pytest.raises(ftplib.error_perm, match="530"):
            ftp.login("JohnD", "secret")
        ftp.close()
        report = listener.report()
    assert report["findings"][0]["id"] == "ftps_client_cleartext"
    assert report["ftp"]["cleartext_commands"] == ["USER JohnD"]


def test_epsv_reply_names_a_port(files: PartnerFiles, tmp_path: Path) -> None:
    """The EPSV reply is well formed (read with the probe's own parser)."""
    with listening("ftpes", files, tmp_path) as listener:
        ftp = ftplib.FTP_TLS(context=ssl.create_default_context(cafile=str(files.server.root)))
        ftp.connect("localhost", listener.port, timeout=15)
        ftp.login("JohnD", "x")
        ftp.prot_p()
        reply = ftp.sendcmd("EPSV")
        ftp.quit()
        listener.report()
    assert reply.startswith("229 ")
    assert parse_epsv(reply) is not None


def _closed(sock: socket.socket) -> bool:
    """The peer closed (or reset) the connection: nothing more will come."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_nlst_lists_the_report_and_a_new_pasv_drops_the_unused_data_connection(
    files: PartnerFiles, tmp_path: Path
) -> None:
    """NLST returns the report as lines; a data connection left unused by a second PASV is
    closed by the listener (one data connection per session at a time)."""
    with listening("ftpes", files, tmp_path) as listener:
        ftp = ftplib.FTP_TLS(context=ssl.create_default_context(cafile=str(files.server.root)))
        ftp.connect("localhost", listener.port, timeout=15)
        ftp.login("JohnD", "x")
        ftp.prot_p()
        first = parse_pasv(ftp.sendcmd("PASV"))
        assert first is not None
        with socket.create_connection(first, timeout=15) as unused:
            ftp.sendcmd("PASV")
            assert _closed(unused)
        names = ftp.nlst()
        ftp.quit()
        report = listener.report()
    assert names[0].startswith("PROBLEMS client 127.0.0.1:")
    assert any("ftps_data_not_resumed" in line for line in names)
    assert [d["command"] for d in report["ftp"]["data_connections"]] == ["NLST"]


def test_overlong_command_line_is_answered_then_closed(files: PartnerFiles, tmp_path: Path) -> None:
    """A command line over the limit gets a 500 reply before the listener closes; the session
    failed with request_too_large."""
    with listening("ftpes", files, tmp_path) as listener:
        ftp = ftplib.FTP_TLS(context=ssl.create_default_context(cafile=str(files.server.root)))
        ftp.connect("localhost", listener.port, timeout=15)
        ftp.login("JohnD", "x")
        with pytest.raises(ftplib.error_perm, match=r"^500 "):
            ftp.sendcmd("NOOP " + "x" * 4000)
        with pytest.raises((EOFError, OSError)):
            ftp.voidcmd("NOOP")
        ftp.close()
        report = listener.report()
    assert report["error"]["kind"] == "request_too_large"
    assert report["failed_phase"] == "application"
    assert report["findings"][0]["id"] == "request_too_large"
    assert "2048" in report["findings"][0]["summary"]


def test_data_connection_without_prot_p(files: PartnerFiles, tmp_path: Path) -> None:
    """A client that asks for a data connection without PROT P is refused (521) and the
    session names the missing PROT P."""
    with listening("ftpes", files, tmp_path) as listener:
        ftp = ftplib.FTP_TLS(context=ssl.create_default_context(cafile=str(files.server.root)))
        ftp.connect("localhost", listener.port, timeout=15)
        ftp.login("JohnD", "x")
        with pytest.raises(ftplib.error_perm, match=r"^521 "):
            ftp.nlst()
        ftp.quit()
        report = listener.report()
    assert report["ftp"]["data_without_prot_p"] == "PASV"
    assert report["findings"][0]["id"] == "ftps_client_no_prot_p"
    assert report["status"] == "problems"


def test_an_oversized_clienthello_after_auth_tls_is_refused(
    files: PartnerFiles, tmp_path: Path
) -> None:
    """After AUTH TLS the ClientHello is bounded as on a TLS-first port: one that announces
    100,000 bytes is refused on its 9 header bytes (dripped), before OpenSSL buffers it."""
    head = b"\x16\x03\x01\x40\x00\x01" + (100_000).to_bytes(3, "big")
    with listening("ftpes", files, tmp_path) as listener:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=15) as raw:
            reader = raw.makefile("rb")
            while not reader.readline().startswith(b"220 "):
                pass
            raw.sendall(b"AUTH TLS\r\n")
            assert reader.readline().startswith(b"234 ")
            for byte in head:
                raw.sendall(bytes([byte]))
            with contextlib.suppress(ConnectionResetError):  # aborted by the listener
                assert reader.read() == b""
        report = listener.report()
    assert report["error"]["message"] == (
        "the client's ClientHello announces 100000 bytes; the listener takes at most 32768"
    )
    assert report["findings"][0]["id"] == "excessive_message_size"
