# -*- test-case-name: tests.integration.test_ftps_servers -*-
"""``ftpes://`` (explicit FTPS, ``AUTH TLS``) and ``ftps://`` (implicit FTPS) probes.

The control channel is read as bounded FTP replies; every command and reply is
kept in ``run.ftp["replies"]`` (the password shown as ``****``).  After login,
``PBSZ 0`` and ``PROT P``, the data channel is checked with ``LIST``:

1. once offering the control connection's TLS session (taken after a reply
   was read, so that TLS 1.3 session tickets have arrived);
2. when the server accepts ``PROT C``, once in clear, to learn whether it
   really carries data unprotected (only then does a listing cross in clear);
3. when step 1 resumed, once more without offering a session, to learn
   whether the server *requires* session reuse.  vsftpd hangs up after
   refusing such a connection, so this comes last.

An explicit probe finally opens a separate plain connection and sends only
``USER`` with the configured user name (never the password) to learn whether a
login in clear is accepted.  ``--no-data-channel`` (``options.data_channel``
false) ends the dialogue after ``PROT P``.

Both mix-ups of the two FTPS flavours are recognised by what the server sends,
never by its slowness alone: an explicit probe waits for the greeting until the
deadline, and when it is late, a second connection offers TLS meanwhile; a port
that completes that handshake or answers it with a TLS alert is an implicit port
probed as ``ftpes://`` (TLS records arriving on the plain connection say the
same).  A plain ``220`` greeting where TLS was expected is an explicit port probed
as ``ftps://``.  A server that never greets times out in the ``starttls`` phase.

``run.ftp`` (the JSON ``ftp`` object) holds: ``mode`` (explicit/implicit),
``greeting``, ``replies`` ([{command, code, text}], ``command`` null for the
greeting and for the second reply to one command), ``auth`` ("TLS", "SSL",
"implicit" or null), ``login`` ("ok"/"refused"), ``prot`` ("P", "C",
"refused"), ``prot_c`` ("accepted"/"refused"), ``control_address``,
``pasv_address`` and ``pasv_address_differs``, ``data_channel``,
``data_channel_without_reuse`` and ``data_channel_clear`` (each {command,
protected, passive, port, tls: {version, cipher, session_reused}, session_offered,
resumed, bytes, ok, reply: {code, text}, tls_error, connect_error,
control_lost} or null), ``session_reuse_required``, ``cleartext_allowed``,
``cleartext_login``, ``cleartext_data`` (true/false/null = not known),
``cleartext_check`` (the plain ``USER`` exchange), ``suggested_scheme``
("ftps"/"ftpes" when the other flavour answered), ``plain_greeting`` and
``stopped_at`` (the reply that ended the dialogue).  Failure kinds:
``ftp_reply`` (a reply stopped the probe; the message quotes it),
``wrong_scheme``, ``ftp_protocol`` (not FTP), ``ftp_data_channel``.
"""

from __future__ import annotations

import collections
import contextlib
import re
from collections.abc import Callable, Coroutine
from typing import Any

import attrs
from OpenSSL import SSL
from twisted.internet import defer, error
from twisted.internet.protocol import Protocol, connectionDone
from twisted.protocols.basic import LineReceiver
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure as TwistedFailure

from diagnostics.model.certificates import is_ip_literal
from diagnostics.model.errors import TlsdiagError
from diagnostics.model.options import ProbeOptions
from diagnostics.model.result import Failure, Phase, ProbeResult, Target, TLSFacts
from diagnostics.probes.run import (
    ProbeAborted,
    ProbeRun,
    Stream,
    handshake_finished,
    run_probe,
)
from diagnostics.tls.creators import RecordingClientCreator, one_connection
from diagnostics.tls.trust import TrustMaterial, ssl_reason

__all__ = ["ControlChannel", "FTPProtocolError", "Reply", "parse_epsv", "parse_pasv", "probe"]

MAX_LINE = 4096
"""Longest reply line accepted, in bytes."""
MAX_REPLY_LINES = 200
"""Most lines accepted in one multi-line reply."""
GREETING_SILENCE = 3.0
"""Seconds without a greeting after which an explicit probe also offers TLS on a second
connection (an implicit port?); the greeting itself is awaited until the deadline."""
OPTIONAL_STEP_LIMIT = 5.0
"""Upper bound, in seconds, of each optional check (they never fail the probe)."""
OPTIONAL_STEP_MINIMUM = 1.0
"""An optional check is skipped when less time than this is left."""
DATA_CLOSE_WAIT = 2.0
"""Seconds to wait for the server to close a data connection after the final reply."""
LISTING_LIMIT = 4 * 1024 * 1024
"""Bytes of listing read at most; a bigger listing is cut off."""

