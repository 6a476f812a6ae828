"""Real OpenSSL handshakes, in memory: what the probe records and how it diagnoses each case.

Every test serves a chain from a real OpenSSL server context, probes it with
the real tls:// or https:// engine on a fake reactor (see :mod:`tests.support.memtls`),
and checks the recorded verify events, the captured chains, the status and the
primary finding (its id and who must act).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest
from cryptography import x509
from OpenSSL import SSL

from diagnostics.model.jsonform import result_to_json, schema
from diagnostics.model.options import ProbeOptions
from diagnostics.model.result import Phase, ProbeResult, Severity, Side, Status
from tests.support import memtls, pki

NOW = pki.utcnow()
DAY = datetime.timedelta(days=1)
TLS12 = SSL.TLS1_2_VERSION


@attrs.frozen
class Lab:
    """The CAs shared by every scenario of this module (made once: RSA keys are slow)."""

    root: pki.Issued
    intermediate: pki.Issued
    other_root: pki.Issued
    client_root: pki.Issued
    rogue_root: pki.Issued
    rsa_root: pki.Issued
    sha1_intermediate: pki.Issued
    long_root: pki.Issued
    long_upper: pki.Issued
    long_lower: pki.Issued
    old_intermediate: pki.Issued
    short_intermediate: pki.Issued

    def leaf(self, **options: Any) -> pki.Issued:
        """A server certificate from the usual intermediate (CN and SAN ``localhost``)."""
        return pki.issue(self.intermediate, **options)


@pytest.fixture(scope="module")
def lab() -> Lab:
    root = pki.make_ca("Scenario Root CA")
    rsa_root = pki.make_ca("Scenario RSA Root CA", key_type="rsa")
    long_root = pki.make_ca("Long Root CA")
    long_upper = pki.make_ca("Long Upper CA", parent=long_root)
    return Lab(
        root=root,
        intermediate=pki.make_ca("Scenario Intermediate CA", parent=root, path_length=0),
        other_root=pki.make_ca("Somebody Else's Root CA"),
        client_root=pki.make_ca("Partner Client CA"),
        rogue_root=pki.make_ca("Rogue Client CA"),
        rsa_root=rsa_root,
        sha1_intermediate=pki.make_ca(
            "SHA-1 Intermediate CA", parent=rsa_root, key_type="rsa", hash="sha1"
        ),
        long_root=long_root,
        long_upper=long_upper,
        long_lower=pki.make_ca("Long Lower CA", parent=long_upper, path_length=0),
        old_intermediate=pki.make_ca(
            "Old Intermediate CA", parent=root, not_before=NOW - 400 * DAY, not_after=NOW - DAY
        ),
        short_intermediate=pki.make_ca(
            "Short-lived Intermediate CA", parent=root, not_after=NOW + 100 * DAY
        ),
    )


def codes(result: ProbeResult) -> list[tuple[int, int]]:
    """The verify callback calls as (depth, code), in callback order."""
    return [(e.depth, e.code) for e in result.verify_events]


def errors(result: ProbeResult) -> set[tuple[int, int]]:
    """The verify errors as a set of (depth, code)."""
    return {(e.depth, e.code) for e in result.verify_errors}


# -- the core probe ------------------------------------------------------------------------


def test_valid_three_level_chain(lab: Lab, tmp_path: Path) -> None:
    """A correct chain verifies root first; two certificates served, three verified; no finding."""
    leaf = lab.leaf()
    result = memtls.handshake(
        (leaf.cert, lab.intermediate.cert), leaf.key, directory=tmp_path, trust=[lab.root.cert]
    )
    assert result.status is Status.OK
    assert result.failure is None
    assert result.findings == ()
    assert codes(result) == [(2, 0), (1, 0), (0, 0)]
    assert result.served_chain == (leaf.cert, lab.intermediate.cert)
    assert result.verified_chain == (leaf.cert, lab.intermediate.cert, lab.root.cert)
    assert result.hostname is not None and result.hostname.matched is True
    assert result.tls is not None
    assert result.tls.version == "TLSv1.3"
    assert result.tls.servername_sent == "localhost"
    assert result.tls.client_ca_names == ()


def test_missing_intermediate_codes(lab: Lab, tmp_path: Path) -> None:
    """Leaf only, root trusted: 20 then 21 at depth 0; the one served certificate is captured."""
    leaf = lab.leaf()
    result = memtls.handshake((leaf.cert,), leaf.key, directory=tmp_path, trust=[lab.root.cert])
    assert codes(result) == [(0, 20), (0, 21), (0, 0)]
    assert result.served_chain == (leaf.cert,)
    assert result.verified_chain == (leaf.cert,)
    assert result.status is Status.PROBLEMS
    assert (result.findings[0].id, result.findings[0].side) == ("unknown_issuer", Side.EITHER)
    assert "Scenario Intermediate CA" in result.findings[0].summary


def test_untrusted_root_sent(lab: Lab, tmp_path: Path) -> None:
    """A served root nobody trusts gives 19 at the root's depth; the client must trust it."""
    leaf = lab.leaf()
    result = memtls.handshake(
        (leaf.cert, lab.intermediate.cert, lab.root.cert),
        leaf.key,
        directory=tmp_path,
        trust=[lab.other_root.cert],
    )
    assert codes(result) == [(2, 19), (2, 0), (1, 0), (0, 0)]
    assert len(result.served_chain) == 3
    assert (result.findings[0].id, result.findings[0].side) == ("untrusted_root", Side.CLIENT)
    assert "Scenario Root CA" in result.findings[0].summary


