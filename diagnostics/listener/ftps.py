# -*- test-case-name: tests.integration.test_listen_ftps -*-
"""The FTPS side of a listener: explicit (``AUTH TLS``) and implicit, with the data channel.

The replies carry the verdict in their text; any ``USER``/``PASS`` is
accepted once the control connection is protected; ``LIST``/``NLST`` return
the report as lines over a passive (``EPSV``/``PASV``) data connection.  With
``PROT P`` the data connection is TLS from its first byte, on the same server
context (one session cache): whether its handshake resumed the control
connection's session is recorded, because file-transfer servers refuse data
connections that do not.

``session.ftp`` (the JSON ``ftp`` object of a listener session): ``mode``,
``role`` ("listener"), ``commands`` (what the client sent, the password
masked), ``user``, ``auth``, ``prot``, ``tls_before_auth``,
``cleartext_commands`` (commands refused before ``AUTH TLS``),
``data_without_prot_p`` (the passive command refused because ``PROT P`` was
not sent, else null) and ``data_connections`` ([{command, protected, port, tls: {version, cipher,
session_reused} or null, tls_error, bytes}]).
"""

from __future__ import annotations

from typing import Any

from OpenSSL import SSL
from twisted.internet.interfaces import IAddress, IHandshakeListener, IListeningPort
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.protocols.basic import LineReceiver
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure as TwistedFailure
from zope.interface import implementer

from diagnostics.listener.session import HELLO_HEAD, Gate, Session, looks_like_tls
from diagnostics.model.escape import escape
from diagnostics.model.result import Failure, Phase, ProbeResult
from diagnostics.tls.creators import RecordingServerCreator
from diagnostics.tls.trust import ssl_reason

MAX_COMMANDS = 200
"""Commands kept in the record at most (a chatty client cannot grow it without bound)."""

_BEFORE_AUTH = frozenset({"AUTH", "FEAT", "SYST", "NOOP", "QUIT", "HELP"})
_ACCEPTED = frozenset({"TYPE", "MODE", "STRU", "OPTS", "ALLO", "CLNT"})
_LISTING = frozenset({"LIST", "NLST", "MLSD"})
_FEATURES = ("AUTH TLS", "PBSZ", "PROT", "EPSV", "PASV", "UTF8")
_REUSE_REQUIRED = "SSL connection failed: session reuse required."


def _clean(text: str) -> str:
    return " ".join(text.replace("\r", " ").replace("\n", " ").split())


def reply_bytes(code: int, lines: list[str]) -> bytes:
    """One FTP reply, multi-line when more than one line is given.

    The framing holds whatever the lines carry (the client's own command echoed, a verdict
    quoting its certificate): CR and LF become spaces and every other control character
    ``\\XX`` (:func:`diagnostics.model.escape.escape`), so a line cannot end early, and every
    line but the last starts ``CODE-``, so none can pose as the reply's last line.
    """
    shown = [escape(_clean(line)) for line in lines] or [""]
    out = [f"{code}-{line}" for line in shown[:-1]] + [f"{code} {shown[-1]}"]
    return ("\r\n".join(out) + "\r\n").encode("utf-8")


def new_record(mode: str) -> dict[str, Any]:
    """The ``ftp`` facts of a listener session, before anything happened."""
    return {
        "mode": mode,
        "role": "listener",
        "commands": [],
        "user": None,
        "auth": "implicit" if mode == "implicit" else None,
        "prot": None,
        "tls_before_auth": False,
        "cleartext_commands": [],
        "data_without_prot_p": None,
        "data_connections": [],
    }


@implementer(IHandshakeListener)
class DataConnection(Protocol):
    """One passive data connection: ready when connected (and its TLS handshake done)."""

    def __init__(self, channel: DataChannel) -> None:
        self.channel = channel

    def connectionMade(self) -> None:
        self.channel.connected(self)

    def handshakeCompleted(self) -> None:
        self.channel.secured()

    def dataReceived(self, data: bytes) -> None:
        pass  # a listing is sent, never received

    def connectionLost(self, reason: TwistedFailure = connectionDone) -> None:
        self.channel.closed(reason)


class _DataFactory(Factory[Protocol]):
    noisy = False

    def __init__(self, channel: DataChannel) -> None:
        self.channel = channel

    def buildProtocol(self, addr: IAddress | None) -> Protocol | None:
        if self.channel.connection is not None:
            return None  # one data connection per passive command
        return DataConnection(self.channel)


