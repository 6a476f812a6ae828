"""OCSP stapling: reading staples, judging them, and probing servers that staple.

Responses are built at test time with ``cryptography``'s ``OCSPResponseBuilder``
and signed by the test CA.  The handshakes run in memory against a server that
staples a given response; one test runs the real ``openssl s_server
-status_file`` and compares our ``s_client`` rendering with the real
``openssl s_client -status``.
"""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import attrs
import jsonschema
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from OpenSSL import SSL

from diagnostics.explain.diagnose import diagnose
from diagnostics.explain.ocsp import must_staple, read_staple, staple_names_leaf
from diagnostics.model import jsonform
from diagnostics.model.options import ProbeOptions
from diagnostics.model.result import OCSPFacts, ProbeResult, Severity, Side, Status, Target
from diagnostics.render.sclient import ocsp_lines, render_sclient
from diagnostics.render.text import render_text
from diagnostics.tls.serving import server_context, staple_ocsp
from tests.support import memtls, pki, servers

HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)
OCSP_IDS = {
    "ocsp_must_staple_missing",
    "ocsp_staple_invalid",
    "ocsp_staple_unsuccessful",
    "ocsp_staple_wrong_certificate",
    "ocsp_staple_unknown",
    "ocsp_staple_expired",
    "ocsp_staple_not_yet_valid",
    "revoked",
}
# An OCSPResponse whose status is 7, a value RFC 6960 does not define: DER that
# OpenSSL's server accepts and passes on, but that no client can read.
UNDEFINED_STATUS = bytes.fromhex("30030a0107")


# -- material ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain() -> pki.Chain:
    """A root → intermediate → leaf PKI for localhost."""
    return pki.make_chain()