def test_untrusted_root_not_sent(lab: Lab, tmp_path: Path) -> None:
    """Without the root served, the intermediate's issuer is missing: 20 at depth 1."""
    leaf = lab.leaf()
    result = memtls.handshake(
        (leaf.cert, lab.intermediate.cert),
        leaf.key,
        directory=tmp_path,
        trust=[lab.other_root.cert],
    )
    assert codes(result) == [(1, 20), (0, 0)]
    assert result.verified_chain == (leaf.cert, lab.intermediate.cert)
    assert (result.findings[0].id, result.findings[0].side) == ("untrusted_root", Side.CLIENT)


def test_self_signed_leaf(tmp_path: Path) -> None:
    """A self-signed server certificate gives 18 at depth 0; the server must replace it."""
    own = pki.issue(None)
    result = memtls.handshake((own.cert,), own.key, directory=tmp_path)
    assert codes(result) == [(0, 18), (0, 0)]
    assert result.served_chain == (own.cert,)
    assert (result.findings[0].id, result.findings[0].side) == ("self_signed", Side.SERVER)


@pytest.mark.parametrize(
    ("name", "window", "code", "finding", "side"),
    [
        (
            "expired",
            {"not_before": NOW - 400 * DAY, "not_after": NOW - DAY},
            10,
            "expired",
            "server",
        ),
        ("not yet valid", {"not_before": NOW + 10 * DAY}, 9, "not_yet_valid", "either"),
    ],
)
def test_leaf_validity_window(
    lab: Lab,
    tmp_path: Path,
    name: str,
    window: dict[str, datetime.datetime],
    code: int,
    finding: str,
    side: str,
) -> None:
    """A leaf outside its validity window: the code comes after the signature walk, at depth 0."""
    leaf = lab.leaf(**window)
    result = memtls.handshake(
        (leaf.cert, lab.intermediate.cert), leaf.key, directory=tmp_path, trust=[lab.root.cert]
    )
    assert codes(result) == [(2, 0), (1, 0), (0, code), (0, 0)], name
    assert len(result.verified_chain) == 3
    assert (result.findings[0].id, result.findings[0].side.value) == (finding, side)


def test_wrong_hostname(lab: Lab, tmp_path: Path) -> None:
    """A certificate for another name verifies, but the name check fails and says what it holds."""
    leaf = lab.leaf(common_name="shop.example.org", sans=("shop.example.org",))
    result = memtls.handshake(
        (leaf.cert, lab.intermediate.cert), leaf.key, directory=tmp_path, trust=[lab.root.cert]
    )
    assert result.verify_errors == ()
    assert result.hostname is not None
    assert (result.hostname.name, result.hostname.matched) == ("localhost", False)
    assert result.hostname.names_in_cert == ("shop.example.org",)
    assert (result.findings[0].id, result.findings[0].side) == ("hostname_mismatch", Side.EITHER)
    assert "shop.example.org" in result.findings[0].summary


