"""Chain lint: each rule fires on a chain built to break it, and stays silent on clean ones."""

from __future__ import annotations

import datetime

import pytest
import trustme
from cryptography import x509

from diagnostics.explain.lint import chain_shape, lint_chain
from diagnostics.model.result import Finding, Severity, Side
from tests.support import pki

NOW = pki.utcnow()
DAY = datetime.timedelta(days=1)


@pytest.fixture(scope="module")
def chain() -> pki.Chain:
    return pki.make_chain()


def ids(findings: list[Finding]) -> list[str]:
    return [f.id for f in findings]


def only(findings: list[Finding], id: str) -> Finding:
    matching = [f for f in findings if f.id == id]
    assert len(matching) == 1, findings
    return matching[0]


def test_clean_chain_is_silent(chain: pki.Chain) -> None:
    """A correctly served three-level chain gives no finding at all."""
    assert lint_chain(chain.served, now=NOW) == []
    assert lint_chain(chain.served, now=NOW, trusted=[chain.root.cert]) == []


def test_clean_trustme_chain_is_silent() -> None:
    """A chain from an independent builder (trustme) gives no finding either."""
    ca = trustme.CA()
    leaf = ca.create_child_ca().issue_cert("localhost", "127.0.0.1")
    served = [x509.load_pem_x509_certificate(p.bytes()) for p in leaf.cert_chain_pems]
    root = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    assert len(served) == 2
    assert lint_chain(served, now=NOW, trusted=[root]) == []


def test_empty_chain() -> None:
    """Nothing served, nothing to lint."""
    assert lint_chain([], now=NOW) == []


def test_out_of_order(chain: pki.Chain) -> None:
    """An issuer sent before the certificate it issued is a chain_order warning naming both."""
    findings = lint_chain([chain.leaf.cert, chain.root.cert, chain.intermediate.cert], now=NOW)
    order = only(findings, "chain_order")
    assert (order.severity, order.side) == (Severity.WARNING, Side.SERVER)
    assert "CN = Test Intermediate CA" in order.summary
    assert sorted(ids(findings)) == ["chain_order", "root_sent"]


def test_files_given_issuer_first(chain: pki.Chain) -> None:
    """Given intermediate then leaf, the leaf is still found and the order is flagged."""
    shape = chain_shape([chain.intermediate.cert, chain.leaf.cert])
    assert shape.path == (1, 0)
    assert ids(lint_chain([chain.intermediate.cert, chain.leaf.cert], now=NOW)) == ["chain_order"]


def test_root_sent_is_info(chain: pki.Chain) -> None:
    """Sending the root is worth knowing but not a problem."""
    findings = lint_chain(chain.full, now=NOW)
    assert [(f.id, f.severity) for f in findings] == [("root_sent", Severity.INFO)]
    assert "CN = Test Root CA" in findings[0].summary


def test_duplicate(chain: pki.Chain) -> None:
    """The same certificate twice is reported once, as a duplicate, not as unrelated."""
    findings = lint_chain([*chain.served, chain.intermediate.cert], now=NOW)
    assert ids(findings) == ["duplicate_certificate"]
    assert "CN = Test Intermediate CA" in findings[0].summary


def test_repeated_duplicate_is_one_finding_with_a_count(chain: pki.Chain) -> None:
    """The intermediate sent four times: one finding counting the three extra copies."""
    served = [*chain.served, *[chain.intermediate.cert] * 3]
    findings = lint_chain(served, now=NOW)
    assert ids(findings) == ["duplicate_certificate"]
    assert "4 times: 3 repeated copies (at positions 3, 4, 5 of 5)" in findings[0].summary
    shape = chain_shape(served)
    assert shape.duplicates == (2, 3, 4)
    # Every copy carries the links of its first copy.
    assert shape.issuers == ((1,), (), (), (), ())


def test_unrelated(chain: pki.Chain) -> None:
    """A certificate that neither issued nor was issued by the chain is named as unrelated."""
    stray = pki.make_ca("Old Intermediate CA", parent=pki.make_ca("Old Root"))
    findings = lint_chain([*chain.served, stray.cert], now=NOW)
    assert ids(findings) == ["unrelated_certificate"]
    assert "CN = Old Intermediate CA" in findings[0].summary
    assert findings[0].side is Side.SERVER


def test_cross_signed_alternative_is_related(chain: pki.Chain) -> None:
    """A second issuer of a chain member (a cross-sign of the root) is not unrelated."""
    cross = pki.cross_sign(chain.root, pki.make_ca("Other Root"))
    findings = lint_chain([*chain.served, cross.cert], now=NOW)
    assert ids(findings) == []