SUCCESS_CODES = frozenset({226, 250})
# Replies a server gives when it refuses a data connection that did not resume
# the control session (vsftpd 522, proftpd and FileZilla Server 425, others 450/426).
REUSE_REFUSAL_CODES = frozenset({421, 425, 426, 450, 522})
# AUTH TLS answers meaning "this mechanism name is not understood": try AUTH SSL.
AUTH_FALLBACK_CODES = frozenset({500, 501, 504})
# Replies refusing clear data connections outright.
CLEAR_DATA_REFUSAL_CODES = frozenset({421, 425, 426, 450, 521, 522, 530, 533, 534, 550})

_REPLY = re.compile(r"([0-9]{3})([ -]?)(.*)\Z", re.DOTALL)
_EPSV = re.compile(r"\((.)\1\1([0-9]{1,5})\1\)")
_PASV = re.compile(",".join([r"([0-9]{1,3})"] * 6))


class FTPProtocolError(TlsdiagError):
    """The server broke the FTP reply syntax or one of our bounds."""


class WrongProtocol(FTPProtocolError):
    """Something other than FTP answered (TLS records, say)."""


@attrs.frozen
class Reply:
    """One FTP reply: the code and the text of each line (code prefixes removed)."""

    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """The reply text, lines joined with newlines."""
        return "\n".join(self.lines)

    @property
    def preliminary(self) -> bool:
        """A 1xx reply: another reply to the same command follows."""
        return 100 <= self.code < 200

    def __str__(self) -> str:
        return f"{self.code} {' '.join(line.strip() for line in self.lines)}".strip()


def parse_epsv(text: str) -> int | None:
    """The port of a ``229 Entering Extended Passive Mode (|||port|)`` reply."""
    match = _EPSV.search(text)
    if match is None:
        return None
    port = int(match.group(2))
    return port if 0 < port < 65536 else None


def parse_pasv(text: str) -> tuple[str, int] | None:
    """The address and port of a ``227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)`` reply."""
    match = _PASV.search(text)
    if match is None:
        return None
    numbers = [int(n) for n in match.groups()]
    if any(n > 255 for n in numbers):
        return None
    port = numbers[4] * 256 + numbers[5]
    if port == 0:
        return None
    return ".".join(str(n) for n in numbers[:4]), port


def _looks_like_tls(data: bytes) -> bool:
    # A TLS record header: handshake (22) or alert (21), then major version 3.
    return len(data) >= 2 and data[0] in (0x15, 0x16) and data[1] == 0x03


class ControlChannel(LineReceiver):
    """The FTP control channel: bounded replies, delivered in order to whoever waits."""

    delimiter = b"\n"
    MAX_LENGTH = MAX_LINE

    def __init__(self) -> None:
        self.replies: collections.deque[Reply] = collections.deque()
        self.waiters: collections.deque[defer.Deferred[Reply]] = collections.deque()
        self.error: BaseException | None = None
        self.lost = False
        self.received_any = False
        self._code: int | None = None
        self._lines: list[str] = []

    @property
    def usable(self) -> bool:
        """True while commands can still be sent and answered."""
        return self.error is None and not self.lost

    # -- receiving ---------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        if self.error is not None:
            return
        if not self.received_any and data:
            self.received_any = True
            if _looks_like_tls(data):
                self._fail(WrongProtocol("the server sent TLS records instead of an FTP greeting"))
                return
        LineReceiver.dataReceived(self, data)  # type: ignore[no-untyped-call]

    def lineReceived(self, line: bytes) -> None:
        if self.error is not None:
            return
        text = line.rstrip(b"\r").decode("utf-8", "replace")
        if self._code is None:
            match = _REPLY.match(text)
            if match is None:
                shown = text[:80]
                self._fail(FTPProtocolError(f"not an FTP reply: {shown!r}"))
                return
            code = int(match.group(1))
            if match.group(2) == "-":
                self._code = code
                self._lines = [match.group(3)]
                return
            self._deliver(Reply(code, (match.group(3),)))
            return
        prefix = str(self._code)
        if text.startswith(prefix) and text[3:4] in (" ", ""):
            self._lines.append(text[4:])
            code, lines = self._code, tuple(self._lines)
            self._code, self._lines = None, []
            self._deliver(Reply(code, lines))
            return
        if text.startswith(prefix + "-"):
            text = text[4:]
        self._lines.append(text)
        if len(self._lines) > MAX_REPLY_LINES:
            self._fail(FTPProtocolError(f"a multi-line reply exceeded {MAX_REPLY_LINES} lines"))

    def lineLengthExceeded(self, line: bytes) -> None:
        self._fail(FTPProtocolError(f"a reply line exceeded {MAX_LINE} bytes"))

    def connectionLost(self, reason: TwistedFailure = connectionDone) -> None:
        self.lost = True
        if self.error is None:
            self.error = reason.value
        self._fail_waiters()

    def _deliver(self, reply: Reply) -> None:
        if self.waiters:
            self.waiters.popleft().callback(reply)
        else:
            self.replies.append(reply)

    def _fail(self, exc: BaseException) -> None:
        self.error = exc
        self.clearLineBuffer()  # type: ignore[no-untyped-call]
        self._fail_waiters()
        transport: Any = self.transport
        if transport is not None:
            transport.loseConnection()

    def _fail_waiters(self) -> None:
        assert self.error is not None
        while self.waiters:
            self.waiters.popleft().errback(self.error)

    # -- asking ------------------------------------------------------------------------

    def next_reply(self) -> defer.Deferred[Reply]:
        """The next complete reply (already received or still to come)."""
        if self.replies:
            return defer.succeed(self.replies.popleft())
        if self.error is not None:
            return defer.fail(self.error)

        def cancel(d: defer.Deferred[Reply]) -> None:
            if d in self.waiters:
                self.waiters.remove(d)

        waiter: defer.Deferred[Reply] = defer.Deferred(cancel)
        self.waiters.append(waiter)
        return waiter

    def send(self, command: str) -> None:
        """Send one command line."""
        transport: Any = self.transport
        if not self.usable or transport is None:
            raise error.ConnectionLost("the control connection is closed")
        transport.write(command.encode("utf-8") + b"\r\n")


