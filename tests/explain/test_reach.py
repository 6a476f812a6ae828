"""What the address fall back and the handshake without SNI conclude (pure: facts in, findings
out)."""

from __future__ import annotations

import datetime

import pytest

from diagnostics.explain.diagnose import diagnose
from diagnostics.explain.reach import address_findings, sni_findings
from diagnostics.model.result import (
    AddressTried,
    Connection,
    ProbeResult,
    Scheme,
    Severity,
    Side,
    SNIComparison,
    VerifyEvent,
)
from diagnostics.model.target import parse_target
from tests.support import pki

WHERE = "partner.example:443"


def test_no_fallback_no_finding() -> None:
    """The first address answered, or none did: nothing to say about a fall back."""
    assert address_findings(WHERE, 443, Connection("192.0.2.1", 4)) == []
    dead = (AddressTried("192.0.2.1", 4, "timeout"),)
    assert address_findings(WHERE, 443, Connection(None, None, dead)) == []
    assert address_findings(WHERE, 443, None) == []


def test_fallback_names_every_failed_address() -> None:
    """Each failed address with its error, IPv6 in brackets, and the one used."""
    tried = (
        AddressTried("2001:db8::1", 6, "no_route"),
        AddressTried("192.0.2.1", 4, "connection_refused"),
    )
    (finding,) = address_findings(WHERE, 443, Connection("192.0.2.2", 4, tried))
    assert finding.id == "address_fallback"
    assert (finding.severity, finding.side) == (Severity.INFO, Side.SERVER)
    assert "[2001:db8::1]:443 (no_route); 192.0.2.1:443 (connection_refused)" in finding.summary
    assert "192.0.2.2:443 instead" in finding.summary


@pytest.mark.parametrize(
    ("matched", "verified", "said"),
    [
        (True, True, "it would verify for localhost, so such clients still connect"),
        (False, True, "it would not verify for localhost: it does not name localhost"),
        (True, False, "its chain does not verify against the trust list"),
    ],
)
def test_differs_says_whether_the_other_certificate_verifies(
    matched: bool, verified: bool, said: str
) -> None:
    root = pki.make_ca("Root")
    mine = pki.issue(root, "localhost", sans=("localhost",)).cert
    other = pki.issue(root, "other.example", sans=("other.example", "192.0.2.9")).cert
    compared = SNIComparison("localhost", "accepted", other, None, matched, verified)
    (finding,) = sni_findings(WHERE, mine, compared)
    assert finding.id == "sni_certificate_differs"
    assert (finding.severity, finding.side) == (Severity.WARNING, Side.SERVER)
    assert said in finding.detail
    assert "'CN = other.example' (names: other.example, 192.0.2.9)" in finding.detail
    assert "'CN = localhost' (names: localhost)" in finding.detail


def test_diagnosis_keeps_an_error_primary_and_diagnosing_twice_adds_nothing() -> None:
    """The SNI warning never hides an error about the served certificate; a diagnosed
    result diagnosed again has the same findings."""
    root = pki.make_ca("Root")
    past = pki.utcnow() - datetime.timedelta(days=2)
    start = past - datetime.timedelta(days=30)
    leaf = pki.issue(root, "localhost", not_before=start, not_after=past).cert
    result = ProbeResult(
        target=parse_target("tls://localhost:8443"),
        served_chain=(leaf,),
        verify_events=(VerifyEvent(0, 10, "X509_V_ERR_CERT_HAS_EXPIRED", "expired", leaf),),
        sni_compare=SNIComparison("localhost", "refused", reason="tlsv1 unrecognized name"),
    )
    once = diagnose(result)
    ids = [f.id for f in once.findings]
    assert "sni_required" in ids
    assert once.findings[0].id == "expired"
    assert diagnose(once).findings == once.findings


def test_incomplete_comparison_remedies() -> None:
    """A comparison not made says what to do about it; none when the probe got no certificate."""
    root = pki.make_ca("Root")
    mine = pki.issue(root, "localhost").cert
    skipped = SNIComparison("localhost", "skipped", reason="not made for ftpes://")
    (ftpes,) = sni_findings(WHERE, mine, skipped, Scheme.FTPES)
    assert "implicit FTPS port" in ftpes.remedy
    by_address = SNIComparison(None, "skipped", reason="the probe sent no SNI")
    (address,) = sni_findings(WHERE, mine, by_address, Scheme.TLS)
    assert "--servername" in address.remedy
    assert (address.id, address.severity) == ("sni_compare_incomplete", Severity.INFO)
    assert sni_findings(WHERE, None, skipped, Scheme.TLS) == []
