"""The diagnosis: verify events, chains, host names and failures become findings, root cause first.

Results are built by hand with the callback sequences OpenSSL really produces
(record mode: the callback returns True, so every error is reported and the
handshake goes on).
"""

from __future__ import annotations

import datetime
import re

import attrs
import pytest
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagnostics.explain.diagnose import DiagnosisContext, diagnose
from diagnostics.model.result import (
    ClientAuth,
    Failure,
    Finding,
    HostnameCheck,
    Phase,
    ProbeResult,
    Severity,
    Side,
    Status,
    Target,
    VerifyEvent,
)
from tests.support import pki

NOW = pki.utcnow()
DAY = datetime.timedelta(days=1)
TARGET = Target(url="https://localhost:8443/", scheme="https", host="localhost", port=8443)

# OpenSSL's macro names and (4.0) texts for the codes these tests use.
CODES = {
    0: ("X509_V_OK", "ok"),
    3: ("X509_V_ERR_UNABLE_TO_GET_CRL", "unable to get certificate CRL"),
    2: ("X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT", "unable to get issuer certificate"),
    9: (
        "X509_V_ERR_CERT_NOT_YET_VALID",
        "certificate is not yet valid or the system clock is incorrect",
    ),
    10: ("X509_V_ERR_CERT_HAS_EXPIRED", "certificate has expired"),
    18: ("X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT", "self-signed certificate"),
    19: ("X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN", "self-signed certificate in certificate chain"),
    20: ("X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "unable to get local issuer certificate"),
    21: ("X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE", "unable to verify the first certificate"),
    23: ("X509_V_ERR_CERT_REVOKED", "certificate revoked"),
    26: ("X509_V_ERR_INVALID_PURPOSE", "unsuitable certificate purpose"),
    62: ("X509_V_ERR_HOSTNAME_MISMATCH", "hostname mismatch"),
    66: ("X509_V_ERR_EE_KEY_TOO_SMALL", "EE certificate key too weak"),
    68: ("X509_V_ERR_CA_MD_TOO_WEAK", "CA signature digest algorithm too weak"),
    79: ("X509_V_ERR_INVALID_CA", "invalid CA certificate"),
}


def ev(depth: int, code: int, cert: x509.Certificate | None) -> VerifyEvent:
    name, reason = CODES[code]
    return VerifyEvent(depth=depth, code=code, name=name, reason=reason, certificate=cert)


def ok_walk(*chain: x509.Certificate) -> list[VerifyEvent]:
    """The success calls, root first, as OpenSSL makes them."""
    return [ev(depth, 0, cert) for depth, cert in reversed(list(enumerate(chain)))]


def probe(
    served: tuple[x509.Certificate, ...] | list[x509.Certificate],
    events: list[VerifyEvent],
    *,
    verified: tuple[x509.Certificate, ...] | list[x509.Certificate] | None = None,
    hostname: HostnameCheck | None = None,
    failure: Failure | None = None,
    target: Target = TARGET,
) -> ProbeResult:
    return ProbeResult(
        target=target,
        served_chain=tuple(served),
        verified_chain=tuple(served if verified is None else verified),
        verify_events=tuple(events),
        hostname=hostname,
        failure=failure,
    )


def context(**kwargs: object) -> DiagnosisContext:
    return DiagnosisContext(now=NOW, **kwargs)  # type: ignore[arg-type]


def ids(result: ProbeResult) -> list[str]:
    return [f.id for f in result.findings]


def only(result: ProbeResult, id: str) -> Finding:
    matching = [f for f in result.findings if f.id == id]
    assert len(matching) == 1, result.findings
    return matching[0]


MATCHED = HostnameCheck(name="localhost", matched=True, names_in_cert=("localhost", "127.0.0.1"))


@pytest.fixture(scope="module")
def chain() -> pki.Chain:
    return pki.make_chain()


# -- a good chain --------------------------------------------------------------------------


def test_verified_chain_has_no_findings(chain: pki.Chain) -> None:
    """leaf+int served, root trusted: (2,0) (1,0) (0,0) → nothing to report, status ok."""
    result = diagnose(
        probe(chain.served, ok_walk(*chain.full), verified=chain.full, hostname=MATCHED),
        context(trusted=(chain.root.cert,)),
    )
    assert result.findings == ()
    assert result.status is Status.OK


def test_raw_events_are_kept(chain: pki.Chain) -> None:
    """Grouping events into findings leaves the raw verify errors untouched."""
    events = [ev(0, 20, chain.leaf.cert), ev(0, 21, chain.leaf.cert), ev(0, 0, chain.leaf.cert)]
    result = diagnose(probe([chain.leaf.cert], events), context())
    assert [(e.depth, e.code) for e in result.verify_errors] == [(0, 20), (0, 21)]
    assert len(result.findings) == 1


# -- leaf only: missing intermediate or untrusted root? -------------------------------------


def leaf_only(leaf: x509.Certificate) -> ProbeResult:
    """Server sends its leaf only: (0,20) (0,21) (0,0), whatever the client trusts."""
    return probe([leaf], [ev(0, 20, leaf), ev(0, 21, leaf), ev(0, 0, leaf)], hostname=MATCHED)


def test_leaf_only_with_known_intermediate_is_missing_intermediate(chain: pki.Chain) -> None:
    """The identification set holds the leaf's issuer, and it chains to a trusted root."""
    result = diagnose(
        leaf_only(chain.leaf.cert),
        context(trusted=(chain.root.cert,), identification=(chain.intermediate.cert,)),
    )
    primary = result.findings[0]
    assert (primary.id, primary.side, primary.severity) == (
        "missing_intermediate",
        Side.SERVER,
        Severity.ERROR,
    )
    assert "CN = Test Intermediate CA" in primary.summary
    assert "localhost:8443" in primary.summary
    assert ids(result) == ["missing_intermediate"]
    assert result.status is Status.PROBLEMS


def test_missing_intermediate_shows_aia_url(chain: pki.Chain) -> None:
    """The leaf's AIA caIssuers URL is shown so the intermediate can be found."""
    leaf = pki.issue(chain.intermediate, ca_issuers=["http://ca.example/int.crt"])
    result = diagnose(
        leaf_only(leaf.cert),
        context(trusted=(chain.root.cert,), identification=(chain.intermediate.cert,)),
    )
    assert "http://ca.example/int.crt" in result.findings[0].detail


def test_leaf_only_with_nothing_known_is_unknown_issuer(chain: pki.Chain) -> None:
    """No evidence: one finding that names the issuer and both possibilities."""
    leaf = pki.issue(chain.intermediate, ca_issuers=["http://ca.example/int.crt"])
    result = diagnose(leaf_only(leaf.cert), context(trusted=(pki.make_ca("Unrelated").cert,)))
    assert ids(result) == ["unknown_issuer"]
    finding = result.findings[0]
    assert finding.side is Side.EITHER
    assert "CN = Test Intermediate CA" in finding.summary
    assert "intermediate" in finding.detail and "root" in finding.detail
    assert "http://ca.example/int.crt" in finding.detail
    # The issuer's key identifier helps to find the right certificate.
    aki = leaf.cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier is not None
    assert ":".join(f"{b:02X}" for b in aki.key_identifier) in finding.detail


def test_leaf_only_issued_by_known_root_is_untrusted_root() -> None:
    """The issuer is identified as a self-signed root the client does not trust."""
    root = pki.make_ca("Private Root CA")
    leaf = pki.issue(root)
    result = diagnose(leaf_only(leaf.cert), context(identification=(root.cert,)))
    primary = result.findings[0]
    assert (primary.id, primary.side) == ("untrusted_root", Side.CLIENT)
    assert "CN = Private Root CA" in primary.summary
    assert ids(result) == ["untrusted_root"]


def test_served_intermediate_under_identified_root(chain: pki.Chain) -> None:
    """(1,20) with the root found in the platform store: the client must trust that root."""
    events = [ev(1, 20, chain.intermediate.cert), ev(0, 0, chain.leaf.cert)]
    result = diagnose(
        probe(chain.served, events, hostname=MATCHED),
        context(identification=(chain.root.cert,)),
    )
    primary = result.findings[0]
    assert (primary.id, primary.side) == ("untrusted_root", Side.CLIENT)
    assert "CN = Test Root CA" in primary.summary
    assert "self-signed root" in primary.detail


def test_known_intermediate_under_untrusted_root_gives_both(chain: pki.Chain) -> None:
    """Intermediate missing and its root untrusted: both are said, the server's omission first."""
    result = diagnose(
        leaf_only(chain.leaf.cert),
        context(identification=(chain.intermediate.cert, chain.root.cert)),
    )
    assert ids(result) == ["missing_intermediate", "untrusted_root"]
    assert result.findings[0].side is Side.SERVER
    assert result.findings[1].side is Side.CLIENT
    assert "CN = Test Root CA" in result.findings[1].summary


def test_served_wrong_intermediate(chain: pki.Chain) -> None:
    """A served certificate with the issuer's name but another key: the server must fix it."""
    old = pki.make_ca("Test Intermediate CA", parent=chain.root)
    leaf = chain.leaf.cert
    result = diagnose(
        probe([leaf, old.cert], [ev(0, 20, leaf), ev(0, 21, leaf), ev(0, 0, leaf)]),
        context(trusted=(chain.root.cert,)),
    )
    primary = result.findings[0]
    assert (primary.id, primary.side) == ("missing_intermediate", Side.SERVER)
    assert "unrelated_certificate" in ids(result)


# -- intermediate served, root not trusted ---------------------------------------------------


def test_intermediate_served_root_untrusted(chain: pki.Chain) -> None:
    """leaf+int → nothing trusted: (1,20) (0,0) → the root (issuer of the intermediate) is named."""
    events = [ev(1, 20, chain.intermediate.cert), ev(0, 0, chain.leaf.cert)]
    result = diagnose(probe(chain.served, events, hostname=MATCHED), context())
    primary = result.findings[0]
    assert (primary.id, primary.side) == ("untrusted_root", Side.CLIENT)
    assert "CN = Test Root CA" in primary.summary
    assert ids(result) == ["untrusted_root"]


def test_root_sent_but_untrusted(chain: pki.Chain) -> None:
    """leaf+int+root, nothing trusted: (2,19) (2,0) (1,0) (0,0) → untrusted_root + root_sent."""
    events = [ev(2, 19, chain.root.cert), *ok_walk(*chain.full)]
    result = diagnose(probe(chain.full, events, hostname=MATCHED), context())
    primary = result.findings[0]
    assert (primary.id, primary.side) == ("untrusted_root", Side.CLIENT)
    assert "CN = Test Root CA" in primary.summary
    assert ids(result) == ["untrusted_root", "root_sent"]


def test_trust_list_with_intermediate_but_no_root(chain: pki.Chain) -> None:
    """Code 2 above a trusted intermediate: the trust list lacks the root."""
    events = [ev(1, 2, chain.intermediate.cert), ev(0, 0, chain.leaf.cert)]
    result = diagnose(
        probe([chain.leaf.cert], events, verified=chain.served, hostname=MATCHED),
        context(trusted=(chain.intermediate.cert,)),
    )
    primary = result.findings[0]
    assert (primary.id, primary.side) == ("untrusted_root", Side.CLIENT)
    assert "CN = Test Root CA" in primary.summary


# -- single-cause codes ----------------------------------------------------------------------


def test_self_signed_leaf(chain: pki.Chain) -> None:
    """(0,18) (0,0) → self_signed, the server must act."""
    leaf = pki.issue(None, "appliance.local", sans=("appliance.local",))
    result = diagnose(probe([leaf.cert], [ev(0, 18, leaf.cert), ev(0, 0, leaf.cert)]), context())
    primary = result.findings[0]
    assert (primary.id, primary.side) == ("self_signed", Side.SERVER)
    assert "CN = appliance.local" in primary.summary


def test_expired_leaf(chain: pki.Chain) -> None:
    """(2,0) (1,0) (0,10) (0,0) → expired leaf, named with its end date."""
    end = NOW - 3 * DAY
    leaf = pki.issue(chain.intermediate, not_before=NOW - 90 * DAY, not_after=end)
    full = (leaf.cert, chain.intermediate.cert, chain.root.cert)
    events = [ev(2, 0, full[2]), ev(1, 0, full[1]), ev(0, 10, leaf.cert), ev(0, 0, leaf.cert)]
    result = diagnose(
        probe(full[:2], events, verified=full, hostname=MATCHED),
        context(trusted=(chain.root.cert,)),
    )
    primary = result.findings[0]
    assert (primary.id, primary.side) == ("expired", Side.SERVER)
    assert end.strftime("%Y-%m-%dT%H:%M:%SZ") in primary.summary
    assert "CN = localhost" in primary.summary
    assert "intermediate" not in primary.summary.lower()


def test_expired_intermediate_not_leaf(chain: pki.Chain) -> None:
    """(1,10) → the intermediate expired, and the summary says it is not the leaf."""
    old = pki.make_ca(
        "Old Intermediate CA",
        parent=chain.root,
        not_before=NOW - 400 * DAY,
        not_after=NOW - 10 * DAY,
    )
    leaf = pki.issue(old, not_before=NOW - 20 * DAY, not_after=NOW + 300 * DAY)
    full = (leaf.cert, old.cert, chain.root.cert)
    events = [ev(2, 0, full[2]), ev(1, 10, old.cert), ev(1, 0, old.cert), ev(0, 0, leaf.cert)]
    result = diagnose(
        probe(full[:2], events, verified=full, hostname=MATCHED),
        context(trusted=(chain.root.cert,)),
    )
    primary = result.findings[0]
    assert (primary.id, primary.side) == ("expired", Side.SERVER)
    assert "intermediate" in primary.summary.lower()
    assert "CN = Old Intermediate CA" in primary.summary
    assert "not the server's own certificate 'CN = localhost'" in primary.summary
    # The expired intermediate also ends before the leaf, but lint leaves expired ones alone.
    assert ids(result) == ["expired"]


def test_not_yet_valid_mentions_clock(chain: pki.Chain) -> None:
    """(0,9) → not_yet_valid; the client's clock is the first suspect."""
    leaf = pki.issue(chain.intermediate, not_before=NOW + 2 * DAY, not_after=NOW + 90 * DAY)
    full = (leaf.cert, chain.intermediate.cert, chain.root.cert)
    events = [*ok_walk(*full)[:2], ev(0, 9, leaf.cert), ev(0, 0, leaf.cert)]
    result = diagnose(
        probe(full[:2], events, verified=full, hostname=MATCHED),
        context(trusted=(chain.root.cert,)),
    )
    primary = result.findings[0]
    assert primary.id == "not_yet_valid"
    assert "clock" in (primary.summary + primary.detail)


@pytest.mark.parametrize(
    ("code", "expected_id", "expected_side"),
    [
        (23, "revoked", Side.SERVER),
        (3, "crl_unavailable", Side.CLIENT),
        (26, "wrong_eku", Side.SERVER),
        (66, "weak_key", Side.SERVER),
        (68, "weak_signature", Side.SERVER),
    ],
)
def test_leaf_codes(chain: pki.Chain, code: int, expected_id: str, expected_side: Side) -> None:
    """(0,code) first, then the success walk → one finding of the code's cause."""
    events = [ev(0, code, chain.leaf.cert), *ok_walk(*chain.full)]
    result = diagnose(
        probe(chain.served, events, verified=chain.full, hostname=MATCHED),
        context(trusted=(chain.root.cert,)),
    )
    primary = result.findings[0]
    assert (primary.id, primary.side) == (expected_id, expected_side)
    assert "CN = localhost" in primary.summary or "CN = Test Intermediate CA" in primary.summary


def test_lint_and_verify_findings_are_merged() -> None:
    """Weak key (code 66 and lint) and wrong EKU (code 26 and lint) appear once each."""
    root = pki.make_ca("Root")
    intermediate = pki.make_ca("Intermediate", parent=root)
    leaf = pki.issue(intermediate, key_type="rsa", key_size=1024, ekus=[pki.CLIENT_AUTH])
    full = (leaf.cert, intermediate.cert, root.cert)
    events = [ev(0, 66, leaf.cert), ev(0, 26, leaf.cert), *ok_walk(*full)]
    result = diagnose(
        probe(full[:2], events, verified=full, hostname=MATCHED), context(trusted=(root.cert,))
    )
    assert sorted(ids(result)) == ["weak_key", "wrong_eku"]
    assert "1024-bit RSA" in only(result, "weak_key").summary


def test_other_code_uses_catalogue(chain: pki.Chain) -> None:
    """A code without special reasoning still becomes a finding that names the certificate."""
    events = [ev(1, 79, chain.intermediate.cert), *ok_walk(*chain.full)]
    result = diagnose(
        probe(chain.served, events, verified=chain.full, hostname=MATCHED),
        context(trusted=(chain.root.cert,)),
    )
    primary = result.findings[0]
    assert primary.severity is Severity.ERROR
    assert "CN = Test Intermediate CA" in primary.summary
    assert re.fullmatch(r"[a-z][a-z0-9_]*", primary.id)


def test_trust_problem_outranks_expiry(chain: pki.Chain) -> None:
    """Expired leaf behind an untrusted root: the trust problem is the primary finding."""
    leaf = pki.issue(chain.intermediate, not_before=NOW - 90 * DAY, not_after=NOW - DAY)
    served = (leaf.cert, chain.intermediate.cert)
    events = [ev(1, 20, served[1]), ev(0, 10, leaf.cert), ev(0, 0, leaf.cert)]
    result = diagnose(probe(served, events, hostname=MATCHED), context())
    assert ids(result) == ["untrusted_root", "expired"]


# -- host names ------------------------------------------------------------------------------


def test_hostname_mismatch_lists_names(chain: pki.Chain) -> None:
    """The names in the certificate and the name used are listed; the port is not checked."""
    check = HostnameCheck(
        name="wrong.example.org", matched=False, names_in_cert=("localhost", "127.0.0.1")
    )
    result = diagnose(
        probe(chain.served, ok_walk(*chain.full), verified=chain.full, hostname=check),
        context(trusted=(chain.root.cert,)),
    )
    primary = result.findings[0]
    assert (primary.id, primary.side) == ("hostname_mismatch", Side.EITHER)
    assert "wrong.example.org" in primary.summary
    assert "DNS:localhost" in primary.summary and "IP:127.0.0.1" in primary.summary
    assert ":8443" in primary.detail and "port" in primary.detail


def test_ip_literal_against_dns_names(chain: pki.Chain) -> None:
    """Connecting by IP to a certificate with DNS names only is explained as such."""
    leaf = pki.issue(chain.intermediate, "www.example.org", sans=("www.example.org",))
    check = HostnameCheck(name="192.0.2.7", matched=False, names_in_cert=("www.example.org",))
    result = diagnose(probe([leaf.cert, chain.intermediate.cert], [], hostname=check), context())
    detail = only(result, "hostname_mismatch").detail
    assert "IP address" in detail and "no IP entries" in detail


def test_wildcard_depth_is_explained(chain: pki.Chain) -> None:
    """A wildcard covers one label; the detail says so with the certificate's own pattern."""
    leaf = pki.issue(chain.intermediate, "example.org", sans=("*.example.org",))
    check = HostnameCheck(name="example.org", matched=False, names_in_cert=("*.example.org",))
    result = diagnose(probe([leaf.cert, chain.intermediate.cert], [], hostname=check), context())
    assert "'*.example.org' covers" in only(result, "hostname_mismatch").detail


def test_cn_only_certificate(chain: pki.Chain) -> None:
    """No SAN, the name only in the CN: the primary finding is cn_only, not a plain mismatch."""
    leaf = pki.issue(chain.intermediate, "localhost", sans=())
    check = HostnameCheck(name="localhost", matched=False, names_in_cert=("CN=localhost",))
    result = diagnose(probe([leaf.cert, chain.intermediate.cert], [], hostname=check), context())
    primary = result.findings[0]
    assert (primary.id, primary.severity) == ("cn_only", Severity.ERROR)
    assert ids(result) == ["cn_only"]


def test_unreadable_names_are_malformed(chain: pki.Chain) -> None:
    """A SAN that does not parse is a malformed_certificate finding."""
    check = HostnameCheck(name="localhost", matched=None, error="invalid IDNA in dNSName")
    result = diagnose(probe(chain.served, [], hostname=check), context())
    primary = result.findings[0]
    assert primary.id == "malformed_certificate"
    assert "invalid IDNA" in primary.summary


def test_hostname_code_without_check(chain: pki.Chain) -> None:
    """(0,62) from OpenSSL's own name check, without a separate check, is a hostname_mismatch."""
    target = attrs.evolve(TARGET, servername="other.example.org")
    events = [ev(0, 62, chain.leaf.cert), *ok_walk(*chain.full)]
    result = diagnose(
        probe(chain.served, events, verified=chain.full, target=target),
        context(trusted=(chain.root.cert,)),
    )
    assert ids(result) == ["hostname_mismatch"]
    assert "other.example.org" in result.findings[0].summary


# -- failures --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "kind", "reason", "expected_id"),
    [
        (Phase.CONNECT, "connection_refused", None, "connection_refused"),
        (Phase.RESOLVE, "resolve_failed", None, "resolve_failed"),
        (Phase.CONNECT, "timeout", None, "timeout"),
        (Phase.HANDSHAKE, "tls_error", "wrong version number", "not_tls"),
        (Phase.HANDSHAKE, "tls_error", "tlsv1 alert protocol version", "protocol_version"),
        (Phase.HANDSHAKE, "internal", None, "internal_error"),
    ],
)
def test_failures(phase: Phase, kind: str, reason: str | None, expected_id: str) -> None:
    """A probe that could not complete: the failure is the primary finding, naming host:port."""
    failure = Failure(phase=phase, kind=kind, message=reason or kind, reason=reason)
    result = diagnose(probe([], [], failure=failure), context())
    primary = result.findings[0]
    assert primary.id == expected_id
    assert "localhost:8443" in primary.summary
    assert phase.value in primary.summary
    assert result.status is Status.FAILED