class DataReceiver(Protocol):
    """One data connection: counts the bytes and reports the close."""

    def __init__(self) -> None:
        self.count = 0
        self.reason: TwistedFailure | None = None
        self.closed: defer.Deferred[None] = defer.Deferred()
        self.truncated = False

    def dataReceived(self, data: bytes) -> None:
        self.count += len(data)
        if self.count > LISTING_LIMIT and not self.truncated:
            self.truncated = True
            transport: Any = self.transport
            transport.loseConnection()

    def connectionLost(self, reason: TwistedFailure = connectionDone) -> None:
        self.reason = reason
        if not self.closed.called:
            self.closed.callback(None)


@attrs.define
class DataOutcome:
    """What one data-channel attempt showed."""

    protected: bool
    session_offered: bool
    passive: str | None = None
    port: int | None = None
    tls: TLSFacts | None = None
    tls_error: str | None = None
    connect_error: str | None = None
    count: int = 0
    preliminary: Reply | None = None
    final: Reply | None = None
    control_lost: bool = False

    @property
    def ok(self) -> bool:
        """The listing arrived and the server confirmed the transfer."""
        return self.final is not None and self.final.code in SUCCESS_CODES

    @property
    def resumed(self) -> bool:
        """The data connection's handshake resumed a session."""
        return self.tls is not None and self.tls.session_reused

    def as_dict(self) -> dict[str, Any]:
        """The JSON form kept in ``ftp.data_channel``."""
        tls = None
        if self.tls is not None:
            tls = {
                "version": self.tls.version,
                "cipher": self.tls.cipher,
                "session_reused": self.tls.session_reused,
            }
        return {
            "command": "LIST",
            "protected": self.protected,
            "passive": self.passive,
            "port": self.port,
            "tls": tls,
            "session_offered": self.session_offered,
            "resumed": self.resumed,
            "bytes": self.count,
            "ok": self.ok,
            "reply": _reply_dict(self.final),
            "tls_error": self.tls_error,
            "connect_error": self.connect_error,
            "control_lost": self.control_lost,
        }


def _reply_dict(reply: Reply | None) -> dict[str, Any] | None:
    if reply is None:
        return None
    return {"code": reply.code, "text": reply.text}


class StepFailed(TlsdiagError):
    """A command got a reply that ends the dialogue."""

    def __init__(self, command: str, reply: Reply) -> None:
        super().__init__(f"{command}: {reply}")
        self.command = command
        self.reply = reply


class _Dialogue:
    """One control connection's conversation, with its record in ``run.ftp``."""

    def __init__(self, run: ProbeRun, stream: Stream, control: ControlChannel) -> None:
        self.run = run
        self.stream = stream
        self.control = control
        assert run.ftp is not None
        self.ftp = run.ftp

    def log(self, command: str | None, reply: Reply) -> None:
        self.ftp["replies"].append({"command": command, "code": reply.code, "text": reply.text})

    async def reply(self, command: str | None) -> Reply:
        """The next reply, logged under ``command``."""
        reply = await self.control.next_reply()
        self.log(command, reply)
        return reply

    async def command(self, line: str, shown: str | None = None) -> Reply:
        """Send a command and return its reply (the first one, for a 1xx)."""
        self.control.send(line)
        return await self.reply(shown or line)


# -- helpers -------------------------------------------------------------------------------


def _endpoint(run: ProbeRun, host: str, port: int, timeout: float) -> Any:
    return run.endpoint(host, port, max(1.0, timeout))


