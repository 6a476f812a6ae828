"""A small certificate factory for tests: CAs, intermediates and leaves with chosen flaws.

The builder lives in the package (:mod:`diagnostics.pki.throwaway_ca`, which the lab uses
too); this module keeps the names the tests know.  Keys are generated at test time.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from diagnostics.model.certificates import key_pem
from diagnostics.pki.throwaway_ca import (
    CA_DAYS,
    CLIENT_AUTH,
    LEAF_DAYS,
    SERVER_AUTH,
    Chain,
    HashName,
    Issued,
    KeyType,
    PrivateKey,
    cross_sign,
    issue,
    make_ca,
    make_chain,
    make_crl,
    make_key,
    name,
    pem,
    utcnow,
)

__all__ = [
    "CA_DAYS",
    "CLIENT_AUTH",
    "LEAF_DAYS",
    "SERVER_AUTH",
    "Chain",
    "HashName",
    "Issued",
    "KeyType",
    "PrivateKey",
    "cross_sign",
    "issue",
    "key_pem",
    "make_ca",
    "make_chain",
    "make_crl",
    "make_key",
    "name",
    "pem",
    "utcnow",
    "with_version",
]


# -- a certificate OpenSSL reads and cryptography refuses ---------------------------------


def _der_header_length(der: bytes, pos: int) -> tuple[int, int]:
    """The header size and the content size of the DER element at ``pos``."""
    first = der[pos + 1]
    if first < 0x80:
        return 2, first
    count = first & 0x7F
    return 2 + count, int.from_bytes(der[pos + 2 : pos + 2 + count], "big")


def _der_element(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    encoded = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(encoded)]) + encoded + content


def with_version(cert: x509.Certificate, issuer_key: PrivateKey, version: int) -> bytes:
    """``cert`` as DER with its version field set to ``version`` and signed again by
    ``issuer_key``: OpenSSL reads and serves it, cryptography refuses it (InvalidVersion)."""
    tbs = bytearray(cert.tbs_certificate_bytes)
    at = tbs.index(bytes.fromhex("a003020102"))  # [0] EXPLICIT INTEGER 2 (v3)
    tbs[at + 4] = version
    digest = cert.signature_hash_algorithm
    assert digest is not None
    if isinstance(issuer_key, ec.EllipticCurvePrivateKey):
        signature = issuer_key.sign(bytes(tbs), ec.ECDSA(digest))
    else:
        assert isinstance(issuer_key, rsa.RSAPrivateKey)
        signature = issuer_key.sign(bytes(tbs), padding.PKCS1v15(), digest)
    der = cert.public_bytes(serialization.Encoding.DER)
    header, _ = _der_header_length(der, 0)
    tbs_header, tbs_size = _der_header_length(der, header)
    algorithm_at = header + tbs_header + tbs_size
    algorithm_header, algorithm_size = _der_header_length(der, algorithm_at)
    algorithm = der[algorithm_at : algorithm_at + algorithm_header + algorithm_size]
    body = bytes(tbs) + algorithm + _der_element(0x03, b"\x00" + signature)
    return _der_element(0x30, body)
