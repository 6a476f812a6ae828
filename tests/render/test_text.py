"""The text renderer's layout: one item per line, continuation lines indented."""

from __future__ import annotations

from diagnostics.model.result import AddressTried, Connection, ProbeResult, Target
from diagnostics.render.text import render_text


def test_multi_line_ftp_greeting_keeps_the_layout() -> None:
    """A multi-line 220 greeting is shown on the ftp: line, its further lines indented under
    its text, so that no line of the report starts at the left margin except the verdict."""
    target = Target(url="ftps://ftp.example:990", scheme="ftps", host="ftp.example", port=990)
    greeting = "Welcome to the example archive\nUploads go to /incoming\r\nBe nice"
    result = ProbeResult(target=target, ftp={"greeting": greeting})
    lines = render_text(result).split("\n")
    start = lines.index("  ftp: Welcome to the example archive")
    indent = " " * len("  ftp: ")
    assert lines[start + 1 : start + 3] == [f"{indent}Uploads go to /incoming", f"{indent}Be nice"]
    assert all(line.startswith("  ") for line in lines[1:])
    assert not any("\r" in line for line in lines)


def test_one_line_ftp_greeting_is_one_line() -> None:
    """A one-line greeting stays on the ftp: line."""
    target = Target(url="ftpes://ftp.example:21", scheme="ftpes", host="ftp.example", port=21)
    result = ProbeResult(target=target, ftp={"greeting": "FTP ready"})
    assert [line for line in render_text(result).split("\n") if "ftp:" in line] == [
        "  ftp: FTP ready"
    ]


def test_address_line_names_the_address_used_and_those_that_failed() -> None:
    """A name's address is shown, with the ones tried before it; an address given in the
    URL that answered at once needs no line."""
    named = Target(url="tls://db.example:443", scheme="tls", host="db.example", port=443)
    fallback = Connection("127.0.0.1", 4, (AddressTried("::1", 6, "connection_refused"),))
    lines = render_text(ProbeResult(target=named, connection=fallback)).split("\n")
    assert "  address: 127.0.0.1 (IPv4); tried before: ::1 (connection_refused)" in lines
    direct = Connection("192.0.2.7", 4)
    lines = render_text(ProbeResult(target=named, connection=direct)).split("\n")
    assert "  address: 192.0.2.7 (IPv4)" in lines
    none = Connection(None, None, (AddressTried("192.0.2.7", 4, "timeout"),))
    lines = render_text(ProbeResult(target=named, connection=none)).split("\n")
    assert "  address: none answered; tried before: 192.0.2.7 (timeout)" in lines
    literal = Target(url="tls://127.0.0.1:443", scheme="tls", host="127.0.0.1", port=443)
    connected = Connection("127.0.0.1", 4)
    text = render_text(ProbeResult(target=literal, connection=connected))
    assert "address:" not in text