def test_handshake_timeout_explains_silence() -> None:
    """A timeout in the handshake means TCP worked but the ClientHello got no answer."""
    failure = Failure(phase=Phase.HANDSHAKE, kind="timeout", message="no answer within 10 s")
    result = diagnose(probe([], [], failure=failure), context())
    primary = result.findings[0]
    assert primary.id == "timeout"
    assert "ClientHello" in primary.summary
    assert "FTPS" in primary.detail


def test_implicit_ftps_on_plain_port() -> None:
    """wrong version number on ftps:// suggests the explicit scheme."""
    target = Target(url="ftps://files.example:21", scheme="ftps", host="files.example", port=21)
    failure = Failure(
        phase=Phase.HANDSHAKE,
        kind="tls_error",
        message="wrong version number",
        reason="wrong version number",
    )
    result = diagnose(probe([], [], failure=failure, target=target), context())
    assert "ftpes://files.example:21" in result.findings[0].detail


def test_client_certificate_required_after_handshake(chain: pki.Chain) -> None:
    """TLS 1.3: the server's alert comes after a clean handshake; the failure is primary."""
    failure = Failure(
        phase=Phase.HANDSHAKE,
        kind="tls_error",
        message="tlsv13 alert certificate required",
        reason="tlsv13 alert certificate required",
    )
    result = diagnose(
        probe(chain.served, ok_walk(*chain.full), verified=chain.full, failure=failure),
        context(trusted=(chain.root.cert,)),
    )
    assert result.findings[0].id == "client_certificate_required"
    assert result.status is Status.FAILED


