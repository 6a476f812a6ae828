"""Chain-file inspection: bundles built with known flaws, read back and judged.

Every file is written at test time from freshly generated keys; the ``openssl`` command
serves as an independent reader of the same files where it can.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagnostics.cli.common import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from diagnostics.cli.main import main
from diagnostics.model.result import Severity, Status
from diagnostics.pki import inspection
from diagnostics.pki.inspection import FileFormat, Inspection, InspectionError, inspect_bytes
from diagnostics.render.inspection import render_inspection
from tests.support import pki

NOW = pki.utcnow()
DAY = datetime.timedelta(days=1)


@pytest.fixture(scope="module")
def chain() -> pki.Chain:
    return pki.make_chain()


def pem(certs: Sequence[x509.Certificate]) -> bytes:
    """Certificates as one PEM bundle, in the order given."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def key_pem(key: pki.PrivateKey, password: bytes | None = None) -> bytes:
    """A private key as PKCS#8 PEM, encrypted when a password is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def ids(result: Inspection) -> list[str]:
    return sorted(f.id for f in result.findings)


def only(result: Inspection, id: str) -> Any:
    matching = [f for f in result.findings if f.id == id]
    assert len(matching) == 1, result.findings
    return matching[0]


def run_cli(*argv: str) -> tuple[int, str]:
    """``tlsdiag ARGV`` in this process: exit code and standard output."""
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


# -- chains -----------------------------------------------------------------------------


def test_correct_bundle_is_clean(chain: pki.Chain) -> None:
    """Leaf then intermediate: linked #1 → #2, in order, nothing to fix."""
    result = inspect_bytes(pem(chain.served), now=NOW)
    assert result.format is FileFormat.PEM
    assert result.status is Status.OK
    assert result.findings == ()
    assert result.chain == (1, 2)
    assert result.in_order
    assert [(e.number, e.issued_by, e.duplicate_of) for e in result.entries] == [
        (1, (2,), None),
        (2, (), None),
    ]
    leaf = result.entries[0]
    assert leaf.certificate == chain.leaf.cert
    assert not leaf.self_signed


def test_full_chain_names_the_root(chain: pki.Chain) -> None:
    """Leaf, intermediate, root: in order; the root is self-signed and reported as info only."""
    result = inspect_bytes(pem(chain.full), now=NOW)
    assert result.status is Status.OK
    assert [(f.id, f.severity) for f in result.findings] == [("root_sent", Severity.INFO)]
    assert result.entries[2].self_signed
    assert [e.issued_by for e in result.entries] == [(2,), (3,), ()]


def test_reversed_bundle(chain: pki.Chain) -> None:
    """Root first, leaf last: chain_order spelling out leaf → intermediate → root."""
    result = inspect_bytes(pem(list(reversed(chain.full))), now=NOW)
    assert result.chain == (3, 2, 1)
    assert not result.in_order
    assert ids(result) == ["chain_order", "root_sent"]
    order = only(result, "chain_order")
    assert order.severity is Severity.WARNING
    expected = "'CN = localhost' → 'CN = Test Intermediate CA' → 'CN = Test Root CA'"
    assert expected in order.summary
    assert order.remedy


def test_leaf_and_root_without_intermediate(chain: pki.Chain) -> None:
    """The missing link is named (the leaf's issuer), and the stray root is unrelated."""
    result = inspect_bytes(pem([chain.leaf.cert, chain.root.cert]), now=NOW)
    assert result.status is Status.PROBLEMS
    assert result.chain == (1,)
    assert ids(result) == ["missing_intermediate", "unrelated_certificate"]
    missing = only(result, "missing_intermediate")
    assert "CN = Test Intermediate CA" in missing.summary
    assert "#2" in missing.detail  # the root the intermediate would link to
    assert "Test Intermediate CA" in missing.remedy


