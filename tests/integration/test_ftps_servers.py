"""The FTPS probes (``ftpes://`` and ``ftps://``) against real vsftpd and pyftpdlib servers.

The servers run on loopback high ports with temporary configurations; each
probe runs in a subprocess under the real reactor (``tlsdiag probe --format json``) and the
tests read its JSON result.  Pure parts (reply parsing, the findings) are
tested in-process too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import error
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure as TwistedFailure

from diagnostics.explain.ftps import ftp_findings
from diagnostics.model.result import Failure, Phase, ProbeResult, Severity, Target
from diagnostics.probes.ftps import (
    MAX_LINE,
    MAX_REPLY_LINES,
    ControlChannel,
    FTPProtocolError,
    Reply,
    WrongProtocol,
    parse_epsv,
    parse_pasv,
)
from tests.support import ftpservers
from tests.support.servers import PKIFiles, ServerProcess, write_pki

REPO = Path(__file__).resolve().parents[2]
PASSWORD_ENV = "TLSDIAG_TEST_FTP_PASSWORD"

needs_vsftpd = pytest.mark.skipif(
    not ftpservers.vsftpd_available(), reason="vsftpd is not installed"
)


# -- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture(scope="module")
def server_pki(tmp_path_factory: pytest.TempPathFactory) -> PKIFiles:
    return write_pki(tmp_path_factory.mktemp("pki"), prefix="FTPS", key_type="rsa")


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """A list the test appends its servers to; every one is stopped afterwards."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()


def vsftpd(
    servers: list[ServerProcess], tmp_path: Path, pki: PKIFiles, **options: Any
) -> ServerProcess:
    directory = tmp_path / f"vsftpd{len(servers)}"
    directory.mkdir()
    server = ftpservers.start_vsftpd(directory, pki, **options)
    servers.append(server)
    return server


def pyftpdlib(
    servers: list[ServerProcess], tmp_path: Path, pki: PKIFiles, **options: Any
) -> ServerProcess:
    directory = tmp_path / f"pyftpdlib{len(servers)}"
    directory.mkdir()
    server = ftpservers.start_pyftpdlib(directory, pki, **options)
    servers.append(server)
    return server


FTP_IDS = ("ftp_", "ftps_")


def run_probe(
    url: str,
    pki: PKIFiles,
    *,
    timeout: float = 10.0,
    user: str | None = None,
    password: str | None = None,
    data_channel: bool = True,
) -> dict[str, Any]:
    """Probe ``url`` in a subprocess; its JSON result."""
    command = [sys.executable, "-m", "diagnostics", "probe", url, "--ca", str(pki.root)]
    command += ["--format", "json"]
    command += ["--timeout", str(timeout)]
    env = dict(os.environ)
    if user is not None:
        command += ["--user", user]
    if password is not None:
        env[PASSWORD_ENV] = password
        command += ["--password-env", PASSWORD_ENV]
    if not data_channel:
        command.append("--no-data-channel")
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, timeout=timeout + 30, check=False
    )
    assert done.returncode in (0, 1, 3), done.stderr.decode(errors="replace")
    result: dict[str, Any] = json.loads(done.stdout)
    # What the FTPS policy says (diagnostics.explain.ftps), among every finding of the probe.
    result["ftp_findings"] = [f for f in result["findings"] if f["id"].startswith(FTP_IDS)]
    return result


def ids(findings: list[dict[str, Any]]) -> list[str]:
    return [f["id"] for f in findings]


def commands(result: dict[str, Any]) -> list[str | None]:
    return [r["command"] for r in result["ftp"]["replies"]]


# -- end to end: vsftpd -----------------------------------------------------------------------