@pytest.mark.parametrize(
    ("sans", "matched", "finding"),
    [(("127.0.0.1",), True, None), (("localhost",), False, "hostname_mismatch")],
    ids=["ip-san", "dns-san-only"],
)
def test_probe_by_ip_address(
    lab: Lab, tmp_path: Path, sans: tuple[str, ...], matched: bool, finding: str | None
) -> None:
    """Probed by 127.0.0.1 (no SNI sent): only an IP subjectAltName entry matches."""
    leaf = lab.leaf(sans=sans)
    result = memtls.handshake(
        (leaf.cert, lab.intermediate.cert),
        leaf.key,
        directory=tmp_path,
        trust=[lab.root.cert],
        servername=None,
    )
    assert result.tls is not None and result.tls.servername_sent is None
    assert result.hostname is not None
    assert (result.hostname.name, result.hostname.matched) == ("127.0.0.1", matched)
    if finding is None:
        assert result.status is Status.OK
        assert result.findings == ()
    else:
        assert result.status is Status.PROBLEMS
        assert (result.findings[0].id, result.findings[0].side) == (finding, Side.EITHER)


def test_common_name_only(lab: Lab, tmp_path: Path) -> None:
    """A certificate naming the host only in its CN fails the name check: cn_only, server side."""
    leaf = lab.leaf(sans=())
    result = memtls.handshake(
        (leaf.cert, lab.intermediate.cert), leaf.key, directory=tmp_path, trust=[lab.root.cert]
    )
    assert result.hostname is not None and result.hostname.matched is False
    assert result.hostname.names_in_cert == ("CN=localhost",)
    assert (result.findings[0].id, result.findings[0].side) == ("cn_only", Side.SERVER)


def test_client_certificate_requested_and_presented(lab: Lab, tmp_path: Path) -> None:
    """The server asks for a client certificate from its CA; ours fits; the CA names are kept."""
    leaf = lab.leaf()
    client = pki.issue(lab.client_root, "partner one", sans=(), ekus=(pki.CLIENT_AUTH,))
    result = memtls.handshake(
        (leaf.cert, lab.intermediate.cert),
        leaf.key,
        directory=tmp_path,
        trust=[lab.root.cert],
        client_identity=((client.cert,), client.key),
        server_requires_client_cert=True,
        client_ca=[lab.client_root.cert],
    )
    assert result.status is Status.OK
    assert result.failure is None
    assert result.tls is not None
    assert len(result.tls.client_ca_names) == 1
    assert "Partner Client CA" in result.tls.client_ca_names[0]


# -- the diagnosis matrix -------------------------------------------------------------------


@attrs.frozen
class Served:
    """What a scenario's server sends, and what the probe trusts and asks for."""

    chain: tuple[x509.Certificate, ...]
    key: pki.PrivateKey
    trust: tuple[x509.Certificate, ...]
    options: dict[str, Any] = attrs.Factory(dict)


def usual(lab: Lab, leaf: pki.Issued, **options: Any) -> Served:
    """``leaf`` served with the usual intermediate, the usual root trusted."""
    return Served((leaf.cert, lab.intermediate.cert), leaf.key, (lab.root.cert,), options)


@attrs.frozen
class Row:
    """One scenario of the matrix: how to build it and what the diagnosis must say first."""

    name: str
    build: Callable[[Lab], Served]
    finding: str
    side: Side
    status: Status = Status.PROBLEMS
    severity: Severity = Severity.ERROR
    errors: frozenset[tuple[int, int]] = frozenset()
    says: str = ""


def _expired_intermediate(lab: Lab) -> Served:
    leaf = pki.issue(lab.old_intermediate)
    return Served((leaf.cert, lab.old_intermediate.cert), leaf.key, (lab.root.cert,))


def _weak_key(lab: Lab) -> Served:
    # OpenSSL's default level refuses to load the key at all (see test_weak_key_refused_...).
    return usual(lab, lab.leaf(key_type="rsa", key_size=1024), security_level=0)


