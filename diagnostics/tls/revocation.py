# -*- test-case-name: tests.tls.test_revocation -*-
"""Checking a chain against CRLs the way OpenSSL would, after the handshake.

Pure data (``cryptography`` only): the CRLs fetched from distribution points or given as
files are checked here; the facts and outcomes are those of :mod:`diagnostics.model.revocation`,
re-exported so that callers name one module.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence

from cryptography import x509

from diagnostics.model import certificates, openssl_codes
from diagnostics.model.revocation import (
    DEFAULT_CHECK_MODE,
    CheckMode,
    KnownCRL,
    RevocationOutcome,
    crls_of_issuer,
    distribution_points,
    revoked_entry,
    unhandled_critical_extensions,
)


def signature_verifies(
    crl: x509.CertificateRevocationList, issuer: x509.Certificate
) -> bool | None:
    """Whether ``issuer``'s key signed the CRL; None when the key cannot be used at all."""
    try:
        key = issuer.public_key()
    except (ValueError, TypeError):
        return None
    try:
        return bool(crl.is_signature_valid(key))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def crl_problems(
    known: KnownCRL, issuer: x509.Certificate | None, now: datetime.datetime
) -> list[int]:
    """What is wrong with one CRL itself, as verify codes (empty when it is usable)."""
    codes = []
    if unhandled_critical_extensions(known.crl):
        codes.append(openssl_codes.UNHANDLED_CRITICAL_CRL_EXTENSION)
    if issuer is not None and signature_verifies(known.crl, issuer) is False:
        codes.append(openssl_codes.CRL_SIGNATURE_FAILURE)
    if known.this_update > now:
        codes.append(openssl_codes.CRL_NOT_YET_VALID)
    if known.expired(now):
        codes.append(openssl_codes.CRL_HAS_EXPIRED)
    return codes


def _issuer_in(
    cert: x509.Certificate,
    depth: int,
    chain: Sequence[x509.Certificate],
    pool: Sequence[x509.Certificate],
) -> x509.Certificate | None:
    if depth + 1 < len(chain) and certificates.issued_by(cert, chain[depth + 1]):
        return chain[depth + 1]
    for candidate in (*chain, *pool):
        if certificates.issued_by(cert, candidate):
            return candidate
    return None


def check_chain(
    chain: Sequence[x509.Certificate],
    crls: Sequence[KnownCRL],
    *,
    now: datetime.datetime,
    mode: CheckMode = DEFAULT_CHECK_MODE,
    trusted: Sequence[x509.Certificate] = (),
    errors: Mapping[str, str] = {},
    from_cdp: bool = False,
) -> tuple[RevocationOutcome, ...]:
    """Check a chain (leaf first) against CRLs the way OpenSSL would; every problem found.

    ``errors`` maps a CRL URL to why it could not be fetched; a certificate
    without a CRL of its issuer gets code 3 naming its distribution points and
    their errors.  The trust anchor (a self-signed certificate) is not checked.
    """
    outcomes: list[RevocationOutcome] = []
    scope = chain[:1] if mode is CheckMode.LEAF else chain
    for depth, cert in enumerate(scope):
        if depth > 0 and certificates.is_self_signed(cert):
            break
        issuer = _issuer_in(cert, depth, chain, trusted)
        candidates = crls_of_issuer(cert, crls)
        if not candidates:
            urls = distribution_points(cert)
            problems = [f"{url}: {errors[url]}" for url in urls if url in errors]
            outcomes.append(
                RevocationOutcome(
                    openssl_codes.UNABLE_TO_GET_CRL,
                    depth,
                    cert,
                    error="; ".join(problems) or None,
                    urls=urls,
                    from_cdp=from_cdp,
                )
            )
            continue
        # Prefer a CRL without problems (OpenSSL picks the best match the same way).
        ranked = sorted(candidates, key=lambda k: len(crl_problems(k, issuer, now)))
        best = ranked[0]
        for code in crl_problems(best, issuer, now):
            outcomes.append(RevocationOutcome(code, depth, cert, crl=best, from_cdp=from_cdp))
        entry = revoked_entry(cert, [best])
        if entry is not None:
            outcomes.append(
                RevocationOutcome(
                    openssl_codes.CERT_REVOKED,
                    depth,
                    cert,
                    crl=best,
                    entry=entry,
                    from_cdp=from_cdp,
                )
            )
    return tuple(outcomes)