def test_leaf_alone_names_its_aia_url() -> None:
    """A lone leaf is incomplete; the remedy says where its issuer is published."""
    root = pki.make_ca("Root")
    intermediate = pki.make_ca("Issuing CA", parent=root)
    leaf = pki.issue(intermediate, ca_issuers=["http://pki.example/issuing.cer"])
    result = inspect_bytes(pem([leaf.cert]), now=NOW)
    missing = only(result, "missing_intermediate")
    assert "http://pki.example/issuing.cer" in missing.remedy


def test_intermediate_without_root_is_complete(chain: pki.Chain) -> None:
    """A chain file normally stops below the root: no missing link is reported."""
    result = inspect_bytes(pem(chain.served), now=NOW)
    assert "missing_intermediate" not in ids(result)


def test_duplicated_intermediate(chain: pki.Chain) -> None:
    """The second copy is marked as a duplicate of the first and reported once."""
    result = inspect_bytes(pem([*chain.served, chain.intermediate.cert]), now=NOW)
    assert ids(result) == ["duplicate_certificate"]
    assert [e.duplicate_of for e in result.entries] == [None, None, 2]
    assert "position 3 of 3" in only(result, "duplicate_certificate").summary


def test_unrelated_certificate(chain: pki.Chain) -> None:
    """An intermediate of another PKI in the bundle is named as unrelated."""
    other = pki.make_chain(prefix="Other")
    result = inspect_bytes(pem([*chain.served, other.intermediate.cert]), now=NOW)
    assert ids(result) == ["unrelated_certificate"]
    unrelated = only(result, "unrelated_certificate")
    assert "CN = Other Intermediate CA" in unrelated.summary
    assert result.entries[2].issued_by == ()


def test_ca_bundle_is_not_a_chain() -> None:
    """A file of unrelated roots (a trust bundle) is not judged as a served chain."""
    roots = [pki.make_ca(f"Root {n}").cert for n in range(3)]
    result = inspect_bytes(pem(roots), now=NOW)
    assert result.status is Status.OK
    assert result.findings == ()
    assert result.chain == ()


def test_expired_and_not_yet_valid_entries(chain: pki.Chain) -> None:
    """Each certificate is judged on its own dates: expired is an error, future a warning."""
    old = pki.issue(chain.intermediate, not_before=NOW - 400 * DAY, not_after=NOW - 2 * DAY)
    result = inspect_bytes(pem([old.cert, chain.intermediate.cert]), now=NOW)
    assert ids(result) == ["expired"]
    assert only(result, "expired").severity is Severity.ERROR
    later = pki.issue(chain.intermediate, not_before=NOW + 2 * DAY)
    result = inspect_bytes(pem([later.cert, chain.intermediate.cert]), now=NOW)
    assert ids(result) == ["not_yet_valid"]


def test_expiring_soon_and_weak_key(chain: pki.Chain) -> None:
    """Chain lint rules reach file inspection: a leaf ending in 3 days, an RSA-1024 key."""
    soon = pki.issue(chain.intermediate, key_type="rsa", key_size=1024, not_after=NOW + 3 * DAY)
    result = inspect_bytes(pem([soon.cert, chain.intermediate.cert]), now=NOW)
    assert ids(result) == ["expiring_soon", "weak_key"]
    assert only(result, "expiring_soon").severity is Severity.ERROR


# -- private keys -----------------------------------------------------------------------


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_key_matching_the_leaf(key_type: pki.KeyType) -> None:
    """The leaf's own key (before, between or after the certificates) matches #1."""
    chain = pki.make_chain(key_type=key_type)
    data = pem([chain.leaf.cert]) + key_pem(chain.leaf.key) + pem([chain.intermediate.cert])
    result = inspect_bytes(data, now=NOW)
    assert result.status is Status.OK
    assert ids(result) == ["private_key_present"]
    (key,) = result.keys
    assert (key.matches, key.problem, key.encrypted) == (1, None, False)
    assert key.key_type == ("rsaEncryption" if key_type == "rsa" else "id-ecPublicKey")
    assert key.key_bits == (2048 if key_type == "rsa" else 256)


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_key_not_matching_the_leaf(chain: pki.Chain, key_type: pki.KeyType) -> None:
    """A key of another pair is key_mismatch, an error with a remedy."""
    stranger = pki.make_key(key_type)
    result = inspect_bytes(key_pem(stranger) + pem(chain.served), now=NOW)
    assert result.status is Status.PROBLEMS
    assert ids(result) == ["key_mismatch"]
    mismatch = only(result, "key_mismatch")
    assert mismatch.severity is Severity.ERROR
    assert "CN = localhost" in mismatch.summary
    assert mismatch.remedy
    assert result.keys[0].matches is None


