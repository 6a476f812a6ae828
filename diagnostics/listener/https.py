# -*- test-case-name: tests.integration.test_listen_clients -*-
"""The HTTPS side of a listener: any request is answered with the session's report.

Status 200 when the client certificate (if one is asked for) lets the client
in, 403 when it is missing, rejected or names another account.  The body is
the plain-text report, or the JSON result for ``Accept: application/json``.
Only the request head is read, up to the size limit; then the connection is
closed.  Plain HTTP on the TLS port gets a 400 answer saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure as TwistedFailure

from diagnostics.listener.session import Gate, Session
from diagnostics.listener.verdict import refused
from diagnostics.model.jsonform import dumps
from diagnostics.model.result import Failure, Phase, ProbeResult

ALPN = (b"http/1.1",)
_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 431: "Request Header Fields Too Large"}


def parse_head(head: bytes) -> dict[str, Any]:
    """The request line and the few headers the report needs, from a request head."""
    lines = head.decode("iso-8859-1").split("\r\n")
    method, _, rest = lines[0].partition(" ")
    path, _, version = rest.rpartition(" ") if " " in rest else (rest, "", "")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return {
        "method": method,
        "path": path,
        "version": version or None,
        "host": headers.get("host"),
        "user_agent": headers.get("user-agent"),
        "accept": headers.get("accept"),
    }


def response(status: int, body: str, content_type: str) -> bytes:
    """A complete HTTP/1.1 response that closes the connection."""
    data = body.encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        f"Content-Type: {content_type}; charset=utf-8\r\n"
        f"Content-Length: {len(data)}\r\n"
        "Cache-Control: no-store\r\n"
        "Server: tlsdiag-listen\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + data


def _body(
    result: ProbeResult, accept: str | None, report: Callable[[ProbeResult], str]
) -> tuple[str, str]:
    if accept and "application/json" in accept.lower():
        return dumps(result) + "\n", "application/json"
    return report(result) + "\n", "text/plain"


class ReportResponder(Protocol):
    """Inside TLS: read one request head, answer with the report, close."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.buffer = bytearray()
        self.answered = False

    def dataReceived(self, data: bytes) -> None:
        if self.answered:
            return
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        limit = self.session.limits.max_request_bytes
        if end < 0 and len(self.buffer) <= limit:
            return
        session = self.session
        if end < 0 or end > limit:
            session.http = {"request_too_large": True, "limit_bytes": limit}
            session.fail(
                Failure(
                    phase=Phase.APPLICATION,
                    kind="request_too_large",
                    message=f"the request head exceeded {limit} bytes",
                )
            )
            self.answer(431, "The request head is too large for tlsdiag listen.\n", "text/plain")
            return
        request = parse_head(bytes(self.buffer[:end]))
        session.http = request
        verdict = session.verdict()
        status = 403 if refused(verdict) else 200
        request["response_status"] = status
        body, content_type = _body(verdict, request["accept"], session.reports.report)
        self.answer(status, body, content_type)

    def answer(self, status: int, body: str, content_type: str) -> None:
        """Send the response and close."""
        self.answered = True
        self.session.concluded = True
        transport: Any = self.transport
        transport.write(response(status, body, content_type))
        transport.loseConnection()

    def connectionLost(self, reason: TwistedFailure = connectionDone) -> None:
        self.session.lost(reason)


def plain_http_answer(session: Session, data: bytes) -> None:
    """Plain HTTP on the TLS port: record it as OpenSSL would name it, answer 400."""
    head = bytes(data).split(b"\r\n\r\n", 1)[0][: session.limits.max_request_bytes]
    session.http = {**parse_head(head), "response_status": 400}
    session.fail(
        Failure(
            phase=Phase.HANDSHAKE,
            kind="tls_error",
            message="a plain HTTP request arrived on the TLS port",
            reason="http request",
        )
    )
    body = session.reports.report(session.verdict()) + "\n"
    transport: Any = session.transport
    transport.write(response(400, body, "text/plain"))
    transport.loseConnection()


def https_gate(session: Session) -> Gate:
    """The connection protocol of an HTTPS listener session."""
    return Gate(
        session,
        ReportResponder(session),
        tls_first=True,
        alpn=ALPN,
        on_plain_http=lambda data: plain_http_answer(session, data),
    )
