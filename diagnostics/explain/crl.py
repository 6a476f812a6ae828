# -*- test-case-name: tests.tls.test_revocation -*-
"""Revocation outcomes explained: revoked, no CRL, stale or broken CRLs.

Pure data.  One function turns a :class:`~diagnostics.tls.revocation.RevocationOutcome`
(from OpenSSL's verify codes during the handshake, or from a check of CRLs
fetched afterwards) into a finding with who must act and how.
"""

from __future__ import annotations

import datetime

from cryptography import x509

from diagnostics.explain.lint import CertFinding, describe
from diagnostics.explain.wording import ago
from diagnostics.model import certificates, openssl_codes
from diagnostics.model.caller import PROBE, Caller
from diagnostics.model.result import Finding, Severity, Side
from diagnostics.model.revocation import (
    KnownCRL,
    RevocationOutcome,
    is_url,
    unhandled_critical_extensions,
)

FINDING_IDS = {
    openssl_codes.CERT_REVOKED: "revoked",
    openssl_codes.UNABLE_TO_GET_CRL: "crl_unavailable",
    openssl_codes.CRL_HAS_EXPIRED: "crl_expired",
    openssl_codes.CRL_NOT_YET_VALID: "crl_not_yet_valid",
    openssl_codes.CRL_SIGNATURE_FAILURE: "crl_signature_failure",
    openssl_codes.UNHANDLED_CRITICAL_CRL_EXTENSION: "crl_unhandled_critical_extension",
}


class _Perspective:
    """Who presents the certificate (``owner``) and who judges it, and how to name them."""

    def __init__(self, role: str, where: str, now: datetime.datetime, caller: Caller) -> None:
        self.who = role
        self.caller = caller
        self.where = where
        self.now = now
        self.owner = Side.SERVER if role == "server" else Side.CLIENT
        self.judge = Side.CLIENT if role == "server" else Side.SERVER

    def kind(self, cert: x509.Certificate, depth: int) -> str:
        if depth == 0:
            return f"certificate of {self.where}"
        return "root CA certificate" if certificates.is_self_signed(cert) else "intermediate CA"

    def load_crl(self, issuer: str, *, start: bool = False) -> str:
        """The remedy's words for giving the CRL of ``issuer`` ourselves."""
        verb = "Load" if start else "load"
        return f"{verb} the CRL of '{issuer}' yourself{_option(self.caller.crl)}"

    def published(self, crl: KnownCRL | None, outcome: RevocationOutcome) -> Side:
        """The CA's own publication is the owner's business; a file we keep is the judge's."""
        if outcome.from_cdp or (crl is not None and is_url(crl.source)):
            return self.owner
        return self.judge


def revocation_finding(
    outcome: RevocationOutcome,
    *,
    role: str,
    where: str,
    now: datetime.datetime,
    caller: Caller = PROBE,
) -> CertFinding:
    """The finding for one revocation outcome, seen by the side judging ``role``'s certificate.

    ``caller`` says which options the remedies may name.
    """
    view = _Perspective(role, where, now, caller)
    build = {
        openssl_codes.CERT_REVOKED: _revoked,
        openssl_codes.UNABLE_TO_GET_CRL: _unavailable,
        openssl_codes.CRL_HAS_EXPIRED: _expired,
        openssl_codes.CRL_NOT_YET_VALID: _not_yet_valid,
        openssl_codes.CRL_SIGNATURE_FAILURE: _signature_failure,
        openssl_codes.UNHANDLED_CRITICAL_CRL_EXTENSION: _critical_extension,
    }[outcome.code]
    finding = build(outcome, view)
    return CertFinding(finding, outcome.certificate)


def _option(option: str | None) -> str:
    return f" ({option})" if option else ""


def _crl_text(crl: KnownCRL | None, issuer: str) -> str:
    return crl.describe() if crl is not None else f"the CRL of '{issuer}'"


def _revoked(outcome: RevocationOutcome, view: _Perspective) -> Finding:
    cert, entry = outcome.certificate, outcome.entry
    kind = view.kind(cert, outcome.depth)
    issuer = certificates.dn(cert.issuer)
    if entry is None:
        when, detail = "", "It is listed on the CRL that was checked."
    else:
        reason = f" (reason: {entry.reason})" if entry.reason else " (no reason given)"
        when = f" on {certificates.iso_time(entry.revocation_date)}{reason}"
        detail = f"Serial {entry.serial_hex} is listed on {entry.crl.describe()}."
    remedy = (
        f"Install a new certificate on the {view.who}."
        if outcome.depth == 0
        else f"The {view.who} must send the CA's current, unrevoked intermediate (with a "
        "certificate issued under it)."
    )
    return Finding(
        "revoked",
        Severity.ERROR,
        view.owner,
        f"The {kind} {describe(cert)} was revoked by its CA '{issuer}'{when}.",
        f"{detail} A revoked certificate stays revoked; no client that checks revocation "
        "accepts it.",
        remedy,
    )


