# -*- test-case-name: tests.tls.test_stapling -*-
"""OCSP stapling: what a stapled response says, and what is wrong with it.

Pure data (``cryptography`` only).  :func:`read_staple` turns the bytes a server
stapled into :class:`~diagnostics.model.result.OCSPFacts` and never raises: bytes that
are not an OCSP response become facts carrying the parser's message.
:func:`staple_findings` judges those facts against the certificate served.

The response's signature is not checked here: the facts say what the server
stapled, not whether a client would accept the responder.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp

from diagnostics.explain.lint import CertFinding, describe
from diagnostics.model import certificates
from diagnostics.model.result import Finding, OCSPFacts, ProbeResult, Severity, Side

__all__ = ["must_staple", "read_staple", "staple_findings", "staple_names_leaf"]

SUCCESSFUL = "successful"
# A responder's clock may run a little ahead of ours without anything being wrong.
CLOCK_SKEW = datetime.timedelta(minutes=5)

_CERT_STATUS = {
    ocsp.OCSPCertStatus.GOOD: "good",
    ocsp.OCSPCertStatus.REVOKED: "revoked",
    ocsp.OCSPCertStatus.UNKNOWN: "unknown",
}
_ID_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha1": hashes.SHA1(),  # the usual OCSP CertID hash; identification only
    "sha224": hashes.SHA224(),
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


def _error_text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def read_staple(data: bytes, leaf: x509.Certificate | None = None) -> OCSPFacts:
    """The facts of a stapled OCSP response (``b""``: nothing stapled); never raises.

    When the response holds several single responses, the one naming ``leaf``'s
    serial number is described (else the first).
    """
    if not data:
        return OCSPFacts(stapled=False)
    try:
        response = ocsp.load_der_ocsp_response(data)
    except ValueError as exc:
        return OCSPFacts(stapled=True, error=_error_text(exc))
    status = response.response_status.name.lower()
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        return OCSPFacts(stapled=True, response_status=status)
    try:
        return _successful(response, leaf)
    except (ValueError, UnsupportedAlgorithm) as exc:
        # Parsed lazily: a field that turns out broken makes the whole staple invalid.
        return OCSPFacts(stapled=True, response_status=status, error=_error_text(exc))


def _successful(response: ocsp.OCSPResponse, leaf: x509.Certificate | None) -> OCSPFacts:
    singles = list(response.responses)
    if not singles:
        return OCSPFacts(
            stapled=True,
            response_status=SUCCESSFUL,
            error="the response holds no certificate status",
        )
    chosen = singles[0]
    if leaf is not None:
        chosen = next((s for s in singles if s.serial_number == leaf.serial_number), chosen)
    responder: str | None = None
    if response.responder_name is not None:
        responder = certificates.dn(response.responder_name)
    elif response.responder_key_hash is not None:
        responder = response.responder_key_hash.hex().upper()
    status = _CERT_STATUS[chosen.certificate_status]
    try:
        hash_name: str | None = chosen.hash_algorithm.name
    except UnsupportedAlgorithm:  # the certificate ID cannot be compared, the rest is sound
        hash_name = None
    reason = chosen.revocation_reason
    oid = response.signature_algorithm_oid
    return OCSPFacts(
        stapled=True,
        response_status=SUCCESSFUL,
        cert_status=status,
        this_update=chosen.this_update_utc,
        next_update=chosen.next_update_utc,
        produced_at=response.produced_at_utc,
        revocation_time=chosen.revocation_time_utc,
        revocation_reason=reason.value if reason is not None else None,
        responder=responder,
        hash_algorithm=hash_name,
        issuer_name_hash=chosen.issuer_name_hash,
        issuer_key_hash=chosen.issuer_key_hash,
        serial_number=chosen.serial_number,
        responses=len(singles),
        signature_algorithm=getattr(oid, "_name", None) or oid.dotted_string,
        signature=response.signature,
    )


def must_staple(cert: x509.Certificate) -> bool:
    """Whether the certificate demands a stapled OCSP response (RFC 7633 TLS Feature)."""
    try:
        feature = cert.extensions.get_extension_for_class(x509.TLSFeature).value
    except x509.ExtensionNotFound:
        return False
    except (
        certificates.PARSE_ERRORS
    ):  # a broken extension list is reported by the certificate checks
        return False
    return x509.TLSFeatureType.status_request in feature


def _issuer_of(
    leaf: x509.Certificate, chain: Sequence[x509.Certificate]
) -> x509.Certificate | None:
    for cert in chain:
        if cert != leaf and cert.subject == leaf.issuer and certificates.issued_by(leaf, cert):
            return cert
    return None


def staple_names_leaf(
    facts: OCSPFacts, leaf: x509.Certificate, issuer: x509.Certificate | None
) -> bool | None:
    """Whether the staple's certificate ID is the leaf's; None when it cannot be told.

    The serial number and the issuer name hash are checked always, the issuer
    key hash when the issuer's certificate is known.
    """
    if facts.serial_number is None or facts.hash_algorithm is None:
        return None
    if facts.serial_number != leaf.serial_number:
        return False
    algorithm = _ID_HASHES.get(facts.hash_algorithm)
    if algorithm is None:
        return None
    digest = hashes.Hash(algorithm)
    digest.update(leaf.issuer.public_bytes())
    if digest.finalize() != facts.issuer_name_hash:
        return False
    if issuer is None:
        return True
    expected = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, algorithm).build()
    return expected.issuer_key_hash == facts.issuer_key_hash


def _when(value: datetime.datetime | None) -> str:
    return certificates.iso_time(value) if value is not None else "(not given)"


def staple_findings(result: ProbeResult, now: datetime.datetime) -> list[CertFinding]:
    """The problems of a server's OCSP stapling, seen from a client; never raises on data."""
    facts = result.ocsp
    leaf = result.leaf
    if facts is None or leaf is None:
        return []
    target = result.target
    host = f"[{target.host}]" if ":" in target.host else target.host
    where = f"{host}:{target.port}"
    demanded = must_staple(leaf)
    # A must-staple certificate is as good as unstapled without a usable staple.
    severity = Severity.ERROR if demanded else Severity.WARNING
    must_note = (
        f" {describe(leaf)} is marked must-staple, so clients that honour that reject it."
        if demanded
        else ""
    )
    if not facts.stapled:
        if not demanded:
            return []
        return [
            CertFinding(
                Finding(
                    "ocsp_must_staple_missing",
                    Severity.ERROR,
                    Side.SERVER,
                    f"The certificate {describe(leaf)} of {where} is marked must-staple "
                    "(TLS Feature status_request), but the server stapled no OCSP response.",
                    "A must-staple certificate promises every client a stapled OCSP response; "
                    "clients that honour the promise (Firefox, for one) refuse the connection "
                    "without it. The probe asked for a staple in every handshake.",
                    "Turn OCSP stapling on in the server (and let it reach the CA's OCSP "
                    "responder), or reissue the certificate without the must-staple extension.",
                ),
                leaf,
            )
        ]
    if facts.error is not None:
        return [
            CertFinding(
                Finding(
                    "ocsp_staple_invalid",
                    severity,
                    Side.SERVER,
                    f"{where} staples an OCSP response that cannot be read: {facts.error}",
                    "The stapled bytes are not a valid OCSP response; a client that checks "
                    f"staples rejects the connection with a bad_certificate_status_response "
                    f"alert.{must_note}",
                    "Check the server's OCSP stapling configuration (the file or cache it "
                    "staples from); stapling nothing is better than stapling garbage.",
                ),
                leaf,
            )
        ]
    if facts.response_status != SUCCESSFUL:
        return [
            CertFinding(
                Finding(
                    "ocsp_staple_unsuccessful",
                    severity,
                    Side.SERVER,
                    f"{where} staples an OCSP response with status '{facts.response_status}' "
                    "instead of a certificate status.",
                    "The server passed on an error answer of the OCSP responder (it was busy, "
                    f"refused the request or does not serve this certificate).{must_note}",
                    "Make the server staple only successful responses; check that it can reach "
                    "the responder named in the certificate's AIA extension.",
                ),
                leaf,
            )
        ]
    issuer = _issuer_of(leaf, (*result.served_chain, *result.verified_chain))
    if staple_names_leaf(facts, leaf, issuer) is False:
        serial = f"{facts.serial_number:X}" if facts.serial_number is not None else "?"
        return [
            CertFinding(
                Finding(
                    "ocsp_staple_wrong_certificate",
                    severity,
                    Side.SERVER,
                    f"{where} staples an OCSP response for another certificate (serial "
                    f"{serial}), not for its own {describe(leaf)} (serial "
                    f"{leaf.serial_number:X}).",
                    "The staple's certificate ID names a different serial number or issuer: "
                    "the server kept an old staple after its certificate was renewed, or "
                    f"staples the response of another virtual host.{must_note}",
                    "Make the server fetch a fresh OCSP response for the certificate it serves "
                    "(restart or clear its staple cache after a renewal).",
                ),
                leaf,
            )
        ]
    findings: list[CertFinding] = []
    if facts.cert_status == "revoked":
        reason = f", reason {facts.revocation_reason}" if facts.revocation_reason else ""
        findings.append(
            CertFinding(
                Finding(
                    "revoked",
                    Severity.ERROR,
                    Side.SERVER,
                    f"The certificate {describe(leaf)} of {where} has been revoked by its CA "
                    f"'{certificates.dn(leaf.issuer)}' (OCSP staple).",
                    f"The OCSP staple the server sends says so itself: revoked on "
                    f"{_when(facts.revocation_time)}{reason} (response of "
                    f"{_when(facts.this_update)}). A revoked certificate stays revoked.",
                    "Install a new certificate on the server.",
                ),
                leaf,
            )
        )
    elif facts.cert_status == "unknown":
        findings.append(
            CertFinding(
                Finding(
                    "ocsp_staple_unknown",
                    severity,
                    Side.SERVER,
                    f"The OCSP staple of {where} says the responder does not know the "
                    f"certificate {describe(leaf)}.",
                    "The responder answered 'unknown': it belongs to another CA, or the "
                    f"certificate is newer than the responder's data.{must_note}",
                    "Check with the CA that its responder knows the certificate; until then "
                    "stapling nothing is better than stapling 'unknown'.",
                ),
                leaf,
            )
        )
    if facts.next_update is not None and facts.next_update < now:
        findings.append(
            CertFinding(
                Finding(
                    "ocsp_staple_expired",
                    severity,
                    Side.SERVER,
                    f"{where} staples an expired OCSP response: its next update was due "
                    f"{_when(facts.next_update)}.",
                    "The server no longer refreshes its staple (the responder may be "
                    "unreachable from it); clients that check staples reject an expired one."
                    + must_note,
                    "Make the server refresh its OCSP staple before the next update time; "
                    "check that it can reach the CA's OCSP responder.",
                ),
                leaf,
            )
        )
    if facts.this_update is not None and facts.this_update > now + CLOCK_SKEW:
        findings.append(
            CertFinding(
                Finding(
                    "ocsp_staple_not_yet_valid",
                    Severity.WARNING,
                    Side.EITHER,
                    f"The OCSP staple of {where} is dated {_when(facts.this_update)}, after "
                    f"this machine's time {_when(now)}.",
                    "Either this machine's clock is behind or the responder's is ahead.",
                    "Check this machine's clock (NTP) first; otherwise tell the CA.",
                ),
                leaf,
            )
        )
    return findings