async def _bounded(run: ProbeRun, d: defer.Deferred[Any], seconds: float) -> Any:
    """Await ``d`` for at most ``seconds``; defer.TimeoutError after that."""
    d.addTimeout(max(0.05, seconds), run.reactor)
    return await d


async def _optional(
    run: ProbeRun,
    step: Callable[[], Coroutine[Any, Any, None]],
    *,
    limit: float = OPTIONAL_STEP_LIMIT,
    control: ControlChannel | None = None,
) -> None:
    """Run an optional check under its own bound; it never fails the probe.

    A check that started on ``control`` and did not finish leaves that
    connection in an unknown state: it is marked unusable.
    """
    seconds = min(limit, run.remaining() - 0.25)
    if seconds < OPTIONAL_STEP_MINIMUM:
        return
    d: defer.Deferred[None] = defer.Deferred.fromCoroutine(step())
    try:
        await _bounded(run, d, seconds)
    except (
        defer.TimeoutError,
        error.ConnectError,
        error.ConnectionLost,
        error.ConnectionDone,
        FTPProtocolError,
        StepFailed,
        SSL.Error,
        OSError,
    ) as exc:
        if control is not None and control.error is None:
            control.error = exc


def _abort(transport: Any) -> None:
    if transport is None:
        return
    if hasattr(transport, "abortConnection"):
        transport.abortConnection()
    else:
        transport.loseConnection()


def _new_record(mode: str) -> dict[str, Any]:
    return {
        "mode": mode,
        "greeting": None,
        "replies": [],
        "auth": None,
        "login": None,
        "prot": None,
        "prot_c": None,
        "control_address": None,
        "pasv_address": None,
        "pasv_address_differs": None,
        "data_channel": None,
        "data_channel_without_reuse": None,
        "data_channel_clear": None,
        "session_reuse_required": None,
        "cleartext_allowed": None,
        "cleartext_login": None,
        "cleartext_data": None,
        "cleartext_check": None,
        "suggested_scheme": None,
        "plain_greeting": None,
        "stopped_at": None,
    }


def _check_credentials(options: ProbeOptions) -> None:
    for what, value in (("user name", options.user), ("password", options.password)):
        if "\r" in value or "\n" in value:
            raise ProbeAborted(
                Failure(
                    phase=Phase.CONNECT,
                    kind="configuration",
                    message=f"the FTP {what} contains a line break",
                )
            )


def _stop(ftp: dict[str, Any], command: str, reply: Reply) -> None:
    ftp["stopped_at"] = {"command": command, "code": reply.code, "text": reply.text}


def _reply_failure(phase: Phase, what: str, reply: Reply) -> ProbeAborted:
    return ProbeAborted(Failure(phase=phase, kind="ftp_reply", message=f"{what}: {reply}"))


def _scrub(value: Any, secret: str) -> Any:
    """``value`` with every occurrence of ``secret`` in its strings replaced."""
    if isinstance(value, str):
        return value.replace(secret, "****")
    if isinstance(value, dict):
        return {key: _scrub(item, secret) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item, secret) for item in value]
    return value


# -- opening the control channel -----------------------------------------------------------


async def _plain_control(run: ProbeRun) -> tuple[Stream, ControlChannel]:
    stream = Stream()
    await run.connect(one_connection(stream))
    control = ControlChannel()
    stream.attach(control)
    return stream, control


async def _greeting(dialogue: _Dialogue, first: Reply | None = None) -> Reply:
    """Read the greeting (after any ``120`` delay notices); a non-220 ends the probe."""
    if first is not None:
        dialogue.log(None, first)
        reply = first
    else:
        reply = await dialogue.reply(None)
    while reply.code == 120 or reply.preliminary:
        reply = await dialogue.reply(None)
    dialogue.ftp["greeting"] = reply.text
    if reply.code != 220:
        _stop(dialogue.ftp, "(greeting)", reply)
        raise _reply_failure(dialogue.run.phase, "the server refused the session", reply)
    return reply


async def _open_explicit(run: ProbeRun) -> _Dialogue:
    """Connect, read the greeting, ``AUTH TLS`` and the handshake: a protected dialogue."""
    ftp = run.ftp
    assert ftp is not None
    stream, control = await _plain_control(run)
    run.phase = Phase.STARTTLS
    dialogue = _Dialogue(run, stream, control)
    try:
        first = await _first_reply(run, control)
    except WrongProtocol as exc:
        ftp["suggested_scheme"] = "ftps"
        raise ProbeAborted(
            Failure(phase=Phase.STARTTLS, kind="wrong_scheme", message=str(exc))
        ) from None
    await _greeting(dialogue, first)
    auth = await dialogue.command("AUTH TLS")
    mechanism = "TLS"
    if auth.code in AUTH_FALLBACK_CODES:
        auth = await dialogue.command("AUTH SSL")
        mechanism = "SSL"
    if auth.code != 234:
        _stop(ftp, f"AUTH {mechanism}", auth)
        raise _reply_failure(Phase.STARTTLS, f"AUTH {mechanism} refused", auth)
    ftp["auth"] = mechanism
    await run.start_tls(dialogue.stream)
    run.phase = Phase.APPLICATION
    return dialogue


