# -*- test-case-name: tests.explain.test_catalogue -*-
"""FTP replies: what the reply codes of RFC 959, 2228 and 4217 mean, read for FTPS.

Pure data: one entry for each reply code the standards define, with plain words,
its meaning in FTPS, who has to act and the fix, and a generic entry by first digit
for any other code (:func:`ftp_reply`).
"""

from __future__ import annotations

from typing import NamedTuple

from diagnostics.explain.entries import ERROR, INFO, WARNING, C, E, Explanation, S
from diagnostics.model.result import Side

_FTP_POSITIVE = "ftp_reply_positive"
_FTP_TRANSIENT = "ftp_reply_transient_error"
_FTP_PERMANENT = "ftp_reply_permanent_error"
_FTP_PROTECTED = "ftp_reply_protected"
_NOTHING = "Nothing to do."
_REUSE = (
    "The server requires the data connection's TLS session to resume the control "
    "connection's session, and the client did not (with TLS 1.3 the session is resumable "
    "only after the server's session tickets were read, and a ticket works only once)."
)
_REUSE_FIX = (
    "Make the client resume the control connection's TLS session on each data connection "
    "(with TLS 1.3: read a reply before taking the session, then chain from the previous "
    "data connection). Turning the requirement off on the server (vsftpd "
    "require_ssl_reuse=NO, proftpd TLSOptions NoSessionReuseRequired) weakens protection "
    "against stolen data connections."
)


class _Reply(NamedTuple):
    """An FTP reply code; the causes include what it means in FTPS."""

    code: int
    text: str
    summary: str
    causes: tuple[str, ...] = ()
    remedy: str = _NOTHING
    side: Side = E
    finding_id: str = ""  # "" = the id of the reply's class