def _sha1_intermediate(lab: Lab) -> Served:
    leaf = pki.issue(lab.sha1_intermediate)
    return Served((leaf.cert, lab.sha1_intermediate.cert), leaf.key, (lab.rsa_root.cert,))


def _chain_order(lab: Lab) -> Served:
    leaf = pki.issue(lab.long_lower)
    # Leaf first (OpenSSL insists), then the upper CA before the lower one.
    chain = (leaf.cert, lab.long_upper.cert, lab.long_lower.cert)
    return Served(chain, leaf.key, (lab.long_root.cert,))


def _root_sent(lab: Lab) -> Served:
    leaf = lab.leaf()
    chain = (leaf.cert, lab.intermediate.cert, lab.root.cert)
    return Served(chain, leaf.key, (lab.root.cert,))


def _duplicate(lab: Lab) -> Served:
    leaf = lab.leaf()
    chain = (leaf.cert, lab.intermediate.cert, lab.intermediate.cert)
    return Served(chain, leaf.key, (lab.root.cert,))


def _intermediate_expires_first(lab: Lab) -> Served:
    leaf = pki.issue(lab.short_intermediate)
    return Served((leaf.cert, lab.short_intermediate.cert), leaf.key, (lab.root.cert,))


def _missing_intermediate(lab: Lab) -> Served:
    leaf = lab.leaf()
    return Served((leaf.cert,), leaf.key, (lab.root.cert,))


def _missing_intermediate_trusted(lab: Lab) -> Served:
    leaf = lab.leaf()
    return Served((leaf.cert,), leaf.key, (lab.root.cert, lab.intermediate.cert))


def _untrusted_private_root(lab: Lab) -> Served:
    leaf = lab.leaf()
    return Served((leaf.cert, lab.intermediate.cert), leaf.key, (lab.other_root.cert,))


def _self_signed(lab: Lab) -> Served:
    own = pki.issue(None)
    return Served((own.cert,), own.key, (lab.root.cert,))


MATRIX = [
    Row(
        "expired leaf",
        lambda lab: usual(lab, lab.leaf(not_before=NOW - 400 * DAY, not_after=NOW - DAY)),
        "expired",
        Side.SERVER,
        errors=frozenset({(0, 10)}),
        says="'CN = localhost'",
    ),
    Row(
        "expired intermediate",
        _expired_intermediate,
        "expired",
        Side.SERVER,
        errors=frozenset({(1, 10)}),
        says="intermediate CA 'CN = Old Intermediate CA'",
    ),
    Row(
        "not yet valid",
        lambda lab: usual(lab, lab.leaf(not_before=NOW + 10 * DAY)),
        "not_yet_valid",
        Side.EITHER,
        errors=frozenset({(0, 9)}),
        says="clock",
    ),
    Row(
        "missing intermediate, nothing else known",
        _missing_intermediate,
        "unknown_issuer",
        Side.EITHER,
        errors=frozenset({(0, 20), (0, 21)}),
    ),
    Row(
        "missing intermediate the trust list happens to hold",
        _missing_intermediate_trusted,
        "missing_intermediate",
        Side.SERVER,
        severity=Severity.WARNING,
    ),
    Row(
        "untrusted private root",
        _untrusted_private_root,
        "untrusted_root",
        Side.CLIENT,
        errors=frozenset({(1, 20)}),
        says="Scenario Root CA",
    ),
    Row(
        "self-signed leaf",
        _self_signed,
        "self_signed",
        Side.SERVER,
        errors=frozenset({(0, 18)}),
    ),
    Row(
        "wrong host",
        lambda lab: usual(lab, lab.leaf(common_name="other", sans=("other.example",))),
        "hostname_mismatch",
        Side.EITHER,
        says="other.example",
    ),
    Row(
        "IP address, DNS name in certificate",
        lambda lab: usual(lab, lab.leaf(sans=("localhost",)), servername=None),
        "hostname_mismatch",
        Side.EITHER,
        says="'127.0.0.1'",
    ),
    Row(
        "common name only",
        lambda lab: usual(lab, lab.leaf(sans=())),
        "cn_only",
        Side.SERVER,
    ),
    Row(
        "weak key (RSA 1024)",
        _weak_key,
        "weak_key",
        Side.SERVER,
        errors=frozenset({(0, 66)}),
        says="1024-bit RSA",
    ),
    Row(
        "SHA-1 intermediate",
        _sha1_intermediate,
        "weak_signature",
        Side.SERVER,
        errors=frozenset({(1, 68)}),
        says="SHA-1 Intermediate CA",
    ),
    Row(
        "clientAuth-only leaf",
        lambda lab: usual(lab, lab.leaf(ekus=(pki.CLIENT_AUTH,))),
        "wrong_eku",
        Side.SERVER,
        errors=frozenset({(0, 26)}),
        says="serverAuth",
    ),
    Row(
        "CA:TRUE leaf",
        lambda lab: usual(lab, lab.leaf(is_ca=True)),
        "ca_as_leaf",
        Side.SERVER,
        severity=Severity.WARNING,
    ),
    Row(
        "chain in the wrong order",
        _chain_order,
        "chain_order",
        Side.SERVER,
        severity=Severity.WARNING,
    ),
    Row(
        "root sent",
        _root_sent,
        "root_sent",
        Side.SERVER,
        status=Status.OK,
        severity=Severity.INFO,
    ),
    Row(
        "duplicate certificate",
        _duplicate,
        "duplicate_certificate",
        Side.SERVER,
        severity=Severity.WARNING,
        says="Scenario Intermediate CA",
    ),
    Row(
        "expiring in 10 days",
        lambda lab: usual(lab, lab.leaf(not_after=NOW + 10 * DAY)),
        "expiring_soon",
        Side.SERVER,
        severity=Severity.WARNING,
    ),
    Row(
        "expiring in 3 days",
        lambda lab: usual(lab, lab.leaf(not_after=NOW + 3 * DAY)),
        "expiring_soon",
        Side.SERVER,
        severity=Severity.ERROR,
    ),
    Row(
        "intermediate expires before the leaf",
        _intermediate_expires_first,
        "intermediate_expires_first",
        Side.SERVER,
        severity=Severity.WARNING,
        says="Short-lived Intermediate CA",
    ),
]