async def _first_reply(run: ProbeRun, control: ControlChannel) -> Reply:
    """The first reply on the control connection, waited for until the probe's deadline.

    Nothing but the greeting's own words decide: a slow greeting (reverse DNS, ident
    lookups) is waited for, and the connection carries nothing before it.  When it is
    late (after ``GREETING_SILENCE``), a second connection offers a TLS ClientHello
    meanwhile: a port that completes the handshake, or answers with a TLS alert, is an
    implicit FTPS port; a plain-text answer there (or none) leaves the wait as it was.
    """
    window = min(GREETING_SILENCE, run.remaining() / 3)
    try:
        reply: Reply = await _bounded(run, control.next_reply(), window)
        return reply
    except defer.TimeoutError:
        pass
    outcome: defer.Deferred[Reply] = defer.Deferred()

    def settle(value: Reply | TwistedFailure) -> None:
        if not outcome.called:
            if isinstance(value, TwistedFailure):
                outcome.errback(value)
            else:
                outcome.callback(value)

    greeting = control.next_reply()
    greeting.addBoth(settle)
    check: defer.Deferred[None] = defer.Deferred.fromCoroutine(_implicit_port_check(run, window))
    check.addErrback(settle)
    try:
        return await outcome
    finally:
        greeting.cancel()
        check.cancel()


async def _implicit_port_check(run: ProbeRun, window: float) -> None:
    """On a second connection, offer TLS: ProbeAborted (wrong scheme) when TLS answers.

    Returns quietly when the answer is plain text, nothing, or a failure to connect:
    then the port is no implicit FTPS port as far as anyone can tell, and the greeting
    on the first connection is still awaited.
    """
    assert run.peer_address is not None
    stream = Stream()
    creator = run.new_creator()
    factory = TLSMemoryBIOFactory(creator, True, one_connection(stream), clock=run.reactor)
    endpoint = _endpoint(run, run.peer_address, run.target.port, run.remaining())
    try:
        connected = await endpoint.connect(factory)
    except (error.ConnectError, OSError):
        return
    try:
        await handshake_finished(stream, creator)
    except SSL.Error as exc:
        reason = ssl_reason(exc)
        if "alert" not in reason:
            return  # "wrong version number": plain text answered the ClientHello
        answer = f"a second connection's TLS ClientHello was answered with a TLS alert ({reason})"
        raise _implicit_port(run, creator, window, answer, reason) from None
    except (error.ConnectionLost, error.ConnectionDone):
        return
    finally:
        _abort(connected.transport)
    run.handshake_at = run.reactor.seconds()
    raise _implicit_port(run, creator, window, "a second connection completed a TLS handshake")


def _implicit_port(
    run: ProbeRun,
    creator: RecordingClientCreator,
    window: float,
    answer: str,
    reason: str | None = None,
) -> ProbeAborted:
    """The wrong-scheme verdict on a port that answered TLS; its handshake is the capture."""
    assert run.ftp is not None
    run.creator = creator
    run.ftp["suggested_scheme"] = "ftps"
    return ProbeAborted(
        Failure(
            phase=Phase.STARTTLS,
            kind="wrong_scheme",
            message=f"no FTP greeting within {window:g} s, and {answer}: it is an implicit "
            "FTPS port",
            reason=reason,
        )
    )


async def _open_implicit(run: ProbeRun) -> _Dialogue:
    """TLS from the first byte, then the greeting."""
    ftp = run.ftp
    assert ftp is not None
    try:
        stream = await run.connect_tls()
    except SSL.Error as exc:
        if "wrong version number" in ssl_reason(exc):
            await _optional(run, lambda: _plain_greeting_check(run))
        raise
    control = ControlChannel()
    stream.attach(control)
    ftp["auth"] = "implicit"
    run.phase = Phase.APPLICATION
    dialogue = _Dialogue(run, stream, control)
    try:
        await _greeting(dialogue)
    except Exception:
        run.check_lost_as_handshake(stream)
        raise
    return dialogue


async def _side_control(run: ProbeRun) -> tuple[Any, ControlChannel]:
    """A separate plain control connection to the same address (for side checks)."""
    assert run.peer_address is not None
    control = ControlChannel()
    endpoint = _endpoint(run, run.peer_address, run.target.port, run.remaining())
    protocol = await endpoint.connect(one_connection(control))
    return protocol.transport, control


