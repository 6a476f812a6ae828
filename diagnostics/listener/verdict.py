# -*- test-case-name: tests.listener.test_verdict -*-
"""The verdict on one listener session: what the partner's client did wrong, and its report.

Pure data.  :func:`judge` runs the ordinary diagnosis with the roles swapped
(we judge a client's certificate) and puts the session findings first: a
missing or rejected client certificate, an account name that does not match
the certificate, and the FTPS habits of the partner's client.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from cryptography import x509

from diagnostics.explain.diagnose import DiagnosisContext, diagnose
from diagnostics.explain.lint import describe
from diagnostics.model import certificates
from diagnostics.model.caller import LISTENER, Caller
from diagnostics.model.openssl_codes import (
    CERT_REVOKED,
    DEPTH_ZERO_SELF_SIGNED_CERT,
    SELF_SIGNED_CERT_IN_CHAIN,
    UNABLE_TO_GET_ISSUER_CERT,
    UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
    UNABLE_TO_VERIFY_LEAF_SIGNATURE,
)
from diagnostics.model.result import Finding, ProbeResult, Severity, Side, peer_name
from diagnostics.model.revocation import KnownCRL

# Findings that mean "the client certificate does not let this client in".
REFUSING_IDS = frozenset(
    {
        "client_certificate_missing",
        "client_certificate_rejected",
        "account_mismatch",
        "malformed_certificate",
    }
)
# Failure kinds this module explains itself (the generic failure finding is dropped):
# the diagnosis words a timeout or a stop from a probe's side, and knows no listener limits.
_OWN_FAILURE_KINDS = frozenset({"wrong_scheme", "timeout", "request_too_large", "listener_stopped"})

_NON_RESUMING = (
    "Python's ftplib.FTP_TLS, Apache Commons Net's FTPSClient without extra code, and "
    "Windows clients whose TLS stack refuses resumption without Extended Master Secret"
)


@attrs.frozen
class SessionPolicy:
    """What the listener asks of its clients."""

    client_ca_names: tuple[str, ...] = ()
    require_client_cert: bool = False
    expect_cn: str | None = None

    @property
    def requests_certificate(self) -> bool:
        """A client certificate is asked for (client CAs are configured)."""
        return bool(self.client_ca_names)


def judge(
    result: ProbeResult,
    policy: SessionPolicy,
    *,
    trusted: Sequence[x509.Certificate] = (),
    crls: Sequence[KnownCRL] = (),
    crl_errors: Mapping[str, str] | None = None,
    now: datetime.datetime | None = None,
    caller: Caller = LISTENER,
) -> ProbeResult:
    """The session with its findings: the session's own first, then the diagnosis.

    Findings already on ``result`` were made while recording (a client certificate that
    cannot be read) and come first of all.  ``crls`` are the CRLs the handshake checked
    (they name a revoked entry's date and reason); ``crl_errors`` the configured CRL sources
    without one, and why.  ``caller`` is the listener's own settings: its remedies name them.
    """
    recorded = result.findings
    context = DiagnosisContext(
        trusted=tuple(trusted),
        role="client",
        now=now,
        peer=peer_name(result),
        crls=tuple(crls),
        crl_errors=dict(crl_errors or {}),
        caller=caller,
    )
    diagnosed = diagnose(attrs.evolve(result, findings=()), context)
    own = session_findings(diagnosed, policy, caller)
    own_ids = {f.id for f in own}
    rest = list(diagnosed.findings)
    failure = diagnosed.failure
    if failure is not None and failure.kind in _OWN_FAILURE_KINDS and rest and own:
        rest.pop(0)  # the generic "failed" finding; ours says what happened
    combined = [*recorded, *own, *(f for f in rest if f.id not in own_ids and f not in recorded)]
    combined.sort(key=lambda f: f.severity.rank)
    return attrs.evolve(diagnosed, findings=tuple(combined))


def refused(result: ProbeResult) -> bool:
    """The client certificate does not let this client in (HTTP 403)."""
    return any(f.id in REFUSING_IDS for f in result.findings)


# -- session findings ----------------------------------------------------------------------


def session_findings(
    result: ProbeResult, policy: SessionPolicy, caller: Caller = LISTENER
) -> list[Finding]:
    """The findings only a listener can make, most important first."""
    peer = peer_name(result)
    found = [
        *_certificate_findings(result, policy, peer, caller),
        *_account_findings(result, policy, peer),
        *_ftp_findings(result.ftp, peer),
        *_failure_findings(result, peer, caller),
    ]
    return sorted(found, key=lambda f: f.severity.rank)


def _accepted(policy: SessionPolicy) -> str:
    return "; ".join(f"'{name}'" for name in policy.client_ca_names) or "none configured"


def _certificate_findings(
    result: ProbeResult, policy: SessionPolicy, peer: str, caller: Caller
) -> list[Finding]:
    if not policy.requests_certificate:
        return []
    leaf = result.leaf
    handshake_done = result.tls is not None
    if leaf is None:
        if not handshake_done:
            return []  # a refused handshake is explained by its failure
        if result.client_auth is not None and result.client_auth.sent:
            return []  # sent but unreadable: its malformed_certificate finding says so
        return [
            Finding(
                "client_certificate_missing",
                Severity.ERROR,
                Side.CLIENT,
                f"The client {peer} sent no client certificate, although this server asked "
                "for one.",
                f"Accepted issuers named in the request: {_accepted(policy)}. A TLS client "
                "sends a certificate only when one is configured, and many send it only when "
                "it comes from one of the CAs the server names.",
                "Configure the client certificate and its key in the partner's client (curl "
                "--cert/--key, openssl s_client -cert/-key, the certificate setting of the "
                "FTP client), issued by one of the accepted CAs.",
            )
        ]
    errors = result.verify_errors
    if not errors:
        return []
    first = errors[0]
    more = f" (and {len(errors) - 1} more verify errors)" if len(errors) > 1 else ""
    return [
        Finding(
            "client_certificate_rejected",
            Severity.ERROR,
            Side.EITHER,
            f"The client certificate {describe(leaf)} from {peer} was rejected: "
            f"{first.reason} (OpenSSL verify error {first.code} at depth {first.depth}){more}.",
            f"Accepted issuers: {_accepted(policy)}; the certificate is issued by "
            f"'{certificates.dn(leaf.issuer)}'. The findings below name the exact cause. This "
            "listener let the handshake finish only to report it; a production server "
            "refuses the connection.",
            _rejected_remedy({e.code for e in errors}, caller),
        )
    ]


# Verify codes that mean the issuer is not known or not trusted here.
_ISSUER_CODES = frozenset(
    {
        UNABLE_TO_GET_ISSUER_CERT,
        DEPTH_ZERO_SELF_SIGNED_CERT,
        SELF_SIGNED_CERT_IN_CHAIN,
        UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
        UNABLE_TO_VERIFY_LEAF_SIGNATURE,
    }
)


def _rejected_remedy(codes: set[int], caller: Caller) -> str:
    """Who fixes a rejected client certificate: the CA list only helps an unknown issuer."""
    if codes & _ISSUER_CODES:
        return (
            "The partner uses a certificate from an accepted CA (and sends its "
            "intermediates), or this server adds the partner's CA to its client CAs "
            f"({caller.trust})."
        )
    if CERT_REVOKED in codes:
        return (
            "The partner needs a new client certificate: its CA revoked this one, and no "
            "change of accepted CAs here lets it in again."
        )
    return (
        "The partner fixes or replaces its certificate as the findings below say; its "
        "issuer is accepted, so no change of client CAs here helps."
    )


def _account_findings(result: ProbeResult, policy: SessionPolicy, peer: str) -> list[Finding]:
    expected = policy.expect_cn
    leaf = result.leaf
    if expected is None or leaf is None:
        return []
    names = certificates.common_names(leaf.subject)
    if expected in names:
        return []
    shown = ", ".join(f"'{n}'" for n in names) or "none"
    same_but_case = [n for n in names if n.casefold() == expected.casefold()]
    if same_but_case:
        return [
            Finding(
                "account_mismatch",
                Severity.ERROR,
                Side.EITHER,
                f"The client certificate's common name '{same_but_case[0]}' differs from the "
                f"account '{expected}' only in letter case; the comparison is case-sensitive.",
                f"Certificate {describe(leaf)} from {peer}. File-transfer servers compare "
                "the certificate's CN with the account name exactly, so "
                f"'{same_but_case[0]}' and '{expected}' are different accounts.",
                f"Either rename the account to '{same_but_case[0]}', or have the partner's "
                f"certificate reissued with CN={expected}.",
            )
        ]
    return [
        Finding(
            "account_mismatch",
            Severity.ERROR,
            Side.EITHER,
            f"The client certificate's common name ({shown}) is not the account '{expected}'.",
            f"Certificate {describe(leaf)} from {peer}. A certificate login needs the "
            "certificate's subject CN to equal the account name, compared case-sensitively.",
            f"The partner uses the certificate issued for '{expected}', or the account "
            "name is corrected.",
        )
    ]


def _ftp_findings(ftp: Mapping[str, Any] | None, peer: str) -> list[Finding]:
    if not ftp:
        return []
    found: list[Finding] = []
    refused_passive = ftp.get("data_without_prot_p")
    if refused_passive:
        found.append(
            Finding(
                "ftps_client_no_prot_p",
                Severity.ERROR,
                Side.CLIENT,
                f"The client {peer} asked for a data connection ({refused_passive}) without "
                "PROT P: its listings and files would travel in clear text.",
                "Secured file-transfer servers refuse unprotected data connections (this "
                "listener answered 521, as they do), so transfers fail although the login "
                "worked.",
                "Set the client's data channel protection to Private: PBSZ 0 and PROT P "
                "(ftplib: prot_p(); curl --ssl-reqd does it; FileZilla and WinSCP do it for "
                "'FTP over TLS').",
            )
        )
    if ftp.get("tls_before_auth"):
        found.append(
            Finding(
                "ftps_tls_before_auth",
                Severity.ERROR,
                Side.CLIENT,
                f"The client {peer} started a TLS handshake at once on this explicit-FTPS "
                "port, without the plain-text greeting and AUTH TLS.",
                "It is configured for implicit FTPS (ftps://, usually port 990); an "
                "explicit-FTPS port greets in plain text and starts TLS only after AUTH TLS. "
                "The client typically reports 'wrong version number' or a broken record.",
                "Configure the partner's client for explicit FTPS ('FTP over TLS, explicit', "
                "ftpes://, curl --ssl-reqd ftp://) on this port, or use the implicit port.",
            )
        )
    cleartext = ftp.get("cleartext_commands") or []
    if cleartext:
        found.append(
            Finding(
                "ftps_client_cleartext",
                Severity.ERROR,
                Side.CLIENT,
                f"The client {peer} sent {cleartext[0]} in clear text before AUTH TLS.",
                "Its FTP client is not configured for TLS, or only uses TLS when the server "
                "offers it; this listener (like a secured file-transfer server) refuses "
                "commands before AUTH TLS.",
                "Turn on explicit TLS in the partner's client ('Require explicit FTP over "
                "TLS', curl --ssl-reqd, ftplib.FTP_TLS).",
            )
        )
    for data in ftp.get("data_connections") or []:
        tls = data.get("tls")
        if data.get("tls_error"):
            found.append(
                Finding(
                    "ftps_data_tls_failed",
                    Severity.ERROR,
                    Side.CLIENT,
                    f"The TLS handshake of the client {peer} on the data connection failed: "
                    f"{data['tls_error']}.",
                    "The control connection was secured; the data connection's handshake "
                    "is a separate one and failed.",
                    "Check the partner's client log for the same moment.",
                )
            )
        elif isinstance(tls, Mapping) and not tls.get("session_reused"):
            found.append(
                Finding(
                    "ftps_data_not_resumed",
                    Severity.ERROR,
                    Side.CLIENT,
                    f"The client {peer} did not resume the control connection's TLS session "
                    f"on the data connection ({data.get('command') or 'transfer'}).",
                    "File-transfer servers require data connections to resume the control "
                    "session by default (it binds the data connection to the authenticated "
                    "client) and refuse others with 522 or 425 after a handshake that looks "
                    f"successful. Clients that do not resume: {_NON_RESUMING}. This listener "
                    "sent the data anyway, to deliver this report.",
                    "Use a client that resumes the session (curl, lftp, FileZilla, WinSCP), "
                    "or enable session reuse in the client (for ftplib: wrap the data socket "
                    "with session=self.sock.session).",
                )
            )
        break  # the first data connection tells; later ones repeat it
    return found


def _failure_findings(result: ProbeResult, peer: str, caller: Caller) -> list[Finding]:
    failure = result.failure
    if failure is None:
        return []
    said = failure.message.rstrip(".")
    if failure.kind == "timeout":
        if result.tls is None:
            detail = (
                "A client that connects and then says nothing is usually not speaking TLS "
                "first: a plain-text client, an explicit-FTPS client on an implicit port, a "
                "health check or a port scan. One that stops during the handshake may be "
                "waiting for someone to pick a client certificate, or sit behind a middlebox "
                "that holds the messages."
            )
            remedy = (
                "Check the partner's client settings (scheme, port, explicit or implicit "
                "FTPS) and its log for the same moment."
            )
        else:
            detail = (
                "The TLS handshake completed; then no request (HTTPS) or command (FTPS) "
                "arrived within the listener's idle bound."
            )
            remedy = "Nothing is wrong with TLS." + (
                f" If a person types the commands, raise {caller.idle_timeout}."
                if caller.idle_timeout
                else ""
            )
        return [
            Finding(
                "timeout",
                Severity.ERROR,
                Side.CLIENT,
                f"The client {peer} was cut off: {said}.",
                detail,
                remedy,
            )
        ]
    if failure.kind == "request_too_large":
        return [
            Finding(
                "request_too_large",
                Severity.ERROR,
                Side.CLIENT,
                f"The client {peer} sent more than the listener accepts: {said}.",
                "The listener reads HTTP request heads up to 16 KiB and FTP command lines up "
                "to 2 KiB, answers with 431 or 500 past that and closes the connection. A "
                "client does not normally send that much: huge cookies or headers, or binary "
                "data on the FTP control connection.",
                "Look at what the partner's client sends (its debug or trace log).",
            )
        ]
    if failure.kind == "listener_stopped":
        return [
            Finding(
                "listener_stopped",
                Severity.WARNING,
                Side.SERVER,
                f"The listener stopped while the client {peer} was connected; the session "
                "was cut short.",
                "What the session captured before the stop is kept.",
                "Let the partner connect again while the listener runs.",
            )
        ]
    return []
