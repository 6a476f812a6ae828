"""Certificate revocation lists as facts: the CRLs known, what they list, what went wrong.

Pure data (``cryptography`` only).  The outcomes carry OpenSSL's verify codes (23 revoked,
3 no CRL, 12/11 CRL expired/not yet valid, 8 CRL signature failure, 36 unhandled critical
CRL extension), so that a check done after the handshake (:mod:`diagnostics.tls.revocation`)
and OpenSSL's own check during the handshake are explained the same way.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Iterable, Mapping, Sequence

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import CRLEntryExtensionOID, ExtensionOID

from diagnostics.model import certificates, openssl_codes
from diagnostics.model.errors import TlsdiagError

# OpenSSL verify codes (X509_V_ERR_*) about revocation.
CODES = frozenset(
    {
        openssl_codes.UNABLE_TO_GET_CRL,
        openssl_codes.CRL_SIGNATURE_FAILURE,
        openssl_codes.CRL_NOT_YET_VALID,
        openssl_codes.CRL_HAS_EXPIRED,
        openssl_codes.CERT_REVOKED,
        openssl_codes.UNHANDLED_CRITICAL_CRL_EXTENSION,
    }
)


# CRL extensions OpenSSL understands; any other one marked critical makes it refuse the CRL.
_HANDLED_CRL_EXTENSIONS = frozenset(
    {
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.CRL_NUMBER,
        ExtensionOID.DELTA_CRL_INDICATOR,
        ExtensionOID.ISSUING_DISTRIBUTION_POINT,
        ExtensionOID.FRESHEST_CRL,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
        ExtensionOID.ISSUER_ALTERNATIVE_NAME,
    }
)


_HANDLED_ENTRY_EXTENSIONS = frozenset(
    {
        CRLEntryExtensionOID.CRL_REASON,
        CRLEntryExtensionOID.INVALIDITY_DATE,
        CRLEntryExtensionOID.CERTIFICATE_ISSUER,
    }
)


class CheckMode(enum.StrEnum):
    """Which certificates of a chain are checked against CRLs."""

    LEAF = "leaf"  # the peer's own certificate only (OpenSSL's CRL_CHECK)
    CHAIN = "chain"  # every certificate below the trust anchor (CRL_CHECK | CRL_CHECK_ALL)


DEFAULT_CHECK_MODE = CheckMode.LEAF


class CRLError(TlsdiagError, ValueError):
    """Bytes that are not a CRL, with the parser's reason."""