@pytest.mark.parametrize("row", MATRIX, ids=[row.name for row in MATRIX])
def test_diagnosis_matrix(lab: Lab, tmp_path: Path, row: Row) -> None:
    """Each served flaw is the primary finding, with the side that must act."""
    served = row.build(lab)
    result = memtls.handshake(
        served.chain, served.key, directory=tmp_path, trust=served.trust, **served.options
    )
    primary = result.findings[0]
    assert (primary.id, primary.side, primary.severity) == (row.finding, row.side, row.severity)
    assert result.status is row.status
    assert result.failure is None
    assert errors(result) == row.errors
    assert result.served_chain == served.chain
    assert row.says in primary.summary


def test_weak_key_refused_by_a_default_server(lab: Lab) -> None:
    """OpenSSL's default security level will not even load an RSA-1024 key to serve it."""
    weak = lab.leaf(key_type="rsa", key_size=1024)
    with pytest.raises(SSL.Error, match="ee key too small"):
        memtls.tls_context((weak.cert, lab.intermediate.cert), weak.key)


# -- client certificates ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "identity"),
    [
        (None, "none"),
        (None, "rogue"),
        (TLS12, "rogue"),
    ],
    ids=["tls1.3-none", "tls1.3-unknown-ca", "tls1.2-unknown-ca"],
)
def test_client_certificate_refused(
    lab: Lab, tmp_path: Path, version: int | None, identity: str
) -> None:
    """A server refusing our client certificate (or its absence) fails the probe in the handshake.

    With TLS 1.3 the refusal arrives after the client considers the handshake
    done; the probe must still report it, not an ok result.
    """
    leaf = lab.leaf()
    rogue = pki.issue(lab.rogue_root, "stranger", sans=(), ekus=(pki.CLIENT_AUTH,))
    result = memtls.handshake(
        (leaf.cert, lab.intermediate.cert),
        leaf.key,
        directory=tmp_path,
        trust=[lab.root.cert],
        client_identity=((rogue.cert,), rogue.key) if identity == "rogue" else None,
        server_requires_client_cert=True,
        client_ca=[lab.client_root.cert],
        max_version=version,
    )
    expected = (
        "client_certificate_rejected" if identity == "rogue" else "client_certificate_required"
    )
    assert result.status is Status.FAILED
    assert result.failure is not None
    assert (result.failure.phase, result.failure.kind) == (Phase.HANDSHAKE, "tls_error")
    assert (result.findings[0].id, result.findings[0].side) == (expected, Side.CLIENT)