async def _plain_greeting_check(run: ProbeRun) -> None:
    """After ``wrong version number``: does the port greet in plain text?"""
    ftp = run.ftp
    assert ftp is not None and run.peer_address is not None
    transport, control = await _side_control(run)
    try:
        reply = await control.next_reply()
        ftp["plain_greeting"] = {"code": reply.code, "text": reply.text}
        if reply.code in (120, 220, 421):
            ftp["suggested_scheme"] = "ftpes"
        control.send("QUIT")
    finally:
        _abort(transport)


async def _cleartext_login_check(run: ProbeRun) -> None:
    """Is ``USER`` accepted before ``AUTH``?  The password is never sent here."""
    ftp = run.ftp
    assert ftp is not None
    transport, control = await _side_control(run)
    try:
        greeting = await control.next_reply()
        check: dict[str, Any] = {
            "greeting": {"code": greeting.code, "text": greeting.text},
            "command": None,
            "reply": None,
        }
        ftp["cleartext_check"] = check
        if greeting.code != 220:
            ftp["cleartext_login"] = False
            return
        command = f"USER {run.options.user}"
        control.send(command)
        reply = await control.next_reply()
        check["command"] = command
        check["reply"] = {"code": reply.code, "text": reply.text}
        # 331 "send password" or 230 "logged in": the login goes ahead in clear.
        ftp["cleartext_login"] = reply.code in (230, 331, 332)
        if control.usable:
            control.send("QUIT")
    finally:
        _abort(transport)


# -- the protected dialogue ------------------------------------------------------------------


async def _login(dialogue: _Dialogue) -> None:
    ftp = dialogue.ftp
    options = dialogue.run.options
    reply = await dialogue.command(f"USER {options.user}")
    command = "USER"
    if reply.code == 331:
        reply = await dialogue.command(f"PASS {options.password}", shown="PASS ****")
        command = "PASS"
    if reply.code in (230, 202):
        ftp["login"] = "ok"
        return
    ftp["login"] = "refused"
    _stop(ftp, command, reply)
    await _quit(dialogue)
    raise _reply_failure(Phase.APPLICATION, "login refused", reply)


async def _protect(dialogue: _Dialogue) -> bool:
    """``PBSZ 0`` and ``PROT P``; True when the data channel will be protected."""
    ftp = dialogue.ftp
    await dialogue.command("PBSZ 0")
    reply = await dialogue.command("PROT P")
    if reply.code == 200:
        ftp["prot"] = "P"
        return True
    ftp["prot"] = "refused"
    ftp["prot_reply"] = {"code": reply.code, "text": reply.text}
    return False


async def _passive(dialogue: _Dialogue) -> tuple[str, int]:
    """``EPSV`` (``PASV`` when refused): the passive command used and the port."""
    run = dialogue.run
    reply = await dialogue.command("EPSV")
    if reply.code == 229:
        port = parse_epsv(reply.text)
        if port is None:
            raise FTPProtocolError(f"cannot read the port in the EPSV reply: {reply}")
        return "EPSV", port
    assert run.peer_address is not None
    if ":" in run.peer_address:
        raise StepFailed("EPSV", reply)
    reply = await dialogue.command("PASV")
    if reply.code != 227:
        raise StepFailed("PASV", reply)
    parsed = parse_pasv(reply.text)
    if parsed is None:
        raise FTPProtocolError(f"cannot read the address in the PASV reply: {reply}")
    _note_pasv_address(dialogue, parsed[0])
    return "PASV", parsed[1]


def _note_pasv_address(dialogue: _Dialogue, address: str) -> None:
    ftp = dialogue.ftp
    ftp["pasv_address"] = address
    peer = dialogue.run.peer_address
    # Through a proxy that resolved a name, the server's address is not known here.
    known = peer is not None and is_ip_literal(peer)
    ftp["pasv_address_differs"] = address != peer if known else None


async def _pasv_address_check(dialogue: _Dialogue) -> None:
    """Ask ``PASV`` once only to read the address the server names (never used)."""
    reply = await dialogue.command("PASV")
    if reply.code == 227:
        parsed = parse_pasv(reply.text)
        if parsed is not None:
            _note_pasv_address(dialogue, parsed[0])


