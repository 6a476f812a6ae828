"""Property-based tests of name escaping and of every renderer, on text a peer chose.

Whatever the text (any code point, control characters, line separators, quotes, the
characters OpenSSL quotes): :func:`~diagnostics.model.escape.escape` leaves no control
character and is idempotent; OpenSSL-style names never raise and hold no control character;
every text form of a result carrying that text in every peer-controlled field renders
without an exception and without a raw control character (line feeds of its own apart), and
the JSON form parses back to the exact value.
"""

from __future__ import annotations

import datetime
import functools
import json
import re

from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnostics.model.escape import CONTROL, escape, split_lines
from diagnostics.model.result import (
    ClientAuth,
    ClientInfo,
    Failure,
    Finding,
    HostnameCheck,
    OCSPFacts,
    Phase,
    ProbeResult,
    Severity,
    Side,
    Target,
    TLSFacts,
    VerifyEvent,
)
from diagnostics.render import render
from diagnostics.render.console import describe
from diagnostics.render.oneline import oneline, subject
from diagnostics.render.session import render_session
from tests.support import pki

PEER_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=("Cs",)),
        st.sampled_from('\n\r\x07\x1b\x00\x7f\x85\x9b\u2028\u2029\x1c,+<>;="\\# '),
    ),
    max_size=60,
)
# What a certificate name attribute can hold (cryptography refuses an empty or long CN).
NAME_TEXT = PEER_TEXT.filter(lambda t: 1 <= len(t.encode()) <= 64)


@given(PEER_TEXT)
@settings(max_examples=500, deadline=None)
def test_escape_leaves_no_control_character_and_is_idempotent(text: str) -> None:
    escaped = escape(text)
    assert CONTROL.search(escaped) is None
    assert escape(escaped) == escaped
    if "\\" not in text:  # nothing lost: the escapes read back to the text
        back = re.sub(
            r"\\(?:u([0-9A-F]{4})|([0-9A-F]{2}))",
            lambda m: chr(int(m[1] or m[2], 16)),
            escaped,
        )
        assert back == text
    assert all("\n" not in line for line in split_lines(text))
    assert "\n".join(split_lines(text.replace("\r\n", "\n"))) == text.replace("\r\n", "\n")


_ATTRIBUTES = st.sampled_from(
    [
        NameOID.COMMON_NAME,
        NameOID.ORGANIZATION_NAME,
        NameOID.ORGANIZATIONAL_UNIT_NAME,
        NameOID.LOCALITY_NAME,
        NameOID.EMAIL_ADDRESS,
    ]
)


@st.composite
def names(draw: st.DrawFn) -> x509.Name:
    rdns = draw(
        st.lists(
            st.lists(st.tuples(_ATTRIBUTES, NAME_TEXT), min_size=1, max_size=2, unique=True),
            min_size=1,
            max_size=4,
        )
    )
    return x509.Name(
        [x509.RelativeDistinguishedName([x509.NameAttribute(o, v) for o, v in r]) for r in rdns]
    )


@given(names())
@settings(max_examples=400, deadline=None)
def test_openssl_style_names_never_raise_and_hold_no_control_character(name: x509.Name) -> None:
    shown = oneline(name.public_bytes())
    assert CONTROL.search(shown) is None and "\n" not in shown
    # Every attribute is announced once, as OpenSSL does (" = " between key and value); a
    # crafted value cannot add one: its own "=" sits inside quotes or escapes.
    attributes = sum(len(rdn) for rdn in name.rdns)
    assert len(re.findall(r"(?:^|, | \+ )[A-Za-z0-9.]+ = ", _outside_quotes(shown))) == attributes


def _outside_quotes(text: str) -> str:
    """``text`` with every escaped character and every double-quoted part blanked."""
    return re.sub(r'\\.|"(?:[^"\\]|\\.)*"', "_", text)


@functools.cache
def _leaf() -> pki.Issued:
    return pki.issue(None, "leaf", sans=())


def _certificate(name: x509.Name) -> x509.Certificate:
    issued = _leaf()
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(issued.cert.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    return builder.sign(issued.key, issued.cert.signature_hash_algorithm)


def _result(text: str, name: x509.Name) -> ProbeResult:
    """A result with ``text`` in every field the peer controls."""
    cert = _certificate(name)
    return ProbeResult(
        target=Target(url="ftpes://127.0.0.1:21", scheme="ftpes", host="127.0.0.1", port=21),
        tls=TLSFacts("TLSv1.3", "TLS_AES_128_GCM_SHA256", text, False, "OpenSSL", (text,), text),
        served_chain=(cert, cert),
        verified_chain=(cert,),
        verify_events=(VerifyEvent(0, 18, text, text, cert), VerifyEvent(0, 0, "ok", "", cert)),
        hostname=HostnameCheck(text, False, (text, "x"), text),
        client_auth=ClientAuth(True, False, (text,)),
        failure=Failure(Phase.HANDSHAKE, "alert", text, text),
        findings=(Finding("f", Severity.ERROR, Side.SERVER, text, text, text),),
        http={
            "status_line": text,
            "server": text,
            "method": text,
            "path": text,
            "version": text,
            "user_agent": text,
        },
        ftp={
            "greeting": text,
            "replies": [{"command": text, "code": 220, "text": text}],
            "data_connections": [{"command": text, "ok": False, "error": text}],
        },
        client=ClientInfo("127.0.0.1", 1, text, (text,)),
        ocsp=OCSPFacts(True, text, text, responder=text, error=text),
    )


@given(PEER_TEXT, names())
@settings(max_examples=300, deadline=None)
def test_every_form_renders_peer_text_harmlessly(text: str, name: x509.Name) -> None:
    result = _result(text, name)
    forms = {
        "text": render(result, "text"),
        "s_client": render(result, "s_client"),
        "colour": render(result, "text", colour=True).replace("\x1b[", "["),
        "console": describe(text, result),
        "session": render_session(result),
    }
    for form, shown in forms.items():
        assert CONTROL.search(shown.replace("\n", "")) is None, form
    if text and "\\" not in text and not CONTROL.search(text):
        assert text in forms["text"]
    loaded = json.loads(render(result, "json"))
    exact = [
        loaded["findings"][0]["summary"],
        loaded["error"]["message"],
        loaded["http"]["server"],
        loaded["ftp"]["greeting"],
        loaded["client"]["sni"],
        loaded["hostname"]["names_in_cert"][0],
        loaded["tls"]["client_ca_names"][0],
    ]
    assert exact == [text] * len(exact)
    assert subject(result.served_chain[0]) in forms["s_client"]