def _unavailable(outcome: RevocationOutcome, view: _Perspective) -> Finding:
    cert = outcome.certificate
    issuer = certificates.dn(cert.issuer)
    subject = f"{describe(cert)} (depth {outcome.depth})"
    if outcome.from_cdp and not outcome.urls:
        return Finding(
            "crl_unavailable",
            Severity.WARNING,
            view.owner,
            f"Revocation of {subject} cannot be checked: it names no http:// CRL "
            "distribution point.",
            "--crl-from-cdp fetches the CRL from the address named in the certificate; this "
            "certificate names none (or only non-http ones).",
            f"{view.load_crl(issuer, start=True)}, or have the CA include a CRL distribution "
            "point.",
        )
    if outcome.from_cdp:
        return Finding(
            "crl_unavailable",
            Severity.ERROR,
            Side.EITHER,
            f"The CRL of '{issuer}' for {subject} could not be fetched from its distribution "
            f"point: {outcome.error or ', '.join(outcome.urls)}.",
            "Revocation cannot be checked without it. The distribution point may be down or "
            "unreachable from here, answer with a redirect (never followed) or with something "
            "that is not a CRL.",
            "Check that the address answers from this machine with the CRL itself (plain "
            f"http, no redirect); or {view.load_crl(issuer)}.",
        )
    tried = f" Configured CRLs that could not be loaded: {outcome.error}." if outcome.error else ""
    caller = view.caller
    chain_hint = ""
    if outcome.depth > 0 and caller.crl_check:
        chain_hint = (
            f" In chain mode ({caller.crl_mode('chain')}) every CA below the root needs its "
            f"CRL; {caller.crl_mode('leaf')} checks only the peer's own certificate."
        )
    elif outcome.depth > 0:
        chain_hint = " Here the whole chain is checked: every CA below the root needs its CRL."
    fetch = (
        f", let tlsdiag fetch it from the certificate's distribution point ({caller.crl_from_cdp})"
        if caller.crl_from_cdp
        else ""
    )
    switch_off = (
        "turn CRL checking off"
        if caller.crl_check
        else "give no CRL at all (any CRL given turns checking on)"
    )
    return Finding(
        "crl_unavailable",
        Severity.ERROR,
        view.judge,
        f"CRL checking is on, but no CRL of '{issuer}' is loaded to check {subject}.",
        f"OpenSSL never downloads CRLs itself.{tried}{chain_hint}",
        f"Load the CRL of '{issuer}'{_option(caller.crl)}{fetch}, or {switch_off}.",
    )


def _expired(outcome: RevocationOutcome, view: _Perspective) -> Finding:
    crl = outcome.crl
    issuer = certificates.dn(outcome.certificate.issuer)
    end = crl.next_update if crl is not None else None
    when = f" on {certificates.iso_time(end)}{_since(view.now - end)}" if end is not None else ""
    side = view.published(crl, outcome)
    if side is view.judge:
        remedy = "Update your CRL: download the CA's current one" + (
            f" (or give its http:// URL as {view.caller.crl_url}, which tlsdiag refreshes at "
            "each next update)."
            if view.caller.crl_url
            else "."
        )
        detail = "The CRL kept here is stale; the CA has published newer ones since."
    else:
        remedy = (
            f"The CA '{issuer}' must publish a fresh CRL; tell the {view.who}'s administrator. "
            "Check this machine's clock too."
        )
        detail = "The CRL was just fetched from the CA and is already past its next update."
    return Finding(
        "crl_expired",
        Severity.ERROR,
        side,
        f"{_crl_text(crl, issuer).capitalize()} expired{when}: revocation of "
        f"{describe(outcome.certificate)} cannot be checked.",
        detail,
        remedy,
    )


def _not_yet_valid(outcome: RevocationOutcome, view: _Perspective) -> Finding:
    crl = outcome.crl
    issuer = certificates.dn(outcome.certificate.issuer)
    start = f" before {certificates.iso_time(crl.this_update)}" if crl is not None else " yet"
    return Finding(
        "crl_not_yet_valid",
        Severity.ERROR,
        Side.EITHER,
        f"{_crl_text(crl, issuer).capitalize()} is not valid{start}; this machine's clock says "
        f"{certificates.iso_time(view.now)}.",
        "Either this machine's clock is behind, or the CA issued the CRL with a wrong date.",
        "Check this machine's clock first; if it is right, the CA must reissue the CRL.",
    )


def _signature_failure(outcome: RevocationOutcome, view: _Perspective) -> Finding:
    crl = outcome.crl
    issuer = certificates.dn(outcome.certificate.issuer)
    side = view.published(crl, outcome)
    remedy = (
        f"Use the CRL published by the CA that issued {describe(outcome.certificate)}."
        if side is view.judge
        else f"The CA '{issuer}' must sign its CRL with the key that issued the certificates."
    )
    return Finding(
        "crl_signature_failure",
        Severity.ERROR,
        side,
        f"The signature of {_crl_text(crl, issuer)} does not verify with the key of '{issuer}'.",
        "The CRL comes from another CA with the same name, or from the same CA after a key "
        "change; a CRL whose signature fails proves nothing about revocation.",
        remedy,
    )


def _critical_extension(outcome: RevocationOutcome, view: _Perspective) -> Finding:
    crl = outcome.crl
    issuer = certificates.dn(outcome.certificate.issuer)
    oids = unhandled_critical_extensions(crl.crl) if crl is not None else ()
    listed = f" ({', '.join(oids)})" if oids else ""
    return Finding(
        "crl_unhandled_critical_extension",
        Severity.ERROR,
        view.owner,
        f"{_crl_text(crl, issuer).capitalize()} has a critical extension OpenSSL does not "
        f"understand{listed}.",
        "A verifier must refuse a CRL with an unknown critical extension, so revocation of "
        f"{describe(outcome.certificate)} cannot be checked.",
        f"The CA '{issuer}' must publish CRLs without unknown critical extensions.",
    )


def _since(delta: datetime.timedelta) -> str:
    words = ago(delta, hours=True)
    return f", {words}" if words else ""
