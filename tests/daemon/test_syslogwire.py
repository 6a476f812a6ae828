"""The RFC 5424 message of an event, its TCP framing, and the ``[daemon] syslog`` key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diagnostics.daemon.config import ConfigError, load_config
from diagnostics.daemon.syslogwire import (
    SyslogAddress,
    format_message,
    octet_counted,
    parse_address,
)
from tests.support.daemon import daemon_config


def event(**fields: str) -> str:
    return json.dumps({"@timestamp": "2026-01-02T03:04:05.678Z", **fields})


def test_message_header_and_body() -> None:
    line = event(**{"log.level": "warning", "event.action": "tls-probe", "message": "ü"})
    message = format_message(line, stream="client", hostname="box", procid=42)
    header = b"<132>1 2026-01-02T03:04:05.678Z box tlsdiag 42 tls-probe - "
    assert message == header + line.encode("utf-8")


@pytest.mark.parametrize(
    ("level", "severity"), [("error", 3), ("warning", 4), ("info", 6), ("debug", 7)]
)
def test_severity_from_level(level: str, severity: int) -> None:
    message = format_message(event(**{"log.level": level}), stream="s", hostname="h", procid=1)
    assert message.startswith(f"<{128 + severity}>1 ".encode())


def test_msgid_falls_back_to_stream_and_is_printable_and_short() -> None:
    no_action = format_message(event(), stream="daemon", hostname="h", procid=1)
    assert no_action.split(b" ")[5] == b"daemon"
    odd = format_message(event(**{"event.action": "a b\té" + "x" * 40}), stream="s",
                         hostname="my host", procid=1)  # fmt: skip
    fields = odd.split(b" ")
    assert fields[2] == b"my_host"
    assert fields[5] == b"a_b__" + b"x" * 27
    assert len(fields[5]) == 32


def test_not_json_still_formats() -> None:
    message = format_message("plain", stream="daemon", hostname="h", procid=1)
    assert message == b"<134>1 - h tlsdiag 1 daemon - plain"


def test_octet_counting_counts_bytes() -> None:
    assert octet_counted("é".encode()) == b"2 \xc3\xa9"


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("udp://127.0.0.1:514", SyslogAddress("udp", "127.0.0.1", 514)),
        ("TCP://logs.example:6514", SyslogAddress("tcp", "logs.example", 6514)),
        ("tcp://[::1]:601", SyslogAddress("tcp", "::1", 601)),
    ],
)
def test_addresses(text: str, address: SyslogAddress) -> None:
    assert parse_address(text) == address


@pytest.mark.parametrize(
    "text",
    ["127.0.0.1:514", "http://h:1", "udp://h", "udp://:514", "udp://h:0", "udp://h:70000",
     "udp://h:x", "tcp://h:514/path", "udp://h h:1"],
)  # fmt: skip
def test_bad_addresses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_address(text)


def test_config_key(tmp_path: Path) -> None:
    good = load_config(str(daemon_config(tmp_path, syslog="udp://127.0.0.1:5514")), environ={})
    assert good.daemon.syslog == SyslogAddress("udp", "127.0.0.1", 5514)
    assert load_config(str(daemon_config(tmp_path)), environ={}).daemon.syslog is None
    with pytest.raises(ConfigError) as caught:
        load_config(str(daemon_config(tmp_path, syslog="udp://127.0.0.1:99999")), environ={})
    assert "daemon.syslog: " in str(caught.value)
    assert "65535" in str(caught.value)
