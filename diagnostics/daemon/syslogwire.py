"""RFC 5424 syslog messages of the daemon's events, and their framing (pure functions).

``<PRI>1 TIMESTAMP HOSTNAME tlsdiag PROCID MSGID - MSG``: facility local0, the severity
from the event's ``log.level``, the MSGID from its ``event.action`` (else the stream), no
structured data, and MSG the JSON line exactly as written to the stream's file (UTF-8,
without a BOM).  TCP frames are octet-counted (RFC 6587: ``LEN SP MSG``); a UDP datagram
holds one message.
"""

from __future__ import annotations

import json
import re
from typing import Any

import attrs

APP_NAME = "tlsdiag"
FACILITY = 16  # local0
# The largest message sent (header included); a larger one is dropped and counted.
MAX_MESSAGE_BYTES = 64 * 1024
MAX_DATAGRAM_BYTES = 65507  # the most one UDP datagram over IPv4 holds
SEVERITIES = {"critical": 2, "error": 3, "warning": 4, "info": 6, "debug": 7}
SCHEMES = ("udp", "tcp")
_PRINTABLE = re.compile(r"[^\x21-\x7e]")


@attrs.frozen
class SyslogAddress:
    """Where messages go: ``udp://HOST:PORT`` or ``tcp://HOST:PORT``."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_address(text: str) -> SyslogAddress:
    """``udp://HOST:PORT`` or ``tcp://HOST:PORT``; ValueError saying what is wrong."""
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise ValueError(f"{text!r} is not udp://HOST:PORT or tcp://HOST:PORT")
    host, colon, port_text = rest.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not host or "/" in rest or any(c.isspace() for c in rest):
        raise ValueError(f"{text!r} needs a host and a port, as in udp://127.0.0.1:514")
    if not port_text.isascii() or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
    return SyslogAddress(scheme.lower(), host, int(port_text))


def _field(text: str, limit: int, fallback: str = "-") -> str:
    """An RFC 5424 header field: printable US-ASCII, at most ``limit`` characters."""
    cleaned = _PRINTABLE.sub("_", text)[:limit]
    return cleaned or fallback


def format_message(line: str, *, stream: str, hostname: str, procid: int) -> bytes:
    """One RFC 5424 message for a JSON event ``line`` of ``stream``."""
    try:
        event: Any = json.loads(line)
    except ValueError:
        event = {}
    if not isinstance(event, dict):
        event = {}
    level = event.get("log.level")
    severity = SEVERITIES.get(level if isinstance(level, str) else "", 6)
    action = event.get("event.action")
    msgid = _field(action if isinstance(action, str) and action else stream, 32)
    stamp = event.get("@timestamp")
    timestamp = _field(stamp, 32) if isinstance(stamp, str) else "-"
    header = (
        f"<{FACILITY * 8 + severity}>1 {timestamp} {_field(hostname, 255)} {APP_NAME} "
        f"{procid} {msgid} - "
    )
    return header.encode("ascii") + line.encode("utf-8")


def octet_counted(message: bytes) -> bytes:
    """The RFC 6587 frame of one message on a TCP stream."""
    return b"%d %s" % (len(message), message)