def test_strict_verify_failure_points_at_the_cause(chain: pki.Chain) -> None:
    """'certificate verify failed' is explained by the verify event behind it."""
    leaf = pki.issue(chain.intermediate, not_before=NOW - 90 * DAY, not_after=NOW - DAY)
    failure = Failure(
        phase=Phase.HANDSHAKE,
        kind="tls_error",
        message="certificate verify failed",
        reason="certificate verify failed",
    )
    events = [ev(1, 0, chain.intermediate.cert), ev(0, 10, leaf.cert)]
    result = diagnose(
        probe((leaf.cert, chain.intermediate.cert), events, failure=failure),
        context(trusted=(chain.root.cert,)),
    )
    assert result.findings[0].id == "expired"
    assert len(result.findings) == 2
    assert result.status is Status.FAILED


def test_unknown_failure_kind() -> None:
    """A failure kind the catalogue does not know still becomes a finding."""
    failure = Failure(phase=Phase.CONNECT, kind="configuration", message="cannot read ca.pem")
    result = diagnose(probe([], [], failure=failure), context())
    assert result.findings[0].id == "configuration_error"
    assert "cannot read ca.pem" in result.findings[0].summary


# -- order, status, roles --------------------------------------------------------------------


def test_order_primary_then_by_severity(chain: pki.Chain) -> None:
    """The root cause first, then errors, warnings, information."""
    short = pki.make_ca("Short Intermediate", parent=chain.root, not_after=NOW + 20 * DAY)
    leaf = pki.issue(short, not_before=NOW - 90 * DAY, not_after=NOW - DAY)
    full = (leaf.cert, short.cert, chain.root.cert)
    events = [ev(2, 19, chain.root.cert), ev(0, 10, leaf.cert), *ok_walk(*full)]
    result = diagnose(probe(full, events, hostname=MATCHED), context())
    assert [(f.id, f.severity) for f in result.findings] == [
        ("untrusted_root", Severity.ERROR),
        ("expired", Severity.ERROR),
        ("expiring_soon", Severity.WARNING),
        ("root_sent", Severity.INFO),
    ]