@needs_vsftpd
def test_vsftpd_explicit_reuse_required(
    servers: list[ServerProcess], tmp_path: Path, server_pki: PKIFiles
) -> None:
    """vsftpd require_ssl_reuse=YES: the resumed listing works, the non-resumed one gets 522."""
    server = vsftpd(servers, tmp_path, server_pki, require_reuse=True)
    result = run_probe(server.url("ftpes"), server_pki)
    ftp = result["ftp"]
    assert result["failed_phase"] is None, result["error"]
    assert result["tls"]["version"] is not None
    assert ftp["mode"] == "explicit"
    assert ftp["auth"] == "TLS"
    assert ftp["login"] == "ok"
    assert ftp["prot"] == "P"
    first = ftp["data_channel"]
    assert first["ok"] is True
    assert first["session_offered"] is True
    assert first["resumed"] is True
    assert first["tls"]["session_reused"] is True
    assert first["bytes"] > len(ftpservers.LISTING_NAME)
    assert first["reply"]["code"] == 226
    second = ftp["data_channel_without_reuse"]
    assert second["session_offered"] is False
    assert second["resumed"] is False
    assert second["tls"] is not None  # the handshake itself succeeded
    assert second["reply"]["code"] == 522
    assert ftp["session_reuse_required"] is True
    # force_anon_*_ssl=YES: clear text is refused on both channels.
    assert ftp["cleartext_login"] is False
    assert ftp["cleartext_data"] is False
    assert ftp["cleartext_allowed"] is False
    findings = result["ftp_findings"]
    assert ids(findings) == ["ftps_session_reuse_required"]
    assert findings[0]["severity"] == "info"
    assert "522" in findings[0]["summary"]


@needs_vsftpd
def test_vsftpd_explicit_reuse_not_required(
    servers: list[ServerProcess], tmp_path: Path, server_pki: PKIFiles
) -> None:
    """vsftpd require_ssl_reuse=NO: a data connection without resumption is accepted."""
    server = vsftpd(servers, tmp_path, server_pki, require_reuse=False)
    result = run_probe(server.url("ftpes"), server_pki)
    ftp = result["ftp"]
    assert result["failed_phase"] is None, result["error"]
    assert ftp["data_channel"]["ok"] is True
    assert ftp["session_reuse_required"] is False
    if ftp["data_channel"]["resumed"]:
        assert ftp["data_channel_without_reuse"]["ok"] is True
    assert "ftps_session_reuse_required" not in ids(result["ftp_findings"])
    assert result["status"] == "ok"


@needs_vsftpd
def test_vsftpd_cleartext_allowed(
    servers: list[ServerProcess], tmp_path: Path, server_pki: PKIFiles
) -> None:
    """vsftpd without force_anon_*_ssl accepts USER before AUTH and a listing in clear."""
    server = vsftpd(servers, tmp_path, server_pki, require_reuse=False, force_tls=False)
    result = run_probe(server.url("ftpes"), server_pki)
    ftp = result["ftp"]
    assert result["failed_phase"] is None, result["error"]
    assert ftp["cleartext_login"] is True
    assert ftp["cleartext_check"]["reply"]["code"] == 331
    assert ftp["cleartext_data"] is True
    assert ftp["data_channel_clear"]["ok"] is True
    assert ftp["data_channel_clear"]["tls"] is None
    assert ftp["cleartext_allowed"] is True
    finding = next(f for f in result["ftp_findings"] if f["id"] == "ftps_cleartext_allowed")
    assert finding["severity"] == "warning"
    assert finding["side"] == "server"
    # The clear-text login check never sends the password.
    assert "PASS" not in json.dumps(ftp["cleartext_check"])


@needs_vsftpd
def test_vsftpd_implicit(
    servers: list[ServerProcess], tmp_path: Path, server_pki: PKIFiles
) -> None:
    """ftps:// on vsftpd implicit_ssl=YES: TLS first, then greeting, login and a resumed listing."""
    server = vsftpd(servers, tmp_path, server_pki, implicit=True)
    result = run_probe(server.url("ftps"), server_pki)
    ftp = result["ftp"]
    assert result["failed_phase"] is None, result["error"]
    assert ftp["mode"] == "implicit"
    assert ftp["auth"] == "implicit"
    assert ftp["greeting"]
    assert "AUTH TLS" not in commands(result)
    assert ftp["data_channel"]["ok"] is True
    assert ftp["data_channel"]["resumed"] is True
    assert ftp["session_reuse_required"] is True