class DataChannel:
    """The passive port opened by ``EPSV``/``PASV`` and its one data connection."""

    def __init__(self, server: FTPServer, *, protected: bool) -> None:
        self.server = server
        self.session = server.session
        self.protected = protected
        self.connection: DataConnection | None = None
        self.creator: RecordingServerCreator | None = None
        self.command: str | None = None
        self.ready = False
        self.sent = False
        self.gone = False
        self.refused = False  # closed for not resuming the control session (a lab fault)
        self.record: dict[str, Any] | None = None
        factory: Any = _DataFactory(self)
        if protected:
            self.creator = self.session.data_creator()
            factory = TLSMemoryBIOFactory(self.creator, False, factory, clock=self.session.reactor)
        host = server.transport.getHost().host  # type: ignore[union-attr]
        self.port: IListeningPort = self.session.reactor.listenTCP(  # type: ignore[attr-defined]
            0, factory, interface=host
        )
        self.number: int = self.port.getHost().port

    def stop(self) -> None:
        """Stop accepting (the one connection, if any, carries on)."""
        self.port.stopListening()

    def abort(self) -> None:
        """Stop accepting and drop the data connection (the control connection is gone)."""
        self.stop()
        transport: Any = self.connection.transport if self.connection is not None else None
        if transport is not None and not self.gone:
            transport.abortConnection()

    def connected(self, connection: DataConnection) -> None:
        self.connection = connection
        self.stop()
        if not self.protected:
            self.ready = True
            self.server.data_ready()

    def secured(self) -> None:
        record = self.note()
        faults = self.session.material.options.faults
        if faults.require_session_reuse and not (record["tls"] or {}).get("session_reused"):
            self.refused = True
            self.server.data_refused(self)
            return
        self.ready = True
        self.server.data_ready()

    def note(self) -> dict[str, Any]:
        """Add this connection to the session's record (once); the record."""
        if self.record is not None:
            return self.record
        tls = None
        if self.creator is not None and self.creator.capture.tls is not None:
            facts = self.creator.capture.tls
            tls = {
                "version": facts.version,
                "cipher": facts.cipher,
                "session_reused": facts.session_reused,
            }
        self.record = {
            "command": self.command,
            "protected": self.protected,
            "port": self.number,
            "tls": tls,
            "tls_error": None,
            "bytes": 0,
        }
        assert self.session.ftp is not None
        self.session.ftp["data_connections"].append(self.record)
        return self.record

    def send(self, data: bytes) -> None:
        """Write the listing and close the data connection."""
        assert self.connection is not None and self.connection.transport is not None
        record = self.note()
        record["command"] = self.command
        record["bytes"] = len(data)
        self.sent = True
        self.connection.transport.write(data)
        self.connection.transport.loseConnection()

    def closed(self, reason: TwistedFailure) -> None:
        self.gone = True
        if isinstance(reason.value, SSL.Error):
            record = self.note()
            record["tls_error"] = ssl_reason(reason.value)
        self.server.data_closed(self)


