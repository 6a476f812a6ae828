# -*- test-case-name: tests.integration.test_ftps_servers -*-
"""FTPS policy findings, read from the ``ftp`` facts of an ``ftps://``/``ftpes://`` result.

Pure data: the engine records what the server said and did; this module says
what it means and who must act.  The finding that explains why a probe stopped
comes first.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from diagnostics.explain import catalogue
from diagnostics.explain.wording import sentence
from diagnostics.model.result import Finding, ProbeResult, Severity, Side

__all__ = ["ftp_findings"]

# Commands whose refusal has its own finding.
_OWN_RULES = ("AUTH TLS", "AUTH SSL", "PROT P", "PROT C", "USER", "PASS")
_POLICY_CODES = frozenset({533, 534, 535, 536, 537})

_NON_RESUMING_CLIENTS = (
    "Python's ftplib.FTP_TLS, Apache Commons Net's FTPSClient without extra code, "
    "Windows clients whose TLS stack refuses resumption without Extended Master Secret, "
    "and TLS 1.3 clients that take the session before the server's tickets arrive or "
    "offer one ticket twice"
)


def _where(result: ProbeResult) -> str:
    target = result.target
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"{host}:{target.port}"


def _reply_text(reply: Mapping[str, Any] | None) -> str:
    if not reply:
        return "no reply"
    text = " ".join(str(reply.get("text") or "").split())
    return f"{reply.get('code')} {text}".strip()


def _explained(where: str, command: str, reply: Mapping[str, Any]) -> Finding:
    """A reply without a rule of its own, explained by the catalogue."""
    code = int(reply.get("code") or 0)
    explanation = catalogue.ftp_reply(code)
    what = f"the greeting was '{_reply_text(reply)}'"
    if command != "(greeting)":
        what = f"{command} was answered '{_reply_text(reply)}'"
    return Finding(
        id=explanation.finding_id,
        severity=explanation.severity,
        side=explanation.side,
        summary=f"{where}: {what}. {sentence(explanation.summary)}",
        detail=" ".join(explanation.causes),
        remedy=explanation.remedy,
    )


def _scheme_findings(result: ProbeResult, ftp: Mapping[str, Any], where: str) -> list[Finding]:
    target = result.target
    suggested = ftp.get("suggested_scheme")
    host = f"[{target.host}]" if ":" in target.host else target.host
    if suggested == "ftps" and target.scheme == "ftpes":
        return [
            Finding(
                id="ftps_implicit_port",
                severity=Severity.ERROR,
                side=Side.CLIENT,
                summary=f"{where} is an implicit FTPS port: it speaks TLS from the first byte "
                "and sends no plain-text greeting.",
                detail="An explicit-FTPS client (ftpes://, AUTH TLS) waits for a '220' "
                "greeting that never comes; the port answered a TLS ClientHello instead.",
                remedy=f"Use ftps://{host}:{target.port} (implicit FTPS), or the server's "
                "explicit-FTPS port (usually 21) with ftpes://.",
            )
        ]
    if suggested == "ftpes" and target.scheme == "ftps":
        greeting = ftp.get("plain_greeting")
        seen = f" ('{_reply_text(greeting)}')" if isinstance(greeting, Mapping) else ""
        return [
            Finding(
                id="ftps_explicit_port",
                severity=Severity.ERROR,
                side=Side.CLIENT,
                summary=f"{where} is an explicit FTPS (or plain FTP) port: it greets in plain "
                f"text{seen} instead of starting TLS.",
                detail="An implicit-FTPS client (ftps://) starts with a TLS ClientHello and "
                "reads the plain-text greeting as a broken TLS record: OpenSSL reports "
                "'wrong version number'.",
                remedy=f"Use ftpes://{host}:{target.port} (explicit FTPS: AUTH TLS after the "
                "greeting), or the server's implicit-FTPS port (usually 990) with ftps://.",
            )
        ]
    return []


def _stop_findings(ftp: Mapping[str, Any], where: str) -> list[Finding]:
    """The finding for the reply that ended the dialogue."""
    stopped = ftp.get("stopped_at")
    if not isinstance(stopped, Mapping):
        return []
    command = str(stopped.get("command") or "")
    reply = {"code": stopped.get("code"), "text": stopped.get("text")}
    if command.startswith("AUTH"):
        return [
            Finding(
                id="ftps_no_tls",
                severity=Severity.ERROR,
                side=Side.SERVER,
                summary=f"{where} refused {command} ('{_reply_text(reply)}'): the server does "
                "not offer FTPS on this port.",
                detail="Without AUTH TLS the password and the files cross the network in "
                "clear. vsftpd with ssl_enable=NO answers '530 Please login with USER and "
                "PASS.'; pure-ftpd without TLS '500 This security scheme is not implemented'; "
                "proftpd without mod_tls '500 AUTH not understood'.",
                remedy="Enable TLS on the server (vsftpd ssl_enable=YES with rsa_cert_file and "
                "rsa_private_key_file; proftpd TLSEngine on; pure-ftpd --tls=1 or higher), or "
                "use the port that offers FTPS.",
            )
        ]
    if command in ("USER", "PASS"):
        return [
            Finding(
                id="ftp_login_refused",
                severity=Severity.ERROR,
                side=Side.CLIENT,
                summary=f"{where} refused the login at {command} ('{_reply_text(reply)}'); "
                "TLS on the control channel worked.",
                detail="A wrong user name or password, a disabled account, or anonymous "
                "login switched off. Without a login the data channel cannot be checked.",
                remedy="Check the user name (--user) and the password (--password-env); for "
                "anonymous access, enable it on the server (vsftpd anonymous_enable=YES and, "
                "over TLS, allow_anon_ssl=YES).",
            )
        ]
    return [_explained(where, command, reply)]


def _reuse_findings(ftp: Mapping[str, Any], where: str) -> list[Finding]:
    if ftp.get("session_reuse_required") is not True:
        return []
    first = ftp.get("data_channel")
    second = ftp.get("data_channel_without_reuse")
    refused = second if isinstance(second, Mapping) else first
    refusal = _reply_text(refused.get("reply")) if isinstance(refused, Mapping) else "a refusal"
    if isinstance(first, Mapping) and first.get("ok"):
        return [
            Finding(
                id="ftps_session_reuse_required",
                severity=Severity.INFO,
                side=Side.CLIENT,
                summary=f"{where} requires TLS session reuse on the data channel: a data "
                f"connection that did not resume the control session got '{refusal}'.",
                detail="tlsdiag resumed the control connection's session and the listing "
                "worked; a second data connection without resumption was refused. Clients "
                f"that do not resume ({_NON_RESUMING_CLIENTS}) get 522 or 425 replies "
                "after a data-channel handshake that looks successful.",
                remedy="Use a client that resumes the control session on data connections "
                "(curl, lftp, FileZilla, WinSCP). Only if such a client cannot be used, "
                "relax the server (vsftpd require_ssl_reuse=NO, proftpd TLSOptions "
                "NoSessionReuseRequired), which weakens protection against stolen data "
                "connections.",
            )
        ]
    tls = first.get("tls") if isinstance(first, Mapping) else None
    version = tls.get("version") if isinstance(tls, Mapping) else None
    return [
        Finding(
            id="ftps_session_reuse_required",
            severity=Severity.ERROR,
            side=Side.EITHER,
            summary=f"{where} refused the data connection ('{refusal}') because its TLS "
            "session was not resumed, although tlsdiag offered the control session.",
            detail="The server requires session reuse on the data channel but did not "
            "resume the session it was offered"
            + (f" ({version})" if version else "")
            + ". With TLS 1.3 the server must issue session tickets on the control "
            "connection and accept them; vsftpd 3.0.3 and some proftpd versions have known "
            "problems there. The server's session cache may also be off or too small.",
            remedy="Check the server's TLS session cache and ticket settings; if resumption "
            "cannot work, relax the requirement (vsftpd require_ssl_reuse=NO, proftpd "
            "TLSOptions NoSessionReuseRequired) or limit the server to TLS 1.2.",
        )
    ]


def _data_findings(ftp: Mapping[str, Any], where: str) -> list[Finding]:
    """A data channel that failed for another reason than session reuse."""
    first = ftp.get("data_channel")
    if not isinstance(first, Mapping) or first.get("ok"):
        return []
    if ftp.get("session_reuse_required") is True:
        return []
    port = first.get("port")
    if first.get("connect_error"):
        return [
            Finding(
                id="ftp_data_connection_failed",
                severity=Severity.ERROR,
                side=Side.SERVER,
                summary=f"{where}: the passive data connection to port {port} could not be "
                f"opened ({first.get('connect_error')}).",
                detail="The control connection works but the passive port range is not "
                "reachable: a firewall (at the server or on the way) blocks it, or the server "
                "listens on another address.",
                remedy="Open the server's passive port range (vsftpd pasv_min_port/"
                "pasv_max_port, proftpd PassivePorts, pure-ftpd -p) in every firewall "
                "between client and server.",
            )
        ]
    reply = first.get("reply")
    tls_error = first.get("tls_error")
    if isinstance(reply, Mapping) and reply.get("code"):
        finding = _explained(where, str(first.get("command") or "LIST"), reply)
        if tls_error:
            finding = Finding(
                id="ftps_data_tls_failed",
                severity=Severity.ERROR,
                side=finding.side,
                summary=f"{where}: the TLS handshake on the data connection failed "
                f"({tls_error}); the server then said '{_reply_text(reply)}'.",
                detail=finding.detail,
                remedy=finding.remedy,
            )
        return [finding]
    return [
        Finding(
            id="ftps_data_tls_failed" if tls_error else "ftp_data_connection_failed",
            severity=Severity.ERROR,
            side=Side.SERVER,
            summary=f"{where}: the listing over the data connection did not complete"
            + (f" (data-channel TLS: {tls_error})" if tls_error else "")
            + "; the control connection closed without a final reply.",
            remedy="Read the server's log for the data connection.",
        )
    ]


def _prot_findings(ftp: Mapping[str, Any], where: str) -> list[Finding]:
    if ftp.get("prot") != "refused":
        return []
    reply = ftp.get("prot_reply")
    return [
        Finding(
            id="ftps_prot_p_refused",
            severity=Severity.ERROR,
            side=Side.SERVER,
            summary=f"{where} refused PROT P ('{_reply_text(reply)}'): data connections "
            "cannot be protected by TLS.",
            detail="Only the control channel is encrypted; listings and files would cross "
            "the network in clear, and clients that insist on protected data (the default "
            "of most FTPS clients) cannot transfer at all. The data channel was not tested.",
            remedy="Allow protected data connections on the server (vsftpd ssl_enable=YES "
            "accepts PROT P; proftpd TLSRequired on or auth+data; pure-ftpd --tls=1 or "
            "higher).",
        )
    ]


def _pasv_findings(ftp: Mapping[str, Any], where: str) -> list[Finding]:
    if ftp.get("pasv_address_differs") is not True:
        return []
    named = str(ftp.get("pasv_address"))
    control = str(ftp.get("control_address"))
    private = ""
    try:
        if ipaddress.ip_address(named).is_private:
            private = " (a private address)"
    except ValueError:
        pass
    return [
        Finding(
            id="ftps_pasv_address",
            severity=Severity.WARNING,
            side=Side.SERVER,
            summary=f"{where}: the PASV reply names {named}{private}, but the control "
            f"connection goes to {control}.",
            detail="tlsdiag connected its data connections to the control address, as curl, "
            "lftp, Python's ftplib and Twisted do; older clients that trust the PASV "
            "address time out. With FTPS the control channel is encrypted, so no NAT "
            "device can rewrite the address.",
            remedy="Tell the server its public address (vsftpd pasv_address, proftpd "
            "MasqueradeAddress or TLSMasqueradeAddress, pure-ftpd -P) and open the passive "
            "port range in the firewall.",
        )
    ]


def _cleartext_findings(ftp: Mapping[str, Any], where: str) -> list[Finding]:
    if ftp.get("cleartext_allowed") is not True:
        return []
    what = []
    if ftp.get("cleartext_login") is True:
        check = ftp.get("cleartext_check")
        reply = check.get("reply") if isinstance(check, Mapping) else None
        what.append(f"a login before AUTH TLS (USER answered '{_reply_text(reply)}')")
    if ftp.get("cleartext_data") is True:
        what.append("data connections without TLS (PROT C accepted, a listing crossed in clear)")
    return [
        Finding(
            id="ftps_cleartext_allowed",
            severity=Severity.WARNING,
            side=Side.SERVER,
            summary=f"{where} accepts clear text: {' and '.join(what)}.",
            detail="A client that is misconfigured, or an attacker that strips AUTH TLS from "
            "the greeting exchange, can send passwords or files unprotected. tlsdiag never "
            "sends the password in clear: the login check stops after USER.",
            remedy="Require TLS for logins and data (vsftpd force_local_logins_ssl, "
            "force_local_data_ssl, force_anon_logins_ssl and force_anon_data_ssl = YES; "
            "proftpd TLSRequired on; pure-ftpd --tls=3).",
        )
    ]


def _auth_ssl_findings(ftp: Mapping[str, Any], where: str) -> list[Finding]:
    if ftp.get("auth") != "SSL":
        return []
    refused = next(
        (r for r in ftp.get("replies") or () if r.get("command") == "AUTH TLS"),
        None,
    )
    return [
        Finding(
            id="ftps_auth_ssl_only",
            severity=Severity.WARNING,
            side=Side.SERVER,
            summary=f"{where} refused AUTH TLS ('{_reply_text(refused)}') and accepted only "
            "the old AUTH SSL.",
            detail="RFC 4217 names the command AUTH TLS; clients that do not fall back to "
            "AUTH SSL cannot secure the connection.",
            remedy="Update or configure the server to accept AUTH TLS.",
        )
    ]


def _policy_findings(ftp: Mapping[str, Any], where: str) -> list[Finding]:
    """534/536-style policy refusals of commands without a rule of their own."""
    found = []
    stopped = ftp.get("stopped_at")
    stopped_command = stopped.get("command") if isinstance(stopped, Mapping) else None
    for reply in ftp.get("replies") or ():
        command = reply.get("command")
        if reply.get("code") not in _POLICY_CODES or not command:
            continue
        if command in _OWN_RULES or command == stopped_command:
            continue
        found.append(_explained(where, str(command), reply))
    return found


def _protocol_findings(result: ProbeResult, where: str) -> list[Finding]:
    failure = result.failure
    if failure is None or failure.kind != "ftp_protocol":
        return []
    return [
        Finding(
            id="ftp_protocol_error",
            severity=Severity.ERROR,
            side=Side.SERVER,
            summary=f"{where} does not answer like an FTP server: {failure.message}.",
            detail="Another service listens on this port, or something in the way rewrites "
            "the connection.",
            remedy="Check the host and port.",
        )
    ]


def ftp_findings(result: ProbeResult) -> list[Finding]:
    """What the FTP facts of ``result`` mean, the finding that stopped the probe first."""
    ftp = result.ftp
    if ftp is None:
        return []
    where = _where(result)
    findings = [
        *_scheme_findings(result, ftp, where),
        *_protocol_findings(result, where),
        *_stop_findings(ftp, where),
        *_reuse_findings(ftp, where),
        *_data_findings(ftp, where),
        *_prot_findings(ftp, where),
        *_auth_ssl_findings(ftp, where),
        *_pasv_findings(ftp, where),
        *_cleartext_findings(ftp, where),
        *_policy_findings(ftp, where),
    ]
    # Stable: within one severity the causes keep the order above.
    return sorted(findings, key=lambda f: f.severity.rank)
