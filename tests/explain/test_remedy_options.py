"""Remedies name the options of the caller: a probe, ``tlsdiag verify``, the listener, or
the daemon's configuration keys for its targets and ``[[listener]]`` sections.

The same fault (an untrusted root, a missing CRL, a revoked certificate) is
diagnosed for each caller; every remedy must point to an option that caller has
and to none it lacks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from cryptography import x509

import diagnostics
from diagnostics.explain import catalogue
from diagnostics.explain.diagnose import DiagnosisContext, diagnose
from diagnostics.listener.verdict import SessionPolicy, judge
from diagnostics.model import revocation
from diagnostics.model.caller import DAEMON_LISTENER, DAEMON_PROBE, LISTENER, PROBE, VERIFY, Caller
from diagnostics.model.result import Finding, ProbeResult, VerifyEvent
from diagnostics.model.target import parse_target
from diagnostics.tls.recording import verify_reason
from tests.support import crls, pki

UNTRUSTED_ROOT, CRL_MISSING, REVOKED = "untrusted_root", "crl_missing", "revoked"
FAULTS = (UNTRUSTED_ROOT, CRL_MISSING, REVOKED)
# The verify event each fault gives: (depth, code); depth 1 is the intermediate.
EVENTS = {UNTRUSTED_ROOT: (1, 2), CRL_MISSING: (0, 3), REVOKED: (0, 23)}
FINDING_IDS = {UNTRUSTED_ROOT: "untrusted_root", CRL_MISSING: "crl_unavailable", REVOKED: "revoked"}
# Options each caller lacks: a remedy naming one of them sends the reader astray.
ABSENT = {
    "probe": ("--client-ca", "--name NAME"),
    "verify": ("--client-ca", "--crl-from-cdp", "--crl-check", "URL", "--system-trust", "--cert"),
    "listen": ("--ca ", "--crl-from-cdp", "--crl-check", "--system-trust", "--cert"),
    # The daemon has no command-line options for these: only configuration keys.
    "daemon": ("--", "client_ca"),
    "daemon-listener": ("--", "crl_from_cdp", "crl_check", "system_trust", "servername"),
}
CALLERS: dict[str, Caller] = {
    "probe": PROBE,
    "verify": VERIFY,
    "listen": LISTENER,
    "daemon": DAEMON_PROBE,
    "daemon-listener": DAEMON_LISTENER,
}


@pytest.fixture(scope="module")
def chain() -> pki.Chain:
    """A root, an intermediate and a leaf (used as a server's or as a client's certificate)."""
    return pki.make_chain()


def _crl(chain: pki.Chain, fault: str) -> tuple[revocation.KnownCRL, ...]:
    if fault != REVOKED:
        return ()
    crl = crls.make_crl(chain.intermediate, [(chain.leaf.cert, x509.ReasonFlags.key_compromise)])
    return (revocation.KnownCRL(crl, "partner.crl"),)


def _captured(chain: pki.Chain, fault: str) -> ProbeResult:
    """What a handshake with this fault records: the chain and the one verify error."""
    depth, code = EVENTS[fault]
    event = VerifyEvent(
        depth=depth,
        code=code,
        name=catalogue.verify_name(code),
        reason=verify_reason(code),
        certificate=chain.served[depth],
    )
    return ProbeResult(
        target=parse_target("tls://127.0.0.1:4433"),
        served_chain=tuple(chain.served),
        verify_events=(event,),
    )


def _trusted(chain: pki.Chain, fault: str) -> Sequence[x509.Certificate]:
    return () if fault == UNTRUSTED_ROOT else (chain.root.cert,)


def diagnosed(caller: str, chain: pki.Chain, fault: str) -> ProbeResult:
    """The fault diagnosed the way ``caller`` diagnoses it."""
    known = _crl(chain, fault)
    if caller == "verify":
        crl_inputs: list[x509.CertificateRevocationList] = [k.crl for k in known]
        if fault == CRL_MISSING:  # a CRL of another CA turns checking on, none of ours
            crl_inputs = [crls.make_crl(pki.make_ca("Unrelated CA"))]
        return diagnostics.verify_chain(
            list(chain.served),
            trusted=_trusted(chain, fault),
            crls=crl_inputs,
            purpose="server",
            crl_names=[k.source for k in known],
        )
    if caller in ("listen", "daemon-listener"):
        policy = SessionPolicy(client_ca_names=("CN = Test Root CA",))
        return judge(
            _captured(chain, fault),
            policy,
            trusted=_trusted(chain, fault),
            crls=known,
            caller=CALLERS[caller],
        )
    context = DiagnosisContext(
        trusted=tuple(_trusted(chain, fault)), crls=known, caller=CALLERS[caller]
    )
    return diagnose(_captured(chain, fault), context)


def _one(result: ProbeResult, finding_id: str) -> Finding:
    found = [f for f in result.findings if f.id == finding_id]
    assert found, [f.id for f in result.findings]
    return found[0]


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("caller", sorted(CALLERS))
def test_remedies_name_only_the_callers_options(chain: pki.Chain, caller: str, fault: str) -> None:
    """Every remedy of the diagnosis names no option the caller lacks; the fault's own
    finding is there, and where it asks for a CA or a CRL it names the caller's option."""
    result = diagnosed(caller, chain, fault)
    finding = _one(result, FINDING_IDS[fault])
    for each in result.findings:
        for absent in ABSENT[caller]:
            assert absent not in each.remedy, (each.id, each.remedy)
    options = CALLERS[caller]
    if fault == UNTRUSTED_ROOT:
        assert f"({options.trust})" in finding.remedy
    if fault == CRL_MISSING:
        assert f"({options.crl})" in finding.remedy