FTP_ROWS: tuple[_Reply, ...] = (
    _Reply(
        110, "Restart marker reply.", "The server confirms a restart marker for a resumed transfer."
    ),
    _Reply(
        120,
        "Service ready in nnn minutes.",
        "The server is not ready yet and says when it will be.",
        causes=("The server is starting or overloaded.",),
        remedy="Try again later.",
        side=S,
    ),
    _Reply(
        125,
        "Data connection already open; transfer starting.",
        "The transfer starts on the open data connection.",
    ),
    _Reply(
        150,
        "File status okay; about to open data connection.",
        "The server is about to use the data connection.",
        causes=(
            "In FTPS the data connection's own TLS handshake follows; a 522 or 425 right "
            "after this usually means the server wanted TLS session reuse.",
        ),
    ),
    _Reply(
        200,
        "Command okay.",
        "The command was accepted.",
        causes=("In FTPS this answers PBSZ 0 and PROT P when data protection is accepted.",),
    ),
    _Reply(
        202,
        "Command not implemented, superfluous at this site.",
        "The command is not needed on this server.",
    ),
    _Reply(
        211,
        "System status, or system help reply.",
        "Status or feature list (the answer to FEAT).",
        causes=("A server offering FTPS lists AUTH TLS, PBSZ and PROT in its features.",),
    ),
    _Reply(212, "Directory status.", "Directory status information."),
    _Reply(213, "File status.", "File status information (size, time)."),
    _Reply(214, "Help message.", "Help text for people."),
    _Reply(215, "NAME system type.", "The server names its operating system type."),
    _Reply(
        220,
        "Service ready for new user.",
        "The server's greeting: it is ready.",
        causes=(
            "On an explicit-FTPS port the greeting comes in plain text, before AUTH TLS.",
            "On an implicit-FTPS port it comes only after the TLS handshake.",
        ),
    ),
    _Reply(221, "Service closing control connection.", "The server says goodbye (after QUIT)."),
    _Reply(
        225,
        "Data connection open; no transfer in progress.",
        "The data connection is open and idle.",
    ),
    _Reply(
        226,
        "Closing data connection. Requested file action successful.",
        "The transfer finished and the data connection is closed.",
    ),
    _Reply(
        227,
        "Entering Passive Mode (h1,h2,h3,h4,p1,p2).",
        "The server names the address and port for the data connection.",
        causes=(
            "In FTPS the control connection is encrypted, so NAT devices cannot rewrite this "
            "address: a private address here means the server must be told its public one "
            "(vsftpd pasv_address, proftpd MasqueradeAddress, pure-ftpd -P).",
        ),
        remedy=(
            "Nothing to do when the address is the one clients reach; otherwise set the "
            "server's public passive address and open its passive port range in the firewall."
        ),
    ),
    _Reply(
        229,
        "Entering Extended Passive Mode (|||port|).",
        "The server names the port for the data connection (RFC 2428).",
        causes=("Only the port is given, so NAT address problems do not arise.",),
        remedy="Nothing to do; the passive port range must be open in the firewall.",
    ),
    _Reply(230, "User logged in, proceed.", "The login succeeded."),
    _Reply(
        232,
        "User logged in, authorized by security data exchange.",
        "The login succeeded through the security mechanism (RFC 2228).",
    ),
    _Reply(
        234,
        "Security data exchange complete.",
        "The server accepted AUTH TLS: the TLS handshake starts now on the same connection.",
        causes=("The normal answer to AUTH TLS in explicit FTPS (RFC 4217).",),
    ),
    _Reply(
        235,
        "Security data exchange completed successfully.",
        "The security data exchange (ADAT) finished (RFC 2228; not used with TLS).",
    ),
    _Reply(250, "Requested file action okay, completed.", "The file action succeeded."),
    _Reply(
        257, "PATHNAME created.", "The directory was created, or this is the current directory."
    ),
    _Reply(
        331,
        "User name okay, need password.",
        "The user name was accepted; the password comes next.",
    ),
    _Reply(
        332,
        "Need account for login.",
        "The server wants an account (ACCT) to log in.",
        remedy="Send the account information the server expects.",
        side=C,
    ),
    _Reply(
        334,
        "Security mechanism accepted; security data required.",
        "The server accepted the AUTH mechanism but wants a security data exchange (ADAT).",
        causes=(
            "TLS never uses ADAT: a 334 to AUTH TLS means the server expects another "
            "mechanism (GSSAPI/Kerberos) and does not offer TLS this way.",
        ),
        remedy="Enable TLS (AUTH TLS) on the server, or use the mechanism it supports.",
        side=S,
        finding_id="ftps_no_tls",
    ),
    _Reply(
        335,
        "Security data is acceptable; more is required.",
        "The security data exchange (ADAT) continues (RFC 2228; not used with TLS).",
    ),
    _Reply(
        336,
        "Username okay, need password; challenge follows.",
        "The user name was accepted; the password must answer a challenge (RFC 2228).",
    ),
    _Reply(
        350,
        "Requested file action pending further information.",
        "The server waits for the next command (e.g. RNTO after RNFR).",
    ),
    _Reply(
        421,
        "Service not available, closing control connection.",
        "The server refuses the session and closes the control connection.",
        causes=(
            "Too many connections, a per-address limit, an idle timeout or a shutdown.",
            "FTPS: proftpd answers '421 TLS handshake failed' in plain text after a failed "
            "TLS 1.2 handshake; pure-ftpd uses 421 to refuse plain-text sessions when TLS is "
            "required.",
        ),
        remedy=(
            "Read the reply text: fix the TLS problem it names, use TLS when the server "
            "requires it, or check the server's connection limits."
        ),
        side=S,
        finding_id="ftp_service_unavailable",
    ),
    _Reply(
        425,
        "Can't open data connection.",
        "The server could not open or accept the data connection.",
        causes=(
            "A firewall blocks the passive port range or the active-mode connection back.",
            "FTPS: proftpd ('Operation not permitted') and FileZilla Server ('TLS session of "
            "data connection not resumed') use 425 when TLS session reuse was required. " + _REUSE,
        ),
        remedy="Open the passive port range in the firewalls; for the FTPS reuse case: "
        + _REUSE_FIX,
        finding_id="ftp_data_connection_failed",
    ),
    _Reply(
        426,
        "Connection closed; transfer aborted.",
        "The data connection broke during the transfer.",
        causes=(
            "A network or firewall interruption.",
            "FTPS: the TLS session on the data connection failed or ended uncleanly.",
        ),
        remedy="Retry; check firewalls and timeouts, and the TLS log of the server.",
        finding_id="ftp_data_connection_failed",
    ),
    _Reply(
        431,
        "Need some unavailable resource to process security.",
        "The server cannot start TLS at the moment.",
        causes=("The server's certificate or key cannot be loaded, or its TLS setup is broken.",),
        remedy=(
            "Check the server's TLS configuration and log (certificate and key files, permissions)."
        ),
        side=S,
        finding_id="ftps_no_tls",
    ),
    _Reply(
        450,
        "Requested file action not taken. File unavailable.",
        "The file is temporarily unavailable (busy or locked).",
        remedy="Try again later.",
        side=S,
    ),
    _Reply(
        451,
        "Requested action aborted: local error in processing.",
        "The server hit an error while processing the command.",
        remedy="Check the server's log; try again.",
        side=S,
    ),
    _Reply(
        452,
        "Requested action not taken. Insufficient storage space in system.",
        "The server is short of disk space.",
        remedy="Free space on the server.",
        side=S,
    ),
    _Reply(
        500,
        "Syntax error, command unrecognized.",
        "The server does not know the command.",
        causes=(
            "FTPS: an answer to AUTH TLS means the server has no TLS (pure-ftpd without TLS: "
            "'500 This security scheme is not implemented').",
            "An answer to CCC means the server cannot clear the control channel (vsftpd).",
            "vsftpd sends '500 OOPS: … peer did not return a certificate' in plain text when "
            "it required a client certificate and got none.",
        ),
        remedy="Enable TLS on the server (vsftpd ssl_enable=YES, proftpd TLSEngine on, pure-ftpd "
        "-Y 1 or higher), or read the reply text for the specific problem.",
        side=S,
        finding_id="ftps_no_tls",
    ),
    _Reply(
        501,
        "Syntax error in parameters or arguments.",
        "The command's arguments are malformed.",
        remedy="Correct the command's arguments.",
        side=C,
    ),
    _Reply(
        502,
        "Command not implemented.",
        "The server does not implement the command.",
        causes=("FTPS: an answer to AUTH, PBSZ or PROT means the server does not offer FTPS.",),
        remedy="Enable TLS on the server.",
        side=S,
        finding_id="ftps_no_tls",
    ),
    _Reply(
        503,
        "Bad sequence of commands.",
        "The command came in the wrong order.",
        causes=(
            "FTPS: PBSZ or PROT before a successful AUTH TLS, or PROT before PBSZ "
            "(pure-ftpd insists on PBSZ first).",
        ),
        remedy="Send AUTH TLS, then log in, then PBSZ 0, then PROT P.",
        side=C,
        finding_id="ftp_bad_sequence",
    ),
    _Reply(
        504,
        "Command not implemented for that parameter.",
        "The server knows the command but not this parameter.",
        causes=(
            "FTPS: AUTH with a mechanism the server does not support ('504 Unknown AUTH "
            "type'), or a PROT level it does not know.",
        ),
        remedy=(
            "Use AUTH TLS and PROT P or C; if AUTH TLS itself gets 504, enable TLS on the server."
        ),
        side=S,
        finding_id="ftps_no_tls",
    ),
    _Reply(
        521,
        "Data connection cannot be opened with this PROT setting.",
        "The data channel's protection level does not fit the server's policy (RFC 4217).",
        causes=("Usually PROT C (clear data) while the server requires PROT P.",),
        remedy="Use PROT P (after PBSZ 0) before any transfer.",
        finding_id="ftps_data_protection_refused",
    ),
    _Reply(
        522,
        "TLS negotiation failed or was unacceptable on the data connection.",
        "The TLS handshake on the data connection failed or was not acceptable (RFC 4217).",
        causes=(
            "vsftpd: '522 SSL connection failed: session reuse required', after which it "
            "closes the control connection. " + _REUSE,
            "The data connection is in clear text while the server requires encryption "
            "('522 Data connections must be encrypted', '522 SSL/TLS required on the data "
            "channel').",
            "Outside FTPS (RFC 2428): EPRT with a network protocol the server does not support.",
        ),
        remedy="Use PROT P for data connections. " + _REUSE_FIX,
        finding_id="ftps_data_tls_failed",
    ),
    _Reply(
        530,
        "Not logged in.",
        "The server refused the login, or wants one first.",
        causes=(
            "A wrong user name or password, or anonymous login is disabled.",
            "FTPS: vsftpd with TLS switched off answers AUTH TLS with '530 Please login with "
            "USER and PASS'; vsftpd requiring TLS answers a plain-text USER with '530 … "
            "sessions must use encryption'.",
        ),
        remedy="Check the credentials; if the reply answers AUTH TLS, TLS is not enabled on the "
        "server; if it asks for encryption, use ftpes:// or ftps://.",
        side=E,
        finding_id="ftp_login_refused",
    ),
    _Reply(
        532,
        "Need account for storing files.",
        "Storing files needs an account (ACCT).",
        remedy="Send the account information the server expects.",
        side=C,
    ),
    _Reply(
        533,
        "Command protection level denied for policy reasons.",
        "The server refuses the command at this protection level (RFC 2228).",
        causes=("FTPS: CCC (clear command channel) was sent without protection.",),
        remedy="Send CCC only over the TLS-protected control connection.",
        side=C,
        finding_id="ftps_policy_refused",
    ),
    _Reply(
        534,
        "Request denied for policy reasons.",
        "The server's security policy forbids the request (RFC 2228).",
        causes=(
            "FTPS: the server refuses AUTH, a PROT level (proftpd answers PROT C with 534 "
            "when TLS is required) or CCC.",
        ),
        remedy="Use the protection the server requires (AUTH TLS, PROT P), or change its policy.",
        finding_id="ftps_policy_refused",
    ),
    _Reply(
        535,
        "Failed security check.",
        "A protected command failed its integrity check (RFC 2228).",
        causes=("Used by GSSAPI-style mechanisms; with TLS it points to a broken implementation.",),
        remedy="Check the server's security log; reconnect.",
        finding_id="ftps_security_check_failed",
    ),
    _Reply(
        536,
        "Requested PROT level not supported by mechanism.",
        "The server does not support that data protection level with this mechanism.",
        causes=(
            "FTPS: PROT S or PROT E, which have no meaning with TLS.",
            "A server that does not offer protected data connections at all.",
        ),
        remedy=(
            "Use PROT P (or C); if PROT P itself is refused, enable data encryption on the server."
        ),
        finding_id="ftps_prot_p_refused",
    ),
    _Reply(
        537,
        "Command protection level not supported by security mechanism.",
        "The mechanism does not support this command protection level (RFC 2228).",
        causes=("Not used with TLS.",),
        remedy="Use AUTH TLS.",
        finding_id="ftps_policy_refused",
    ),
    _Reply(
        550,
        "Requested action not taken. File unavailable.",
        "The file or directory is unavailable (not found, no access).",
        causes=(
            "FTPS: proftpd answers '550 SSL/TLS required on the control channel' when TLS "
            "is required and the client has not sent AUTH TLS.",
        ),
        remedy="Check the path and permissions; if the reply asks for TLS, use ftpes:// or ftps://.",
    ),
    _Reply(
        551,
        "Requested action aborted: page type unknown.",
        "The server does not know the page type.",
        remedy="Correct the command.",
        side=C,
    ),
    _Reply(
        552,
        "Requested file action aborted. Exceeded storage allocation.",
        "The storage quota is exceeded.",
        remedy="Free space or raise the quota.",
        side=S,
    ),
    _Reply(
        553,
        "Requested action not taken. File name not allowed.",
        "The file name is not allowed.",
        remedy="Use another file name.",
        side=C,
    ),
    _Reply(
        631,
        "Integrity protected reply.",
        "A reply protected by the security mechanism (RFC 2228).",
        causes=("TLS never sends this; the server negotiated another mechanism.",),
    ),
    _Reply(
        632,
        "Confidentiality and integrity protected reply.",
        "A reply protected by the security mechanism (RFC 2228).",
        causes=("TLS never sends this; the server negotiated another mechanism.",),
    ),
    _Reply(
        633,
        "Confidentiality protected reply.",
        "A reply protected by the security mechanism (RFC 2228).",
        causes=("TLS never sends this; the server negotiated another mechanism.",),
    ),
)
_FTP = {reply.code: reply for reply in FTP_ROWS}