def test_missing_intermediate_masked_by_trust_list(chain: pki.Chain) -> None:
    """A chain that only verifies because the trust list holds the intermediate is flagged."""
    findings = lint_chain([chain.leaf.cert], now=NOW, trusted=[chain.intermediate.cert])
    finding = only(findings, "missing_intermediate")
    assert (finding.severity, finding.side) == (Severity.WARNING, Side.SERVER)
    assert "CN = Test Intermediate CA" in finding.summary
    # Without the intermediate in the trust list, lint cannot tell; the diagnosis decides.
    assert lint_chain([chain.leaf.cert], now=NOW, trusted=[chain.root.cert]) == []


def test_missing_intermediate_shows_aia(chain: pki.Chain) -> None:
    """The issuer's download address from the AIA extension is shown, not fetched."""
    leaf = pki.issue(chain.intermediate, ca_issuers=["http://ca.example/int.der"])
    findings = lint_chain([leaf.cert], now=NOW, trusted=[chain.intermediate.cert])
    assert "http://ca.example/int.der" in only(findings, "missing_intermediate").detail


@pytest.mark.parametrize(
    ("key_type", "key_size", "weak"),
    [("rsa", 1024, True), ("ec", 192, True), ("rsa", 2048, False), ("ec", 256, False)],
)
def test_weak_leaf_key(chain: pki.Chain, key_type: pki.KeyType, key_size: int, weak: bool) -> None:
    """RSA below 2048 bits and EC below 256 bits are weak keys; the sizes at the limit are not."""
    leaf = pki.issue(chain.intermediate, key_type=key_type, key_size=key_size)
    findings = lint_chain([leaf.cert, chain.intermediate.cert], now=NOW)
    if weak:
        finding = only(findings, "weak_key")
        assert finding.severity is Severity.ERROR
        assert f"{key_size}-bit" in finding.summary
    else:
        assert findings == []


def test_weak_intermediate_key() -> None:
    """A weak CA key is reported against the CA."""
    root = pki.make_ca("Root")
    weak = pki.make_ca("Weak Intermediate", parent=root, key_type="rsa", key_size=1024)
    leaf = pki.issue(weak)
    finding = only(lint_chain([leaf.cert, weak.cert], now=NOW), "weak_key")
    assert "CN = Weak Intermediate" in finding.summary


@pytest.mark.parametrize("digest", ["sha1", "md5"])
def test_weak_signature_below_root(digest: pki.HashName) -> None:
    """A SHA-1 or MD5 signature on a leaf or intermediate is an error."""
    root = pki.make_ca("RSA Root", key_type="rsa")
    intermediate = pki.make_ca("Legacy Intermediate", parent=root, key_type="rsa", hash=digest)
    leaf = pki.issue(intermediate, hash=digest)
    findings = lint_chain([leaf.cert, intermediate.cert], now=NOW)
    assert ids(findings) == ["weak_signature", "weak_signature"]
    assert all(digest.upper() in f.summary for f in findings)


def test_sha1_root_self_signature_is_exempt() -> None:
    """A root's own SHA-1 self-signature is never checked, so it is not reported."""
    root = pki.make_ca("Old Root", key_type="rsa", hash="sha1")
    intermediate = pki.make_ca("Intermediate", parent=root)
    leaf = pki.issue(intermediate)
    findings = lint_chain([leaf.cert, intermediate.cert, root.cert], now=NOW)
    assert ids(findings) == ["root_sent"]


def test_server_leaf_without_server_auth(chain: pki.Chain) -> None:
    """A server certificate whose EKU lacks serverAuth is wrong_eku; as a client cert it is fine."""
    leaf = pki.issue(chain.intermediate, ekus=[pki.CLIENT_AUTH])
    served = [leaf.cert, chain.intermediate.cert]
    finding = only(lint_chain(served, now=NOW), "wrong_eku")
    assert (finding.severity, finding.side) == (Severity.ERROR, Side.SERVER)
    assert "clientAuth" in finding.summary
    assert lint_chain(served, role="client", now=NOW) == []


def test_client_leaf_without_client_auth(chain: pki.Chain) -> None:
    """Judging a client certificate, a serverAuth-only EKU is wrong and the client must act."""
    finding = only(lint_chain(chain.served, role="client", now=NOW), "wrong_eku")
    assert finding.side is Side.CLIENT


def test_no_eku_extension_allows_everything(chain: pki.Chain) -> None:
    """Without an EKU extension any usage is allowed."""
    leaf = pki.issue(chain.intermediate, ekus=None)
    assert lint_chain([leaf.cert, chain.intermediate.cert], now=NOW) == []
    assert lint_chain([leaf.cert, chain.intermediate.cert], role="client", now=NOW) == []


