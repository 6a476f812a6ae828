"""Offline verification: ``diagnostics.verify_chain`` and ``tlsdiag verify``.

Every scenario is also given to the real ``openssl verify`` on the same files:
the codes it reports must be among the events recorded here (``openssl
verify`` stops at some errors where the recording goes on; reason texts differ
between its OpenSSL and the linked one, codes do not).
"""

from __future__ import annotations

import calendar
import datetime
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtensionOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import diagnostics
from diagnostics.cli.main import main
from diagnostics.explain import catalogue
from diagnostics.model import certificates
from diagnostics.model.jsonform import cert_to_json, dumps, schema
from diagnostics.model.result import ProbeResult, Status
from diagnostics.render.text import render_text
from diagnostics.tls import verification
from tests.support import crls, memtls, pki
from tests.support.servers import run_tlsdiag

DAY = datetime.timedelta(days=1)


# -- material --------------------------------------------------------------------------


@attrs.frozen
class PKI:
    """A root, an intermediate and a server leaf, plus an unrelated root."""

    chain: pki.Chain
    other_root: pki.Issued

    @property
    def root(self) -> pki.Issued:
        """The root CA."""
        return self.chain.root

    @property
    def intermediate(self) -> pki.Issued:
        """The intermediate CA."""
        return self.chain.intermediate

    @property
    def leaf(self) -> pki.Issued:
        """The server certificate."""
        return self.chain.leaf


@pytest.fixture(scope="module")
def material() -> PKI:
    """One PKI for the module (keys are made at test time)."""
    return PKI(pki.make_chain(), pki.make_ca("Other Root CA"))


def pem(*certificates: x509.Certificate) -> bytes:
    """Certificates as one PEM bundle."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def crl_pem(*crls: x509.CertificateRevocationList) -> bytes:
    """CRLs as one PEM file."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in crls)


def with_extension(
    issuer: pki.Issued,
    extension: x509.ExtensionType,
    common_name: str = "odd.example",
    key: pki.PrivateKey | None = None,
) -> x509.Certificate:
    """A leaf of ``issuer`` carrying ``extension`` (possibly with raw, invalid contents)."""
    key = key or pki.make_key()
    now = pki.utcnow()
    builder = (
        x509.CertificateBuilder()
        .subject_name(pki.name(common_name))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - DAY)
        .not_valid_after(now + 30 * DAY)
        .add_extension(extension, critical=False)
    )
    return builder.sign(issuer.key, hashes.SHA256())


def unparsable_san(issuer: pki.Issued, key: pki.PrivateKey | None = None) -> x509.Certificate:
    """A leaf whose subjectAltName holds a DNS name that is not an IA5String."""
    raw = x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30\x03\x82\x01\xff")
    return with_extension(issuer, raw, key=key)


@attrs.frozen
class Files:
    """Material written to files, for ``openssl verify`` and ``tlsdiag verify``."""

    cert: Path
    ca: tuple[Path, ...] = ()
    untrusted: tuple[Path, ...] = ()
    crl: tuple[Path, ...] = ()