def parse_crl(data: bytes) -> x509.CertificateRevocationList:
    """A CRL from PEM or DER bytes; CRLError when it does not parse."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except x509.InvalidVersion as exc:  # not a ValueError
        raise CRLError(str(exc)) from None
    except ValueError as exc:
        head = data[:15].lstrip().lower()
        if head.startswith((b"<!doctype", b"<html")):
            raise CRLError(f"an HTML page, not a CRL ({exc})") from None
        raise CRLError(str(exc) or "not a CRL") from None


def is_url(entry: str) -> bool:
    """True when a configured CRL source is a URL rather than a file name."""
    return "://" in entry


def check_url(entry: str) -> str | None:
    """Why a CRL URL cannot be used (only plain ``http://host/...`` can); None when fine."""
    scheme, _, rest = entry.partition("://")
    if scheme.lower() != "http":
        return f"{entry!r}: only http:// CRL URLs are supported (CRLs are signed, TLS adds nothing)"
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    if not host or host.startswith(":"):
        return f"{entry!r}: the URL has no host"
    if any(c.isspace() for c in entry):
        return f"{entry!r}: the URL contains white space"
    return None


def distribution_points(cert: x509.Certificate) -> tuple[str, ...]:
    """The ``http://`` URLs of a certificate's CRL distribution points."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except certificates.ABSENT_OR_BROKEN:
        return ()
    urls = []
    for point in ext:
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier) and check_url(name.value) is None:
                urls.append(name.value)
    return tuple(urls)


@attrs.frozen
class KnownCRL:
    """A parsed CRL and where it came from (a file name or a URL)."""

    crl: x509.CertificateRevocationList
    source: str

    @property
    def issuer(self) -> str:
        """The CRL issuer's name, OpenSSL style."""
        return certificates.dn(self.crl.issuer)

    @property
    def this_update(self) -> datetime.datetime:
        """When the CRL was issued (UTC)."""
        return self.crl.last_update_utc

    @property
    def next_update(self) -> datetime.datetime | None:
        """When the CA promises the next CRL (UTC); None when it does not say."""
        return self.crl.next_update_utc

    @property
    def sha256(self) -> bytes:
        """A digest of the CRL's contents."""
        return self.crl.fingerprint(hashes.SHA256())

    def expired(self, now: datetime.datetime) -> bool:
        """True when ``now`` is past the CRL's next update."""
        return self.next_update is not None and now > self.next_update

    def describe(self) -> str:
        """The CRL named for a reader: issuer, source and validity."""
        until = certificates.iso_time(self.next_update) if self.next_update else "no next update"
        return (
            f"the CRL of '{self.issuer}' from {self.source} (issued "
            f"{certificates.iso_time(self.this_update)}, next update {until})"
        )


@attrs.frozen
class RevokedEntry:
    """One certificate listed on a CRL."""

    serial: int
    revocation_date: datetime.datetime
    reason: str | None
    crl: KnownCRL

    @property
    def serial_hex(self) -> str:
        """The serial number in upper-case hex, as certificates show it."""
        return format(self.serial, "X")


@attrs.frozen
class RevocationOutcome:
    """One revocation problem of one certificate, coded like OpenSSL's verify codes.

    ``crl`` is the CRL concerned (None when there was none); ``entry`` the
    revoked entry (code 23); ``error`` why no CRL could be had (code 3), and
    ``urls`` the places it was looked for.
    """

    code: int
    depth: int
    certificate: x509.Certificate
    crl: KnownCRL | None = None
    entry: RevokedEntry | None = None
    error: str | None = None
    urls: tuple[str, ...] = ()
    from_cdp: bool = False  # looked for at the certificate's CRL distribution points


def _reason(revoked: x509.RevokedCertificate) -> str | None:
    try:
        return str(revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason.value)
    except certificates.ABSENT_OR_BROKEN:
        return None


def revoked_entry(cert: x509.Certificate, crls: Iterable[KnownCRL]) -> RevokedEntry | None:
    """The entry listing ``cert`` on one of the CRLs of its issuer; None when not listed."""
    for known in crls:
        if known.crl.issuer != cert.issuer:
            continue
        revoked = known.crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if revoked is not None:
            return RevokedEntry(
                serial=cert.serial_number,
                revocation_date=revoked.revocation_date_utc,
                reason=_reason(revoked),
                crl=known,
            )
    return None


def crls_of_issuer(cert: x509.Certificate, crls: Iterable[KnownCRL]) -> list[KnownCRL]:
    """The CRLs issued by ``cert``'s issuer, newest first."""
    found = [k for k in crls if k.crl.issuer == cert.issuer]
    return sorted(found, key=lambda k: k.this_update, reverse=True)


def unhandled_critical_extensions(crl: x509.CertificateRevocationList) -> tuple[str, ...]:
    """The dotted OIDs of critical CRL (or entry) extensions OpenSSL would refuse."""
    found: list[str] = []
    try:
        for ext in crl.extensions:
            if ext.critical and ext.oid not in _HANDLED_CRL_EXTENSIONS:
                found.append(ext.oid.dotted_string)
        for revoked in crl:
            for ext in revoked.extensions:
                if ext.critical and ext.oid not in _HANDLED_ENTRY_EXTENSIONS:
                    found.append(ext.oid.dotted_string)
    except certificates.PARSE_ERRORS as exc:  # an extension that does not even parse
        found.append(f"unparsable ({exc})")
    return tuple(dict.fromkeys(found))


def outcome_for_event(
    code: int,
    depth: int,
    cert: x509.Certificate,
    crls: Sequence[KnownCRL],
    errors: Mapping[str, str] = {},
) -> RevocationOutcome:
    """An outcome for a verify code OpenSSL reported, with the CRL it concerns looked up.

    ``errors`` maps configured CRL sources that could not be loaded to why; for
    code 3 they are the likely reason the issuer's CRL is missing.
    """
    candidates = crls_of_issuer(cert, crls)
    entry = revoked_entry(cert, candidates) if code == openssl_codes.CERT_REVOKED else None
    crl = entry.crl if entry else (candidates[0] if candidates else None)
    error = None
    if code == openssl_codes.UNABLE_TO_GET_CRL and errors:
        error = "; ".join(f"{source}: {why}" for source, why in errors.items())
    return RevocationOutcome(
        code, depth, cert, crl=crl, entry=entry, error=error, urls=tuple(errors)
    )