def test_ca_restricting_eku() -> None:
    """An intermediate whose own EKU excludes serverAuth limits the leaf: reported on the CA."""
    root = pki.make_ca("Root")
    intermediate = pki.make_ca("Mail Intermediate", parent=root, ekus=[pki.CLIENT_AUTH])
    leaf = pki.issue(intermediate)
    finding = only(lint_chain([leaf.cert, intermediate.cert], now=NOW), "wrong_eku")
    assert "CN = Mail Intermediate" in finding.summary


def test_ca_as_leaf(chain: pki.Chain) -> None:
    """A leaf with CA:TRUE is a warning."""
    leaf = pki.issue(chain.intermediate, is_ca=True)
    finding = only(lint_chain([leaf.cert, chain.intermediate.cert], now=NOW), "ca_as_leaf")
    assert finding.severity is Severity.WARNING


@pytest.mark.parametrize(
    ("days_left", "warn_days", "critical_days", "expected"),
    [
        (40, 30, 7, None),
        (20, 30, 7, Severity.WARNING),
        (3, 30, 7, Severity.ERROR),
        (40, 60, 7, Severity.WARNING),
        (20, 30, 25, Severity.ERROR),
        (20, 10, 5, None),
    ],
)
def test_expiry_windows(
    chain: pki.Chain,
    days_left: int,
    warn_days: int,
    critical_days: int,
    expected: Severity | None,
) -> None:
    """Expiry inside the warning window warns, inside the critical one errs; both configurable."""
    end = NOW + days_left * DAY
    leaf = pki.issue(chain.intermediate, not_after=end)
    findings = lint_chain(
        [leaf.cert, chain.intermediate.cert],
        now=NOW,
        warn_days=warn_days,
        critical_days=critical_days,
    )
    if expected is None:
        assert findings == []
    else:
        finding = only(findings, "expiring_soon")
        assert finding.severity is expected
        assert end.strftime("%Y-%m-%dT%H:%M:%SZ") in finding.summary
        assert f"{days_left - 1} days" in finding.summary or f"{days_left} days" in finding.summary


def test_expired_and_future_are_left_to_the_diagnosis(chain: pki.Chain) -> None:
    """Lint says nothing about certificates that are not valid now (the verify events do)."""
    expired = pki.issue(chain.intermediate, not_before=NOW - 90 * DAY, not_after=NOW - DAY)
    future = pki.issue(chain.intermediate, not_before=NOW + 10 * DAY, not_after=NOW + 20 * DAY)
    assert lint_chain([expired.cert, chain.intermediate.cert], now=NOW) == []
    assert lint_chain([future.cert, chain.intermediate.cert], now=NOW) == []


def test_intermediate_expires_before_leaf() -> None:
    """An intermediate that ends before the leaf shortens the leaf's life: named with its date."""
    root = pki.make_ca("Root")
    short = pki.make_ca("Short Intermediate", parent=root, not_after=NOW + 100 * DAY)
    leaf = pki.issue(short, not_after=NOW + 200 * DAY)
    findings = lint_chain([leaf.cert, short.cert], now=NOW)
    finding = only(findings, "intermediate_expires_first")
    assert "CN = Short Intermediate" in finding.summary
    assert (NOW + 100 * DAY).strftime("%Y-%m-%d") in finding.summary


def test_cn_only_server_certificate(chain: pki.Chain) -> None:
    """A server certificate without SANs is flagged; a client certificate without SANs is normal."""
    leaf = pki.issue(chain.intermediate, "www.example.org", sans=(), ekus=None)
    served = [leaf.cert, chain.intermediate.cert]
    finding = only(lint_chain(served, now=NOW), "cn_only")
    assert "www.example.org" in finding.summary
    assert lint_chain(served, role="client", now=NOW) == []


def test_the_same_chain_linted_later_reads_the_new_time(chain: pki.Chain) -> None:
    """Linting one chain again (as a daemon does every round) reports the expiry window of the
    time asked for each call, and the trust list of each call."""
    leaf = pki.issue(chain.intermediate, not_after=NOW + 40 * DAY)
    served = [leaf.cert, chain.intermediate.cert]
    assert lint_chain(served, now=NOW) == []
    later = only(lint_chain(served, now=NOW + 20 * DAY), "expiring_soon")
    assert later.severity is Severity.WARNING
    last = only(lint_chain(served, now=NOW + 38 * DAY), "expiring_soon")
    assert last.severity is Severity.ERROR
    assert lint_chain(served, now=NOW) == []
    short = [leaf.cert]
    assert lint_chain(short, now=NOW) == []
    masked = lint_chain(short, now=NOW, trusted=[chain.intermediate.cert])
    assert ids(masked) == ["missing_intermediate"]
    assert lint_chain(short, now=NOW, trusted=[]) == []