def test_key_of_the_intermediate_is_named(chain: pki.Chain) -> None:
    """A key that belongs to another certificate of the file says which one."""
    result = inspect_bytes(pem(chain.served) + key_pem(chain.intermediate.key), now=NOW)
    assert result.keys[0].matches == 2
    assert "#2 'CN = Test Intermediate CA'" in only(result, "key_mismatch").summary


def test_encrypted_key_with_and_without_password(chain: pki.Chain) -> None:
    """An encrypted key is checked with its password, and explained without one."""
    data = pem(chain.served) + key_pem(chain.leaf.key, b"s3cret")
    locked = inspect_bytes(data, now=NOW)
    assert ids(locked) == ["private_key_unreadable"]
    assert "--password-env" in only(locked, "private_key_unreadable").remedy
    opened = inspect_bytes(data, password=b"s3cret", now=NOW)
    assert (opened.keys[0].matches, opened.keys[0].encrypted) == (1, True)
    assert ids(opened) == ["private_key_present"]
    wrong = inspect_bytes(data, password=b"nope", now=NOW)
    assert "password" in (wrong.keys[0].problem or "")


# -- formats ----------------------------------------------------------------------------


def p12(chain: pki.Chain, password: bytes | None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(
        b"server", chain.leaf.key, chain.leaf.cert, [chain.intermediate.cert], encryption
    )


def test_pkcs12_with_the_right_password(chain: pki.Chain) -> None:
    """Certificate, extra certificates and key come out of the PKCS#12 file, linked."""
    result = inspect_bytes(p12(chain, b"pw"), password=b"pw", now=NOW)
    assert result.format is FileFormat.PKCS12
    assert [e.certificate for e in result.entries] == list(chain.served)
    assert result.chain == (1, 2)
    assert result.keys[0].matches == 1
    assert result.status is Status.OK


def test_pkcs12_without_a_password_needs_none(chain: pki.Chain) -> None:
    """An unprotected PKCS#12 file opens with or without a password given."""
    assert inspect_bytes(p12(chain, None), now=NOW).keys[0].matches == 1
    assert inspect_bytes(p12(chain, None), password=b"x", now=NOW).keys[0].matches == 1


def test_pkcs12_wrong_or_missing_password(chain: pki.Chain) -> None:
    """A protected file without its password is a clear message, not a traceback."""
    data = p12(chain, b"pw")
    with pytest.raises(InspectionError, match="--password-env"):
        inspect_bytes(data, now=NOW)
    with pytest.raises(InspectionError, match="password given does not open"):
        inspect_bytes(data, password=b"wrong", now=NOW)


def test_der_single_certificate(chain: pki.Chain) -> None:
    """A DER root is read as one self-signed CA certificate, fingerprints included."""
    der = chain.root.cert.public_bytes(serialization.Encoding.DER)
    result = inspect_bytes(der, now=NOW)
    assert result.format is FileFormat.DER
    assert result.status is Status.OK
    (entry,) = result.entries
    assert entry.self_signed
    cert_json = result.to_json()["certificates"][0]
    assert cert_json["sha256"] == chain.root.cert.fingerprint(hashes.SHA256()).hex().upper()
    assert cert_json["sha1"] == chain.root.cert.fingerprint(hashes.SHA1()).hex().upper()


def test_der_private_key(chain: pki.Chain) -> None:
    """A DER private key alone is recognised, its kind reported."""
    der = chain.leaf.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    result = inspect_bytes(der, now=NOW)
    assert (result.format, result.entries) == (FileFormat.DER, ())
    assert result.keys[0].key_type == "id-ecPublicKey"


@pytest.mark.parametrize(
    "data",
    [b"", b"\n\n", b"hello, world\n", b"\x30\x03\x02\x01\x05", b"\x00\x01garbage"],
    ids=["empty", "blank", "text", "der-junk", "binary"],
)
def test_garbage_is_unreadable(data: bytes) -> None:
    """Nothing recognisable: InspectionError, whatever the bytes."""
    with pytest.raises(InspectionError):
        inspect_bytes(data, now=NOW)


def test_pem_without_certificate_or_key() -> None:
    """A PEM file of other blocks only (a CSR) says what it holds."""
    data = b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
    with pytest.raises(InspectionError, match="CERTIFICATE REQUEST"):
        inspect_bytes(data, now=NOW)


def test_truncated_block(chain: pki.Chain) -> None:
    """A bundle cut inside its last block: the good ones are read, the cut one reported."""
    data = pem(chain.full)
    cut = data[: data.rindex(b"-----END")]
    result = inspect_bytes(cut, now=NOW)
    assert len(result.entries) == 2
    bad = only(result, "malformed_certificate")
    assert bad.severity is Severity.ERROR
    begin_line = data[: data.rindex(b"-----BEGIN")].count(b"\n") + 1
    assert f"line {begin_line} " in bad.summary and "cut short" in bad.summary


def test_block_with_damaged_contents(chain: pki.Chain) -> None:
    """Damaged base64 and a non-certificate body each carry the parser's message."""
    good = pem([chain.leaf.cert]).decode()
    lines = good.splitlines()
    lines[3] = "!!!!" + lines[3][4:]
    bad_base64 = "\n".join(lines) + "\n"
    not_a_cert = "-----BEGIN CERTIFICATE-----\nMAMCAQU=\n-----END CERTIFICATE-----\n"
    result = inspect_bytes((bad_base64 + not_a_cert).encode(), now=NOW)
    messages = [f.summary for f in result.findings if f.id == "malformed_certificate"]
    assert len(messages) == 2
    assert "base64" in messages[0]
    assert "line" in messages[1] and "asn1" in messages[1].lower()


def bad_version(cert: x509.Certificate) -> bytes:
    """``cert``'s DER with the version field set to 10 (cryptography raises InvalidVersion,
    which is no ValueError; OpenSSL reads it)."""
    der = bytearray(cert.public_bytes(serialization.Encoding.DER))
    at = der.index(bytes.fromhex("a003020102"))  # [0] EXPLICIT INTEGER 2 (v3)
    der[at + 4] = 10
    return bytes(der)


def test_certificate_with_an_invalid_version(chain: pki.Chain, tmp_path: Path) -> None:
    """An invalid X.509 version is a malformed certificate (PEM) or an unreadable file (DER,
    PKCS#12), never a traceback."""
    der = bad_version(chain.leaf.cert)
    block = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der)
    block += b"-----END CERTIFICATE-----\n"
    result = inspect_bytes(block + pem([chain.intermediate.cert]), now=NOW)
    assert "10 is not a valid X509 version" in only(result, "malformed_certificate").summary
    with pytest.raises(InspectionError, match="10 is not a valid X509 version"):
        inspect_bytes(der, now=NOW)
    openssl = shutil.which("openssl")
    if openssl is None:
        return
    (tmp_path / "bad.pem").write_bytes(block)
    export = ["pkcs12", "-export", "-nokeys", "-passout", "pass:", "-in", "bad.pem"]
    made = subprocess.run(
        [openssl, *export, "-out", "bad.p12"],
        cwd=tmp_path,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    code, _ = run_cli("inspect", str(tmp_path / "bad.p12"))
    assert code == EXIT_USAGE


def test_trusted_certificate_and_text_between_blocks(chain: pki.Chain, tmp_path: Path) -> None:
    """OpenSSL's TRUSTED CERTIFICATE form and explanatory text around blocks are read."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed")
    (tmp_path / "root.pem").write_bytes(pem([chain.root.cert]))
    trusted = subprocess.run(
        [
            openssl,
            "x509",
            "-in",
            str(tmp_path / "root.pem"),
            "-trustout",
            "-addtrust",
            "serverAuth",
        ],
        check=True,
        capture_output=True,
    ).stdout
    assert b"BEGIN TRUSTED CERTIFICATE" in trusted
    data = b"subject=leaf\n" + pem(chain.served) + b"\nroot, as trusted:\n" + trusted
    result = inspect_bytes(data, now=NOW)
    assert [e.certificate for e in result.entries] == list(chain.full)
    assert result.chain == (1, 2, 3)


def test_openssl_reads_the_same_order_and_issuers(chain: pki.Chain, tmp_path: Path) -> None:
    """``openssl crl2pkcs7 | openssl pkcs7 -print_certs`` lists the same subjects and issuers."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed")
    other = pki.make_chain(prefix="Other")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(
        pem([chain.root.cert, chain.leaf.cert, other.leaf.cert, chain.intermediate.cert])
    )
    p7 = subprocess.run(
        [openssl, "crl2pkcs7", "-nocrl", "-certfile", str(bundle)], check=True, capture_output=True
    ).stdout
    printed = subprocess.run(
        [openssl, "pkcs7", "-print_certs", "-noout"], input=p7, check=True, capture_output=True
    ).stdout.decode()
    subjects = [
        ln.split("=", 1)[1].strip() for ln in printed.splitlines() if ln.startswith("subject")
    ]
    issuers = [
        ln.split("=", 1)[1].strip() for ln in printed.splitlines() if ln.startswith("issuer")
    ]
    result = inspect_bytes(bundle.read_bytes(), now=NOW)

    def compact(dn: str) -> str:
        return dn.replace(" = ", "=")

    assert [compact(e.certificate.subject.rfc4514_string()) for e in result.entries] == [
        s.replace(" = ", "=") for s in subjects
    ]
    # Each link found by signature points at the entry whose subject openssl names as issuer.
    for entry, issuer in zip(result.entries, issuers, strict=True):
        for number in entry.issued_by:
            assert subjects[number - 1] == issuer