async def _transfer(
    dialogue: _Dialogue, *, protected: bool, session: SSL.Session | None
) -> DataOutcome:
    """One ``LIST`` over one data connection, always to the control connection's address."""
    run = dialogue.run
    outcome = DataOutcome(protected=protected, session_offered=session is not None)
    outcome.passive, outcome.port = await _passive(dialogue)
    assert run.peer_address is not None
    receiver = DataReceiver()
    creator: RecordingClientCreator | None = None
    factory: Any = one_connection(receiver)
    if protected:
        creator = run.new_creator(servername=run.target.verify_name, session=session)
        factory = TLSMemoryBIOFactory(creator, True, factory, clock=run.reactor)
    endpoint = _endpoint(run, run.peer_address, outcome.port, run.remaining())
    try:
        connected = await endpoint.connect(factory)
    except (error.ConnectError, OSError) as exc:
        outcome.connect_error = str(exc) or type(exc).__name__
        return outcome
    try:
        try:
            reply = await dialogue.command("LIST")
            if reply.preliminary:
                outcome.preliminary = reply
                reply = await dialogue.reply(None)
            outcome.final = reply
        except (error.ConnectionLost, error.ConnectionDone, SSL.Error):
            outcome.control_lost = True
        used = outcome.preliminary is not None or outcome.ok
        if used and not receiver.closed.called:
            # The server closes the data connection when it is done with it.
            with contextlib.suppress(defer.TimeoutError):
                seconds = min(DATA_CLOSE_WAIT, run.remaining() - 0.2)
                await _bounded(run, receiver.closed, seconds)
    finally:
        if not receiver.closed.called:
            _abort(connected.transport)
    outcome.count = receiver.count
    if creator is not None and creator.capture.done:
        outcome.tls = creator.capture.tls
    if receiver.reason is not None and isinstance(receiver.reason.value, SSL.Error):
        outcome.tls_error = ssl_reason(receiver.reason.value)
    outcome.control_lost = outcome.control_lost or not dialogue.control.usable
    return outcome


def _refused_for_reuse(outcome: DataOutcome) -> bool:
    """The server refused a data connection whose (completed) handshake did not resume."""
    return (
        outcome.tls is not None
        and not outcome.resumed
        and outcome.final is not None
        and outcome.final.code in REUSE_REFUSAL_CODES
    )


async def _data_channel(dialogue: _Dialogue) -> None:
    """The data-channel checks; raises ProbeAborted when no listing could be read."""
    run = dialogue.run
    ftp = dialogue.ftp
    assert run.creator is not None and run.creator.capture.connection is not None
    assert run.peer_address is not None
    # Read after at least one reply: TLS 1.3 tickets have arrived by now.
    control_session = run.creator.capture.connection.get_session()
    if ":" not in run.peer_address:
        await _pasv_address_check(dialogue)
    try:
        first = await _transfer(dialogue, protected=True, session=control_session)
    except StepFailed as exc:
        _stop(ftp, exc.command, exc.reply)
        raise _reply_failure(Phase.APPLICATION, "no passive data connection", exc.reply) from None
    ftp["data_channel"] = first.as_dict()
    if not first.ok:
        if _refused_for_reuse(first):
            ftp["session_reuse_required"] = True
        await _quit(dialogue)
        raise _data_failure(first)
    if not first.resumed:
        # A data connection that did not resume was accepted.
        ftp["session_reuse_required"] = False

    async def clear_check() -> None:
        await _clear_data_check(dialogue)

    await _optional(run, clear_check, control=dialogue.control)
    if first.resumed and ftp["prot"] == "P" and dialogue.control.usable:

        async def without_reuse() -> None:
            second = await _transfer(dialogue, protected=True, session=None)
            ftp["data_channel_without_reuse"] = second.as_dict()
            if second.ok:
                ftp["session_reuse_required"] = False
            elif _refused_for_reuse(second):
                ftp["session_reuse_required"] = True

        await _optional(run, without_reuse, control=dialogue.control)


async def _clear_data_check(dialogue: _Dialogue) -> None:
    """``PROT C``: refused, or accepted, and then does a listing really cross in clear?"""
    ftp = dialogue.ftp
    reply = await dialogue.command("PROT C")
    if reply.code != 200:
        ftp["prot_c"] = "refused"
        ftp["cleartext_data"] = False
        return
    ftp["prot_c"] = "accepted"
    ftp["prot"] = "C"
    try:
        clear = await _transfer(dialogue, protected=False, session=None)
    except StepFailed as exc:
        # Some servers refuse the passive command itself while PROT C is set.
        clear = None
        if exc.reply.code in CLEAR_DATA_REFUSAL_CODES:
            ftp["cleartext_data"] = False
    if clear is not None:
        ftp["data_channel_clear"] = clear.as_dict()
        if clear.ok:
            ftp["cleartext_data"] = True
        elif clear.final is not None and clear.final.code in CLEAR_DATA_REFUSAL_CODES:
            ftp["cleartext_data"] = False
    if dialogue.control.usable:
        back = await dialogue.command("PROT P")
        if back.code == 200:
            ftp["prot"] = "P"


def _data_failure(outcome: DataOutcome) -> ProbeAborted:
    if outcome.connect_error is not None:
        message = f"the data connection to port {outcome.port} failed: {outcome.connect_error}"
        return ProbeAborted(
            Failure(phase=Phase.APPLICATION, kind="ftp_data_channel", message=message)
        )
    if outcome.final is not None:
        what = "the listing failed"
        if outcome.tls is not None and not outcome.resumed:
            what = "the data connection was refused after a TLS handshake that did not resume"
        elif outcome.tls_error is not None:
            what = f"the data-channel TLS handshake failed ({outcome.tls_error})"
        return ProbeAborted(
            Failure(
                phase=Phase.APPLICATION,
                kind="ftp_reply",
                message=f"{what}: {outcome.final}",
                reason=outcome.tls_error,
            )
        )
    message = "the control connection closed during the listing"
    if outcome.tls_error is not None:
        message += f"; the data-channel TLS handshake failed ({outcome.tls_error})"
    return ProbeAborted(
        Failure(
            phase=Phase.APPLICATION,
            kind="ftp_data_channel",
            message=message,
            reason=outcome.tls_error,
        )
    )


