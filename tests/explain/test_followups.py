"""What the follow-up attempts and the version matrix conclude (pure: attempts in, findings out)."""

from __future__ import annotations

from diagnostics.explain.followups import followup_findings, matrix_findings
from diagnostics.model.result import Attempt, Severity, Side

WHERE = "partner.example:443"
LIB = "OpenSSL 4.0.3"


def _versions(*accepted: tuple[str, str]) -> list[Attempt]:
    ok = dict(accepted)
    return [
        Attempt("version", v, 0, "accepted", v, ok[v])
        if v in ok
        else Attempt("version", v, 0, "refused", reason="tlsv1 alert protocol version")
        for v in ("TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1")
    ]


def test_cipher_needing_a_lower_level_is_below_security_level() -> None:
    """TLS 1.2 with an RSA-key-exchange cipher that works only at level 0: below_security_level."""
    attempts = [
        *_versions(("TLSv1.2", "AES128-SHA")),
        Attempt("cipher", "modern AEAD", 2, "refused", reason="tls alert handshake failure"),
        Attempt("key_exchange", "RSA", 2, "refused", reason="no ciphers available"),
    ]
    (finding,) = followup_findings(WHERE, attempts, LIB)
    assert finding.id == "below_security_level"
    assert finding.severity is Severity.ERROR and finding.side is Side.SERVER
    assert "TLSv1.2 AES128-SHA" in finding.summary
    assert "modern AEAD at level 2: refused" in finding.detail


def test_no_cause_when_an_attempt_at_the_default_level_succeeds() -> None:
    """When the server accepts a default-level offer, the follow-ups name no cause."""
    attempts = [
        *_versions(("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")),
        Attempt("cipher", "modern AEAD", 2, "accepted", "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"),
    ]
    assert followup_findings(WHERE, attempts, LIB) == []
    assert followup_findings(WHERE, _versions(), LIB) == []  # nothing accepted at all
    assert followup_findings(WHERE, [], LIB) == []


def test_dh_group_smaller_than_1024_bits() -> None:
    """DHE refused at levels 2 and 1 (dh key too small): the group is under 1024 bits."""
    attempts = [
        *_versions(("TLSv1.2", "DHE-RSA-AES128-GCM-SHA256")),
        Attempt("key_exchange", "DHE", 2, "refused", reason="dh key too small"),
        Attempt("key_exchange", "DHE", 1, "refused", reason="dh key too small"),
    ]
    (finding,) = followup_findings(WHERE, attempts, LIB)
    assert finding.id == "weak_dh" and "smaller than 1024 bits" in finding.summary


def test_matrix_of_a_current_server_has_no_finding() -> None:
    """Only TLS 1.2 and 1.3 accepted: nothing to say."""
    attempts = _versions(("TLSv1.3", "TLS_AES_128_GCM_SHA256"), ("TLSv1.2", "AES128-GCM-SHA256"))
    assert matrix_findings(WHERE, attempts, LIB) == []
