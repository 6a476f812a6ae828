"""Facts about one certificate, read with ``cryptography.x509``.

Pure data.  Every accessor tolerates real-world garbage: an extension that does
not parse yields an empty value plus an error string, never an exception.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress

import attrs
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

# The private keys tlsdiag makes and serves: EC and RSA.
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
# Current clients (OpenSSL's default security level 2) refuse RSA keys below this size.
MIN_RSA_BITS = 2048


def key_pem(key: PrivateKey) -> bytes:
    """A private key as unencrypted PKCS#8 PEM (what servers and ``--key`` read)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


# Short names as OpenSSL prints them in s_client's subject lines.
_SHORT_NAMES = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.LOCALITY_NAME: "L",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.USER_ID: "UID",
    NameOID.STREET_ADDRESS: "street",
    NameOID.GIVEN_NAME: "GN",
    NameOID.SURNAME: "SN",
    NameOID.TITLE: "title",
}


# What cryptography raises for X.509 bytes it cannot read: not only ValueError.  An
# invalid version, a repeated extension or an unknown general-name type each have their
# own exception class, and peer data can carry any of them.
PARSE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)
ABSENT_OR_BROKEN: tuple[type[Exception], ...] = (x509.ExtensionNotFound, *PARSE_ERRORS)
"""An extension that is absent, or an extension list that does not parse."""


def load_der(der: bytes) -> x509.Certificate:
    """A DER certificate whose names, dates and serial parse; ValueError with the parser's
    message otherwise (whatever cryptography raised)."""
    try:
        cert = x509.load_der_x509_certificate(der)
        # Parsing is lazy: touch what every reader needs, so a broken field surfaces here.
        _ = (dn(cert.subject), dn(cert.issuer), cert.serial_number)
        _ = (cert.not_valid_before_utc, cert.not_valid_after_utc)
    except PARSE_ERRORS as exc:
        raise ValueError(str(exc)) from None
    return cert


def dn(name: x509.Name) -> str:
    """A distinguished name in OpenSSL's one-line style (``O = Example, CN = host``).

    Attributes appear in certificate order, as ``openssl s_client`` (1.1.1 to 3.1)
    prints them.
    """
    parts = []
    for rdn in name.rdns:
        for attr in rdn:
            key = _SHORT_NAMES.get(attr.oid, attr.oid.dotted_string)
            value = attr.value if isinstance(attr.value, str) else attr.value.hex()
            parts.append(f"{key} = {value}")
    return ", ".join(parts)


def common_names(name: x509.Name) -> list[str]:
    """Every CN value in a name."""
    out = []
    for attr in name.get_attributes_for_oid(NameOID.COMMON_NAME):
        out.append(attr.value if isinstance(attr.value, str) else attr.value.hex())
    return out


@attrs.frozen
class SubjectAltNames:
    """The DNS and IP names of a certificate, or why they could not be read."""

    dns: tuple[str, ...] = ()
    ip: tuple[str, ...] = ()
    present: bool = False
    error: str | None = None


def subject_alt_names(cert: x509.Certificate) -> SubjectAltNames:
    """DNS and IP SANs; a SAN extension that does not parse is reported, not raised."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return SubjectAltNames()
    except PARSE_ERRORS as exc:
        return SubjectAltNames(present=True, error=str(exc))
    try:
        dns = tuple(ext.value.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in ext.value.get_values_for_type(x509.IPAddress))
    except PARSE_ERRORS as exc:
        return SubjectAltNames(present=True, error=str(exc))
    return SubjectAltNames(dns=dns, ip=ips, present=True)


def key_type_and_bits(cert: x509.Certificate) -> tuple[str, int | None]:
    """OpenSSL's name of the public key algorithm and the key size in bits."""
    try:
        key = cert.public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # A damaged key or parameters cryptography does not know: a fact, not a failure.
        return ("unknown", None)
    return public_key_type_and_bits(key)


def public_key_type_and_bits(key: PublicKeyTypes) -> tuple[str, int | None]:
    """OpenSSL's name of a public key's algorithm and its size in bits."""
    if isinstance(key, rsa.RSAPublicKey):
        return ("rsaEncryption", key.key_size)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return ("id-ecPublicKey", key.curve.key_size)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ("ED25519", 253)
    if isinstance(key, ed448.Ed448PublicKey):
        return ("ED448", 456)
    if isinstance(key, dsa.DSAPublicKey):
        return ("dsaEncryption", key.key_size)
    return ("unknown", None)


def signature_algorithm(cert: x509.Certificate) -> str:
    """The signature algorithm's long name (``sha256WithRSAEncryption``)."""
    oid = cert.signature_algorithm_oid
    return getattr(oid, "_name", None) or oid.dotted_string


_SHORT_SIG = {
    "sha1WithRSAEncryption": "RSA-SHA1",
    "sha224WithRSAEncryption": "RSA-SHA224",
    "sha256WithRSAEncryption": "RSA-SHA256",
    "sha384WithRSAEncryption": "RSA-SHA384",
    "sha512WithRSAEncryption": "RSA-SHA512",
    "md5WithRSAEncryption": "RSA-MD5",
    "ecdsa-with-SHA1": "ecdsa-with-SHA1",
    "ecdsa-with-SHA256": "ecdsa-with-SHA256",
    "ecdsa-with-SHA384": "ecdsa-with-SHA384",
    "ecdsa-with-SHA512": "ecdsa-with-SHA512",
    "ed25519": "ED25519",
    "ed448": "ED448",
    "RSASSA-PSS": "RSASSA-PSS",
}