def test_info_only_is_ok(chain: pki.Chain) -> None:
    """Only informational findings leave the status ok."""
    result = diagnose(
        probe(chain.full, ok_walk(*chain.full), hostname=MATCHED),
        context(trusted=(chain.root.cert,)),
    )
    assert ids(result) == ["root_sent"]
    assert result.status is Status.OK


def test_warning_makes_problems(chain: pki.Chain) -> None:
    """A warning (certificate expiring in 20 days) makes the status problems."""
    leaf = pki.issue(chain.intermediate, not_after=NOW + 20 * DAY)
    full = (leaf.cert, chain.intermediate.cert, chain.root.cert)
    result = diagnose(
        probe(full[:2], ok_walk(*full), verified=full, hostname=MATCHED),
        context(trusted=(chain.root.cert,)),
    )
    assert ids(result) == ["expiring_soon"]
    assert result.status is Status.PROBLEMS
    quiet = diagnose(
        probe(full[:2], ok_walk(*full), verified=full, hostname=MATCHED),
        context(trusted=(chain.root.cert,), warn_days=10, critical_days=5),
    )
    assert quiet.status is Status.OK


def test_client_role_sides(chain: pki.Chain) -> None:
    """Judging a client's certificate, its owner is the client and the trust list the server's."""
    client = pki.issue(chain.intermediate, "alice", sans=(), ekus=[pki.SERVER_AUTH])
    events = [ev(0, 26, client.cert), ev(0, 20, client.cert), ev(0, 21, client.cert)]
    result = diagnose(
        probe([client.cert], events),
        context(
            role="client", trusted=(chain.root.cert,), identification=(chain.intermediate.cert,)
        ),
    )
    assert [(f.id, f.side) for f in result.findings] == [
        ("missing_intermediate", Side.CLIENT),
        ("wrong_eku", Side.CLIENT),
    ]


