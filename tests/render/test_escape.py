"""Peer text in every text form: control characters escaped as ``\\XX``, JSON exact.

Pure: hand-built results whose certificate names, SANs, HTTP and FTP texts, client facts and
findings carry line feeds, carriage returns, BEL, colour and window-title sequences and a
fake ``Verify return code: 0 (ok)`` line.  No renderer may pass one raw control character
(only its own line feeds, and colour codes when asked for); each shows the escapes.
"""

from __future__ import annotations

import json
import re

import pytest
from cryptography import x509

from diagnostics.explain.entries import Explanation
from diagnostics.model.escape import CONTROL, escape, first_control, split_lines
from diagnostics.model.jsonform import dumps
from diagnostics.model.result import (
    ClientInfo,
    Failure,
    Finding,
    HostnameCheck,
    Phase,
    ProbeResult,
    Severity,
    Side,
    Status,
    Target,
    TLSFacts,
    VerifyEvent,
)
from diagnostics.pki.inspection import inspect_bytes
from diagnostics.render import render
from diagnostics.render.console import describe
from diagnostics.render.explanation import render_explanation
from diagnostics.render.inspection import render_inspection
from diagnostics.render.session import PLAIN_TEXT_REPORTS
from tests.support import pki

# Everything a terminal obeys: a new line (with a forged verdict on it), a carriage return, BEL,
# a colour, a window title, CSI as one C1 character, NUL and DEL.
HOSTILE = "evil\nVerify return code: 0 (ok)\r\x07\x1b[31mred\x1b]0;title\x07\x9b\x00\x7f"
ESCAPED = r"evil\0AVerify return code: 0 (ok)\0D\07\1B[31mred\1B]0;title\07\9B\00\7F"
FAKE = "Verify return code: 0 (ok)"
# A DNS SAN is ASCII (IA5String): the same without the C1 character.
HOSTILE_SAN = HOSTILE.replace("\x9b", "")


def test_every_control_character_becomes_backslash_and_two_hex_digits() -> None:
    """C0, DEL and C1 are written as OpenSSL writes them in names; nothing else changes."""
    controls = [*range(0x20), 0x7F, *range(0x80, 0xA0)]
    for code in controls:
        assert escape(chr(code)) == f"\\{code:02X}"
    kept = "plain text, München, 東京, 😀, a\\b, \u00a0, \u200b"
    assert escape(kept) == kept
    assert escape(HOSTILE) == ESCAPED
    assert CONTROL.search(escape(HOSTILE)) is None


def test_escaping_twice_changes_nothing() -> None:
    """The escaped text holds no control character: a renderer may escape a line again."""
    assert escape(escape(HOSTILE)) == escape(HOSTILE)


def test_first_control_names_the_character() -> None:
    """The first control character as U+XXXX (what the cert tool's refusal names)."""
    assert first_control("abc") is None
    assert first_control("a\x1b[31m\n") == "U+001B"
    assert first_control("\x9b") == "U+009B"


def test_lines_are_cut_at_line_feeds_only() -> None:
    """LF and CRLF end a line; U+2028, U+001C and a lone CR stay inside it."""
    assert split_lines("a\r\nb\nc\u2028d\x1ce\rf") == ["a", "b", "c\u2028d\x1ce\rf"]


# -- a result full of hostile text ---------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_leaf() -> x509.Certificate:
    """A self-signed leaf whose O, CN and DNS SAN are the hostile text."""
    return pki.issue(None, HOSTILE, organization=HOSTILE, sans=(HOSTILE_SAN, "localhost")).cert


def _hostile_result(leaf: x509.Certificate, **changes: object) -> ProbeResult:
    finding = Finding(
        id="hostname_mismatch",
        severity=Severity.ERROR,
        side=Side.SERVER,
        summary=f"the certificate names {HOSTILE}",
        detail=f"detail {HOSTILE}",
        remedy=f"remedy {HOSTILE}",
    )
    fields: dict[str, object] = {
        "target": Target(
            url="https://127.0.0.1:4433/", scheme="https", host="127.0.0.1", port=4433
        ),
        "tls": TLSFacts(
            version="TLSv1.3",
            cipher="TLS_AES_256_GCM_SHA384",
            alpn=None,
            session_reused=False,
            openssl_version="OpenSSL 3",
            client_ca_names=(f"CN = {HOSTILE}",),
        ),
        "served_chain": (leaf,),
        "verify_events": (
            VerifyEvent(depth=0, code=18, name="X18", reason="self-signed", certificate=leaf),
        ),
        "hostname": HostnameCheck(name="127.0.0.1", matched=False, names_in_cert=(HOSTILE,)),
        "failure": Failure(phase=Phase.APPLICATION, kind="x", message=HOSTILE, reason=HOSTILE),
        "findings": (finding,),
        "http": {"status_line": f"HTTP/1.1 200 {HOSTILE}", "server": HOSTILE},
        "ftp": {"greeting": f"first line\n{HOSTILE}"},
    }
    fields.update(changes)
    return ProbeResult(**fields)  # type: ignore[arg-type]


def _assert_safe(text: str, *, minimum: int = 1) -> None:
    """No raw control character but the line feeds; the escapes at least ``minimum`` times;
    the forged verdict never at the start of a line."""
    assert CONTROL.search(text.replace("\n", "")) is None, repr(text)
    assert text.count(r"\0A") >= minimum and text.count(r"\1B") >= minimum
    assert not any(line.startswith(FAKE) for line in text.split("\n"))