@needs_vsftpd
def test_explicit_probe_on_implicit_port(
    servers: list[ServerProcess], tmp_path: Path, server_pki: PKIFiles
) -> None:
    """ftpes:// on an implicit port: no greeting, TLS answers → 'use ftps://'."""
    server = vsftpd(servers, tmp_path, server_pki, implicit=True)
    result = run_probe(server.url("ftpes"), server_pki, timeout=4.0)
    assert result["status"] == "failed"
    assert (result["failed_phase"], result["error"]["kind"]) == ("starttls", "wrong_scheme"), (
        result["error"]  # its message tells a slow handshake from a refused one
    )
    assert result["ftp"]["suggested_scheme"] == "ftps"
    # The handshake that proved it is captured like any other.
    assert result["tls"]["version"] is not None
    assert result["served_chain"]
    findings = result["ftp_findings"]
    assert ids(findings)[0] == "ftps_implicit_port"
    assert f"ftps://localhost:{server.port}" in findings[0]["remedy"]


@needs_vsftpd
def test_implicit_probe_on_explicit_port(
    servers: list[ServerProcess], tmp_path: Path, server_pki: PKIFiles
) -> None:
    """ftps:// on an explicit port: a plain 220 breaks TLS ('wrong version number') → ftpes://."""
    server = vsftpd(servers, tmp_path, server_pki)
    result = run_probe(server.url("ftps"), server_pki)
    assert result["status"] == "failed"
    assert result["failed_phase"] == "handshake"
    assert result["error"]["reason"] == "wrong version number"
    ftp = result["ftp"]
    assert ftp["suggested_scheme"] == "ftpes"
    assert ftp["plain_greeting"]["code"] == 220
    findings = result["ftp_findings"]
    assert ids(findings)[0] == "ftps_explicit_port"
    assert f"ftpes://localhost:{server.port}" in findings[0]["remedy"]


@needs_vsftpd
def test_vsftpd_without_tls(
    servers: list[ServerProcess], tmp_path: Path, server_pki: PKIFiles
) -> None:
    """vsftpd ssl_enable=NO answers AUTH TLS with 530: the probe fails in starttls, ftps_no_tls."""
    server = vsftpd(servers, tmp_path, server_pki, ssl=False)
    result = run_probe(server.url("ftpes"), server_pki)
    assert result["status"] == "failed"
    assert result["failed_phase"] == "starttls"
    assert result["error"]["kind"] == "ftp_reply"
    assert result["tls"] is None
    ftp = result["ftp"]
    assert ftp["auth"] is None
    assert ftp["stopped_at"]["command"] == "AUTH TLS"
    assert ftp["stopped_at"]["code"] == 530
    assert "USER" not in " ".join(c or "" for c in commands(result))
    findings = result["ftp_findings"]
    assert ids(findings) == ["ftps_no_tls"]
    assert findings[0]["side"] == "server"


# -- end to end: pyftpdlib ------------------------------------------------------------------


def test_pyftpdlib_success(
    servers: list[ServerProcess], tmp_path: Path, server_pki: PKIFiles
) -> None:
    """pyftpdlib's TLS handler: login, PROT P, a listing over TLS; it does not require reuse."""
    server = pyftpdlib(servers, tmp_path, server_pki)
    result = run_probe(server.url("ftpes"), server_pki)
    ftp = result["ftp"]
    assert result["failed_phase"] is None, result["error"]
    assert ftp["login"] == "ok"
    assert ftp["data_channel"]["ok"] is True
    assert ftp["data_channel"]["tls"]["version"] is not None
    assert ftp["session_reuse_required"] is False
    # tls_control_required: USER in clear gets 550; tls_data_required: no clear data.
    assert ftp["cleartext_login"] is False
    assert ftp["cleartext_data"] is False
    assert ftp["pasv_address_differs"] is False
    assert result["ftp_findings"] == []
    passive = [c for c in commands(result) if c in ("PASV", "EPSV", "LIST")]
    assert passive[:3] == ["PASV", "EPSV", "LIST"]