def write(directory: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to ``directory/name``."""
    path = directory / name
    path.write_bytes(data)
    return path


def openssl_verify(
    files: Files,
    *,
    name: str | None = None,
    at: datetime.datetime | None = None,
    purpose: str = "server",
) -> tuple[bool, set[tuple[int, int]]]:
    """The real ``openssl verify``: whether it said OK, and the (depth, code) errors it printed."""
    command = ["openssl", "verify", "-no-CApath", "-no-CAstore"]
    command += ["-purpose", "sslclient" if purpose == "client" else "sslserver"]
    if files.ca:
        command += ["-CAfile", str(files.ca[0])]
    else:
        command += ["-no-CAfile"]
    # openssl verify reads only the first certificate of its argument: the rest of a
    # bundle is given to it as untrusted, as tlsdiag treats it.
    for path in (files.cert, *files.untrusted):
        command += ["-untrusted", str(path)]
    for path in files.crl:
        command += ["-CRLfile", str(path)]
    if files.crl:
        command += ["-crl_check_all"]
    if name is not None:
        command += ["-verify_ip" if certificates.is_ip_literal(name) else "-verify_hostname", name]
    if at is not None:
        command += ["-attime", str(calendar.timegm(at.utctimetuple()))]
    done = subprocess.run(
        [*command, str(files.cert)], capture_output=True, text=True, timeout=30, check=False
    )
    errors = {
        (int(depth), int(code))
        for code, depth in re.findall(r"error (\d+) at (\d+) depth", done.stdout + done.stderr)
    }
    return done.returncode == 0 and ": OK" in done.stdout, errors


def errors_of(result: ProbeResult) -> set[tuple[int, int]]:
    """The (depth, code) pairs of a result's verify errors."""
    return {(e.depth, e.code) for e in result.verify_errors}


def verify_files(
    files: Files,
    *,
    name: str | None = None,
    at: datetime.datetime | None = None,
    purpose: verification.Purpose = "server",
) -> ProbeResult:
    """``verify_chain`` on the bytes of ``files``, checked against ``openssl verify``."""
    result = diagnostics.verify_chain(
        files.cert.read_bytes(),
        trusted=[p.read_bytes() for p in files.ca],
        untrusted=[p.read_bytes() for p in files.untrusted],
        crls=[p.read_bytes() for p in files.crl],
        name=name,
        at=at,
        purpose=purpose,
        label=files.cert.name,
    )
    ok, theirs = openssl_verify(files, name=name, at=at, purpose=purpose)
    assert ok == (not result.verify_errors), (theirs, errors_of(result))
    assert theirs <= errors_of(result)
    return result


def primary(result: ProbeResult) -> str:
    """The id of the primary finding."""
    return result.findings[0].id


def catalogue_id(code: int) -> str:
    """The catalogue's finding id for a verify code."""
    return catalogue.verify_code(code).finding_id


# -- the verdicts, cross-checked with openssl verify -----------------------------------


def test_good_chain_is_ok(tmp_path: Path, material: PKI) -> None:
    """A bundle of leaf and intermediate verifies against its root: ok, the chain built."""
    files = Files(
        write(tmp_path, "bundle.pem", pem(material.leaf.cert, material.intermediate.cert)),
        ca=(write(tmp_path, "root.pem", pem(material.root.cert)),),
    )
    result = verify_files(files, name="localhost")
    assert result.status is Status.OK
    assert result.verified_chain == material.chain.full
    assert result.served_chain == material.chain.served
    assert result.hostname is not None and result.hostname.matched is True
    assert [e.code for e in result.verify_events] == [0, 0, 0]


def test_intermediate_given_as_untrusted_completes_the_chain(tmp_path: Path, material: PKI) -> None:
    """The leaf alone fails (20, 21); with the intermediate as --untrusted it verifies."""
    root = (write(tmp_path, "root.pem", pem(material.root.cert)),)
    leaf = write(tmp_path, "leaf.pem", pem(material.leaf.cert))
    alone = verify_files(Files(leaf, ca=root))
    assert errors_of(alone) == {(0, 20), (0, 21)}
    assert alone.status is Status.PROBLEMS
    intermediate = (write(tmp_path, "int.pem", pem(material.intermediate.cert)),)
    completed = verify_files(Files(leaf, ca=root, untrusted=intermediate))
    assert completed.status is Status.OK
    assert completed.verified_chain == material.chain.full
    assert completed.served_chain == material.chain.served


def test_untrusted_root(tmp_path: Path, material: PKI) -> None:
    """Trusting another root: error 20 at the intermediate, read as an untrusted root."""
    files = Files(
        write(tmp_path, "bundle.pem", pem(*material.chain.served)),
        ca=(write(tmp_path, "other.pem", pem(material.other_root.cert)),),
    )
    result = verify_files(files)
    assert errors_of(result) == {(1, 20)}
    assert primary(result) == "untrusted_root"
    assert "Test Root CA" in result.findings[0].summary


def test_expired_at_a_given_time(tmp_path: Path, material: PKI) -> None:
    """--at after the leaf's end (but before its CAs'): code 10 at depth 0, finding expired."""
    files = Files(
        write(tmp_path, "bundle.pem", pem(*material.chain.served)),
        ca=(write(tmp_path, "root.pem", pem(material.root.cert)),),
    )
    at = certificates.not_after(material.leaf.cert) + DAY
    result = verify_files(files, at=at)
    assert errors_of(result) == {(0, 10)}
    assert primary(result) == "expired"
    assert (
        certificates.iso_time(certificates.not_after(material.leaf.cert))
        in result.findings[0].summary
    )
    earlier = verify_files(files, at=at - 2 * DAY)
    assert earlier.verify_errors == ()
    assert primary(earlier) == "expiring_soon"  # judged as of --at, not of today


def test_not_yet_valid(tmp_path: Path, material: PKI) -> None:
    """A leaf whose validity starts next week: code 9 at depth 0, finding not_yet_valid."""
    start = pki.utcnow() + 7 * DAY
    leaf = pki.issue(material.intermediate, not_before=start, not_after=start + 30 * DAY)
    files = Files(
        write(tmp_path, "bundle.pem", pem(leaf.cert, material.intermediate.cert)),
        ca=(write(tmp_path, "root.pem", pem(material.root.cert)),),
    )
    result = verify_files(files)
    assert errors_of(result) == {(0, 9)}
    assert primary(result) == "not_yet_valid"


def test_hostname_mismatch(tmp_path: Path, material: PKI) -> None:
    """--name outside the SANs: OpenSSL's code 62 and a hostname_mismatch listing the names."""
    files = Files(
        write(tmp_path, "bundle.pem", pem(*material.chain.served)),
        ca=(write(tmp_path, "root.pem", pem(material.root.cert)),),
    )
    result = verify_files(files, name="www.example.org")
    assert errors_of(result) == {(0, 62)}
    assert primary(result) == "hostname_mismatch"
    assert result.hostname is not None and result.hostname.matched is False
    assert set(result.hostname.names_in_cert) == {"localhost", "127.0.0.1"}
    by_ip = verify_files(files, name="127.0.0.2")
    assert errors_of(by_ip) == {(0, 64)}
    assert verify_files(files, name="127.0.0.1").status is Status.OK


def test_client_purpose_on_a_server_certificate(tmp_path: Path, material: PKI) -> None:
    """A serverAuth-only leaf checked for client use: code 26, finding wrong_eku."""
    files = Files(
        write(tmp_path, "bundle.pem", pem(*material.chain.served)),
        ca=(write(tmp_path, "root.pem", pem(material.root.cert)),),
    )
    result = verify_files(files, purpose="client")
    assert errors_of(result) == {(0, 26)}
    assert primary(result) == "wrong_eku"
    assert "clientAuth" in result.findings[0].summary
    assert verify_files(files, purpose="server").status is Status.OK


# -- revocation ------------------------------------------------------------------------


def crl_files(tmp_path: Path, material: PKI, *crls: x509.CertificateRevocationList) -> Files:
    """The served chain, the root as CA, and ``crls`` each in its own file."""
    return Files(
        write(tmp_path, "bundle.pem", pem(*material.chain.served)),
        ca=(write(tmp_path, "root.pem", pem(material.root.cert)),),
        crl=tuple(write(tmp_path, f"crl{i}.pem", crl_pem(c)) for i, c in enumerate(crls)),
    )


def test_current_crls_for_the_whole_chain_are_ok(tmp_path: Path, material: PKI) -> None:
    """CRLs of both CAs that list nothing: the whole chain is checked and passes."""
    files = crl_files(
        tmp_path, material, crls.make_crl(material.intermediate), crls.make_crl(material.root)
    )
    assert verify_files(files).status is Status.OK


def test_revoked(tmp_path: Path, material: PKI) -> None:
    """The intermediate's CRL lists the leaf: code 23 at depth 0, finding revoked."""
    files = crl_files(
        tmp_path,
        material,
        crls.make_crl(material.intermediate, [(material.leaf.cert, None)]),
        crls.make_crl(material.root),
    )
    result = verify_files(files)
    assert errors_of(result) == {(0, 23)}
    assert primary(result) == "revoked"
    assert "CN = localhost" in result.findings[0].summary


def test_revoked_names_date_reason_and_crl(tmp_path: Path, material: PKI) -> None:
    """The revoked finding carries the entry's revocation date and reason and the CRL's name."""
    revoked_at = pki.utcnow() - 5 * DAY
    listing = crls.make_crl(
        material.intermediate,
        [(material.leaf.cert, x509.ReasonFlags.key_compromise)],
        revoked_at=revoked_at,
    )
    files = crl_files(tmp_path, material, listing, crls.make_crl(material.root))
    result = diagnostics.verify_chain(
        files.cert.read_bytes(),
        trusted=files.ca[0].read_bytes(),
        crls=[p.read_bytes() for p in files.crl],
        crl_names=[p.name for p in files.crl],
    )
    finding = result.findings[0]
    assert finding.id == "revoked"
    assert f"on {certificates.iso_time(revoked_at)} (reason: keyCompromise)" in finding.summary
    assert format(material.leaf.cert.serial_number, "X") in finding.detail
    assert f"from {files.crl[0].name}" in finding.detail
    unnamed = diagnostics.verify_chain(
        material.leaf.cert,
        trusted=material.root.cert,
        untrusted=material.intermediate.cert,
        crls=[listing, crls.make_crl(material.root)],
    )
    assert "from CRL input 1" in unnamed.findings[0].detail


def test_crl_missing_for_one_issuer(tmp_path: Path, material: PKI) -> None:
    """Only the root's CRL given: the leaf's issuer has none, code 3 at depth 0."""
    result = verify_files(crl_files(tmp_path, material, crls.make_crl(material.root)))
    assert errors_of(result) == {(0, 3)}
    assert primary(result) == "crl_unavailable"
    assert "Test Intermediate CA" in result.findings[0].summary


def test_crl_expired(tmp_path: Path, material: PKI) -> None:
    """The intermediate's CRL is past its next update: code 12."""
    stale = crls.make_crl(
        material.intermediate,
        this_update=pki.utcnow() - 10 * DAY,
        next_update=pki.utcnow() - 3 * DAY,
    )
    result = verify_files(crl_files(tmp_path, material, stale, crls.make_crl(material.root)))
    assert errors_of(result) == {(0, 12)}
    assert primary(result) == catalogue_id(12)


def test_crl_not_yet_valid(tmp_path: Path, material: PKI) -> None:
    """The intermediate's CRL was issued in the future: code 11."""
    early = crls.make_crl(material.intermediate, this_update=pki.utcnow() + 2 * DAY)
    result = verify_files(crl_files(tmp_path, material, early, crls.make_crl(material.root)))
    assert errors_of(result) == {(0, 11)}
    assert primary(result) == catalogue_id(11)


def test_crl_signed_by_the_wrong_key(tmp_path: Path, material: PKI) -> None:
    """A CRL in the intermediate's name signed with another key: code 8."""
    forged = crls.make_crl(material.intermediate, signed_by=pki.make_key())
    result = verify_files(crl_files(tmp_path, material, forged, crls.make_crl(material.root)))
    assert (0, 8) in errors_of(result)
    assert primary(result) == catalogue_id(8)


def test_crl_with_unhandled_critical_extension(tmp_path: Path, material: PKI) -> None:
    """A CRL with an unknown critical extension: code 36, OpenSSL's own reason text."""
    odd = crls.make_crl(material.intermediate, critical_extension=True)
    result = verify_files(crl_files(tmp_path, material, odd, crls.make_crl(material.root)))
    assert errors_of(result) == {(0, 36)}
    assert result.verify_errors[0].reason == "unhandled critical CRL extension"
    assert primary(result) == catalogue_id(36)


def test_crl_objects_and_certificate_objects_are_accepted(material: PKI) -> None:
    """The API takes cryptography objects as well as bytes."""
    result = diagnostics.verify_chain(
        material.leaf.cert,
        trusted=material.root.cert,
        untrusted=[material.intermediate.cert],
        crls=[
            crls.make_crl(material.intermediate, [(material.leaf.cert, None)]),
            crls.make_crl(material.root),
        ],
    )
    assert errors_of(result) == {(0, 23)}


# -- input that is not what it should be ---------------------------------------------------


def ids(result: ProbeResult) -> list[str]:
    """The finding ids of a result, in order."""
    return [f.id for f in result.findings]


def test_empty_input_is_a_finding(material: PKI) -> None:
    """No bytes at all: malformed_certificate, nothing verified, no exception."""
    result = diagnostics.verify_chain(b"", trusted=material.root.cert)
    assert ids(result) == ["malformed_certificate"]
    assert "no certificate" in result.findings[0].summary
    assert result.status is Status.PROBLEMS
    assert result.verify_events == ()


def test_damaged_pem_block_names_the_parser_message(material: PKI) -> None:
    """A PEM block whose DER is cut short: the parser's own message, the good ones still used."""
    text = pem(material.leaf.cert) + pem(material.intermediate.cert).replace(b"MII", b"MIA", 1)
    result = diagnostics.verify_chain(text, trusted=material.root.cert)
    assert ids(result)[0] in {"malformed_certificate", "unknown_issuer"}
    malformed = [f for f in result.findings if f.id == "malformed_certificate"]
    assert len(malformed) == 1
    assert "PEM certificate 2" in malformed[0].summary
    assert result.served_chain == (material.leaf.cert,)


def test_unparsable_crl_is_a_finding_and_checking_stays_on(material: PKI) -> None:
    """A CRL that does not parse: malformed_crl; its issuer then has no CRL (code 3), and the
    crl_unavailable finding names the input that could not be loaded and why."""
    result = diagnostics.verify_chain(
        pem(*material.chain.served),
        trusted=material.root.cert,
        crls=[b"<html>not found</html>"],
        crl_names=["partner.crl"],
    )
    assert "malformed_crl" in ids(result)
    assert (0, 3) in errors_of(result)
    unavailable = next(f for f in result.findings if f.id == "crl_unavailable")
    assert "could not be loaded: partner.crl: DER CRL 1: " in unavailable.detail


def test_wrong_python_types_are_findings(material: PKI) -> None:
    """Objects that are neither bytes nor certificates are reported, not raised."""
    result = diagnostics.verify_chain(
        [42],  # type: ignore[list-item]
        trusted=material.root.cert,
        crls=["not a crl"],  # type: ignore[list-item]
    )
    assert set(ids(result)) == {"malformed_certificate", "malformed_crl"}


def test_unparsable_san_is_a_finding(material: PKI) -> None:
    """A SAN cryptography refuses: malformed_certificate with its message; OpenSSL's view too."""
    leaf = unparsable_san(material.intermediate)
    result = diagnostics.verify_chain(
        [leaf, material.intermediate.cert], trusted=material.root.cert
    )
    malformed = [f for f in result.findings if f.id == "malformed_certificate"]
    assert len(malformed) == 1
    assert "error parsing asn1 value" in malformed[0].summary
    named = diagnostics.verify_chain(
        [leaf, material.intermediate.cert], trusted=material.root.cert, name="odd.example"
    )
    assert named.hostname is not None and named.hostname.matched is None
    assert [f.id for f in named.findings].count("malformed_certificate") == 1
    json.loads(dumps(named))
    render_text(named)


def test_invalid_version_is_a_malformed_certificate(material: PKI) -> None:
    """A version cryptography refuses with InvalidVersion (no ValueError) is an ordinary
    malformed_certificate finding with the parser's message, not an internal error."""
    der = bytearray(material.leaf.cert.public_bytes(serialization.Encoding.DER))
    at = der.index(bytes.fromhex("a003020102"))  # [0] EXPLICIT INTEGER 2 (v3)
    der[at + 4] = 10
    result = diagnostics.verify_chain(bytes(der), trusted=material.root.cert)
    assert ids(result) == ["malformed_certificate"]
    assert "10 is not a valid X509 version" in result.findings[0].summary


@pytest.mark.parametrize("name", [None, "localhost"])
def test_duplicate_extension_is_a_malformed_certificate(material: PKI, name: str | None) -> None:
    """An extension given twice (cryptography's DuplicateExtension, no ValueError) is a
    malformed_certificate finding with the parser's message, with or without a name check."""
    der = bytearray(material.leaf.cert.public_bytes(serialization.Encoding.DER))
    san = der.index(bytes.fromhex("0603551d11"))  # the subjectAltName OID ...
    der[san + 4] = 0x25  # ... renamed to extendedKeyUsage, which the leaf also has
    result = diagnostics.verify_chain(
        [bytes(der), material.intermediate.cert], trusted=material.root.cert, name=name
    )
    assert "internal_error" not in ids(result)
    malformed = [f for f in result.findings if f.id == "malformed_certificate"]
    assert len(malformed) == 1
    assert "Duplicate 2.5.29.37 extension found" in malformed[0].summary


def test_issuer_name_that_does_not_parse_is_a_malformed_certificate(material: PKI) -> None:
    """An issuer name cryptography refuses only when first read (parsing is lazy) is a
    malformed_certificate finding naming the issuer field, not an internal error."""
    der = bytearray(material.leaf.cert.public_bytes(serialization.Encoding.DER))
    issuer_cn = der.index(bytes.fromhex("0603550403")) + 5  # the issuer's CN value comes first
    assert der[issuer_cn] == 0x0C  # UTF8String ...
    der[issuer_cn] = 0x0D  # ... becomes a RELATIVE-OID, no string type at all
    result = diagnostics.verify_chain(
        bytes(der), trusted=material.root.cert, untrusted=material.intermediate.cert
    )
    assert ids(result) == ["malformed_certificate"]
    assert "issuer" in result.findings[0].summary


def test_invalid_name_is_a_configuration_finding(material: PKI) -> None:
    """A --name that is no host name: configuration_error, and no host-name check."""
    result = diagnostics.verify_chain(
        pem(*material.chain.served), trusted=material.root.cert, name="no spaces allowed"
    )
    assert ids(result) == ["configuration_error"]
    assert result.hostname is None


def test_fallback_reports_the_first_error(monkeypatch: pytest.MonkeyPatch, material: PKI) -> None:
    """When the recording route sees nothing, X509StoreContext still gives OpenSSL's verdict."""

    def nothing(request: Any) -> Any:
        return verification._Verdict((), ())

    monkeypatch.setattr(verification, "_verify_in_handshake", nothing)
    failed = diagnostics.verify_chain(material.leaf.cert, trusted=material.root.cert)
    assert errors_of(failed) == {(0, 20)}
    good = diagnostics.verify_chain(pem(*material.chain.served), trusted=material.root.cert)
    assert good.status is Status.OK
    assert good.verified_chain == material.chain.full


def test_large_untrusted_bundle_keeps_only_possible_issuers(material: PKI) -> None:
    """Unrelated certificates beyond OpenSSL's message limit do not stop the verification."""
    unrelated = [pki.make_ca(f"Unrelated CA {i}", key_type="rsa").cert for i in range(3)] * 70
    result = diagnostics.verify_chain(
        material.leaf.cert,
        trusted=material.root.cert,
        untrusted=[*unrelated, material.intermediate.cert],
    )
    assert result.verified_chain == material.chain.full
    assert not result.verify_errors


# -- property: nothing escapes ----------------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with bit flips, a truncation or inserted bytes."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        if not out:
            break
        at = draw(st.integers(0, len(out) - 1))
        if kind == "flip":
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del out[at:]
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del out[at : at + draw(st.integers(1, 8))]
    return bytes(out)


_PROPERTY_PKI = pki.make_chain(prefix="Fuzz")
_FUZZ_DER = _PROPERTY_PKI.leaf.cert.public_bytes(serialization.Encoding.DER)
_FUZZ_PEM = pem(*_PROPERTY_PKI.served)
_FUZZ_CRL = crls.make_crl(
    _PROPERTY_PKI.intermediate, [(_PROPERTY_PKI.leaf.cert, None)]
).public_bytes(serialization.Encoding.DER)


def never_raises(leaf: bytes, crl: bytes | None = None) -> None:
    """Verify, serialise and render; every step must succeed, and no step may have failed
    inside (``verify_chain`` and the diagnosis turn an exception into ``internal_error``)."""
    result = diagnostics.verify_chain(
        leaf,
        trusted=_PROPERTY_PKI.root.cert,
        untrusted=[_PROPERTY_PKI.intermediate.cert],
        crls=[crl] if crl is not None else (),
        name="localhost",
    )
    loaded = json.loads(dumps(result))
    assert loaded["status"] in {"ok", "problems"}
    internal = [f.summary for f in result.findings if f.id == "internal_error"]
    assert internal == []
    render_text(result)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(_FUZZ_DER))