def test_existing_findings_are_kept_and_diagnosis_is_idempotent(chain: pki.Chain) -> None:
    """Findings an engine added survive, and diagnosing twice changes nothing."""
    engine = Finding("http_status", Severity.WARNING, Side.SERVER, "HTTP 503 from localhost:8443")
    raw = attrs.evolve(leaf_only(chain.leaf.cert), findings=(engine,))
    once = diagnose(raw, context())
    assert ids(once) == ["unknown_issuer", "http_status"]
    assert diagnose(once, context()).findings == once.findings


# -- robustness ------------------------------------------------------------------------------


def test_odd_results_do_not_raise(chain: pki.Chain) -> None:
    """Events without certificates, depths beyond the chain and empty chains are tolerated."""
    odd = [
        VerifyEvent(depth=7, code=20, name="?", reason="?", certificate=None),
        VerifyEvent(depth=0, code=999, name="?", reason="", certificate=None),
        VerifyEvent(depth=-1, code=10, name="?", reason="", certificate=None),
    ]
    result = diagnose(
        probe([], odd, hostname=HostnameCheck(name="", matched=False)), DiagnosisContext()
    )
    assert result.findings
    assert all(isinstance(f.severity, Severity) for f in result.findings)


CERTS = [pki.make_chain(prefix="H").leaf.cert, pki.issue(None, "self").cert]


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    events=st.lists(
        st.builds(
            VerifyEvent,
            depth=st.integers(-2, 6),
            code=st.sampled_from(
                [0, 1, 2, 3, 7, 9, 10, 18, 19, 20, 21, 23, 26, 62, 64, 66, 68, 999]
            ),
            name=st.text(max_size=5),
            reason=st.text(max_size=5),
            certificate=st.sampled_from([None, *CERTS]),
        ),
        max_size=8,
    ),
    served=st.lists(st.sampled_from(CERTS), max_size=3),
    hostname=st.none()
    | st.builds(
        HostnameCheck,
        name=st.text(max_size=10),
        matched=st.sampled_from([None, True, False]),
        names_in_cert=st.lists(st.text(max_size=5), max_size=3).map(tuple),
        error=st.none() | st.text(max_size=5),
    ),
    failure=st.none()
    | st.builds(
        Failure,
        phase=st.sampled_from(list(Phase)),
        kind=st.sampled_from(["timeout", "tls_error", "internal", "weird", "connection_reset"]),
        message=st.text(max_size=10),
        reason=st.none() | st.text(max_size=20),
    ),
    role=st.sampled_from(["server", "client"]),
)
def test_diagnose_never_raises(
    events: list[VerifyEvent],
    served: list[x509.Certificate],
    hostname: HostnameCheck | None,
    failure: Failure | None,
    role: str,
) -> None:
    """Whatever the captured data, diagnose returns findings with valid ids, never an exception."""
    raw = probe(served, events, hostname=hostname, failure=failure)
    result = diagnose(raw, DiagnosisContext(role=role, now=NOW))  # type: ignore[arg-type]
    for finding in result.findings:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", finding.id), finding
        assert finding.id != "internal_error" or (failure and failure.kind == "internal")
        assert isinstance(finding.side, Side) and isinstance(finding.severity, Severity)
    if failure is not None:
        assert result.status is Status.FAILED