def test_pyftpdlib_login_refused(
    servers: list[ServerProcess], tmp_path: Path, server_pki: PKIFiles
) -> None:
    """A server without anonymous access refuses the login with 530: ftp_login_refused."""
    server = pyftpdlib(
        servers, tmp_path, server_pki, variant="users_only", users={"alice": "x1y2z3"}
    )
    result = run_probe(server.url("ftpes"), server_pki)
    ftp = result["ftp"]
    assert result["status"] == "failed"
    assert result["failed_phase"] == "application"
    assert result["tls"]["version"] is not None
    assert ftp["login"] == "refused"
    assert ftp["stopped_at"]["code"] == 530
    assert ftp["data_channel"] is None
    findings = result["ftp_findings"]
    assert ids(findings) == ["ftp_login_refused"]


def test_pyftpdlib_prot_p_refused(
    servers: list[ServerProcess], tmp_path: Path, server_pki: PKIFiles
) -> None:
    """A server answering PROT P with 534: ftps_prot_p_refused, no data channel attempted."""
    server = pyftpdlib(servers, tmp_path, server_pki, variant="refuse_prot_p")
    result = run_probe(server.url("ftpes"), server_pki)
    ftp = result["ftp"]
    assert ftp["prot"] == "refused"
    assert ftp["prot_reply"]["code"] == 534
    assert ftp["data_channel"] is None
    assert "LIST" not in commands(result)
    findings = result["ftp_findings"]
    assert ids(findings)[0] == "ftps_prot_p_refused"
    assert findings[0]["severity"] == "error"


def test_pyftpdlib_pasv_address_mismatch(
    servers: list[ServerProcess], tmp_path: Path, server_pki: PKIFiles
) -> None:
    """A PASV reply naming another address is reported; data still goes to the control host."""
    server = pyftpdlib(servers, tmp_path, server_pki, variant="wrong_pasv")
    result = run_probe(server.url("ftpes"), server_pki)
    ftp = result["ftp"]
    assert result["failed_phase"] is None, result["error"]
    assert ftp["pasv_address"] == ftpservers.WRONG_PASV_ADDRESS
    assert ftp["control_address"] == "127.0.0.1"
    assert ftp["pasv_address_differs"] is True
    assert ftp["data_channel"]["ok"] is True
    finding = next(f for f in result["ftp_findings"] if f["id"] == "ftps_pasv_address")
    assert ftpservers.WRONG_PASV_ADDRESS in finding["summary"]
    assert finding["severity"] == "warning"


def test_pyftpdlib_cleartext_server(
    servers: list[ServerProcess], tmp_path: Path, server_pki: PKIFiles
) -> None:
    """A server that requires no TLS is reported as accepting clear text."""
    server = pyftpdlib(servers, tmp_path, server_pki, variant="cleartext")
    result = run_probe(server.url("ftpes"), server_pki)
    assert result["ftp"]["cleartext_login"] is True
    assert result["ftp"]["cleartext_data"] is True
    assert "ftps_cleartext_allowed" in ids(result["ftp_findings"])


def test_reuse_required_but_never_resumed(
    servers: list[ServerProcess], tmp_path: Path, server_pki: PKIFiles
) -> None:
    """A server that demands reuse but cannot resume refuses even our listing: an error."""
    server = pyftpdlib(servers, tmp_path, server_pki, variant="reuse_required_no_resume")
    result = run_probe(server.url("ftpes"), server_pki)
    ftp = result["ftp"]
    assert result["status"] == "failed"
    assert result["failed_phase"] == "application"
    assert result["error"]["kind"] == "ftp_reply"
    first = ftp["data_channel"]
    assert first["session_offered"] is True
    assert first["resumed"] is False
    assert first["tls"] is not None
    assert first["reply"]["code"] == 425
    assert ftp["session_reuse_required"] is True
    assert ftp["data_channel_without_reuse"] is None
    findings = result["ftp_findings"]
    assert ids(findings) == ["ftps_session_reuse_required"]
    assert findings[0]["severity"] == "error"
    assert "not resumed" in findings[0]["summary"]