def test_mutated_der_never_raises(data: bytes) -> None:
    """Damaged DER certificates never raise; the result always serialises."""
    never_raises(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(_FUZZ_PEM))
def test_mutated_pem_never_raises(data: bytes) -> None:
    """Damaged PEM bundles never raise; the result always serialises."""
    never_raises(data)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(_FUZZ_CRL))
def test_mutated_crl_never_raises(data: bytes) -> None:
    """Damaged CRLs never raise; the result always serialises."""
    never_raises(_FUZZ_PEM, data)


# -- the command line ---------------------------------------------------------------------------


def cli(*args: str | Path) -> tuple[int, str]:
    """``tlsdiag ARGS`` in this process: the exit code and the output."""
    out = io.StringIO()
    code = main([str(a) for a in args], out=out)
    return code, out.getvalue()


def test_cli_exit_codes_and_json_shape(tmp_path: Path, material: PKI) -> None:
    """ok is 0 and problems 1; the JSON follows the result schema with scheme 'file'."""
    bundle = write(tmp_path, "bundle.pem", pem(*material.chain.served))
    root = write(tmp_path, "root.pem", pem(material.root.cert))
    code, output = cli("verify", bundle, "--ca", root, "--name", "localhost", "--format", "json")
    assert code == 0
    good = json.loads(output)
    jsonschema.validate(good, schema())
    assert good["status"] == "ok"
    assert good["tls"] is None
    assert good["target"] == {
        "url": str(bundle),
        "scheme": "file",
        "host": "localhost",
        "port": 0,
        "servername": "localhost",
    }
    assert [c["subject"] for c in good["served_chain"]] == [
        "CN = localhost",
        "CN = Test Intermediate CA",
    ]
    assert len(good["verified_chain"]) == 3
    other = write(tmp_path, "other.pem", pem(material.other_root.cert))
    code, output = cli("verify", bundle, "--ca", other, "--format", "json")
    assert code == 1
    bad = json.loads(output)
    jsonschema.validate(bad, schema())
    assert bad["verify_errors"][0]["code"] == 20
    assert bad["findings"][0]["id"] == "untrusted_root"


