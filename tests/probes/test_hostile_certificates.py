"""Certificates crafted to break parsers, served by a real OpenSSL server in memory.

Each certificate of :mod:`tests.support.crafted` is served and probed (:mod:`tests.support.memtls`):
what cryptography cannot read is a ``malformed_certificate`` finding, what it can read is
judged as usual, and every output form renders the result without an exception.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from diagnostics.model.result import ProbeResult
from diagnostics.render import render
from tests.support import crafted, memtls, pki


@pytest.fixture(scope="module")
def root() -> pki.Issued:
    return pki.make_ca("Crafted Root CA")


def _serve(der: bytes, key: pki.PrivateKey, root: pki.Issued, directory: Path) -> ProbeResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography's word on a negative serial
        # Loading is lazy: the object carries the DER to the server context untouched.
        cert = x509.load_der_x509_certificate(der)
        return memtls.handshake((cert,), key, directory=directory, trust=[root.cert])


def _utf8_subject(root: pki.Issued) -> tuple[bytes, pki.PrivateKey]:
    der, base = crafted.invalid_utf8_name(root, "subject")
    return der, base.key


def _utf8_san(root: pki.Issued) -> tuple[bytes, pki.PrivateKey]:
    der, base = crafted.invalid_utf8_name(root, "san")
    return der, base.key


def _malformed_sans(root: pki.Issued) -> tuple[bytes, pki.PrivateKey]:
    issued = crafted.malformed_sans(root)
    return issued.cert.public_bytes(serialization.Encoding.DER), issued.key


@pytest.mark.parametrize(
    ("make", "where"),
    [
        (_utf8_subject, "subject"),
        (_utf8_san, "subject_alternative_name"),
        (_malformed_sans, "subject_alternative_name"),
    ],
    ids=["utf8-subject", "utf8-san", "malformed-sans"],
)
def test_unreadable_names_are_a_finding_in_every_form(
    root: pki.Issued,
    tmp_path: Path,
    make: Callable[[pki.Issued], tuple[bytes, pki.PrivateKey]],
    where: str,
) -> None:
    """Names cryptography refuses: malformed_certificate first (the parser's words name
    the field), and text, s_client and JSON all render."""
    der, key = make(root)
    result = _serve(der, key, root, tmp_path)
    assert result.findings[0].id == "malformed_certificate", result.findings
    assert where in result.findings[0].summary
    for fmt in ("text", "s_client", "json"):
        assert render(result, fmt)


def test_negative_serial_is_read_and_rendered(root: pki.Issued, tmp_path: Path) -> None:
    """A negative serial number (RFC 5280 forbids it; OpenSSL and cryptography read it):
    the chain is judged as usual and the serial is shown with its sign."""
    der, base = crafted.negative_serial(root)
    result = _serve(der, base.key, root, tmp_path)
    assert result.failure is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert result.served_chain[0].serial_number < 0
        assert '"serial": "-' in render(result, "json")
        assert render(result, "text") and render(result, "s_client")