@pytest.mark.parametrize(
    ("reason", "alert"),
    [
        ("tls alert bad certificate", "bad_certificate"),
        ("tls alert certificate expired", "certificate_expired"),
        ("tlsv1 alert unknown ca", "unknown_ca"),
    ],
)
@pytest.mark.parametrize(
    "auth",
    [None, ClientAuth(requested=True, sent=False, ca_names=("CN = Partner CA",))],
    ids=["not-asked", "asked-none-sent"],
)
def test_certificate_alerts_without_a_client_certificate_blame_no_certificate_of_ours(
    reason: str, alert: str, auth: ClientAuth | None
) -> None:
    """Every alert that would reject 'our client certificate' is read from what was sent:
    asked and none sent → a certificate is required; never asked → the server's side."""
    failure = Failure(phase=Phase.HANDSHAKE, kind="tls_error", message=reason, reason=reason)
    result = diagnose(attrs.evolve(probe([], [], failure=failure), client_auth=auth), context())
    first = result.findings[0]
    if auth is None:
        assert (first.id, first.side) == (f"tls_alert_{alert}", Side.SERVER)
    else:
        assert (first.id, first.side) == ("client_certificate_required", Side.CLIENT)
        assert "'CN = Partner CA'" in first.detail
    assert alert in first.summary
    assert "client_certificate_rejected" not in ids(result)