def test_cli_text_output(tmp_path: Path, material: PKI) -> None:
    """The text form has the verdict, the given and verified chains, and no TLS line."""
    bundle = write(tmp_path, "bundle.pem", pem(*material.chain.served))
    root = write(tmp_path, "root.pem", pem(material.root.cert))
    at = (certificates.not_after(material.leaf.cert) + DAY).strftime("%Y-%m-%dT%H:%M:%SZ")
    code, output = cli("verify", bundle, "--ca", root, "--at", at, "--format", "text")
    assert code == 1
    lines = output.splitlines()
    assert lines[0].startswith(f"PROBLEMS {bundle}: The certificate")
    assert "  chain given (2):" in lines
    assert not any(line.startswith("  tls:") for line in lines)
    assert any("num=10" in line for line in lines)
    code, output = cli("verify", bundle, "--ca", root, "--format", "text")
    assert (code, output.splitlines()[0]) == (0, f"OK {bundle}: certificate verified")


def test_cli_crl_and_purpose(tmp_path: Path, material: PKI) -> None:
    """--crl and --purpose reach the verification."""
    files = crl_files(
        tmp_path,
        material,
        crls.make_crl(material.intermediate, [(material.leaf.cert, None)]),
        crls.make_crl(material.root),
    )
    crl_args = [a for path in files.crl for a in ("--crl", str(path))]
    code, output = cli("verify", files.cert, "--ca", files.ca[0], *crl_args, "--format", "json")
    revoked = json.loads(output)["findings"][0]
    assert (code, revoked["id"]) == (1, "revoked")
    assert "(no reason given)" in revoked["summary"]
    assert f"from {files.crl[0]} (issued" in revoked["detail"]
    code, output = cli("verify", files.cert, "--ca", files.ca[0], "--purpose", "client")
    assert (code, json.loads(output)["verify_errors"][0]["code"]) == (1, 26)