@implementer(IHandshakeListener)
class FTPServer(LineReceiver):
    """The control connection of an FTPS listener session."""

    delimiter = b"\n"

    def __init__(self, session: Session, *, implicit: bool) -> None:
        self.session = session
        self.implicit = implicit
        self.MAX_LENGTH = session.limits.max_line_bytes
        session.ftp = new_record("implicit" if implicit else "explicit")
        self.ftp = session.ftp
        self.logged_in = False
        self.data: DataChannel | None = None
        self.pending: str | None = None
        self.closing = False
        self.hello: bytes | None = None  # after AUTH TLS: the first bytes of the handshake

    # -- plumbing ----------------------------------------------------------------------

    def reply(self, code: int, *lines: str) -> None:
        """Send one reply (several lines make a multi-line reply)."""
        transport: Any = self.transport
        if transport is not None and not self.closing:
            transport.write(reply_bytes(code, list(lines)))

    def verdict(self) -> ProbeResult:
        """The session judged as it stands now."""
        return self.session.verdict()

    def connectionMade(self) -> None:
        if not self.implicit:
            self.reply(
                220,
                "tlsdiag listen: this server reports what your FTPS client does.",
                "Explicit FTPS: send AUTH TLS.",
            )

    def handshakeCompleted(self) -> None:
        if self.implicit:
            self.reply(
                220,
                *self.session.reports.reply_lines(self.verdict()),
                "tlsdiag listen ready (implicit FTPS).",
            )

    def dataReceived(self, data: bytes) -> None:
        session = self.session
        before_auth = not self.implicit and not session.secured and self.ftp["auth"] is None
        if before_auth and looks_like_tls(data):
            self.ftp["tls_before_auth"] = True
            session.fail(
                Failure(
                    phase=Phase.STARTTLS,
                    kind="wrong_scheme",
                    message="the client sent a TLS ClientHello instead of AUTH TLS on "
                    "this explicit-FTPS port",
                )
            )
            # Close, not reset: a reset can destroy the greeting before the client reads it,
            # and the greeting in its TLS error is what tells the partner the port is explicit.
            self.closing = True
            transport: Any = self.transport
            transport.loseConnection()
            return
        LineReceiver.dataReceived(self, data)  # type: ignore[no-untyped-call]

    def lineLengthExceeded(self, line: bytes) -> None:
        self.session.fail(
            Failure(
                phase=self.session.phase,
                kind="request_too_large",
                message=f"a command line exceeded {self.MAX_LENGTH} bytes",
            )
        )
        self.reply(500, "Command line too long; closing the connection.")
        self.closing = True
        # Close after the reply (the idle bound still cuts off a client that stops reading).
        transport: Any = self.transport
        transport.loseConnection()

    def connectionLost(self, reason: TwistedFailure = connectionDone) -> None:
        if self.data is not None:
            self.data.abort()
        self.session.lost(reason)

    # -- commands ----------------------------------------------------------------------

    def lineReceived(self, line: bytes) -> None:
        if self.closing:
            return
        text = line.rstrip(b"\r").decode("utf-8", "replace")
        verb, _, argument = text.partition(" ")
        verb = verb.upper()
        shown = "PASS ****" if verb == "PASS" else _clean(text)
        if len(self.ftp["commands"]) < MAX_COMMANDS:
            self.ftp["commands"].append(shown)
        if not self.session.secured and verb not in _BEFORE_AUTH:
            if len(self.ftp["cleartext_commands"]) < MAX_COMMANDS:
                self.ftp["cleartext_commands"].append(shown)
            self.reply(530, "This server requires AUTH TLS before any other command.")
            return
        handler = getattr(self, f"ftp_{verb}", None)
        if handler is None:
            if verb in _ACCEPTED:
                self.reply(200, f"{verb} accepted.")
            else:
                self.reply(502, f"{verb} is not implemented by tlsdiag listen.")
            return
        handler(argument.strip())

    def ftp_AUTH(self, argument: str) -> None:
        if self.session.material.options.faults.refuse_auth:
            self.reply(530, "Please login with USER and PASS.")
            return
        if self.session.secured or self.implicit:
            self.reply(503, "TLS is already active.")
            return
        if argument.upper() not in ("TLS", "TLS-C", "SSL"):
            self.reply(504, f"AUTH {argument} is not supported; use AUTH TLS.")
            return
        self.ftp["auth"] = argument.upper()
        self.reply(234, "Proceed with TLS negotiation.")
        self.session.phase = Phase.HANDSHAKE
        # TLS starts once the ClientHello's header is in and within the size bound, as on a
        # TLS-first port (the Gate's check): until then the bytes are held here, raw.
        self.hello = b""
        self.setRawMode()  # type: ignore[no-untyped-call]

    def rawDataReceived(self, data: bytes) -> None:
        """The client's first bytes after ``AUTH TLS``: held until :data:`HELLO_HEAD` of a
        handshake record are in, checked, then handed to the TLS layer started now."""
        if self.hello is None:
            return
        self.hello += data
        if len(self.hello) < HELLO_HEAD and self.hello[:1] in (b"", b"\x16"):
            return
        head, self.hello = self.hello, None
        if head[:1] == b"\x16" and self.session.refuse_hello(head):
            self.closing = True
            return
        self.setLineMode()  # type: ignore[no-untyped-call]
        transport: Any = self.transport
        transport.startTLS(self.session.new_creator())
        transport.protocol.dataReceived(head)

    def ftp_FEAT(self, _argument: str) -> None:
        self.reply(211, "Features:", *(f" {feature}" for feature in _FEATURES), "End")

    def ftp_SYST(self, _argument: str) -> None:
        self.reply(215, "UNIX Type: L8")

    def ftp_NOOP(self, _argument: str) -> None:
        self.reply(200, "NOOP ok.")

    def ftp_HELP(self, _argument: str) -> None:
        self.reply(214, "tlsdiag listen: log in with any user and password, then LIST.")

    def ftp_USER(self, argument: str) -> None:
        self.ftp["user"] = argument
        self.reply(331, "Any password is accepted.")

    def ftp_PASS(self, _argument: str) -> None:
        self.logged_in = True
        self.reply(
            230,
            *self.session.reports.reply_lines(self.verdict()),
            "Logged in; LIST shows the full report.",
        )

    def ftp_PBSZ(self, _argument: str) -> None:
        self.reply(200, "PBSZ=0")

    def ftp_PROT(self, argument: str) -> None:
        level = argument.upper()
        if level == "P":
            self.ftp["prot"] = "P"
            self.reply(200, "Protection level set to Private.")
        else:
            self.reply(536, f"PROT {level} is refused: this server requires PROT P.")

    def ftp_PWD(self, _argument: str) -> None:
        self.reply(257, '"/" is the only directory.')

    def ftp_CWD(self, _argument: str) -> None:
        self.reply(250, "Directory unchanged.")

    def ftp_QUIT(self, _argument: str) -> None:
        self.reply(221, *self.session.reports.reply_lines(self.verdict()), "Goodbye.")
        self.closing = True
        self.session.concluded = True
        transport: Any = self.transport
        transport.loseConnection()

    def _passive(self, verb: str) -> DataChannel | None:
        if not self.logged_in:
            self.reply(530, "Log in first (any user and password).")
            return None
        if self.ftp["prot"] != "P":
            self.ftp["data_without_prot_p"] = verb
            self.reply(521, "Data connections need PROT P on this server.")
            return None
        if self.data is not None:
            # A new passive command replaces the previous data connection: one per session.
            if self.data.sent:
                self.data.stop()
            else:
                self.data.abort()
        try:
            self.data = DataChannel(self, protected=True)
        except Exception as exc:  # no free port: the client hears it, the session goes on
            self.data = None
            self.reply(425, f"Cannot open a passive port: {exc}")
            return None
        return self.data

    def ftp_EPSV(self, argument: str) -> None:
        if argument.upper() == "ALL":
            self.reply(200, "EPSV ALL accepted.")
            return
        channel = self._passive("EPSV")
        if channel is not None:
            self.reply(229, f"Entering Extended Passive Mode (|||{channel.number}|)")

    def ftp_PASV(self, _argument: str) -> None:
        host = self.transport.getHost().host  # type: ignore[union-attr]
        named = self.session.material.options.faults.pasv_address or host
        if ":" in host:
            self.reply(522, "PASV is IPv4 only; use EPSV.")
            return
        channel = self._passive("PASV")
        if channel is not None:
            numbers = [*named.split("."), str(channel.number >> 8), str(channel.number & 0xFF)]
            self.reply(227, f"Entering Passive Mode ({','.join(numbers)})")

    def _listing(self, verb: str) -> None:
        channel = self.data
        if channel is None or channel.sent:
            self.reply(425, "Use EPSV or PASV first.")
            return
        if channel.refused:
            self.reply(522, _REUSE_REQUIRED)
            return
        channel.command = verb
        self.pending = verb
        self.reply(150, "Here comes the tlsdiag report.")
        if channel.ready:
            self.data_ready()

    def ftp_LIST(self, _argument: str) -> None:
        self._listing("LIST")

    def ftp_NLST(self, _argument: str) -> None:
        self._listing("NLST")

    def ftp_MLSD(self, _argument: str) -> None:
        self._listing("MLSD")

    def ftp_RETR(self, _argument: str) -> None:
        self.reply(550, "No files here: LIST shows the report.")

    def ftp_STOR(self, _argument: str) -> None:
        self.reply(553, "This server does not store files.")

    # -- the data channel --------------------------------------------------------------

    def data_ready(self) -> None:
        """Both the listing command and its data connection are there: send the report."""
        channel = self.data
        if channel is None or self.pending is None or not channel.ready or channel.sent:
            return
        channel.note()["command"] = self.pending
        report = self.session.reports.report(self.verdict())
        channel.send(report.replace("\n", "\r\n").encode("utf-8") + b"\r\n")

    def data_refused(self, channel: DataChannel) -> None:
        """Refuse a data connection that did not resume the control session, as vsftpd does."""
        if self.pending is not None and channel is self.data:
            self.pending = None
            self.reply(522, _REUSE_REQUIRED)
        channel.abort()

    def data_closed(self, channel: DataChannel) -> None:
        """The data connection is gone: confirm the transfer (with its verdict) or refuse it."""
        if channel is not self.data or self.pending is None:
            return
        self.pending = None
        self.session.touch()
        record = channel.record or {}
        if not channel.sent:
            error = record.get("tls_error") or "the data connection closed early"
            self.reply(425, f"Data connection failed: {error}")
            return
        tls = record.get("tls") or {}
        if tls.get("session_reused"):
            self.reply(226, "Report sent; the data connection resumed the TLS session.")
        else:
            self.reply(
                226,
                "Report sent; WARNING: the data connection did NOT resume the control "
                "connection's TLS session.",
                "A file-transfer server that requires session reuse would have refused it "
                "(522/425).",
            )


def ftps_gate(session: Session, *, implicit: bool) -> Gate:
    """The connection protocol of an FTPS listener session."""
    return Gate(session, FTPServer(session, implicit=implicit), tls_first=implicit)
