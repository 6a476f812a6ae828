# -*- test-case-name: tests.explain.test_diagnose -*-
"""From a captured result to findings: the root cause first, then everything else.

Pure data.  Several raw verify events that share one cause become one finding;
the raw events stay in the result's ``verify_events``.  Where the evidence
cannot settle a cause (a server that sends only its leaf), the finding says so
and says how to tell.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping
from typing import Literal

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from diagnostics.explain import catalogue
from diagnostics.explain.crl import revocation_finding
from diagnostics.explain.followups import followup_findings, matrix_findings
from diagnostics.explain.ftps import ftp_findings
from diagnostics.explain.lint import (
    CertFinding,
    chain_shape,
    describe,
    eku_names,
    find_issuer,
    lint_chain_detailed,
    weak_key,
)
from diagnostics.explain.ocsp import staple_findings
from diagnostics.explain.proxy import PROXY_KINDS, proxy_finding
from diagnostics.explain.reach import reach_findings
from diagnostics.explain.wording import ago, sentence
from diagnostics.model import certificates, revocation
from diagnostics.model.caller import PROBE, Caller
from diagnostics.model.openssl_codes import (
    CA_KEY_TOO_SMALL,
    CA_MD_TOO_WEAK,
    CERT_HAS_EXPIRED,
    CERT_NOT_YET_VALID,
    DEPTH_ZERO_SELF_SIGNED_CERT,
    EE_KEY_TOO_SMALL,
    HOSTNAME_MISMATCH,
    INVALID_PURPOSE,
    IP_ADDRESS_MISMATCH,
    SELF_SIGNED_CERT_IN_CHAIN,
    UNABLE_TO_GET_ISSUER_CERT,
    UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
    UNABLE_TO_VERIFY_LEAF_SIGNATURE,
)
from diagnostics.model.result import (
    Failure,
    Finding,
    HostnameCheck,
    Phase,
    ProbeResult,
    Severity,
    Side,
    VerifyEvent,
)

CONNECTION_KINDS = (
    "resolve_failed",
    "connection_refused",
    "connection_reset",
    "timeout",
    "no_route",
    "connection_closed",
)

_ISSUER_CODES = frozenset(
    {UNABLE_TO_GET_ISSUER_CERT, UNABLE_TO_GET_ISSUER_CERT_LOCALLY, UNABLE_TO_VERIFY_LEAF_SIGNATURE}
)

# Which cause explains a failed verification best, when several are present.
_CAUSE_RANK = {
    "untrusted_root": 0,
    "missing_intermediate": 0,
    "unknown_issuer": 0,
    "self_signed": 0,
    "expired": 1,
    "not_yet_valid": 1,
    "revoked": 2,
    "cn_only": 3,
    "hostname_mismatch": 3,
    "malformed_certificate": 3,
    "wrong_eku": 5,
    "weak_key": 6,
    "weak_signature": 6,
    "crl_unavailable": 7,
    "crl_expired": 7,
    "crl_not_yet_valid": 7,
    "crl_signature_failure": 7,
    "crl_unhandled_critical_extension": 7,
}
_OTHER_VERIFY_RANK = 4
_LINT_RANK = 8
_FTP_RANK = 5
# Failures of an FTPS probe that the FTP findings explain better than the catalogue.
_FTP_STOP_KINDS = frozenset({"ftp_reply", "wrong_scheme", "ftp_protocol", "ftp_data_channel"})
_MAX_WALK = 10
# HTTP answers of a server that requested a client certificate and refuses the request
# for it (nginx: 400 to the client, 495/496 when an error_page passes its own codes on).
_CLIENT_CERT_STATUSES = frozenset({400, 403, 495, 496})


@attrs.frozen
class DiagnosisContext:
    """What the diagnosis may use besides the result itself.

    ``trusted`` should hold every trust anchor the verification used (the CA
    files given, and the platform's roots when system trust was on).
    ``identification`` holds certificates used only to name and place an
    issuer — the platform store when it was not trusted, an issuer fetched from
    an AIA URL — never to decide trust.
    """

    trusted: tuple[x509.Certificate, ...] = ()
    identification: tuple[x509.Certificate, ...] = ()
    role: Literal["server", "client"] = "server"
    now: datetime.datetime | None = None
    warn_days: int = 30
    critical_days: int = 7
    crls: tuple[revocation.KnownCRL, ...] = ()
    """The CRLs the verification used (to name the revoked entry, the stale CRL, …)."""
    crl_errors: Mapping[str, str] = attrs.field(factory=dict)
    """Configured CRL sources (files, URLs) without a usable CRL, and why."""
    revocation: tuple[revocation.RevocationOutcome, ...] = ()
    """Outcomes of a revocation check made after the handshake (``--crl-from-cdp``)."""
    peer: str | None = None
    """How to name the certificate's owner in texts (``host:port``); the target by default."""
    caller: Caller = PROBE
    """Who diagnoses: the options its remedies may name (a probe, ``verify``, the listener)."""
    client_library: str | None = None
    """The linked OpenSSL's version text, for findings about what this client refuses."""


def diagnose(result: ProbeResult, context: DiagnosisContext = DiagnosisContext()) -> ProbeResult:
    """The result with ``findings`` filled in, the primary (root cause) first; never raises."""
    try:
        findings = _Diagnosis(result, context).findings()
    except Exception as exc:  # a bug of ours must still give a result
        findings = (
            *result.findings,
            Finding(
                "internal_error",
                Severity.ERROR,
                Side.CLIENT if context.role == "server" else Side.SERVER,
                f"tlsdiag could not diagnose the result: {type(exc).__name__}: {exc}",
                "The raw verify events and chains in the result are still accurate.",
                "This is a bug in tlsdiag; please report it together with the JSON result.",
            ),
        )
    return attrs.evolve(result, findings=findings)


def _key_id(value: bytes | None) -> str | None:
    return ":".join(f"{b:02X}" for b in value) if value else None


@attrs.define
class _Collected:
    item: CertFinding
    rank: int
    order: int


class _Diagnosis:
    """One diagnosis run: collects findings, merges duplicates, picks the primary."""

    def __init__(self, result: ProbeResult, context: DiagnosisContext) -> None:
        self.result = result
        self.context = context
        now = context.now or datetime.datetime.now(datetime.UTC)
        self.now = now if now.tzinfo else now.replace(tzinfo=datetime.UTC)
        self.role = context.role
        self.owner = Side.SERVER if context.role == "server" else Side.CLIENT
        self.judge = Side.CLIENT if context.role == "server" else Side.SERVER
        self.who = context.role
        target = result.target
        host = f"[{target.host}]" if ":" in target.host else target.host
        self.where = context.peer or f"{host}:{target.port}"
        self.leaf = result.leaf
        self.misplaced_leaf = _misplaced_leaf(result.served_chain)
        self.trusted = tuple(context.trusted)
        self.pool = (*context.identification, *context.trusted)
        self.caller = context.caller
        self.trust_option = f"({context.caller.trust})"
        self._collected: dict[tuple[object, ...], _Collected] = {}
        self._by_text: dict[tuple[str, str], _Collected] = {}

    # -- assembling --------------------------------------------------------------------

    def add(self, item: CertFinding, rank: int) -> None:
        """Add a finding; one with the same id about the same certificate is merged."""
        finding = item.finding
        key: tuple[object, ...] = (finding.id, finding.summary)
        if item.certificate is not None:
            key = (finding.id, item.certificate.fingerprint(hashes.SHA256()))
        present = self._collected.get(key) or self._by_text.get((finding.id, finding.summary))
        if present is None:
            present = _Collected(item, rank, len(self._collected))
            self._collected[key] = self._by_text[(finding.id, finding.summary)] = present
            return
        if finding.severity.rank < present.item.finding.severity.rank:
            merged = attrs.evolve(present.item.finding, severity=finding.severity)
            present.item = attrs.evolve(present.item, finding=merged)
        present.rank = min(present.rank, rank)

    def findings(self) -> tuple[Finding, ...]:
        failure = self.failure_finding(self.result.failure)
        # The FTP policy findings read a probe's dialogue; a listener judges its client.
        ftp = ftp_findings(self.result) if self.role == "server" else []
        stop = self.result.failure
        if ftp and (
            (stop is not None and stop.kind in _FTP_STOP_KINDS)
            or (self.result.ftp or {}).get("suggested_scheme")
        ):
            failure = ftp.pop(0)
        for finding in [*ftp, *self.http_findings()]:
            self.add(CertFinding(finding), _FTP_RANK)
        for item in self.verify_findings():
            self.add(item, _CAUSE_RANK.get(item.finding.id, _OTHER_VERIFY_RANK))
        for item in self.hostname_findings():
            self.add(item, _CAUSE_RANK.get(item.finding.id, _OTHER_VERIFY_RANK))
        for item in staple_findings(self.result, self.now):
            self.add(item, _CAUSE_RANK.get(item.finding.id, _OTHER_VERIFY_RANK))
        for finding in self.result.findings:
            if finding != failure:  # diagnosing a diagnosed result changes nothing
                self.add(CertFinding(finding), _LINT_RANK)
        library = self.context.client_library
        for finding in matrix_findings(self.where, self.result.versions, library):
            self.add(CertFinding(finding), _OTHER_VERIFY_RANK)
        for finding in reach_findings(self.where, self.result):
            self.add(CertFinding(finding), _OTHER_VERIFY_RANK)
        cause = followup_findings(self.where, self.result.followups, library)
        for item in lint_chain_detailed(
            self.result.served_chain,
            role=self.role,
            now=self.now,
            warn_days=self.context.warn_days,
            critical_days=self.context.critical_days,
            trusted=self.trusted,
        ):
            self.add(item, _LINT_RANK)
        collected = sorted(
            self._collected.values(),
            key=lambda c: (c.item.finding.severity.rank, c.rank, c.order),
        )
        rest = [c.item.finding for c in collected]
        primary: list[Finding] = []
        order = [f for f in rest if f.id == "chain_order"]
        if self.misplaced_leaf is not None and order:
            # A CA certificate served first makes every later check misleading.
            rest.remove(order[0])
            primary = [
                attrs.evolve(
                    order[0],
                    severity=Severity.ERROR,
                    detail=f"{order[0].detail} The first certificate sent is a CA "
                    "certificate, not the server's own: clients check the host name and "
                    "the key against it and fail.",
                )
            ]
            if failure is not None:
                rest.insert(0, failure)
        elif cause:
            # The follow-up handshakes name why the handshake was refused, and who acts.
            primary = cause[:1]
            rest = [f for f in rest if f != cause[0]]
            if failure is not None and failure.id != cause[0].id:
                rest.insert(0, failure)
        elif failure is not None:
            generic_verify_failure = (
                self.result.failure is not None
                and (self.result.failure.reason or "").endswith("certificate verify failed")
                and collected
                and collected[0].rank < _LINT_RANK
            )
            if generic_verify_failure:
                primary = [rest.pop(0)]
                rest.append(failure)
            else:
                primary = [failure]
        elif rest:
            primary = [rest.pop(0)]
        rest.sort(key=lambda f: f.severity.rank)
        return (*primary, *rest)

    # -- application -------------------------------------------------------------------

    def http_findings(self) -> list[Finding]:
        """An HTTP error status after a good handshake: a fact for the web server's admin."""
        http = self.result.http
        status = http.get("status") if http else None
        if not isinstance(status, int) or status < 400:
            return []
        line = http.get("status_line") if http else None
        server = http.get("server") if http else None
        where = f"{self.where}{self.result.target.path}"
        refused = self.client_certificate_refused_over_http(status, f"'{line or status}'")
        if refused is not None:
            return [refused]
        return [
            Finding(
                "http_status",
                Severity.WARNING if status >= 500 else Severity.INFO,
                Side.SERVER,
                f"{where} answered '{line or status}' after a good TLS handshake.",
                "TLS works; the HTTP layer reports an error"
                + (f" (server: {server})." if server else "."),
                "A 5xx status is the web application's problem; a 4xx status usually means "
                "the path or the virtual host (SNI, Host header) is not the one intended.",
            )
        ]

    def client_certificate_refused_over_http(self, status: int, answer: str) -> Finding | None:
        """A web server that asked for a client certificate and refuses over HTTP, not TLS.

        nginx (``ssl_verify_client on``) completes the handshake and answers 400 ("No
        required SSL certificate was sent", or "The SSL certificate error" when it could
        not verify the one sent; 496 and 495 inside its logs); application rules that read
        the client certificate answer 403.
        """
        auth = self.result.client_auth
        if auth is None or not auth.requested or status not in _CLIENT_CERT_STATUSES:
            return None
        accepted = "; ".join(f"'{name}'" for name in auth.ca_names) or "any CA (no names sent)"
        identity = f" ({self.caller.client_identity})" if self.caller.client_identity else ""
        if not auth.sent:
            return Finding(
                "client_certificate_required",
                Severity.ERROR,
                Side.CLIENT,
                f"{self.where} asked for a client certificate and, when none was sent, "
                f"answered {answer}: it serves only clients that present one.",
                "The TLS handshake completes because the server only requests the "
                "certificate; the web server then refuses the request (nginx's "
                'ssl_verify_client answers 400 "No required SSL certificate was sent", '
                f"a rule on the client certificate answers 403). Accepted issuers: {accepted}.",
                f"Configure a client certificate{identity} issued by a CA the server accepts.",
            )
        if status == 403:
            return None  # a certificate was sent: 403 is an access rule, the plain HTTP fact
        return Finding(
            "client_certificate_rejected",
            Severity.ERROR,
            Side.CLIENT,
            f"{self.where} could not verify our client certificate and answered {answer}.",
            "The TLS handshake completes because the server verifies the client certificate "
            'only when the request arrives (nginx answers 400 "The SSL certificate error"): '
            "its issuer is not in the server's client CA list, or it is expired or revoked. "
            f"Accepted issuers: {accepted}.",
            "Use a client certificate from a CA the server accepts, or ask the server's "
            "administrator to add its CA (nginx: ssl_client_certificate) and read the "
            "server's error log for the exact verify error.",
        )

    # -- failures ----------------------------------------------------------------------

    def failure_finding(self, failure: Failure | None) -> Finding | None:
        """The finding for a probe that could not complete."""
        if failure is None:
            return None
        phase = failure.phase.value if isinstance(failure.phase, Phase) else str(failure.phase)
        if failure.kind == "internal":
            return Finding(
                "internal_error",
                Severity.ERROR,
                self.judge,
                f"tlsdiag hit an internal error while probing {self.where} "
                f"(during the {phase} phase): {failure.message}",
                "The result holds what was captured before the error.",
                "This is a bug in tlsdiag; please report it together with the JSON result.",
            )
        if failure.kind in PROXY_KINDS:
            return proxy_finding(failure, self.result.proxy, self.where, self.caller)
        explained = self.explain_failure(failure)
        if explained is None:
            return Finding(
                "configuration_error" if failure.kind == "configuration" else "connection_failed",
                Severity.ERROR,
                self.judge if failure.kind == "configuration" else Side.EITHER,
                f"Probing {self.where} failed during the {phase} phase: {failure.message}",
                f"Failure kind: {failure.kind}.",
            )
        summary = f"{self.where}: {sentence(explained.summary)[:-1]} (during the {phase} phase)."
        if failure.kind == "tls_error" and failure.reason:
            detail = [f"OpenSSL reported “{failure.reason}”."]
        else:
            detail = [sentence(failure.message)] if failure.message else []
        auth = self.result.client_auth
        if self.role == "server" and auth is not None and auth.requested and not auth.sent:
            accepted = "; ".join(f"'{name}'" for name in auth.ca_names) or "any CA (no names sent)"
            detail.append(
                f"The server asked for a client certificate (accepted issuers: {accepted}) "
                "and none was configured"
                + (f" ({self.caller.client_identity})." if self.caller.client_identity else ".")
            )
        causes = list(explained.causes)
        if failure.kind == "connection_closed" and failure.phase is Phase.APPLICATION:
            summary = (
                f"{self.where} completed the TLS handshake, then closed the connection "
                "without answering the request (application phase)."
            )
            causes = [
                "The TLS layer accepted us; the service behind it (the web server, a proxy "
                "or an application gateway) dropped the connection. A server that rejects "
                "a client certificate only after the handshake behaves the same way."
            ]
        if failure.kind == "timeout" and failure.phase is Phase.HANDSHAKE:
            summary = (
                f"{self.where} accepted the TCP connection but never answered the TLS "
                "ClientHello (timeout during the handshake phase)."
            )
            # The catalogue's causes cover every phase; only this one applies here.
            causes = [
                "The service on this port is probably not speaking TLS from the first byte: "
                "a plain-text service that waits for the client to speak first, or an "
                "implicit/explicit FTPS mix-up. A middlebox that swallows the ClientHello, "
                "or an overloaded server, looks the same."
            ]
        detail.extend(self.scheme_hints(failure))
        detail.extend(causes)
        return Finding(
            explained.finding_id,
            explained.severity,
            explained.side,
            summary,
            " ".join(detail),
            explained.remedy,
        )

    def explain_failure(self, failure: Failure) -> catalogue.Explanation | None:
        """The catalogue's reading of a TLS error or connection failure; None for other kinds."""
        if failure.kind == "tls_error":
            seen_by = Side.CLIENT if self.role == "server" else Side.SERVER
            reason = failure.reason or failure.message
            if self.unanswered_certificate_request(reason):
                # TLS 1.2 servers refuse a missing client certificate with a generic
                # handshake_failure alert; the request they sent first tells why.
                reason = "tlsv13 alert certificate required"
            explained = catalogue.classify_tls_error(reason, seen_by=seen_by)
            if explained.finding_id == "client_certificate_rejected" and self.sent_no_certificate():
                return self.rejection_without_certificate(explained)
            return explained
        if failure.kind in CONNECTION_KINDS:
            return catalogue.connection_error(failure.kind)
        return None

    def unanswered_certificate_request(self, reason: str) -> bool:
        """The server asked for a client certificate, got none, and ended the handshake."""
        auth = self.result.client_auth
        return (
            self.role == "server"
            and auth is not None
            and auth.requested
            and not auth.sent
            and reason.endswith("alert handshake failure")
        )

    def sent_no_certificate(self) -> bool:
        """A probe that sent no client certificate (none was asked for, or none configured)."""
        auth = self.result.client_auth
        return self.role == "server" and (auth is None or not auth.sent)

    def rejection_without_certificate(
        self, explained: catalogue.Explanation
    ) -> catalogue.Explanation:
        """An alert that rejects "our client certificate" when we sent none.

        It cannot be a verdict on a certificate of ours.  When the server asked for one,
        it requires a certificate (some TLS libraries say so with unknown_ca or
        bad_certificate instead of certificate_required); when it did not ask, the alert
        is about something the server itself was shown, and the server's side must look.
        """
        if explained.kind != "alert":
            return explained
        alert = explained.title.split(" (", 1)[0]
        auth = self.result.client_auth
        if auth is not None and auth.requested:
            required = catalogue.classify_tls_error(
                "tlsv13 alert certificate required", seen_by=Side.CLIENT
            )
            return attrs.evolve(
                required,
                summary=f"The server asked for a client certificate, none was sent, and it "
                f"ended the handshake with alert {alert}: it requires a client certificate.",
                causes=(
                    f"Its TLS library answers a missing client certificate with {alert} "
                    "instead of certificate_required; with no certificate sent, the alert is "
                    "no verdict on one of ours.",
                    *required.causes,
                ),
            )
        return attrs.evolve(
            explained,
            finding_id=f"tls_alert_{alert}",
            side=Side.SERVER,
            summary=f"The server ended the handshake with alert {alert} although it never "
            "asked for a client certificate and none was sent: the alert is not about a "
            "certificate of ours.",
            causes=(
                "The handshake holds no certificate request from the server, and no client "
                "certificate was sent.",
                "A TLS-terminating proxy or load balancer could not verify the certificate of "
                "the backend it connects to, and passed that verdict on as this alert.",
                "The server uses this alert to refuse this client for another reason (an "
                "access policy, the requested host name).",
            ),
            remedy="Ask the server operator for the server's (or its proxy's) TLS log at this "
            "time: it names the certificate it could not accept, most often a backend's. "
            "Changing our certificates cannot help: none was sent.",
        )

    def scheme_hints(self, failure: Failure) -> list[str]:
        """Hints that depend on the URL scheme: the usual implicit/explicit FTPS mix-ups."""
        target = self.result.target
        reason = (failure.reason or "").lower()
        hints = []
        if reason.endswith("wrong version number") and target.scheme == "ftps":
            hints.append(
                f"Port {target.port} answered in plain text: it is probably an explicit "
                f"FTPS port; try ftpes://{target.host}:{target.port}."
            )
        greeted = (self.result.ftp or {}).get("greeting") is not None
        if (
            failure.kind == "timeout"
            and target.scheme == "ftpes"
            and failure.phase is not Phase.HANDSHAKE
            and not greeted
        ):
            # The probe waited for the greeting until the deadline and offered TLS on a
            # second connection meanwhile: no TLS answer came there either.
            hints.append(
                "No FTP greeting arrived before the timeout, and a TLS ClientHello offered "
                "on a second connection got no TLS answer either: the server greets later "
                "than the timeout allows (slow reverse-DNS or ident lookups), or something "
                "holds the connection; a longer timeout tells which. An implicit FTPS port "
                f"would have answered TLS (ftps://{target.host}:{target.port})."
            )
        if (
            failure.kind == "timeout"
            and target.scheme == "ftps"
            and failure.phase is Phase.HANDSHAKE
        ):
            hints.append(
                f"If port {target.port} is an explicit FTPS port, use "
                f"ftpes://{target.host}:{target.port}."
            )
        return hints

    # -- verify events -----------------------------------------------------------------

    def cert_at(self, event: VerifyEvent) -> x509.Certificate | None:
        """The certificate an event is about."""
        if event.certificate is not None:
            return event.certificate
        for chain in (self.result.verified_chain, self.result.served_chain):
            if 0 <= event.depth < len(chain):
                return chain[event.depth]
        return None

    def verify_findings(self) -> list[CertFinding]:
        """One finding per cause among the verify errors, the best explanation first."""
        events: dict[tuple[int, int], VerifyEvent] = {}
        for event in self.result.verify_events:
            if event.code != 0:
                events.setdefault((event.depth, event.code), event)
        by_depth: dict[int, set[int]] = {}
        for depth, code in events:
            by_depth.setdefault(depth, set()).add(code)
        items: list[CertFinding] = []
        for depth in sorted(by_depth):
            if by_depth[depth] & _ISSUER_CODES:
                event = next(e for (d, c), e in events.items() if d == depth and c in _ISSUER_CODES)
                cert = self.cert_at(event)
                if cert is not None:
                    items.extend(self.missing_issuer(cert, depth))
                else:
                    items.append(self.from_catalogue(event, None))
        for (depth, code), event in events.items():
            if code in _ISSUER_CODES:
                continue
            items.extend(self.one_code(event, depth, code))
        items.extend(self.revocation_finding(o) for o in self.context.revocation)
        items.sort(key=lambda i: _CAUSE_RANK.get(i.finding.id, _OTHER_VERIFY_RANK))
        return items

    def one_code(self, event: VerifyEvent, depth: int, code: int) -> Iterator[CertFinding]:
        cert = self.cert_at(event)
        if code in (HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH):
            return  # the hostname check explains these (see hostname_findings)
        if cert is None:
            yield self.from_catalogue(event, None)
        elif code == DEPTH_ZERO_SELF_SIGNED_CERT:
            yield self.self_signed(cert)
        elif code == SELF_SIGNED_CERT_IN_CHAIN:
            yield self.root_in_chain(cert)
        elif code == CERT_HAS_EXPIRED:
            yield self.expired(cert, depth)
        elif code == CERT_NOT_YET_VALID:
            yield self.not_yet_valid(cert, depth)
        elif code in revocation.CODES:
            context = self.context
            yield self.revocation_finding(
                revocation.outcome_for_event(code, depth, cert, context.crls, context.crl_errors)
            )
        elif code == INVALID_PURPOSE:
            yield self.wrong_eku(cert)
        elif code in (EE_KEY_TOO_SMALL, CA_KEY_TOO_SMALL):
            yield self.weak_key(cert)
        elif code == CA_MD_TOO_WEAK:
            yield self.weak_signature(cert)
        else:
            yield self.from_catalogue(event, cert)

    def _cf(
        self,
        id: str,
        side: Side,
        summary: str,
        detail: str,
        remedy: str,
        cert: x509.Certificate | None,
        severity: Severity = Severity.ERROR,
    ) -> CertFinding:
        return CertFinding(Finding(id, severity, side, summary, detail, remedy), cert)

    def from_catalogue(self, event: VerifyEvent, cert: x509.Certificate | None) -> CertFinding:
        """A verify code without special reasoning, explained by the catalogue."""
        about = f"{describe(cert)} (depth {event.depth})" if cert else f"depth {event.depth}"
        entry = catalogue.verify_code(event.code)
        side = entry.side
        if self.role == "client" and side in (Side.SERVER, Side.CLIENT):
            # The catalogue speaks of a client judging a server; here the roles are swapped.
            side = Side.CLIENT if side is Side.SERVER else Side.SERVER
        reason = event.reason or entry.reason
        return self._cf(
            entry.finding_id,
            side,
            f"{sentence(entry.summary)[:-1]}: {about}, OpenSSL error {event.code} ({reason}).",
            " ".join(entry.causes),
            entry.remedy,
            cert,
            entry.severity,
        )

    def self_signed(self, cert: x509.Certificate) -> CertFinding:
        return self._cf(
            "self_signed",
            self.owner,
            f"The {self.who} at {self.where} presents a self-signed certificate "
            f"{describe(cert)} that is not in the trust list.",
            "A self-signed certificate vouches only for itself; nobody trusts it unless "
            "it was installed there deliberately. Appliance defaults and the "
            "packaged 'snakeoil' certificates of FTP servers are typical.",
            f"Install a certificate issued by a CA the peers trust on the {self.who}; or, "
            "if this exact certificate is meant to be trusted, give it to the "
            f"{self.judge.value} as a trusted certificate {self.trust_option}.",
            cert,
        )

    def root_in_chain(self, root: x509.Certificate) -> CertFinding:
        in_store = root in self.context.identification
        system_trust = self.caller.system_trust
        where = (
            " It is in this machine's platform store, which was not used as the trust list "
            + (f"here (use {system_trust})." if system_trust else "here.")
            if in_store
            else ""
        )
        return self._cf(
            "untrusted_root",
            self.judge,
            f"The {self.who} at {self.where} sends the root CA {describe(root)}, which is "
            "not in the trust list.",
            f"A root is trusted only when the {self.judge.value} already holds it; sending "
            "it does not make it trusted. A private or corporate CA, or a TLS-inspecting "
            f"proxy that re-signs traffic, is the usual reason.{where}",
            f"If {describe(root)} is legitimately your organisation's CA, add it to the "
            f"trust list {self.trust_option}; otherwise find out who re-signs the traffic.",
            root,
        )

    def missing_issuer(self, cert: x509.Certificate, depth: int) -> list[CertFinding]:
        """Nobody had the issuer of ``cert``: name it, and place it when the evidence allows."""
        issuer_dn = certificates.dn(cert.issuer)
        urls = certificates.ca_issuers_urls(cert)
        aia = (
            f" The certificate names its issuer's download address: {', '.join(urls)}."
            if urls
            else ""
        )
        or_above = ", or the address above" if urls else ""
        key_id = _key_id(certificates.authority_key_identifier(cert))
        key_note = f" (key identifier {key_id})" if key_id else ""
        issuer = find_issuer(cert, self.pool)

        if cert in self.trusted and depth > 0:
            return [self.untrusted_root_of(cert, issuer_dn, key_note, in_trust_list=True)]
        if issuer is not None and issuer not in self.trusted:
            return self.known_issuer(cert, issuer, aia)
        # Certificates with the issuer's name whose key did not sign ``cert``.
        namesakes = [
            c
            for c in (*self.result.served_chain, *self.trusted)
            if c.subject == cert.issuer and not certificates.issued_by(cert, c)
        ]
        served_namesake = [c for c in namesakes if c in self.result.served_chain]
        if served_namesake:
            return [
                self._cf(
                    "missing_intermediate",
                    self.owner,
                    f"The {self.who} at {self.where} sends a certificate named '{issuer_dn}', "
                    f"but not the one that signed {describe(cert)}.",
                    f"The served '{issuer_dn}' has a different key from the issuer of "
                    f"{describe(cert)}{key_note}: an outdated or re-keyed intermediate.{aia}",
                    f"Configure the {self.who} to send the current intermediate that issued "
                    "its certificate.",
                    cert,
                )
            ]
        rekeyed = (
            f" The trust list holds a certificate named '{issuer_dn}', but with a different "
            "key: that CA was re-keyed, or the name is reused."
            if namesakes
            else ""
        )
        if depth > 0:
            return [self.untrusted_root_of(cert, issuer_dn, key_note + rekeyed, False)]
        return [
            self._cf(
                "unknown_issuer",
                Side.EITHER,
                f"The {self.who} at {self.where} sends only its certificate {describe(cert)}; "
                f"its issuer '{issuer_dn}' is neither sent nor in the trust list.",
                f"The issuer{key_note} could be an intermediate CA that the {self.who} fails "
                f"to send ({self.owner.value} side), or a private root CA that the "
                f"{self.judge.value} does not trust ({self.judge.value} side); the verify "
                "errors (20, then 21) are the same for "
                f"both.{rekeyed}{aia} How to tell: get the certificate of '{issuer_dn}' (from "
                f"the {self.who}'s administrator or its CA{or_above}); "
                f"if it is self-signed it is a root, to be trusted by the {self.judge.value}; "
                "otherwise it "
                f"is an intermediate, to be sent by the {self.who}.",
                f"Either configure the {self.who} to send its full chain (certificate followed "
                f"by the intermediates), or add the root CA to the trust list {self.trust_option}.",
                cert,
            )
        ]

    def known_issuer(
        self, cert: x509.Certificate, issuer: x509.Certificate, aia: str
    ) -> list[CertFinding]:
        """The missing issuer is known (identification only): say which case it is."""
        issuer_dn = certificates.dn(issuer.subject)
        source = (
            "the platform's store or a fetched issuer certificate, used here only for "
            "identification"
        )
        if certificates.is_self_signed(issuer):
            return [
                self._cf(
                    "untrusted_root",
                    self.judge,
                    f"{describe(cert)} from {self.where} is issued by the root CA "
                    f"'{issuer_dn}', which is not in the trust list.",
                    f"'{issuer_dn}' is a self-signed root (identified from {source}); the "
                    f"{self.who} needs to send nothing more, the {self.judge.value} must trust "
                    "this root.",
                    f"Add '{issuer_dn}' to the trust list {self.trust_option} if it is "
                    "legitimately trusted.",
                    issuer,
                )
            ]
        items = [
            self._cf(
                "missing_intermediate",
                self.owner,
                f"The {self.who} at {self.where} does not send the intermediate CA "
                f"'{issuer_dn}' that issued {describe(cert)}.",
                f"'{issuer_dn}' is an intermediate CA (identified from {source}); TLS peers "
                f"do not fetch missing intermediates themselves.{aia}",
                f"Configure the {self.who} to send its full chain: its certificate followed "
                f"by '{issuer_dn}' (fullchain.pem, SSLCertificateChainFile, a bundle file).",
                issuer,
            )
        ]
        top = issuer
        for _ in range(_MAX_WALK):
            if top in self.trusted or certificates.is_self_signed(top):
                break
            above = find_issuer(top, self.pool)
            if above is None:
                break
            top = above
        if top not in self.trusted:
            root_dn = certificates.dn(
                top.subject if certificates.is_self_signed(top) else top.issuer
            )
            items.append(
                self._cf(
                    "untrusted_root",
                    self.judge,
                    f"The chain of {describe(cert)} ends at '{root_dn}', which is not in "
                    "the trust list.",
                    f"Even with '{issuer_dn}' sent, the {self.judge.value} would not trust "
                    "the chain.",
                    f"Add '{root_dn}' to the trust list {self.trust_option} if it is legitimately "
                    "trusted.",
                    top,
                )
            )
        return items

    def untrusted_root_of(
        self, cert: x509.Certificate, issuer_dn: str, note: str, in_trust_list: bool
    ) -> CertFinding:
        """The certificate at the top of the chain names an issuer nobody has."""
        if in_trust_list:
            summary = (
                f"The trust list holds the intermediate {describe(cert)} but not its root "
                f"'{issuer_dn}'."
            )
        else:
            summary = (
                f"The root CA '{issuer_dn}' that issued {describe(cert)} (sent by "
                f"{self.where}) is not in the trust list."
            )
        return self._cf(
            "untrusted_root",
            self.judge,
            summary,
            f"The chain ends at a CA the {self.judge.value} does not trust{note}. A private "
            "CA, an "
            "outdated CA bundle or a wrong CA file path are the usual reasons; if "
            f"'{issuer_dn}' is itself an intermediate, the {self.who} should send it too.",
            f"Add the root CA '{issuer_dn}' to the trust list {self.trust_option}, or update "
            "the CA bundle.",
            cert,
        )

    def _kind(self, cert: x509.Certificate, depth: int) -> str:
        if depth == 0 or cert == self.leaf:
            return "certificate"
        return "root CA certificate" if certificates.is_self_signed(cert) else "intermediate CA"

    def expired(self, cert: x509.Certificate, depth: int) -> CertFinding:
        end = certificates.iso_time(certificates.not_after(cert))
        ago = _days_ago(self.now - certificates.not_after(cert))
        kind = self._kind(cert, depth)
        if kind == "certificate":
            return self._cf(
                "expired",
                self.owner,
                f"The certificate {describe(cert)} of {self.where} expired on {end}{ago}.",
                "If the date looks wrong, check this machine's clock.",
                f"Renew the certificate and install it on the {self.who}.",
                cert,
            )
        leaf = self.leaf
        leaf_note = (
            f", not the {self.who}'s own certificate {describe(leaf)}, which is valid until "
            f"{certificates.iso_time(certificates.not_after(leaf))}"
            if leaf is not None and leaf != cert
            else ""
        )
        sent = cert in self.result.served_chain
        side = self.owner if sent or not certificates.is_self_signed(cert) else self.judge
        remedy = (
            f"Configure the {self.who} to send the CA's current intermediate instead."
            if kind == "intermediate CA"
            else "Update the CA bundle to one with the CA's current root."
        )
        return self._cf(
            "expired",
            side,
            f"The {kind} {describe(cert)} expired on {end}{ago}{leaf_note}.",
            "A chain is valid only while every certificate in it is; an old intermediate "
            "or cross-certificate left in a chain file is the usual reason.",
            remedy,
            cert,
        )

    def not_yet_valid(self, cert: x509.Certificate, depth: int) -> CertFinding:
        start = certificates.not_before(cert)
        return self._cf(
            "not_yet_valid",
            Side.EITHER,
            f"The {self._kind(cert, depth)} {describe(cert)} is not valid before "
            f"{certificates.iso_time(start)}; this machine's clock says "
            f"{certificates.iso_time(self.now)}.",
            "Either this machine's clock is behind (no NTP, a fresh VM or appliance), or the "
            "certificate was installed before its start date.",
            "Check this machine's clock first; if it is right, wait for the start date or "
            "reissue the certificate.",
            cert,
        )

    def revocation_finding(self, outcome: revocation.RevocationOutcome) -> CertFinding:
        """A revocation outcome (OpenSSL's or our own check's) explained."""
        return revocation_finding(
            outcome, role=self.role, where=self.where, now=self.now, caller=self.caller
        )

    def wrong_eku(self, cert: x509.Certificate) -> CertFinding:
        label = "serverAuth" if self.role == "server" else "clientAuth"
        return self._cf(
            "wrong_eku",
            self.owner,
            f"{describe(cert)} is not valid for TLS {self.who} use: its extended key usage "
            f"({eku_names(cert)}) lacks {label}.",
            "OpenSSL rejects it as an unsuitable certificate purpose (code 26).",
            f"Reissue the certificate with the {label} extended key usage.",
            cert,
        )

    def weak_key(self, cert: x509.Certificate) -> CertFinding:
        key_type, bits = certificates.key_type_and_bits(cert)
        weakness = weak_key(cert) or f"{bits}-bit {key_type} key"
        return self._cf(
            "weak_key",
            self.owner,
            f"{describe(cert)} has a {weakness}, below what OpenSSL accepts.",
            "OpenSSL's security level 2 requires RSA keys of at least 2048 bits and EC keys "
            "of at least 256 bits.",
            "Reissue the certificate with RSA 2048 or more, or ECDSA P-256.",
            cert,
        )

    def weak_signature(self, cert: x509.Certificate) -> CertFinding:
        digest = (
            certificates.signature_hash(cert) or certificates.signature_algorithm(cert)
        ).upper()
        return self._cf(
            "weak_signature",
            self.owner,
            f"{describe(cert)} is signed with {digest} by '{certificates.dn(cert.issuer)}', "
            "a digest OpenSSL no longer accepts.",
            "SHA-1 and MD5 signatures can be forged.",
            "Reissue the certificate with a SHA-256 signature.",
            cert,
        )

    # -- host name ---------------------------------------------------------------------

    def hostname_findings(self) -> list[CertFinding]:
        """Findings about the name used versus the names in the leaf."""
        check = self.result.hostname
        if check is None:
            codes = {e.code for e in self.result.verify_events if e.depth == 0}
            if not codes & {HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH}:
                return []
            check = HostnameCheck(name=self.result.target.verify_name, matched=False)
        leaf = self.leaf
        real = self.misplaced_leaf
        if real is not None and _covers(real, check.name):
            # The name was checked against the CA certificate served first; the server's
            # own certificate covers it: the order is the problem (chain_order), not the name.
            return []
        if check.error is not None:
            return [
                self._cf(
                    "malformed_certificate",
                    self.owner,
                    f"The names in the certificate{' ' + describe(leaf) if leaf else ''} of "
                    f"{self.where} cannot be read: {check.error}",
                    "Its subjectAltName extension does not parse, so no client can match a "
                    "name against it.",
                    "Reissue the certificate with a tool that writes a valid subjectAltName.",
                    leaf,
                )
            ]
        if check.matched is not False:
            return []
        return [self.hostname_mismatch(check, leaf)]

    def name_remedy(self) -> str:
        """How to check a name the certificate holds, with the caller's option for it."""
        option = self.caller.name
        if option is None:
            return "Use a name the certificate holds"
        sni = " and sent as SNI" if self.caller.name_sent else ""
        return f"Use a name the certificate holds ({option} sets the name checked{sni})"

    def hostname_mismatch(self, check: HostnameCheck, leaf: x509.Certificate | None) -> CertFinding:
        name = check.name
        port = self.result.target.port
        if leaf is not None:
            sans = certificates.subject_alt_names(leaf)
            held = [f"DNS:{d}" for d in sans.dns] + [f"IP:{ip}" for ip in sans.ip]
            cns = certificates.common_names(leaf.subject)
            if not sans.present and any(_name_matches(cn, name) for cn in cns):
                return self._cf(
                    "cn_only",
                    self.owner,
                    f"{describe(leaf)} of {self.where} names '{name}' only in its common name, "
                    "which current clients ignore: the name check fails.",
                    "Since RFC 6125 (and in every browser and current TLS library) only the "
                    "subjectAltName entries count; this certificate has none.",
                    f"Reissue the certificate with DNS:{name} as a subjectAltName entry.",
                    leaf,
                )
            dns, ips = list(sans.dns), list(sans.ip)
            subject = f" ({describe(leaf)})"
        else:
            held = list(check.names_in_cert)
            cns, dns, ips = [], [], []
            subject = ""
        holds = ", ".join(held) if held else "no subjectAltName entries at all"
        detail = [
            f"Name used: '{name}'. Names in the certificate: {holds}.",
            f"The port (:{port}) is never part of the check: a certificate names hosts, "
            "not services.",
        ]
        if certificates.is_ip_literal(name):
            detail.append(
                f"'{name}' is an IP address: it matches only an IP subjectAltName entry, never "
                "a DNS name" + (" — and this certificate has no IP entries." if not ips else ".")
            )
        elif ips and not dns:
            detail.append("The certificate holds only IP addresses: connect by address.")
        wildcards = [d for d in dns if d.startswith("*.")]
        if wildcards:
            pattern = wildcards[0]
            detail.append(
                f"A wildcard covers exactly one label: '{pattern}' covers "
                f"'www.{pattern[2:]}' but neither '{pattern[2:]}' nor 'a.b.{pattern[2:]}'."
            )
        if not held and cns:
            detail.append(f"The common name ({', '.join(cns)}) is ignored by current clients.")
        return self._cf(
            "hostname_mismatch",
            Side.EITHER,
            f"The certificate of {self.where}{subject} does not cover the name '{name}': it "
            f"holds {holds}.",
            " ".join(detail),
            f"{self.name_remedy()}, or have the certificate reissued to include '{name}'.",
            leaf,
        )


def _misplaced_leaf(served: tuple[x509.Certificate, ...]) -> x509.Certificate | None:
    """The server's own certificate when it was not served first (intermediate-first, reversed)."""
    if len(served) < 2:
        return None
    path = chain_shape(served).path
    return served[path[0]] if path and path[0] != 0 else None


def _covers(cert: x509.Certificate, name: str) -> bool:
    """Whether ``cert``'s subjectAltNames cover the host name or IP address ``name``."""
    sans = certificates.subject_alt_names(cert)
    if certificates.is_ip_literal(name):
        return name in sans.ip
    return any(_name_matches(pattern, name) for pattern in sans.dns)


def _name_matches(pattern: str, name: str) -> bool:
    """Whether a certificate name (possibly a one-label wildcard) covers a host name."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


def _days_ago(delta: datetime.timedelta) -> str:
    words = ago(delta)
    return f" ({words})" if words else ""