def test_client_certificate_missing_tls12(lab: Lab, tmp_path: Path) -> None:
    """TLS 1.2, no client certificate: the server refuses inside the handshake, with an alert."""
    leaf = lab.leaf()
    result = memtls.handshake(
        (leaf.cert, lab.intermediate.cert),
        leaf.key,
        directory=tmp_path,
        trust=[lab.root.cert],
        server_requires_client_cert=True,
        client_ca=[lab.client_root.cert],
        max_version=TLS12,
    )
    assert result.status is Status.FAILED
    assert result.failure is not None
    assert result.failure.phase is Phase.HANDSHAKE
    assert result.failure.reason == "tls alert handshake failure"
    # The server's certificate was checked before the alert came.
    assert codes(result) == [(2, 0), (1, 0), (0, 0)]


def test_client_certificate_missing_tls12_named(lab: Lab, tmp_path: Path) -> None:
    """TLS 1.2: the server asked for a certificate, got none and refused: the finding says so."""
    leaf = lab.leaf()
    result = memtls.handshake(
        (leaf.cert, lab.intermediate.cert),
        leaf.key,
        directory=tmp_path,
        trust=[lab.root.cert],
        server_requires_client_cert=True,
        client_ca=[lab.client_root.cert],
        max_version=TLS12,
    )
    assert (result.findings[0].id, result.findings[0].side) == (
        "client_certificate_required",
        Side.CLIENT,
    )
    assert "CN = " in result.findings[0].detail  # the accepted issuer is named
    assert result.client_auth is not None
    assert (result.client_auth.requested, result.client_auth.sent) == (True, False)


def test_refused_handshake_keeps_the_served_chain(lab: Lab, tmp_path: Path) -> None:
    """A TLS 1.2 server that refuses us after sending its chain: the chain is still reported."""
    leaf = lab.leaf()
    result = memtls.handshake(
        (leaf.cert, lab.intermediate.cert),
        leaf.key,
        directory=tmp_path,
        trust=[lab.root.cert],
        server_requires_client_cert=True,
        client_ca=[lab.client_root.cert],
        max_version=TLS12,
    )
    assert result.failure is not None
    assert result.served_chain == (leaf.cert, lab.intermediate.cert)
    document = result_to_json(result)
    jsonschema.validate(document, schema())
    assert document["client_auth"]["ca_names"] == list(result.client_auth.ca_names)  # type: ignore[union-attr]
    assert len(document["served_chain"]) == 2


# -- servers that do not speak TLS ------------------------------------------------------------


@pytest.mark.parametrize(
    "greeting", [memtls.PLAIN_HTTP_ERROR, memtls.FTP_GREETING], ids=["http", "ftp"]
)
def test_plain_text_server(greeting: bytes) -> None:
    """A plain-text answer to our ClientHello: not_tls, failed in the handshake phase."""
    result = memtls.run_probe(
        memtls.plain_server(greeting), f"tls://127.0.0.1:{memtls.PORT}", ProbeOptions()
    )
    assert result.status is Status.FAILED
    assert result.failure is not None
    assert (result.failure.phase, result.failure.kind) == (Phase.HANDSHAKE, "tls_error")
    assert result.verify_events == ()
    assert result.served_chain == ()
    assert (result.findings[0].id, result.findings[0].side) == ("not_tls", Side.EITHER)


def test_silent_server_times_out_in_the_handshake() -> None:
    """A server that accepts and never answers: a handshake-phase timeout, at the deadline."""
    options = ProbeOptions(timeout=7.0)
    result = memtls.run_probe(memtls.silent_server(), f"tls://127.0.0.1:{memtls.PORT}", options)
    assert result.status is Status.FAILED
    assert result.failure is not None
    assert (result.failure.phase, result.failure.kind) == (Phase.HANDSHAKE, "timeout")
    assert result.timings.total_s == pytest.approx(7.0)
    assert result.timings.connect_s == 0.0
    assert (result.findings[0].id, result.findings[0].side) == ("timeout", Side.EITHER)
    assert "never answered the TLS ClientHello" in result.findings[0].summary