def test_slow_greeting_is_not_taken_for_implicit(
    servers: list[ServerProcess], tmp_path: Path, server_pki: PKIFiles
) -> None:
    """A greeting slower than the silence window: the TLS attempt fails, the probe reconnects."""
    server = pyftpdlib(servers, tmp_path, server_pki, variant="slow_first_greeting")
    result = run_probe(server.url("ftpes"), server_pki, timeout=6.0)
    assert result["failed_phase"] is None, result["error"]
    assert result["ftp"]["suggested_scheme"] is None
    assert result["ftp"]["data_channel"]["ok"] is True
    assert result["timings"]["total_s"] >= 2.0  # the window (timeout / 3) passed once


def test_password_never_in_result(
    servers: list[ServerProcess], tmp_path: Path, server_pki: PKIFiles
) -> None:
    """The password logs in but appears nowhere in the result: PASS is shown as 'PASS ****'."""
    password = "Corr3ct-Horse-Battery"
    server = pyftpdlib(
        servers, tmp_path, server_pki, variant="users_only", users={"alice": password}
    )
    result = run_probe(server.url("ftpes"), server_pki, user="alice", password=password)
    assert result["ftp"]["login"] == "ok"
    assert result["ftp"]["data_channel"]["ok"] is True
    assert "PASS ****" in commands(result)
    assert "USER alice" in commands(result)
    assert password not in json.dumps(result)


def test_wrong_password_never_in_result(
    servers: list[ServerProcess], tmp_path: Path, server_pki: PKIFiles
) -> None:
    """A refused password is not echoed into the result either."""
    server = pyftpdlib(
        servers, tmp_path, server_pki, variant="users_only", users={"alice": "right-one"}
    )
    wrong = "Wr0ng-Password-Here"
    result = run_probe(server.url("ftpes"), server_pki, user="alice", password=wrong)
    assert result["ftp"]["login"] == "refused"
    assert wrong not in json.dumps(result)


def test_no_data_channel(
    servers: list[ServerProcess], tmp_path: Path, server_pki: PKIFiles
) -> None:
    """--no-data-channel: login and PROT P, then QUIT; no passive command, no listing."""
    server = pyftpdlib(servers, tmp_path, server_pki)
    result = run_probe(server.url("ftpes"), server_pki, data_channel=False)
    ftp = result["ftp"]
    assert result["failed_phase"] is None, result["error"]
    assert ftp["login"] == "ok"
    assert ftp["data_channel"] is None
    sent = commands(result)
    assert not {"PASV", "EPSV", "LIST"} & set(sent)
    assert sent[-1] == "QUIT"


# -- the control channel's reply reader -----------------------------------------------------


def _channel() -> tuple[ControlChannel, StringTransport]:
    channel = ControlChannel()
    transport = StringTransport()
    channel.makeConnection(transport)
    return channel, transport


def test_single_and_multiline_replies() -> None:
    """Single-line and multi-line replies arrive whole, in order, with code prefixes removed."""
    channel, _ = _channel()
    channel.dataReceived(b"220-Welcome\r\n220-second line\r\nfree text\r\n220 ready\r\n331 Pass")
    channel.dataReceived(b"word please\r\n")
    first = channel.next_reply()
    second = channel.next_reply()
    assert first.result == Reply(220, ("Welcome", "second line", "free text", "ready"))
    assert second.result == Reply(331, ("Password please",))


def test_reply_waiter_fires_on_arrival() -> None:
    """A waiter registered before the reply gets it when it arrives; a bare LF also ends a line."""
    channel, _ = _channel()
    waiter = channel.next_reply()
    assert not waiter.called
    channel.dataReceived(b"234 Proceed\n")
    assert waiter.result == Reply(234, ("Proceed",))


def test_overlong_line_fails_the_channel() -> None:
    """A reply line longer than the bound fails the waiter and closes the connection."""
    channel, transport = _channel()
    waiter = channel.next_reply()
    channel.dataReceived(b"220 " + b"x" * (MAX_LINE + 10))
    failure = waiter.result
    waiter.addErrback(lambda _f: None)
    assert isinstance(failure, TwistedFailure)
    assert failure.check(FTPProtocolError)
    assert transport.disconnecting


