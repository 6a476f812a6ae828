"""Hostile certificates for robustness tests, made at test time.

Built with cryptography where it can encode them (10,000 SANs, a 50-certificate chain,
a subjectAltName extension of malformed entries given as raw DER); what cryptography
refuses to encode (a negative serial number, invalid UTF-8 in a name) is patched into
the DER of a well-formed certificate of the same size and signed again
(:func:`diagnostics.pki.throwaway_ca.resigned`).  OpenSSL loads and serves all of them.
"""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtensionOID, NameOID

from diagnostics.pki.throwaway_ca import Issued, issue, make_ca, make_key, resigned, utcnow

SANS = ("localhost", "127.0.0.1")
"""The names every hostile server certificate carries, so that only its flaw fails."""


def many_sans(ca: Issued, count: int) -> Issued:
    """A server certificate with ``count`` DNS subjectAltNames (the first ones are SANS)."""
    extra = tuple(f"n{i}.example" for i in range(count - len(SANS)))
    return issue(ca, sans=(*SANS, *extra))


def long_chain(root: Issued, length: int) -> list[Issued]:
    """A leaf and ``length - 1`` intermediates above it, leaf first (the root not included)."""
    cas = [root]
    for level in range(length - 1):
        cas.append(make_ca(f"Deep Intermediate {level + 1}", parent=cas[-1]))
    return [issue(cas[-1], sans=SANS), *reversed(cas[1:])]


def _der(tag: int, content: bytes) -> bytes:
    assert len(content) < 0x80
    return bytes([tag, len(content)]) + content


def malformed_sans(ca: Issued) -> Issued:
    """A certificate whose subjectAltName holds an IP address of 5 bytes, a URI with a space,
    NUL and non-ASCII bytes, a DNS name with a NUL, and an empty DNS name."""
    entries = (
        _der(0x82, b"localhost")
        + _der(0x87, b"\x7f\x00\x00\x01")
        + _der(0x87, b"\x01\x02\x03\x04\x05")
        + _der(0x86, b"ht tp://\x00bad\xff/")
        + _der(0x82, b"evil\x00.example")
        + _der(0x82, b"")
    )
    raw = _der(0x30, entries)
    key = make_key()
    now = utcnow()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, raw),
            critical=False,
        )
    )
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def _patched(cert: x509.Certificate, ca: Issued, old: bytes, new: bytes) -> bytes:
    """The DER of ``cert`` with ``old`` (found once in its contents) replaced by ``new``."""
    assert len(old) == len(new)
    tbs = cert.tbs_certificate_bytes
    assert tbs.count(old) == 1, "the bytes to patch must be unique"
    return resigned(cert, ca.key, tbs.replace(old, new))


def negative_serial(ca: Issued) -> tuple[bytes, Issued]:
    """(DER, the certificate it was made from): serial number -0x7e...; cryptography
    refuses to encode it."""
    base = issue(ca, sans=SANS)
    serial = base.cert.serial_number.to_bytes(20, "big").lstrip(b"\x00")
    encoded = bytes([0x02, len(serial)]) + serial
    if serial[0] & 0x80:
        encoded = bytes([0x02, len(serial) + 1, 0]) + serial
    flipped = encoded[:2] + bytes([0x81]) + encoded[3:]
    return _patched(base.cert, ca, encoded, flipped), base


_NOT_UTF8 = b"\xff\xfe\x80A\xc0\x80B\xed\xa0\x80"
"""Ten bytes that are no UTF-8: ``\xff\xfe``, a lone continuation byte, an overlong NUL
and an encoded surrogate."""


def invalid_utf8_name(ca: Issued, where: str) -> tuple[bytes, Issued]:
    """(DER, the certificate it was made from) with a name of bytes that are not UTF-8.

    ``where="subject"``: the subject's O attribute as a T61String of those bytes (OpenSSL
    reads T61 as Latin-1 and serves it; it refuses a UTF8String that is not UTF-8).
    ``where="san"``: a DNS subjectAltName entry of those bytes.
    """
    marker = "MARKERMARK"
    assert len(_NOT_UTF8) == len(marker)
    base = issue(ca, sans=(*SANS, f"{marker}.example"), organization=marker)
    if where == "subject":
        old = bytes([0x0C, len(marker)]) + marker.encode("ascii")  # UTF8String
        new = bytes([0x14, len(marker)]) + _NOT_UTF8  # T61String
    else:
        old = bytes([0x82, len(marker) + 8]) + marker.encode("ascii")
        new = bytes([0x82, len(marker) + 8]) + _NOT_UTF8
    return _patched(base.cert, ca, old, new), base