def test_certificate_alert_after_our_certificate_was_sent_is_ours() -> None:
    """With a client certificate sent, unknown_ca rejects it: client_certificate_rejected."""
    reason = "tlsv1 alert unknown ca"
    failure = Failure(phase=Phase.HANDSHAKE, kind="tls_error", message=reason, reason=reason)
    auth = ClientAuth(requested=True, sent=True)
    result = diagnose(attrs.evolve(probe([], [], failure=failure), client_auth=auth), context())
    assert (result.findings[0].id, result.findings[0].side) == (
        "client_certificate_rejected",
        Side.CLIENT,
    )


@pytest.mark.parametrize(
    ("status", "auth", "expected"),
    [
        (400, ClientAuth(requested=True, sent=False), "client_certificate_required"),
        (403, ClientAuth(requested=True, sent=False), "client_certificate_required"),
        (496, ClientAuth(requested=True, sent=False), "client_certificate_required"),
        (400, ClientAuth(requested=True, sent=True), "client_certificate_rejected"),
        (495, ClientAuth(requested=True, sent=True), "client_certificate_rejected"),
        (403, ClientAuth(requested=True, sent=True), "http_status"),
        (400, None, "http_status"),
        (404, ClientAuth(requested=True, sent=False), "http_status"),
    ],
)
def test_http_refusal_after_a_client_certificate_request(
    chain: pki.Chain, status: int, auth: ClientAuth | None, expected: str
) -> None:
    """A server that asked for a client certificate and refuses over HTTP (nginx answers
    400) is a client certificate problem, not an HTTP detail; without the request it is."""
    served = (chain.leaf.cert, chain.intermediate.cert)
    good = probe(served, ok_walk(chain.leaf.cert, chain.intermediate.cert, chain.root.cert))
    http = {"status": status, "status_line": f"HTTP/1.1 {status} Refused", "server": "nginx"}
    result = diagnose(attrs.evolve(good, client_auth=auth, http=http), context())
    assert ids(result) == [expected]
    if expected != "http_status":
        assert (result.findings[0].side, result.findings[0].severity) == (
            Side.CLIENT,
            Severity.ERROR,
        )
        assert f"{status} Refused" in result.findings[0].summary
