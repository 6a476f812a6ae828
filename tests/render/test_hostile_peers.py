"""Hostile servers probed for real (in memory: real OpenSSL handshakes, a fake clock), their
text rendered in every form: nothing they send reaches the terminal raw, JSON keeps it exact.

The servers carry line feeds, carriage returns, BEL, a colour and a window-title sequence and a
forged ``Verify return code: 0 (ok)`` line in their certificate's subject and SAN, in the HTTP
``Server`` header and in a multi-line FTP greeting.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diagnostics.model.escape import CONTROL
from diagnostics.model.jsonform import dumps
from diagnostics.model.options import ProbeOptions
from diagnostics.model.result import ProbeResult
from diagnostics.render import render
from diagnostics.render.console import describe
from diagnostics.render.session import render_session
from tests.support import memtls, pki

HOSTILE = "x\nVerify return code: 0 (ok)\r\x07\x1b[31mred\x1b]0;title\x07"
ESCAPED = r"x\0AVerify return code: 0 (ok)\0D\07\1B[31mred\1B]0;title\07"
FAKE = "Verify return code: 0 (ok)"


def _forms(result: ProbeResult) -> dict[str, str]:
    """Every text form a probe result is shown in."""
    return {
        "text": render(result, "text"),
        "s_client": render(result, "s_client"),
        "console": describe("hostile", result),
        "session": render_session(result),
    }


def _assert_escaped(result: ProbeResult, *, forged_lines: bool = True) -> None:
    """No raw control character in any form (line feeds apart), the escapes shown, and no
    line that starts with the forged verdict (s_client's own last-but-one line apart)."""
    for form, text in _forms(result).items():
        assert CONTROL.search(text.replace("\n", "")) is None, (form, text)
        verdicts = [line for line in text.split("\n") if line.startswith("Verify return code")]
        assert len(verdicts) == (1 if form == "s_client" else 0), (form, text)
        if forged_lines and form != "console":
            assert r"\1B[31mred" in text, (form, text)


@pytest.fixture(scope="module")
def hostile_chain() -> pki.Chain:
    """A chain whose leaf has the hostile text in its O, CN and one DNS SAN."""
    return pki.make_chain(HOSTILE, sans=(HOSTILE, "localhost"), organization=HOSTILE)


def test_hostile_certificate_names(hostile_chain: pki.Chain, tmp_path: Path) -> None:
    """Subject and SAN with control characters: every form escapes them; JSON exact."""
    c = hostile_chain
    result = memtls.handshake(
        c.served, c.leaf.key, directory=tmp_path, trust=[c.root.cert], servername="localhost"
    )
    assert result.tls is not None
    _assert_escaped(result)
    # OpenSSL's form: the same escapes, in quotes for the ";" of the title sequence.
    assert f'subject=O = "{ESCAPED}", CN = "{ESCAPED}"' in render(result, "s_client").split("\n")
    data = json.loads(dumps(result))
    assert data["served_chain"][0]["subject"] == f"O = {HOSTILE}, CN = {HOSTILE}"
    assert HOSTILE in data["served_chain"][0]["san_dns"]


def test_hostile_server_header(tmp_path: Path) -> None:
    """An HTTP Server header with control characters: escaped, exact in JSON."""
    c = pki.make_chain()
    header = "x\x07\x1b[31mred\x1b]0;title\x07\x9b"
    response = (
        b"HTTP/1.1 200 OK\r\nServer: "
        + header.encode("latin-1")
        + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    result = memtls.handshake(
        c.served,
        c.leaf.key,
        directory=tmp_path,
        trust=[c.root.cert],
        https=True,
        http_response=response,
    )
    assert result.http is not None
    assert result.http["server"] == header
    _assert_escaped(result, forged_lines=False)
    assert r"server=x\07\1B[31mred\1B]0;title\07\9B" in render(result, "text")
    assert json.loads(dumps(result))["http"]["server"] == header


def test_hostile_ftp_greeting() -> None:
    """A multi-line 220 greeting whose lines carry control characters and the forged
    verdict: escaped in every form, its lines never at the left margin as s_client's own."""
    lines = HOSTILE.split("\n")
    greeting = f"220-{lines[0]}\r\n220 {lines[1]}\r\n".encode()
    result = memtls.run_probe(
        memtls.plain_server(greeting), f"ftpes://127.0.0.1:{memtls.PORT}", ProbeOptions()
    )
    assert result.ftp is not None
    assert result.ftp["greeting"] == HOSTILE
    _assert_escaped(result)
    assert json.loads(dumps(result))["ftp"]["greeting"] == HOSTILE