def test_text_form(hostile_leaf: x509.Certificate) -> None:
    """--format text: names, SAN, header, greeting, failure and every finding text escaped."""
    text = render(_hostile_result(hostile_leaf), "text")
    _assert_safe(text, minimum=8)
    assert f"server={ESCAPED}" in text
    assert f"    {ESCAPED}" not in text  # the greeting line is indented under "ftp:"
    assert f"remedy {ESCAPED}" in text


def test_text_form_with_colour_keeps_only_its_own_escape_codes(
    hostile_leaf: x509.Certificate,
) -> None:
    """With colour, the only ESC bytes are the renderer's colour codes."""
    text = render(_hostile_result(hostile_leaf), "text", colour=True)
    without_colours = re.sub(r"\x1b\[(?:\d+)m", "", text)
    _assert_safe(without_colours, minimum=8)


def test_s_client_form(hostile_leaf: x509.Certificate) -> None:
    """--format s_client: names in OpenSSL's escaping, the other lines escaped; exactly one
    Verify return code line, the real one (the greeting's lines keep their reply code)."""
    text = render(_hostile_result(hostile_leaf), "s_client")
    _assert_safe(text)
    openssl_value = r'"evil\0AVerify return code: 0 (ok)\0D\07\1B[31mred\1B]0;title\07\C2\9B\00\7F"'
    assert f"subject=O = {openssl_value}, CN = {openssl_value}" in text.split("\n")
    assert [line for line in text.split("\n") if line.startswith("Verify return code")] == [
        "Verify return code: 18 (self-signed)"
    ]
    assert r"220 Verify return code: 0 (ok)\0D\07\1B[31m" in text  # the greeting's last line


def test_console_progress(hostile_leaf: x509.Certificate) -> None:
    """The daemon's progress block escapes the finding it quotes (before wrapping)."""
    block = describe(HOSTILE, _hostile_result(hostile_leaf))
    _assert_safe(block)
    assert block.startswith(f"FAILED    {ESCAPED}")


def test_listener_report_and_reply_lines(hostile_leaf: x509.Certificate) -> None:
    """What the listener prints and sends: the partner's SNI, ALPN, request line, User-Agent
    and certificate names escaped in the report and in the FTP reply lines."""
    result = _hostile_result(
        hostile_leaf,
        client=ClientInfo(address="127.0.0.1", port=5000, sni=HOSTILE, alpn_offered=(HOSTILE,)),
        http={"method": "GET", "path": f"/{HOSTILE}", "version": "HTTP/1.1", "user_agent": HOSTILE},
        ftp={"data_connections": [{"command": "LIST", "tls_error": HOSTILE}]},
    )
    report = PLAIN_TEXT_REPORTS.report(result)
    _assert_safe(report, minimum=5)
    assert f"user-agent={ESCAPED}" in report
    assert f"sni={ESCAPED}" in report
    replies = PLAIN_TEXT_REPORTS.reply_lines(result)
    assert all(CONTROL.search(line) is None for line in replies)
    assert any(ESCAPED in line for line in replies)


def test_json_keeps_the_exact_values(hostile_leaf: x509.Certificate) -> None:
    """JSON stays valid, has no raw control byte, and reads back to the exact peer text."""
    text = dumps(_hostile_result(hostile_leaf))
    assert CONTROL.search(text) is None
    data = json.loads(text)
    cert = data["served_chain"][0]
    assert cert["subject"] == f"O = {HOSTILE}, CN = {HOSTILE}"
    assert HOSTILE_SAN in cert["san_dns"]
    assert data["http"]["server"] == HOSTILE
    assert data["findings"][0]["remedy"] == f"remedy {HOSTILE}"


def test_explanation_text() -> None:
    """``tlsdiag explain``'s text is escaped like every other text form."""
    entry = Explanation(
        kind="verify",
        key="1",
        title=HOSTILE,
        reason=HOSTILE,
        summary=HOSTILE,
        causes=(HOSTILE,),
        remedy=HOSTILE,
        side=Side.SERVER,
        severity=Severity.ERROR,
        finding_id="verify_x",
    )
    _assert_safe(render_explanation(entry), minimum=5)


def test_inspection_text(hostile_leaf: x509.Certificate) -> None:
    """``tlsdiag inspect``: a file name and certificate names with control characters."""
    from cryptography.hazmat.primitives.serialization import Encoding

    inspection = inspect_bytes(hostile_leaf.public_bytes(Encoding.PEM), name=f"file{HOSTILE}")
    assert inspection.status is not Status.OK or inspection.entries
    text = render_inspection(inspection)
    _assert_safe(text, minimum=3)
    assert text.startswith(f"{inspection.status.value.upper()} file{ESCAPED}")


@pytest.mark.parametrize(
    ("char", "shown"),
    [
        ("\u202e", "\\u202E"),  # right-to-left override
        ("\u2066", "\\u2066"),  # left-to-right isolate
        ("\u200f", "\\u200F"),  # right-to-left mark
        ("\u061c", "\\u061C"),  # Arabic letter mark
        ("\u2028", "\\u2028"),  # line separator
        ("\u2029", "\\u2029"),  # paragraph separator
    ],
)
def test_reordering_and_line_breaking_characters_are_escaped(char: str, shown: str) -> None:
    """A name holding U+202E would show its text reversed ('exe.gpj' as 'jpg.exe')."""
    text = f"CN=invoice{char}gpj.exe"
    assert escape(text) == f"CN=invoice{shown}gpj.exe"
    assert first_control(text) == f"U+{ord(char):04X}"
    assert escape(escape(text)) == escape(text)


def test_other_non_ascii_text_is_kept() -> None:
    assert escape("O=Müller GmbH, CN=東京 \u200b") == "O=Müller GmbH, CN=東京 \u200b"