# -- https:// ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "status", "findings"),
    [
        (memtls.HTTP_OK, 200, []),
        (memtls.HTTP_NOT_FOUND, 404, [("http_status", Severity.INFO, Side.SERVER)]),
    ],
    ids=["200", "404"],
)
def test_https_status(
    lab: Lab,
    tmp_path: Path,
    response: bytes,
    status: int,
    findings: Sequence[tuple[str, Severity, Side]],
) -> None:
    """After a good handshake the HTTP answer is recorded; a 404 is an informational fact only."""
    leaf = lab.leaf()
    result = memtls.handshake(
        (leaf.cert, lab.intermediate.cert),
        leaf.key,
        directory=tmp_path,
        trust=[lab.root.cert],
        https=True,
        http_response=response,
    )
    assert result.status is Status.OK
    assert result.http is not None
    assert result.http["method"] == "HEAD"
    assert result.http["status"] == status
    assert result.http["server"] == "memtest"
    assert result.http["status_line"].startswith(f"HTTP/1.1 {status} ")
    assert [(f.id, f.severity, f.side) for f in result.findings] == findings


def test_https_head_refused_falls_back_to_get(lab: Lab, tmp_path: Path) -> None:
    """A server answering HEAD with 405 is asked again with GET, on a second connection."""
    leaf = lab.leaf()
    result = memtls.handshake(
        (leaf.cert, lab.intermediate.cert),
        leaf.key,
        directory=tmp_path,
        trust=[lab.root.cert],
        https=True,
        app=memtls.http_app(memtls.HTTP_OK, {b"HEAD": memtls.HTTP_NOT_ALLOWED}),
    )
    assert result.http is not None
    assert (result.http["method"], result.http["status"]) == ("GET", 200)
    assert result.status is Status.OK


def test_https_server_closes_after_handshake(lab: Lab, tmp_path: Path) -> None:
    """A server that hangs up right after the handshake: failed in the application phase.

    The handshake itself was complete, so its chains and facts are kept.
    """
    leaf = lab.leaf()
    result = memtls.handshake(
        (leaf.cert, lab.intermediate.cert),
        leaf.key,
        directory=tmp_path,
        trust=[lab.root.cert],
        https=True,
        app=memtls.CloseAfterHandshake,
    )
    assert result.status is Status.FAILED
    assert result.failure is not None
    assert (result.failure.phase, result.failure.kind) == (Phase.APPLICATION, "connection_closed")
    assert result.http is None
    assert result.served_chain == (leaf.cert, lab.intermediate.cert)
    assert codes(result) == [(2, 0), (1, 0), (0, 0)]
    assert (result.findings[0].id, result.findings[0].side) == ("connection_closed", Side.EITHER)


def test_https_close_after_handshake_reads_right(lab: Lab, tmp_path: Path) -> None:
    """A close after a completed handshake is not described as a close during the handshake."""
    leaf = lab.leaf()
    result = memtls.handshake(
        (leaf.cert, lab.intermediate.cert),
        leaf.key,
        directory=tmp_path,
        trust=[lab.root.cert],
        https=True,
        app=memtls.CloseAfterHandshake,
    )
    assert "before or during the TLS handshake" not in result.findings[0].summary
    assert "completed the TLS handshake" in result.findings[0].summary


def test_https_client_certificate_required_tls13(lab: Lab, tmp_path: Path) -> None:
    """https:// to a TLS 1.3 server that wants a client certificate: a handshake failure."""
    leaf = lab.leaf()
    result = memtls.handshake(
        (leaf.cert, lab.intermediate.cert),
        leaf.key,
        directory=tmp_path,
        trust=[lab.root.cert],
        server_requires_client_cert=True,
        client_ca=[lab.client_root.cert],
        https=True,
    )
    assert result.status is Status.FAILED
    assert result.failure is not None
    assert result.failure.phase is Phase.HANDSHAKE
    assert result.http is None
    assert (result.findings[0].id, result.findings[0].side) == (
        "client_certificate_required",
        Side.CLIENT,
    )