@pytest.mark.parametrize(
    ("content", "arguments", "message"),
    [
        (b"just some text\n", (), "does not hold certificates"),
        (b"", (), "it is empty"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", (), "no PEM block"),
        (None, ("--at", "next tuesday"), "not an ISO 8601 time"),
        (None, ("--name", "bad name!"), "--name"),
        (None, ("--crl", "MISSING"), "cannot be read"),
        (None, ("--crl", "TEXT"), "does not hold a CRL"),
    ],
)
def test_cli_usage_errors(
    tmp_path: Path,
    material: PKI,
    capsys: pytest.CaptureFixture[str],
    content: bytes | None,
    arguments: tuple[str, ...],
    message: str,
) -> None:
    """Files that are no certificates (or CRLs) at all and bad options: exit 2 with a reason."""
    cert = write(tmp_path, "input.pem", pem(material.leaf.cert) if content is None else content)
    text = write(tmp_path, "text.txt", b"hello\n")
    resolved = [
        str(tmp_path / "missing") if a == "MISSING" else str(text) if a == "TEXT" else a
        for a in arguments
    ]
    code, output = cli("verify", cert, *resolved)
    assert code == 2
    assert output == ""
    assert message in capsys.readouterr().err


def test_cli_files_over_the_size_bound_are_usage_errors(
    tmp_path: Path,
    material: PKI,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A certificate or CRL file past MAX_FILE_BYTES is not read to its end: exit 2."""
    from diagnostics.cli import verify as verify_command

    cert = write(tmp_path, "leaf.pem", pem(material.leaf.cert))
    bound = len(cert.read_bytes())
    crl = write(tmp_path, "big.crl", crl_pem(crls.make_crl(material.intermediate)) + b"\n" * bound)
    monkeypatch.setattr(verify_command, "MAX_FILE_BYTES", bound)
    assert cli("verify", cert)[0] == 1  # at the bound: read and verified (untrusted)
    assert cli("verify", cert, "--crl", crl)[0] == 2
    assert "--crl '" in capsys.readouterr().err
    cert.write_bytes(cert.read_bytes() + b"\n")
    assert cli("verify", cert) == (2, "")
    assert "is larger than" in capsys.readouterr().err


def test_cli_broken_certificate_is_a_result(tmp_path: Path, material: PKI) -> None:
    """A PEM certificate block with broken contents is a result (exit 1), not a usage error."""
    cert = write(
        tmp_path, "broken.pem", b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    )
    code, output = cli("verify", cert, "--format", "json")
    assert code == 1
    assert json.loads(output)["findings"][0]["id"] == "malformed_certificate"


def test_verify_runs_as_a_command(tmp_path: Path, material: PKI) -> None:
    """``python -m diagnostics verify`` is registered and exits like the in-process call."""
    bundle = write(tmp_path, "bundle.pem", pem(*material.chain.served))
    root = write(tmp_path, "root.pem", pem(material.root.cert))
    run = run_tlsdiag("verify", bundle, "--ca", root, "--format", "json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["status"] == "ok"


# -- the probe path with the same garbage -------------------------------------------------------


def test_probe_survives_a_served_certificate_with_an_unparsable_san(
    tmp_path: Path, material: PKI
) -> None:
    """A server whose leaf has a SAN cryptography refuses: a finding, JSON, text, no crash."""
    key = pki.make_key()
    leaf = unparsable_san(material.intermediate, key)
    result = memtls.handshake(
        [leaf, material.intermediate.cert], key, directory=tmp_path, trust=[material.root.cert]
    )
    assert result.failure is None
    assert result.hostname is not None and result.hostname.error is not None
    assert "malformed_certificate" in ids(result)
    assert not any(f.id == "internal_error" for f in result.findings)
    loaded = json.loads(dumps(result))
    assert loaded["served_chain"][0]["san_dns"] == []
    render_text(result)
    assert cert_to_json(leaf)["subject"] == "CN = odd.example"


def test_verification_does_not_load_twisted() -> None:
    """Offline verification is pure: importing and running it loads no Twisted module."""
    code = (
        "import sys\n"
        "from diagnostics import verify_chain\n"
        "from tests.support import pki\n"
        "chain = pki.make_chain()\n"
        "verify_chain(list(chain.served), trusted=chain.root.cert, name='localhost')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'twisted'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