# -- the command ------------------------------------------------------------------------


def test_cli_exit_codes(chain: pki.Chain, tmp_path: Path) -> None:
    """0 for a clean bundle, 1 for a reversed one, 2 for garbage and for a missing file."""
    clean = tmp_path / "clean.pem"
    clean.write_bytes(pem(chain.served))
    reversed_ = tmp_path / "reversed.pem"
    reversed_.write_bytes(pem(list(reversed(chain.served))))
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x01\x02\x03")
    assert run_cli("inspect", str(clean))[0] == EXIT_OK
    assert run_cli("inspect", str(reversed_))[0] == EXIT_PROBLEMS
    assert run_cli("inspect", str(garbage))[0] == EXIT_USAGE
    assert run_cli("inspect", str(tmp_path / "absent.pem"))[0] == EXIT_USAGE


def test_a_file_over_the_size_bound_is_refused_unread(
    chain: pki.Chain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_FILE_BYTES (a device, a wrong file) inspect stops reading and exits 2."""
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pem(chain.served))
    monkeypatch.setattr(inspection, "MAX_FILE_BYTES", len(bundle.read_bytes()))
    assert run_cli("inspect", str(bundle))[0] == EXIT_OK
    bundle.write_bytes(pem(chain.served) + b"\n")
    with pytest.raises(InspectionError, match="larger than"):
        inspection.inspect_file(str(bundle))
    assert run_cli("inspect", str(bundle))[0] == EXIT_USAGE


def test_cli_json_shape(chain: pki.Chain, tmp_path: Path) -> None:
    """JSON: certificates in file order with links, the chain, keys and findings."""
    path = tmp_path / "bundle.pem"
    path.write_bytes(pem([chain.intermediate.cert, chain.leaf.cert]) + key_pem(chain.leaf.key))
    code, out = run_cli("inspect", str(path), "--format", "json")
    assert code == EXIT_PROBLEMS
    doc = json.loads(out)
    assert doc["format"] == "pem"
    assert doc["chain"] == [2, 1]
    assert doc["in_order"] is False
    assert [c["issued_by"] for c in doc["certificates"]] == [[], [1]]
    assert doc["certificates"][1]["subject"] == "CN = localhost"
    assert doc["private_keys"][0]["matches"] == 2
    assert [f["id"] for f in doc["findings"]] == ["chain_order", "private_key_present"]
    assert all(f["remedy"] for f in doc["findings"])


def test_cli_text_lists_links(chain: pki.Chain, tmp_path: Path) -> None:
    """Text: the verdict, each certificate with its link, the chain with arrows, findings."""
    path = tmp_path / "bundle.pem"
    path.write_bytes(pem(list(reversed(chain.full))))
    code, out = run_cli("inspect", str(path), "--format", "text")
    assert code == EXIT_PROBLEMS
    assert out.startswith("PROBLEMS ")
    assert "#2 issued by #1" in out
    assert "#3 issued by #2" in out
    assert "#1 is self-signed" in out
    assert "#3 → #2 → #1" in out
    assert "chain_order" in out and "fix: " in out


def test_cli_pkcs12_password_env(
    chain: pki.Chain,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The PKCS#12 password comes from the named variable; problems are one line, exit 2."""
    path = tmp_path / "id.p12"
    path.write_bytes(p12(chain, b"correct horse"))
    monkeypatch.setenv("P12_PASS", "correct horse")
    monkeypatch.setenv("BAD_PASS", "battery")
    assert run_cli("inspect", str(path), "--password-env", "P12_PASS")[0] == EXIT_OK
    assert run_cli("inspect", str(path), "--password-env", "BAD_PASS")[0] == EXIT_USAGE
    assert "does not open" in capsys.readouterr().err
    assert run_cli("inspect", str(path))[0] == EXIT_USAGE
    assert "--password-env" in capsys.readouterr().err
    assert run_cli("inspect", str(path), "--password-env", "UNSET_VAR")[0] == EXIT_USAGE
    assert "not set" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_key_material_never_appears(tmp_path: Path, fmt: str) -> None:
    """Neither the key's PEM text nor its private numbers appear in any output."""
    chain = pki.make_chain(key_type="rsa")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    keys: list[pki.PrivateKey] = [chain.leaf.key, other, ec_key]
    path = tmp_path / "combined.pem"
    path.write_bytes(pem(chain.served) + b"".join(key_pem(k) for k in keys))
    code, out = run_cli("inspect", str(path), "--format", fmt)
    assert code == EXIT_PROBLEMS  # two keys do not match
    assert "PRIVATE KEY" not in out
    for key in keys:
        body = [ln for ln in key_pem(key).decode().splitlines() if not ln.startswith("-----")]
        assert not any(line in out for line in body)
        private = (
            key.private_numbers().d
            if isinstance(key, rsa.RSAPrivateKey)
            else key.private_numbers().private_value
        )
        for form in (str(private), format(private, "x"), format(private, "X")):
            assert form not in out


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_damaged_files_never_crash(chain: pki.Chain, data: st.DataObject) -> None:
    """Flipped, cut or inserted bytes in PEM or DER give a result or InspectionError, never more."""
    original = data.draw(
        st.sampled_from(
            [
                pem(chain.full) + key_pem(chain.leaf.key),
                chain.leaf.cert.public_bytes(serialization.Encoding.DER),
                p12(chain, None),
            ]
        )
    )
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(mutated) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            mutated[position] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "cut":
            del mutated[position:]
        else:
            mutated[position:position] = data.draw(st.binary(min_size=1, max_size=8))
        if not mutated:
            break
    try:
        result = inspect_bytes(bytes(mutated), now=NOW)
    except InspectionError:
        return
    json.dumps(result.to_json())
    render_inspection(result)


# -- scale: linear work, grouped duplicates -------------------------------------------------


def _count_signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count every ``issued_by`` question (a name comparison and a signature check)."""
    from diagnostics.model import certificates

    calls = [0]
    original = certificates.issued_by

    def counting(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
        calls[0] += 1
        return original(cert, issuer)

    monkeypatch.setattr(certificates, "issued_by", counting)
    return calls


def test_linking_grows_linearly_with_the_number_of_certificates(
    chain: pki.Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """N leaves of one intermediate: the issuer questions grow as N, not N² (the issuer is
    looked up by name and key identifier instead of tried against every certificate)."""
    leaves = [pki.issue(chain.intermediate, f"h{i}.example").cert for i in range(200)]
    calls = _count_signature_checks(monkeypatch)
    counts = {}
    for n in (100, 200):
        calls[0] = 0
        files = [*leaves[:n], chain.intermediate.cert, chain.root.cert]
        result = inspect_bytes(pem(files), now=NOW)
        counts[n] = calls[0]
        assert result.entries[0].issued_by == (n + 1,)
        assert result.entries[n].issued_by == (n + 2,)
    assert counts[200] <= 2.2 * counts[100]
    assert counts[200] <= 4 * 202  # the old code asked about every pair: ~40,000


def test_same_named_cas_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """200 roots all named alike (no key identifier links them): each certificate is tried
    against a bounded number of same-named candidates, so the work stays linear."""
    from diagnostics.explain.lint import MAX_ISSUER_CANDIDATES

    roots = [pki.make_ca("Same Name Root").cert for _ in range(200)]
    calls = _count_signature_checks(monkeypatch)
    counts = {}
    for n in (100, 200):
        calls[0] = 0
        result = inspect_bytes(pem(roots[:n]), now=NOW)
        counts[n] = calls[0]
        assert len(result.entries) == n
        assert all(e.issued_by == () for e in result.entries)
    assert counts[200] <= 2.2 * counts[100]
    # The linking runs twice (the file's shape, then the lint), each at most the bound.
    assert counts[200] <= 2 * 200 * (MAX_ISSUER_CANDIDATES + 1)


def test_fifteen_thousand_copies_give_one_grouped_finding(chain: pki.Chain) -> None:
    """15,000 copies of one certificate: one duplicate finding counting 14,999 copies; every
    entry after the first points back to #1."""
    result = inspect_bytes(pem([chain.leaf.cert]) * 15000, now=NOW)
    duplicates = [f for f in result.findings if f.id == "duplicate_certificate"]
    assert len(duplicates) == 1
    assert "15,000 times" in duplicates[0].summary
    assert "14,999 repeated copies" in duplicates[0].summary
    assert "positions 2, 3, 4, 5, 6 … of 15,000" in duplicates[0].summary
    assert len(result.entries) == 15000
    assert {e.duplicate_of for e in result.entries[1:]} == {1}
    assert result.entries[-1].line == 1 + 14999 * pem([chain.leaf.cert]).count(b"\n")


def test_bundle_with_repeated_cas_groups_each(chain: pki.Chain) -> None:
    """A CA bundle listing two roots three times each: one finding per repeated root."""
    other = pki.make_ca("Other Root CA")
    result = inspect_bytes(pem([chain.root.cert, other.cert] * 3), now=NOW)
    duplicates = [f for f in result.findings if f.id == "duplicate_certificate"]
    assert len(duplicates) == 2
    assert all("3 times: 2 repeated copies" in f.summary for f in duplicates)
    assert [e.duplicate_of for e in result.entries] == [None, None, 1, 2, 1, 2]