async def _quit(dialogue: _Dialogue) -> None:
    """Say goodbye when the control connection is still up; never fails."""
    # Stay clear of the probe's deadline: a slow goodbye must not fail the probe.
    seconds = min(2.0, dialogue.run.remaining() - 0.2)
    if not dialogue.control.usable or seconds <= 0:
        return
    try:
        dialogue.control.send("QUIT")
        goodbye = defer.Deferred.fromCoroutine(dialogue.reply("QUIT"))
        await _bounded(dialogue.run, goodbye, seconds)
    except Exception:  # the goodbye is a courtesy; its failure is no finding
        return


def _summarise(ftp: dict[str, Any]) -> None:
    """``cleartext_allowed``: true when either check found clear text accepted."""
    login, data = ftp["cleartext_login"], ftp["cleartext_data"]
    if ftp["mode"] == "implicit":
        login = False  # an implicit port has no clear-text phase
    if login is True or data is True:
        ftp["cleartext_allowed"] = True
    elif login is False and data is False:
        ftp["cleartext_allowed"] = False
    else:
        ftp["cleartext_allowed"] = None


async def _conversation(run: ProbeRun, dialogue: _Dialogue) -> None:
    """Login, protection, the data channel, goodbye."""
    ftp = dialogue.ftp
    ftp["control_address"] = run.peer_address
    try:
        await _login(dialogue)
        protected = await _protect(dialogue)
        if protected and run.options.data_channel:
            await _data_channel(dialogue)
    except ProbeAborted:
        raise
    except StepFailed as exc:
        _stop(ftp, exc.command, exc.reply)
        raise _reply_failure(Phase.APPLICATION, exc.command, exc.reply) from None
    except Exception:
        # A TLS 1.3 server rejects a client certificate only after the handshake.
        run.check_lost_as_handshake(dialogue.stream)
        raise
    await _quit(dialogue)


def _body(mode: str) -> Callable[[ProbeRun], Coroutine[Any, Any, None]]:
    async def body(run: ProbeRun) -> None:
        run.ftp = _new_record(mode)
        ftp = run.ftp
        secret = run.options.password if len(run.options.password) >= 3 else None
        try:
            _check_credentials(run.options)
            if mode == "explicit":
                dialogue = await _open_explicit(run)
            else:
                dialogue = await _open_implicit(run)
            await _conversation(run, dialogue)
            if mode == "explicit" and ftp["login"] == "ok":
                await _optional(run, lambda: _cleartext_login_check(run))
        except FTPProtocolError as exc:
            kind = "wrong_scheme" if isinstance(exc, WrongProtocol) else "ftp_protocol"
            if kind == "wrong_scheme":
                ftp["suggested_scheme"] = "ftps"
            failure = Failure(phase=run.phase, kind=kind, message=str(exc))
            raise ProbeAborted(_scrub_failure(failure, secret)) from None
        except ProbeAborted as exc:
            raise ProbeAborted(_scrub_failure(exc.failure, secret)) from None
        finally:
            _summarise(ftp)
            if secret is not None:
                run.ftp = _scrub(ftp, secret)

    return body


def _scrub_failure(failure: Failure, secret: str | None) -> Failure:
    if secret is None or secret not in failure.message:
        return failure
    return attrs.evolve(failure, message=failure.message.replace(secret, "****"))


def probe_explicit(
    reactor: Any, target: Target, options: ProbeOptions, material: TrustMaterial
) -> defer.Deferred[ProbeResult]:
    """Probe an explicit FTPS server (``ftpes://``: ``AUTH TLS`` on a plain connection)."""
    return run_probe(reactor, target, options, material, _body("explicit"))


def probe_implicit(
    reactor: Any, target: Target, options: ProbeOptions, material: TrustMaterial
) -> defer.Deferred[ProbeResult]:
    """Probe an implicit FTPS server (``ftps://``: TLS from the first byte)."""
    return run_probe(reactor, target, options, material, _body("implicit"))


def probe(
    reactor: Any, target: Target, options: ProbeOptions, material: TrustMaterial
) -> defer.Deferred[ProbeResult]:
    """Probe an FTPS server, explicit or implicit after the target's scheme."""
    if target.scheme == "ftpes":
        return probe_explicit(reactor, target, options, material)
    return probe_implicit(reactor, target, options, material)
