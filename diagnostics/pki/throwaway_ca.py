"""A throw-away certificate authority: CAs, intermediates, leaves and CRLs.  Pure data.

Used by the lab (a hierarchy made at start-up) and by the tests.  Keys are made
in memory; only :func:`key_pem` turns one into bytes, for a caller that writes
it to a file of its own.  EC P-256 is the default (fast); pass
``key_type="rsa"`` for RSA.  SHA-1 and MD5 signatures, which ``cryptography``
refuses to produce, are made by re-signing a SHA-256 certificate's signed part
with the weak digest (RSA issuers only).
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from typing import Literal

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from diagnostics.model.certificates import PrivateKey

KeyType = Literal["ec", "rsa"]
HashName = Literal["sha256", "sha384", "sha1", "md5"]

# Default lifetimes: CAs outlive the leaves they issue, as in real PKIs.
CA_DAYS = 3650
LEAF_DAYS = 365

SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH

_CURVES: dict[int, ec.EllipticCurve] = {
    192: ec.SECP192R1(),
    256: ec.SECP256R1(),
    384: ec.SECP384R1(),
    521: ec.SECP521R1(),
}
_HASHES: dict[str, hashes.SHA256 | hashes.SHA384] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
}
# DER bodies of the RSA signature OIDs; all the same length, so one can replace another in place.
_RSA_SHA256_OID = bytes.fromhex("2a864886f70d01010b")
_RSA_WEAK_OIDS = {
    "sha1": bytes.fromhex("2a864886f70d010105"),
    "md5": bytes.fromhex("2a864886f70d010104"),
}
_WEAK_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha1": hashes.SHA1(),
    "md5": hashes.MD5(),
}


def utcnow() -> datetime.datetime:
    """The current time in UTC, to the second."""
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


@attrs.frozen
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: PrivateKey = attrs.field(repr=False)

    @property
    def subject(self) -> x509.Name:
        """The certificate's subject name."""
        return self.cert.subject


def make_key(key_type: KeyType = "ec", key_size: int | None = None) -> PrivateKey:
    """A fresh private key: EC on a NIST curve of ``key_size`` bits (256) or RSA (2048)."""
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=key_size or 2048)
    return ec.generate_private_key(_CURVES[key_size or 256])


def name(common_name: str | None, organization: str | None = None) -> x509.Name:
    """A subject name with an optional O and CN."""
    attributes = []
    if organization is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if common_name is not None:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _general_name(value: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(value))
    except ValueError:
        return x509.DNSName(value)