def test_probe_remedies_offer_every_crl_route(chain: pki.Chain) -> None:
    """A probe can give a CRL file or URL or fetch it from the distribution point."""
    finding = _one(diagnosed("probe", chain, CRL_MISSING), "crl_unavailable")
    assert "(--crl FILE or URL)" in finding.remedy
    assert "(--crl-from-cdp)" in finding.remedy


def test_verify_crl_missing_in_the_chain_says_the_whole_chain_is_checked(
    chain: pki.Chain,
) -> None:
    """verify checks CRLs for the whole chain: a missing CRL of the root's own CA says so,
    without the probe's --crl-check modes."""
    only_leaf_crl = crls.make_crl(chain.intermediate)
    result = diagnostics.verify_chain(
        list(chain.served), trusted=chain.root.cert, crls=[only_leaf_crl]
    )
    finding = _one(result, "crl_unavailable")
    assert "the whole chain is checked" in finding.detail
    assert "--crl-check" not in finding.detail + finding.remedy


@pytest.mark.parametrize(
    ("fault", "mention"),
    [(UNTRUSTED_ROOT, "--client-ca"), (REVOKED, "revoked"), (CRL_MISSING, "findings below")],
)
def test_rejected_client_certificate_remedy_fits_the_cause(
    chain: pki.Chain, fault: str, mention: str
) -> None:
    """At the listener, only an unknown issuer is fixed by accepting another CA; a revoked
    certificate needs a new certificate, and no remedy suggests another CA for it."""
    result = diagnosed("listen", chain, fault)
    rejected = _one(result, "client_certificate_rejected")
    assert mention in rejected.remedy
    if fault != UNTRUSTED_ROOT:
        assert not re.search(r"from an accepted CA|--client-ca", rejected.remedy)


def test_daemon_remedies_offer_every_crl_route_as_configuration_keys(chain: pki.Chain) -> None:
    """A daemon target gives CRLs as files or URLs and can fetch them from the distribution
    point: the remedy names the configuration keys, not the command's options."""
    finding = _one(diagnosed("daemon", chain, CRL_MISSING), "crl_unavailable")
    assert '(crl = ["FILE or URL"])' in finding.remedy
    assert "(crl_from_cdp = true)" in finding.remedy
    assert "--" not in finding.remedy


def test_listener_crl_remedy_offers_urls(chain: pki.Chain) -> None:
    """tlsdiag listen takes CRL URLs too: its missing-CRL remedy says so."""
    finding = _one(diagnosed("listen", chain, CRL_MISSING), "crl_unavailable")
    assert "(--crl FILE or URL)" in finding.remedy


def test_daemon_listener_rejected_client_names_the_client_ca_key(chain: pki.Chain) -> None:
    """A [[listener]]'s rejected client from an unknown CA: accept its CA with client_ca."""
    rejected = _one(
        diagnosed("daemon-listener", chain, UNTRUSTED_ROOT), "client_certificate_rejected"
    )
    assert '(client_ca = ["FILE"])' in rejected.remedy
    assert "--client-ca" not in rejected.remedy