def test_too_many_continuation_lines_fail_the_channel() -> None:
    """A multi-line reply longer than the bound is cut off as a protocol error."""
    channel, _ = _channel()
    waiter = channel.next_reply()
    channel.dataReceived(b"220-start\r\n" + b"more\r\n" * (MAX_REPLY_LINES + 1))
    assert waiter.called
    assert isinstance(waiter.result, TwistedFailure)
    assert waiter.result.check(FTPProtocolError)
    waiter.addErrback(lambda _f: None)


def test_tls_record_instead_of_greeting() -> None:
    """Binary TLS bytes where a greeting belongs are recognised as the wrong protocol."""
    channel, _ = _channel()
    waiter = channel.next_reply()
    channel.dataReceived(b"\x15\x03\x03\x00\x02\x02\x46")
    assert isinstance(waiter.result, TwistedFailure)
    assert waiter.result.check(WrongProtocol)
    waiter.addErrback(lambda _f: None)


def test_garbage_is_not_a_reply() -> None:
    """A line that is not an FTP reply (an SSH banner) is a protocol error."""
    channel, _ = _channel()
    waiter = channel.next_reply()
    channel.dataReceived(b"SSH-2.0-OpenSSH_9.2\r\n")
    assert isinstance(waiter.result, TwistedFailure)
    assert waiter.result.check(FTPProtocolError)
    assert not waiter.result.check(WrongProtocol)
    waiter.addErrback(lambda _f: None)


def test_lost_connection_fails_waiters() -> None:
    """Waiters learn about a lost control connection; sending then raises."""
    channel, _ = _channel()
    waiter = channel.next_reply()
    channel.connectionLost(TwistedFailure(error.ConnectionDone()))
    assert isinstance(waiter.result, TwistedFailure)
    waiter.addErrback(lambda _f: None)
    with pytest.raises(error.ConnectionLost):
        channel.send("QUIT")


def test_passive_reply_parsing() -> None:
    """EPSV gives a port; PASV gives an address and a port; nonsense gives None."""
    assert parse_epsv("Entering Extended Passive Mode (|||42202|)") == 42202
    assert parse_epsv("Entering Extended Passive Mode (!!!6446!)") == 6446
    assert parse_epsv("Entering Extended Passive Mode (|||0|)") is None
    assert parse_epsv("no port here") is None
    assert parse_pasv("Entering Passive Mode (203,0,113,7,117,57).") == ("203.0.113.7", 30009)
    assert parse_pasv("Entering Passive Mode (300,0,113,7,117,57).") is None
    assert parse_pasv("Entering Passive Mode") is None


# -- the findings, from facts ------------------------------------------------------------------


def _result(
    ftp: dict[str, Any], failure: Failure | None = None, scheme: str = "ftpes"
) -> ProbeResult:
    target = Target(
        url=f"{scheme}://ftp.example.net", scheme=scheme, host="ftp.example.net", port=21
    )
    return ProbeResult(target=target, ftp=ftp, failure=failure)


def _facts(**changes: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "mode": "explicit",
        "replies": [],
        "auth": "TLS",
        "login": "ok",
        "prot": "P",
        "control_address": "198.51.100.4",
        "pasv_address": "198.51.100.4",
        "pasv_address_differs": False,
        "data_channel": {"ok": True, "resumed": True, "reply": {"code": 226, "text": "OK"}},
        "data_channel_without_reuse": None,
        "session_reuse_required": None,
        "cleartext_allowed": False,
        "cleartext_login": False,
        "cleartext_data": False,
        "suggested_scheme": None,
        "stopped_at": None,
    }
    facts.update(changes)
    return facts


def test_findings_clean_server() -> None:
    """A server with nothing to report gives no findings."""
    assert ftp_findings(_result(_facts())) == []


def test_findings_without_ftp_facts() -> None:
    """A result without FTP facts (another scheme) gives no FTP findings."""
    target = Target(url="https://example.net", scheme="https", host="example.net", port=443)
    assert ftp_findings(ProbeResult(target=target)) == []