# first digit: class finding id, severity, description
FTP_CLASSES = {
    1: (_FTP_POSITIVE, INFO, "a positive preliminary reply: the action is starting"),
    2: (_FTP_POSITIVE, INFO, "a positive completion reply: the action succeeded"),
    3: (_FTP_POSITIVE, INFO, "a positive intermediate reply: more input is needed"),
    4: (
        _FTP_TRANSIENT,
        ERROR,
        "a transient negative reply: the action failed, a retry may succeed",
    ),
    5: (_FTP_PERMANENT, ERROR, "a permanent negative reply: the action failed"),
    6: (_FTP_PROTECTED, INFO, "a protected reply of an RFC 2228 security mechanism"),
}
# Positive replies that still mean trouble for FTPS.
_FTP_SEVERITY = {120: WARNING, 334: ERROR}


def ftp_reply(code: int) -> Explanation:
    """What an FTP reply code means, with its FTPS reading; generic by first digit if unknown."""
    reply = _FTP.get(code)
    if reply is not None:
        class_id, severity, _ = FTP_CLASSES[code // 100]
        return Explanation(
            kind="ftp",
            key=f"ftp:{code}",
            title=f"FTP reply {code}",
            reason=reply.text,
            summary=reply.summary,
            causes=reply.causes,
            remedy=reply.remedy,
            side=reply.side,
            severity=_FTP_SEVERITY.get(code, severity),
            finding_id=reply.finding_id or class_id,
        )
    klass = FTP_CLASSES.get(code // 100) if 100 <= code <= 699 else None
    if klass is None:
        return Explanation(
            kind="ftp",
            key=f"ftp:{code}",
            title=f"FTP reply {code}",
            reason="not an FTP reply code",
            summary=f"{code} is not a valid FTP reply code (they run from 100 to 699).",
            causes=("The peer is not an FTP server, or the reply was garbled.",),
            remedy="Check that the port belongs to an FTP server.",
            side=E,
            severity=ERROR,
            finding_id="ftp_reply_invalid",
        )
    class_id, severity, description = klass
    return Explanation(
        kind="ftp",
        key=f"ftp:{code}",
        title=f"FTP reply {code}",
        reason=f"reply class {code // 100}xx",
        summary=f"An FTP reply code the standards do not define; it is {description}.",
        causes=("A server-specific reply; its text says more.",),
        remedy="Read the reply text and the server's documentation.",
        side=E,
        severity=severity,
        finding_id=class_id,
    )