def must_staple_leaf(ca: pki.Issued) -> pki.Issued:
    """A localhost server certificate with the TLS Feature status_request extension."""
    key = pki.make_key()
    now = pki.utcnow()
    cert = (
        x509.CertificateBuilder()
        .subject_name(pki.name("localhost"))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - DAY)
        .not_valid_after(now + 365 * DAY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .add_extension(x509.TLSFeature([x509.TLSFeatureType.status_request]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return pki.Issued(cert, key)


def staple(
    leaf: x509.Certificate,
    issuer: pki.Issued,
    *,
    status: ocsp.OCSPCertStatus = ocsp.OCSPCertStatus.GOOD,
    this_update: datetime.datetime | None = None,
    next_update: datetime.datetime | None = None,
    revoked_at: datetime.datetime | None = None,
    reason: x509.ReasonFlags | None = None,
    by_key: bool = False,
) -> bytes:
    """A DER OCSP response about ``leaf``, signed by its issuing CA."""
    now = pki.utcnow()
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=leaf,
        issuer=issuer.cert,
        algorithm=hashes.SHA1(),
        cert_status=status,
        this_update=this_update or now - HOUR,
        next_update=next_update or now + DAY,
        revocation_time=revoked_at,
        revocation_reason=reason,
    )
    encoding = ocsp.OCSPResponderEncoding.HASH if by_key else ocsp.OCSPResponderEncoding.NAME
    response = builder.responder_id(encoding, issuer.cert).sign(issuer.key, hashes.SHA256())
    return response.public_bytes(serialization.Encoding.DER)


def unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    """A DER OCSP response that carries only an error status."""
    response = ocsp.OCSPResponseBuilder.build_unsuccessful(status)
    return response.public_bytes(serialization.Encoding.DER)


def probe_stapling(
    served: Sequence[x509.Certificate],
    key: pki.PrivateKey,
    trusted: x509.Certificate,
    response: bytes | None,
    directory: Path,
    *,
    max_version: int | None = None,
) -> ProbeResult:
    """Probe, in memory, a server that staples ``response`` (None: stapling off)."""
    context = server_context(served, key)
    if response is not None:
        staple_ocsp(context, response)
    if max_version is not None:
        context.set_max_proto_version(max_version)
    options = attrs.evolve(ProbeOptions(), trust=memtls.trust_config(directory, [trusted]))
    return memtls.run_probe(
        memtls.tls_server(context),
        f"tls://127.0.0.1:{memtls.PORT}/",
        options,
        servername="localhost",
    )


def ocsp_findings(result: ProbeResult) -> list[tuple[str, Severity, Side]]:
    """The stapling findings of a result as (id, severity, side)."""
    return [(f.id, f.severity, f.side) for f in result.findings if f.id in OCSP_IDS]


# -- reading staples -----------------------------------------------------------------------


def test_nothing_stapled_reads_as_not_stapled() -> None:
    """Empty staple bytes (the server sent none) are the fact 'not stapled'."""
    assert read_staple(b"") == OCSPFacts(stapled=False)


def test_a_good_staple_is_read_field_by_field(chain: pki.Chain) -> None:
    """Status, times, responder and certificate ID of a good response are kept."""
    now = pki.utcnow()
    data = staple(
        chain.leaf.cert, chain.intermediate, this_update=now - HOUR, next_update=now + DAY
    )
    facts = read_staple(data, chain.leaf.cert)
    assert facts.stapled and facts.error is None
    assert (facts.response_status, facts.cert_status) == ("successful", "good")
    assert (facts.this_update, facts.next_update) == (now - HOUR, now + DAY)
    assert facts.serial_number == chain.leaf.cert.serial_number
    assert facts.responder == "CN = Test Intermediate CA"
    assert facts.hash_algorithm == "sha1"
    assert facts.revocation_time is None and facts.revocation_reason is None
    assert staple_names_leaf(facts, chain.leaf.cert, chain.intermediate.cert) is True


def test_a_revoked_staple_keeps_time_and_reason(chain: pki.Chain) -> None:
    """A revoked status comes with its revocation time and RFC 5280 reason name."""
    when = pki.utcnow() - 2 * DAY
    data = staple(
        chain.leaf.cert,
        chain.intermediate,
        status=ocsp.OCSPCertStatus.REVOKED,
        revoked_at=when,
        reason=x509.ReasonFlags.key_compromise,
    )
    facts = read_staple(data)
    assert (facts.cert_status, facts.revocation_time) == ("revoked", when)
    assert facts.revocation_reason == "keyCompromise"


def test_responder_by_key_is_its_key_hash(chain: pki.Chain) -> None:
    """A responder named by key hash is given as that hash in upper-case hex."""
    facts = read_staple(staple(chain.leaf.cert, chain.intermediate, by_key=True))
    expected = x509.SubjectKeyIdentifier.from_public_key(chain.intermediate.key.public_key())
    assert facts.responder == expected.digest.hex().upper()


def test_an_error_response_has_a_status_and_no_certificate_status() -> None:
    """A responder's error answer is recorded with its status, nothing else."""
    facts = read_staple(unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER))
    assert facts == OCSPFacts(stapled=True, response_status="try_later")


@pytest.mark.parametrize("data", [b"\x00", b"not an OCSP response", UNDEFINED_STATUS])
def test_bytes_that_do_not_parse_are_recorded_with_the_message(data: bytes) -> None:
    """Garbage is a staple with the parser's message, never an exception."""
    facts = read_staple(data)
    assert facts.stapled is True
    assert facts.response_status is None and facts.cert_status is None
    assert isinstance(facts.error, str) and facts.error


_SHA1_OID = bytes.fromhex("06052b0e03021a")  # 1.3.14.3.2.26, the certificate ID's hash
_UNKNOWN_OID = bytes.fromhex("06052b0e03021e")  # 1.3.14.3.2.30: no hash cryptography knows


def test_an_unknown_certificate_id_hash_keeps_the_status(chain: pki.Chain) -> None:
    """A certificate ID hashed with an algorithm cryptography does not know (it raises
    UnsupportedAlgorithm, no ValueError): the status is kept, the ID cannot be compared."""
    data = staple(chain.leaf.cert, chain.intermediate, status=ocsp.OCSPCertStatus.UNKNOWN)
    assert data.count(_SHA1_OID) == 1
    facts = read_staple(data.replace(_SHA1_OID, _UNKNOWN_OID), chain.leaf.cert)
    assert (facts.cert_status, facts.hash_algorithm, facts.error) == ("unknown", None, None)
    assert staple_names_leaf(facts, chain.leaf.cert, chain.intermediate.cert) is None


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few bits flipped or cut short."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(out) - 1))
        out[at] ^= 1 << draw(st.integers(0, 7))
    return bytes(out[: draw(st.integers(1, len(out)))])


_FUZZ_CHAIN = pki.make_chain(prefix="Staple Fuzz")
_FUZZ_STAPLE = staple(
    _FUZZ_CHAIN.leaf.cert,
    _FUZZ_CHAIN.intermediate,
    status=ocsp.OCSPCertStatus.REVOKED,
    revoked_at=pki.utcnow() - DAY,
    reason=x509.ReasonFlags.key_compromise,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged(_FUZZ_STAPLE))
def test_damaged_staples_never_raise(data: bytes) -> None:
    """read_staple keeps its promise on damaged responses: facts, never an exception, and
    the facts serialise."""
    facts = read_staple(data, _FUZZ_CHAIN.leaf.cert)
    assert facts.stapled is True
    staple_names_leaf(facts, _FUZZ_CHAIN.leaf.cert, _FUZZ_CHAIN.intermediate.cert)
    json.dumps(jsonform.ocsp_to_json(facts))


def test_a_staple_for_another_certificate_does_not_name_the_leaf(chain: pki.Chain) -> None:
    """Another serial number from the same CA is told apart, with or without the issuer."""
    other = pki.issue(chain.intermediate, "other.example", sans=("other.example",))
    facts = read_staple(staple(other.cert, chain.intermediate))
    assert staple_names_leaf(facts, chain.leaf.cert, chain.intermediate.cert) is False
    assert staple_names_leaf(facts, chain.leaf.cert, None) is False
    assert staple_names_leaf(facts, other.cert, None) is True


def test_a_staple_from_another_issuer_key_does_not_name_the_leaf(chain: pki.Chain) -> None:
    """Same serial and issuer name but another issuer key: the key hash tells them apart."""
    impostor = pki.make_ca("Test Intermediate CA", parent=chain.root)
    facts = read_staple(staple(chain.leaf.cert, impostor))
    assert staple_names_leaf(facts, chain.leaf.cert, chain.intermediate.cert) is False


def test_must_staple_is_read_from_the_tls_feature_extension(chain: pki.Chain) -> None:
    """Only a certificate with TLS Feature status_request demands a staple."""
    assert must_staple(must_staple_leaf(chain.intermediate).cert) is True
    assert must_staple(chain.leaf.cert) is False


# -- probing servers that staple -------------------------------------------------------------


def test_no_staple_is_recorded_and_is_no_problem(chain: pki.Chain, tmp_path: Path) -> None:
    """Stapling off: the probe asked, the answer 'not stapled' is recorded, no finding."""
    result = probe_stapling(chain.served, chain.leaf.key, chain.root.cert, None, tmp_path)
    assert result.ocsp == OCSPFacts(stapled=False)
    assert result.status is Status.OK
    assert ocsp_findings(result) == []
    assert jsonform.result_to_json(result)["ocsp"] == {
        "stapled": False,
        "response_status": None,
        "cert_status": None,
        "this_update": None,
        "next_update": None,
        "produced_at": None,
        "revocation_time": None,
        "revocation_reason": None,
        "responder": None,
        "serial": None,
        "error": None,
    }


@pytest.mark.parametrize(
    ("max_version", "version"), [(None, "TLSv1.3"), (SSL.TLS1_2_VERSION, "TLSv1.2")]
)
def test_a_good_staple_is_recorded(
    chain: pki.Chain, tmp_path: Path, max_version: int | None, version: str
) -> None:
    """A good staple is read from the handshake (TLS 1.3 and 1.2 alike) and is no problem."""
    now = pki.utcnow()
    data = staple(
        chain.leaf.cert, chain.intermediate, this_update=now - HOUR, next_update=now + DAY
    )
    result = probe_stapling(
        chain.served,
        chain.leaf.key,
        chain.root.cert,
        data,
        tmp_path,
        max_version=max_version,
    )
    assert result.tls is not None and result.tls.version == version
    assert result.ocsp == read_staple(data, chain.leaf.cert)
    assert result.status is Status.OK
    assert ocsp_findings(result) == []
    document = jsonform.result_to_json(result)
    jsonschema.validate(document, jsonform.schema())
    ocsp_json = document["ocsp"]
    assert ocsp_json["stapled"] is True
    assert (ocsp_json["response_status"], ocsp_json["cert_status"]) == ("successful", "good")
    assert ocsp_json["this_update"] == (now - HOUR).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ocsp_json["next_update"] == (now + DAY).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ocsp_json["serial"] == format(chain.leaf.cert.serial_number, "X")


def test_a_revoked_staple_is_the_primary_finding(chain: pki.Chain, tmp_path: Path) -> None:
    """A staple saying 'revoked' gives the revoked finding, naming the staple as the source."""
    data = staple(
        chain.leaf.cert,
        chain.intermediate,
        status=ocsp.OCSPCertStatus.REVOKED,
        revoked_at=pki.utcnow() - 2 * DAY,
        reason=x509.ReasonFlags.superseded,
    )
    result = probe_stapling(chain.served, chain.leaf.key, chain.root.cert, data, tmp_path)
    assert result.status is Status.PROBLEMS
    assert result.ocsp is not None and result.ocsp.cert_status == "revoked"
    primary = result.findings[0]
    assert (primary.id, primary.severity, primary.side) == ("revoked", Severity.ERROR, Side.SERVER)
    assert "OCSP staple" in primary.summary
    assert "superseded" in primary.detail


def test_an_expired_staple_is_a_warning(chain: pki.Chain, tmp_path: Path) -> None:
    """A staple past its next update is a server-side warning."""
    now = pki.utcnow()
    data = staple(
        chain.leaf.cert, chain.intermediate, this_update=now - 3 * DAY, next_update=now - DAY
    )
    result = probe_stapling(chain.served, chain.leaf.key, chain.root.cert, data, tmp_path)
    assert ocsp_findings(result) == [("ocsp_staple_expired", Severity.WARNING, Side.SERVER)]
    assert result.status is Status.PROBLEMS


def test_a_staple_dated_in_the_future_is_a_warning(chain: pki.Chain, tmp_path: Path) -> None:
    """A staple whose this-update lies ahead of our clock points at one of two clocks."""
    now = pki.utcnow()
    data = staple(
        chain.leaf.cert, chain.intermediate, this_update=now + DAY, next_update=now + 3 * DAY
    )
    result = probe_stapling(chain.served, chain.leaf.key, chain.root.cert, data, tmp_path)
    assert ocsp_findings(result) == [("ocsp_staple_not_yet_valid", Severity.WARNING, Side.EITHER)]


def test_must_staple_without_a_staple_is_an_error(chain: pki.Chain, tmp_path: Path) -> None:
    """A must-staple certificate served without a staple is a server-side error."""
    leaf = must_staple_leaf(chain.intermediate)
    served = (leaf.cert, chain.intermediate.cert)
    result = probe_stapling(served, leaf.key, chain.root.cert, None, tmp_path)
    assert result.ocsp == OCSPFacts(stapled=False)
    assert ocsp_findings(result) == [("ocsp_must_staple_missing", Severity.ERROR, Side.SERVER)]
    assert result.findings[0].id == "ocsp_must_staple_missing"
    assert result.status is Status.PROBLEMS


def test_must_staple_with_a_good_staple_is_fine(chain: pki.Chain, tmp_path: Path) -> None:
    """A must-staple certificate with its good staple has nothing to report."""
    leaf = must_staple_leaf(chain.intermediate)
    data = staple(leaf.cert, chain.intermediate)
    served = (leaf.cert, chain.intermediate.cert)
    result = probe_stapling(served, leaf.key, chain.root.cert, data, tmp_path)
    assert result.status is Status.OK
    assert ocsp_findings(result) == []


def test_a_malformed_staple_is_a_finding_not_a_crash(chain: pki.Chain, tmp_path: Path) -> None:
    """A staple no parser accepts is recorded with the parser's message and reported."""
    result = probe_stapling(
        chain.served, chain.leaf.key, chain.root.cert, UNDEFINED_STATUS, tmp_path
    )
    assert result.failure is None
    assert result.ocsp is not None and result.ocsp.stapled and result.ocsp.error
    assert ocsp_findings(result) == [("ocsp_staple_invalid", Severity.WARNING, Side.SERVER)]
    finding = next(f for f in result.findings if f.id == "ocsp_staple_invalid")
    assert result.ocsp.error in finding.summary


def test_a_bad_staple_on_must_staple_is_an_error(chain: pki.Chain, tmp_path: Path) -> None:
    """For a must-staple certificate an unusable staple is as bad as none: an error."""
    leaf = must_staple_leaf(chain.intermediate)
    served = (leaf.cert, chain.intermediate.cert)
    result = probe_stapling(served, leaf.key, chain.root.cert, UNDEFINED_STATUS, tmp_path)
    assert ocsp_findings(result) == [("ocsp_staple_invalid", Severity.ERROR, Side.SERVER)]


def test_an_error_response_is_a_warning(chain: pki.Chain, tmp_path: Path) -> None:
    """A stapled responder error (here 'unauthorized') is a server-side warning."""
    data = unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    result = probe_stapling(chain.served, chain.leaf.key, chain.root.cert, data, tmp_path)
    assert result.ocsp == OCSPFacts(stapled=True, response_status="unauthorized")
    assert ocsp_findings(result) == [("ocsp_staple_unsuccessful", Severity.WARNING, Side.SERVER)]


def test_a_staple_for_another_certificate_is_a_warning(chain: pki.Chain) -> None:
    """A staple about another certificate is reported; its 'revoked' does not count.

    The OpenSSL linked here refuses to staple a response for another certificate,
    so the captured result is built by hand (older servers do staple them).
    """
    other = pki.issue(chain.intermediate, "other.example", sans=("other.example",))
    data = staple(
        other.cert,
        chain.intermediate,
        status=ocsp.OCSPCertStatus.REVOKED,
        revoked_at=pki.utcnow() - DAY,
    )
    result = diagnose(_result(read_staple(data, chain.leaf.cert), chain))
    assert ocsp_findings(result) == [
        ("ocsp_staple_wrong_certificate", Severity.WARNING, Side.SERVER)
    ]
    assert format(other.cert.serial_number, "X") in result.findings[0].summary


def test_an_unknown_status_is_a_warning(chain: pki.Chain, tmp_path: Path) -> None:
    """A responder that does not know the certificate is reported."""
    data = staple(chain.leaf.cert, chain.intermediate, status=ocsp.OCSPCertStatus.UNKNOWN)
    result = probe_stapling(chain.served, chain.leaf.key, chain.root.cert, data, tmp_path)
    assert ocsp_findings(result) == [("ocsp_staple_unknown", Severity.WARNING, Side.SERVER)]


# -- rendering -----------------------------------------------------------------------------


def _result(facts: OCSPFacts | None, chain: pki.Chain) -> ProbeResult:
    target = Target("tls://127.0.0.1:4433/", "tls", "127.0.0.1", 4433, servername="localhost")
    return ProbeResult(target=target, served_chain=chain.served, ocsp=facts)


def test_sclient_prints_no_response_sent_after_connected(chain: pki.Chain) -> None:
    """Without a staple the s_client rendering says so right after CONNECTED."""
    lines = render_sclient(_result(OCSPFacts(stapled=False), chain)).splitlines()
    at = lines.index("CONNECTED")
    assert lines[at + 1] == "OCSP response: no response sent"
    assert not any("OCSP" in line for line in render_sclient(_result(None, chain)).splitlines())


def test_sclient_prints_the_status_of_an_error_response() -> None:
    """An error response shows only its status, framed as s_client frames it."""
    assert ocsp_lines(OCSPFacts(stapled=True, response_status="unauthorized")) == [
        "OCSP response: ",
        "======================================",
        "OCSP Response Data:",
        "    OCSP Response Status: unauthorized (0x6)",
        "======================================",
    ]


def test_text_rendering_has_an_ocsp_line(chain: pki.Chain) -> None:
    """The text rendering states what the staple says, with its dates."""
    now = pki.utcnow()
    data = staple(
        chain.leaf.cert, chain.intermediate, this_update=now - HOUR, next_update=now + DAY
    )
    text = render_text(_result(read_staple(data), chain))
    expected_next = (now + DAY).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "  ocsp: staple says good, this update " in text
    assert f"next update {expected_next}" in text
    assert "  ocsp: no staple" in render_text(_result(OCSPFacts(stapled=False), chain))


# -- against the real openssl s_server -status_file and s_client -status -------------------

OPENSSL = shutil.which("openssl")


def ocsp_block(text: str) -> list[str]:
    """The lines s_client prints about the staple: from ``OCSP response:`` to the closing rule."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("OCSP response:"))
    if lines[start] == "OCSP response: no response sent":
        return [lines[start]]
    end = lines.index("======================================", start + 2)
    return lines[start : end + 1]


@pytest.mark.skipif(OPENSSL is None, reason="no openssl command installed")
@pytest.mark.parametrize("stapled", [True, False])
def test_same_ocsp_lines_as_openssl_s_client(tmp_path: Path, stapled: bool) -> None:
    """Against s_server -status_file, the probe records the staple and prints s_client's lines."""
    assert OPENSSL is not None
    files = servers.write_pki(tmp_path / "pki")
    leaf, intermediate = files.chain.leaf, files.chain.intermediate
    response = staple(
        leaf.cert,
        intermediate,
        status=ocsp.OCSPCertStatus.REVOKED,
        revoked_at=pki.utcnow() - DAY,
        reason=x509.ReasonFlags.key_compromise,
    )
    status_file = tmp_path / "staple.der"
    status_file.write_bytes(response)
    extra = ["-status_file", str(status_file)] if stapled else []
    with servers.s_server(
        tmp_path, files.leaf, files.key, chain=files.intermediate, extra=extra
    ) as server:
        theirs = subprocess.run(
            [
                *(OPENSSL, "s_client", "-connect", f"127.0.0.1:{server.port}", "-status"),
                *("-servername", "localhost", "-CAfile", str(files.root)),
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        as_sclient = servers.run_tlsdiag(
            "probe", server.url(), "--servername", "localhost", "--ca", files.root,
            "--format", "s_client",
        )  # fmt: skip
        as_json = servers.run_tlsdiag(
            "probe", server.url(), "--servername", "localhost", "--ca", files.root,
            "--format", "json",
        )  # fmt: skip
    assert theirs.returncode == 0, theirs.stderr
    their_block = ocsp_block(theirs.stdout)
    # The real s_client saw what the test set up: a broken setup cannot pass as agreement.
    assert (len(their_block) > 1) is stapled
    assert ocsp_block(as_sclient.stdout) == their_block
    document = json.loads(as_json.stdout.splitlines()[0])
    if stapled:
        assert as_json.returncode == 1
        assert document["ocsp"]["cert_status"] == "revoked"
        assert document["findings"][0]["id"] == "revoked"
    else:
        assert as_json.returncode == 0
        assert document["ocsp"]["stapled"] is False