def signature_algorithm_short(cert: x509.Certificate) -> str:
    """The signature algorithm as ``openssl s_client`` prints it on its ``a:`` line."""
    name = signature_algorithm(cert)
    return _SHORT_SIG.get(name, name)


def signature_hash(cert: x509.Certificate) -> str | None:
    """The digest used in the signature (``sha256``), when there is one."""
    try:
        algo = cert.signature_hash_algorithm
    except Exception:  # an unsupported algorithm is not our failure
        return None
    return algo.name if algo is not None else None


def not_before(cert: x509.Certificate) -> datetime.datetime:
    """Start of validity, in UTC."""
    return cert.not_valid_before_utc


def not_after(cert: x509.Certificate) -> datetime.datetime:
    """End of validity, in UTC."""
    return cert.not_valid_after_utc


def openssl_time(when: datetime.datetime) -> str:
    """A time the way OpenSSL prints it (``Nov 26 13:21:27 2026 GMT``)."""
    return f"{when:%b} {when.day:2d} {when:%H:%M:%S %Y} GMT"


def iso_time(when: datetime.datetime) -> str:
    """A UTC time in ISO 8601 with a ``Z``."""
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha256_hex(cert: x509.Certificate) -> str:
    """Upper-case hex SHA-256 of the DER certificate (the ECS form)."""
    return cert.fingerprint(hashes.SHA256()).hex().upper()


def sha1_hex(cert: x509.Certificate) -> str:
    """Upper-case hex SHA-1 of the DER certificate."""
    return cert.fingerprint(hashes.SHA1()).hex().upper()  # identification only


def pem(cert: x509.Certificate) -> str:
    """The certificate in PEM form."""
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    """The basicConstraints extension, or None when absent or unparsable."""
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except ABSENT_OR_BROKEN:
        return None


def is_ca(cert: x509.Certificate) -> bool:
    """True when basicConstraints says CA:TRUE."""
    bc = basic_constraints(cert)
    return bool(bc and bc.ca)


def is_self_issued(cert: x509.Certificate) -> bool:
    """True when subject and issuer are the same name."""
    return cert.subject == cert.issuer


def is_self_signed(cert: x509.Certificate) -> bool:
    """True when the certificate's own key verifies its signature."""
    return is_self_issued(cert) and issued_by(cert, cert)


# Chain lint and the diagnosis ask the same question several times per probe, and a
# daemon asks it again for the same certificates on every round: remember the answers.
@functools.lru_cache(maxsize=4096)
def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer`` names and signs ``cert``."""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except ValueError:
        # cryptography refuses SHA-1/MD5 signatures here; legacy PKIs still use them.
        return _legacy_signature_verifies(cert, issuer)
    except Exception:  # a signature that does not verify is an answer, not an error
        return False
    return True


def _legacy_signature_verifies(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s key verifies a SHA-1 or MD5 signature on ``cert``."""
    try:
        digest = cert.signature_hash_algorithm
        if not isinstance(digest, hashes.SHA1 | hashes.MD5):
            return False
        key = issuer.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), digest)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(digest))
        else:
            return False
    except Exception:  # a signature that does not verify is an answer, not an error
        return False
    return True


def extended_key_usages(cert: x509.Certificate) -> tuple[x509.ObjectIdentifier, ...] | None:
    """The EKU OIDs, or None when the extension is absent (any usage allowed)."""
    try:
        return tuple(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except ABSENT_OR_BROKEN:
        return None


def allows_usage(cert: x509.Certificate, usage: x509.ObjectIdentifier) -> bool:
    """True when the EKU extension is absent or lists ``usage`` (or anyExtendedKeyUsage)."""
    ekus = extended_key_usages(cert)
    if ekus is None:
        return True
    return usage in ekus or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in ekus


def ca_issuers_urls(cert: x509.Certificate) -> tuple[str, ...]:
    """The AIA caIssuers URLs of a certificate."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except ABSENT_OR_BROKEN:
        return ()
    out = []
    for desc in aia:
        if desc.access_method == AuthorityInformationAccessOID.CA_ISSUERS and isinstance(
            desc.access_location, x509.UniformResourceIdentifier
        ):
            out.append(desc.access_location.value)
    return tuple(out)


def key_identifier(cert: x509.Certificate) -> bytes | None:
    """The subject key identifier, when present."""
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except ABSENT_OR_BROKEN:
        return None


def authority_key_identifier(cert: x509.Certificate) -> bytes | None:
    """The authority key identifier's key id, when present."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except ABSENT_OR_BROKEN:
        return None
    return ext.key_identifier


# Asked for the same few names on every probe (SNI, the hostname check, the diagnosis).
@functools.lru_cache(maxsize=1024)
def is_ip_literal(name: str) -> bool:
    """True for an IPv4 or IPv6 address literal."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