def test_findings_failed_resumption_is_an_error() -> None:
    """Reuse required and our own resumed data connection refused: an error, not info."""
    facts = _facts(
        session_reuse_required=True,
        data_channel={
            "ok": False,
            "resumed": False,
            "tls": {"version": "TLSv1.3"},
            "reply": {
                "code": 425,
                "text": "Unable to build data connection: Operation not permitted",
            },
        },
    )
    failure = Failure(Phase.APPLICATION, "ftp_reply", "refused")
    findings = ftp_findings(_result(facts, failure))
    assert [f.id for f in findings] == ["ftps_session_reuse_required"]
    assert findings[0].severity is Severity.ERROR
    assert "425" in findings[0].summary


def test_findings_private_pasv_address() -> None:
    """A PASV address in private space is called so."""
    facts = _facts(pasv_address="10.1.2.3", pasv_address_differs=True)
    (finding,) = ftp_findings(_result(facts))
    assert finding.id == "ftps_pasv_address"
    assert "10.1.2.3 (a private address)" in finding.summary


def test_findings_policy_reply_on_other_command() -> None:
    """A 534 policy refusal of a command without its own rule is explained by the catalogue."""
    facts = _facts(replies=[{"command": "PBSZ 0", "code": 534, "text": "Denied"}])
    findings = ftp_findings(_result(facts))
    assert [f.id for f in findings] == ["ftps_policy_refused"]
    assert "PBSZ 0" in findings[0].summary


def test_findings_generic_stop_reply() -> None:
    """A greeting refusal (421) is explained by the catalogue's entry for the code."""
    facts = _facts(
        login=None,
        auth=None,
        stopped_at={"command": "(greeting)", "code": 421, "text": "Too many users"},
    )
    failure = Failure(
        Phase.STARTTLS, "ftp_reply", "the server refused the session: 421 Too many users"
    )
    findings = ftp_findings(_result(facts, failure))
    assert findings[0].id == "ftp_service_unavailable"
    assert "421 Too many users" in findings[0].summary


def test_findings_errors_come_first() -> None:
    """Several findings: errors before warnings before info."""
    facts = _facts(
        prot="refused",
        prot_reply={"code": 536, "text": "no"},
        pasv_address="10.0.0.1",
        pasv_address_differs=True,
        cleartext_login=True,
        cleartext_allowed=True,
        cleartext_check={"reply": {"code": 331, "text": "Password"}},
    )
    severities = [f.severity.rank for f in ftp_findings(_result(facts))]
    assert severities == sorted(severities)
    assert ftp_findings(_result(facts))[0].id == "ftps_prot_p_refused"


# -- through the command line, diagnosis included ---------------------------------------------


def run_cli(url: str, pki: PKIFiles) -> tuple[int, dict[str, Any]]:
    """``tlsdiag probe URL --format json`` as users run it: exit code and result."""
    command = [sys.executable, "-m", "diagnostics", "probe", url, "--ca", str(pki.root)]
    done = subprocess.run(
        [*command, "--format", "json"], cwd=REPO, capture_output=True, timeout=60, check=False
    )
    assert "Traceback" not in done.stderr.decode(errors="replace")
    return done.returncode, json.loads(done.stdout)


@needs_vsftpd
def test_cli_reports_session_reuse_required(
    servers: list[ServerProcess], tmp_path: Path, server_pki: PKIFiles
) -> None:
    """The CLI's diagnosis of vsftpd require_ssl_reuse=YES names the reuse requirement."""
    server = vsftpd(servers, tmp_path, server_pki, require_reuse=True)
    code, result = run_cli(server.url("ftpes"), server_pki)
    ids = [f["id"] for f in result["findings"]]
    assert "ftps_session_reuse_required" in ids
    assert result["ftp"]["data_channel"]["resumed"] is True
    assert code in (0, 1)


@needs_vsftpd
def test_cli_primary_finding_for_no_tls(
    servers: list[ServerProcess], tmp_path: Path, server_pki: PKIFiles
) -> None:
    """The CLI fails (exit 3) on an FTP server without TLS, ftps_no_tls first."""
    server = vsftpd(servers, tmp_path, server_pki, ssl=False)
    code, result = run_cli(server.url("ftpes"), server_pki)
    assert code == 3
    assert result["failed_phase"] == "starttls"
    assert result["findings"][0]["id"] == "ftps_no_tls"