def _signature(key: PrivateKey, tbs: bytes, digest: hashes.HashAlgorithm) -> bytes:
    """The signature of certificate contents edited after signing (ECDSA, or RSA PKCS#1 v1.5)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(tbs, ec.ECDSA(digest))
    return key.sign(tbs, padding.PKCS1v15(), digest)


def _sign(
    builder: x509.CertificateBuilder, issuer_key: PrivateKey, hash: HashName
) -> x509.Certificate:
    if hash in _HASHES:
        return builder.sign(issuer_key, _HASHES[hash])
    if not isinstance(issuer_key, rsa.RSAPrivateKey):
        raise ValueError(f"a {hash} signature needs an RSA issuer key")
    strong = builder.sign(issuer_key, hashes.SHA256())
    tbs = strong.tbs_certificate_bytes.replace(_RSA_SHA256_OID, _RSA_WEAK_OIDS[hash])
    weak_signature = _signature(issuer_key, tbs, _WEAK_HASHES[hash])
    der = strong.public_bytes(serialization.Encoding.DER)
    # Same OID length and same RSA signature length: the outer framing does not change.
    der = der.replace(strong.tbs_certificate_bytes, tbs).replace(
        _RSA_SHA256_OID, _RSA_WEAK_OIDS[hash]
    )
    der = der[: -len(weak_signature)] + weak_signature
    return x509.load_der_x509_certificate(der)


def _builder(
    subject: x509.Name,
    issuer: Issued | None,
    key: PrivateKey,
    not_before: datetime.datetime | None,
    not_after: datetime.datetime | None,
    days: int,
) -> x509.CertificateBuilder:
    start = not_before or utcnow() - datetime.timedelta(days=1)
    end = not_after or start + datetime.timedelta(days=days)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    return builder


def make_ca(
    common_name: str,
    *,
    parent: Issued | None = None,
    key_type: KeyType = "ec",
    key_size: int | None = None,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
    hash: HashName = "sha256",
    path_length: int | None = None,
    ekus: Sequence[x509.ObjectIdentifier] | None = None,
    organization: str | None = None,
) -> Issued:
    """A root CA (self-signed) or, with ``parent``, an intermediate CA signed by it.

    Valid from a day ago for ``CA_DAYS`` unless ``not_before``/``not_after`` say otherwise.
    """
    key = make_key(key_type, key_size)
    builder = (
        _builder(name(common_name, organization), parent, key, not_before, not_after, CA_DAYS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if ekus is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(ekus)), critical=False)
    return Issued(_sign(builder, parent.key if parent else key, hash), key)


def issue(
    ca: Issued | None,
    common_name: str | None = "localhost",
    *,
    sans: Sequence[str] = ("localhost",),
    ekus: Sequence[x509.ObjectIdentifier] | None = (SERVER_AUTH,),
    is_ca: bool = False,
    key_type: KeyType = "ec",
    key_size: int | None = None,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
    hash: HashName = "sha256",
    ca_issuers: Sequence[str] = (),
    crl_urls: Sequence[str] = (),
    organization: str | None = None,
) -> Issued:
    """An end-entity certificate issued by ``ca`` (self-signed when ``ca`` is None).

    ``sans=()`` leaves out the subjectAltName extension, ``ekus=None`` the EKU
    extension; ``ca_issuers`` adds AIA caIssuers URLs, ``crl_urls`` CRL
    distribution points.
    """
    key = make_key(key_type, key_size)
    builder = _builder(
        name(common_name, organization), ca, key, not_before, not_after, LEAF_DAYS
    ).add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(s) for s in sans]), critical=False
        )
    if ekus is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(ekus)), critical=False)
    if ca_issuers:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier(url),
                    )
                    for url in ca_issuers
                ]
            ),
            critical=False,
        )
    if crl_urls:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(url)],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                    for url in crl_urls
                ]
            ),
            critical=False,
        )
    return Issued(_sign(builder, ca.key if ca else key, hash), key)


def cross_sign(ca: Issued, by: Issued, *, hash: HashName = "sha256") -> Issued:
    """The CA ``ca`` (same name, same key) certified by another CA ``by``."""
    builder = _builder(ca.cert.subject, by, ca.key, None, None, CA_DAYS).add_extension(
        x509.BasicConstraints(ca=True, path_length=None), critical=True
    )
    return Issued(_sign(builder, by.key, hash), ca.key)


@attrs.frozen
class Chain:
    """A conventional three-level PKI: root → intermediate → leaf."""

    root: Issued
    intermediate: Issued
    leaf: Issued

    @property
    def served(self) -> tuple[x509.Certificate, ...]:
        """What a correctly configured server sends: leaf, intermediate."""
        return (self.leaf.cert, self.intermediate.cert)

    @property
    def full(self) -> tuple[x509.Certificate, ...]:
        """Leaf, intermediate, root."""
        return (self.leaf.cert, self.intermediate.cert, self.root.cert)


def make_chain(
    leaf_name: str = "localhost",
    *,
    sans: Sequence[str] = ("localhost", "127.0.0.1"),
    prefix: str = "Test",
    **leaf_options: object,
) -> Chain:
    """Root CA, intermediate CA (pathlen 0) and a server leaf, all valid now."""
    root = make_ca(f"{prefix} Root CA")
    intermediate = make_ca(f"{prefix} Intermediate CA", parent=root, path_length=0)
    leaf = issue(intermediate, leaf_name, sans=sans, **leaf_options)  # type: ignore[arg-type]
    return Chain(root, intermediate, leaf)


def make_crl(
    ca: Issued,
    revoked: Sequence[x509.Certificate] = (),
    *,
    this_update: datetime.datetime | None = None,
    next_update: datetime.datetime | None = None,
) -> x509.CertificateRevocationList:
    """A CRL signed by ``ca`` listing ``revoked`` (valid from an hour ago for 7 days)."""
    start = this_update or utcnow() - datetime.timedelta(hours=1)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(start)
        .next_update(next_update or start + datetime.timedelta(days=7))
        .add_extension(x509.CRLNumber(1), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(start)
            .build()
        )
    return builder.sign(ca.key, hashes.SHA256())


def pem(certs: Sequence[x509.Certificate]) -> bytes:
    """Certificates as one PEM bundle, in the given order."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


# -- a certificate OpenSSL reads and cryptography refuses (for hostile-input tests) ---------


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
    return resigned(cert, issuer_key, bytes(tbs))


def resigned(cert: x509.Certificate, issuer_key: PrivateKey, tbs: bytes) -> bytes:
    """``cert`` as DER with its contents replaced by ``tbs`` (an edited copy of its
    ``tbs_certificate_bytes``) and signed again by ``issuer_key`` with the same algorithm."""
    digest = cert.signature_hash_algorithm
    assert digest is not None
    signature = _signature(issuer_key, tbs, digest)
    der = cert.public_bytes(serialization.Encoding.DER)
    header, _ = _der_header_length(der, 0)
    tbs_header, tbs_size = _der_header_length(der, header)
    algorithm_at = header + tbs_header + tbs_size
    algorithm_header, algorithm_size = _der_header_length(der, algorithm_at)
    algorithm = der[algorithm_at : algorithm_at + algorithm_header + algorithm_size]
    body = tbs + algorithm + _der_element(0x03, b"\x00" + signature)
    return _der_element(0x30, body)
