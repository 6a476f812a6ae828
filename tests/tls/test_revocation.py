"""Revocation: CRLs checked against chains (pure), and revoked certificates, stale or broken
CRLs and unreachable distribution points explained end to end in in-memory probes."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

import attrs
import pytest
from cryptography import x509

from diagnostics.daemon.config import ConfigError, parse_config
from diagnostics.model import openssl_codes, revocation
from diagnostics.model.options import ProbeOptions, TrustConfig
from diagnostics.model.result import Finding, ProbeResult, Side
from diagnostics.model.revocation import CheckMode, KnownCRL
from diagnostics.tls.crl_sources import CRLSources
from diagnostics.tls.revocation import check_chain
from tests.support import crls, memtls, pki, servers

KEY_COMPROMISE = x509.ReasonFlags.key_compromise
CDP_PORT = 8080


@pytest.fixture(scope="module")
def chain() -> pki.Chain:
    return pki.make_chain(prefix="Revocation")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _codes(outcomes: tuple[revocation.RevocationOutcome, ...]) -> list[tuple[int, int]]:
    return [(o.depth, o.code) for o in outcomes]


# -- pure ----------------------------------------------------------------------------------


def test_parse_pem_der_and_garbage(chain: pki.Chain) -> None:
    """PEM and DER parse to the same CRL; garbage is a CRLError, an HTML page is named as such."""
    crl = crls.make_crl(chain.intermediate)
    assert revocation.parse_crl(crls.pem(crl)) == revocation.parse_crl(crls.der(crl)) == crl
    with pytest.raises(revocation.CRLError):
        revocation.parse_crl(b"\x30\x03\x02\x01\x00")
    with pytest.raises(revocation.CRLError, match="HTML page"):
        revocation.parse_crl(b"<html><body>Moved</body></html>")


def bad_version_crl(crl: x509.CertificateRevocationList) -> bytes:
    """``crl``'s DER with its version (v2, INTEGER 1) made 0, which cryptography refuses with
    InvalidVersion (no ValueError)."""
    der = bytearray(crls.der(crl))
    at = der.index(bytes.fromhex("020101"))  # the first field of tbsCertList
    der[at + 2] = 0
    return bytes(der)


def test_invalid_crl_version_is_a_crl_error(chain: pki.Chain, tmp_path: Path) -> None:
    """A CRL with an invalid version is a CRLError with the parser's message; a --crl file
    like that is a usage error (exit 2), not a traceback."""
    data = bad_version_crl(crls.make_crl(chain.intermediate))
    with pytest.raises(revocation.CRLError, match="not a valid CRL version"):
        revocation.parse_crl(data)
    path = tmp_path / "bad.crl"
    path.write_bytes(data)
    run = servers.run_tlsdiag("probe", "tls://127.0.0.1:1", "--crl", path, "--format", "json")
    assert run.returncode == 2, run.stderr
    assert "not a valid CRL version" in run.stderr and "Traceback" not in run.stderr


def test_revoked_entry_has_date_and_reason(chain: pki.Chain) -> None:
    """A listed certificate's entry carries its serial, revocation date and reason."""
    at = pki.utcnow() - datetime.timedelta(days=3)
    crl = crls.make_crl(chain.intermediate, [(chain.leaf.cert, KEY_COMPROMISE)], revoked_at=at)
    entry = revocation.revoked_entry(chain.leaf.cert, [KnownCRL(crl, "ca.crl")])
    assert entry is not None
    assert (entry.serial, entry.revocation_date, entry.reason) == (
        chain.leaf.cert.serial_number,
        at,
        "keyCompromise",
    )
    assert revocation.revoked_entry(chain.intermediate.cert, [KnownCRL(crl, "ca.crl")]) is None


def test_check_chain_finds_every_crl_problem(chain: pki.Chain) -> None:
    """Revoked, expired, not yet valid, wrongly signed and critical-extension CRLs each get
    OpenSSL's code."""
    now, hour = pki.utcnow(), datetime.timedelta(hours=1)
    other = pki.make_key()
    cases = {
        openssl_codes.CERT_REVOKED: crls.make_crl(chain.intermediate, [(chain.leaf.cert, None)]),
        openssl_codes.CRL_HAS_EXPIRED: crls.make_crl(
            chain.intermediate, this_update=now - 3 * hour, next_update=now - hour
        ),
        openssl_codes.CRL_NOT_YET_VALID: crls.make_crl(chain.intermediate, this_update=now + hour),
        openssl_codes.CRL_SIGNATURE_FAILURE: crls.make_crl(chain.intermediate, signed_by=other),
        openssl_codes.UNHANDLED_CRITICAL_CRL_EXTENSION: crls.make_crl(
            chain.intermediate, critical_extension=True
        ),
    }
    for code, crl in cases.items():
        outcomes = check_chain(chain.full, [KnownCRL(crl, "x")], now=_now())
        assert _codes(outcomes) == [(0, code)], code
    fine = check_chain(chain.full, [KnownCRL(crls.make_crl(chain.intermediate), "x")], now=_now())
    assert fine == ()


def test_leaf_mode_and_chain_mode(chain: pki.Chain) -> None:
    """A revoked intermediate is found only in chain mode; a missing CRL there is code 3."""
    int_crl = KnownCRL(crls.make_crl(chain.intermediate), "int.crl")
    root_crl = KnownCRL(crls.make_crl(chain.root, [(chain.intermediate.cert, None)]), "root.crl")
    assert check_chain(chain.full, [int_crl, root_crl], now=_now(), mode=CheckMode.LEAF) == ()
    both = check_chain(chain.full, [int_crl, root_crl], now=_now(), mode=CheckMode.CHAIN)
    assert _codes(both) == [(1, openssl_codes.CERT_REVOKED)]
    missing = check_chain(chain.full, [int_crl], now=_now(), mode=CheckMode.CHAIN)
    assert _codes(missing) == [(1, openssl_codes.UNABLE_TO_GET_CRL)]


def test_no_crl_names_the_distribution_point_and_its_error(chain: pki.Chain) -> None:
    """Without a CRL, the outcome lists the certificate's distribution point and why it failed."""
    url = "http://127.0.0.1:8080/int.crl"
    leaf = crls.with_cdp(chain.intermediate, [url])
    outcomes = check_chain(
        (leaf.cert, chain.intermediate.cert),
        [],
        now=_now(),
        errors={url: "connection refused"},
        from_cdp=True,
    )
    assert [(o.code, o.urls, o.error) for o in outcomes] == [
        (openssl_codes.UNABLE_TO_GET_CRL, (url,), f"{url}: connection refused")
    ]


def test_url_rules() -> None:
    """Only http:// URLs with a host are accepted as CRL sources."""
    assert revocation.check_url("http://crl.example/ca.crl") is None
    assert "only http://" in (revocation.check_url("https://crl.example/ca.crl") or "")
    assert "no host" in (revocation.check_url("http:///ca.crl") or "")
    assert revocation.is_url("http://x/y") and not revocation.is_url("ca.crl")


# -- end to end, in memory -------------------------------------------------------------------


def _probe(
    served: pki.Chain | tuple[pki.Issued, pki.Issued],
    trust_root: pki.Issued,
    tmp_path: Path,
    *,
    crl_files: tuple[str, ...] = (),
    crl_check: str = "leaf",
    from_cdp: bool = False,
    publisher: crls.Publisher | None = None,
) -> ProbeResult:
    leaf, intermediate = (
        (served.leaf, served.intermediate) if isinstance(served, pki.Chain) else served
    )
    context = memtls.tls_context((leaf.cert, intermediate.cert), leaf.key)
    trust = memtls.trust_config(tmp_path, [trust_root.cert])
    options = ProbeOptions(
        trust=attrs.evolve(trust, crl_files=crl_files, crl_check=crl_check),
        crl_from_cdp=from_cdp,
    )
    more = {CDP_PORT: publisher.factory} if publisher is not None else {}
    return memtls.run_probe(
        memtls.tls_server(context),
        f"tls://127.0.0.1:{memtls.PORT}/",
        options,
        servername="localhost",
        more_servers=more,
        crl_sources=CRLSources(),
    )


def _write(tmp_path: Path, name: str, crl: x509.CertificateRevocationList) -> str:
    path = tmp_path / name
    path.write_bytes(crls.pem(crl))
    return str(path)


def _only(result: ProbeResult, finding_id: str) -> Finding:
    found = [f for f in result.findings if f.id == finding_id]
    assert len(found) == 1, [f.id for f in result.findings]
    return found[0]


def test_revoked_leaf_in_a_probe(chain: pki.Chain, tmp_path: Path) -> None:
    """A served leaf on the given CRL: primary finding revoked, with serial, date, reason, CRL."""
    at = pki.utcnow() - datetime.timedelta(days=2)
    crl = crls.make_crl(chain.intermediate, [(chain.leaf.cert, KEY_COMPROMISE)], revoked_at=at)
    path = _write(tmp_path, "int.crl", crl)
    result = _probe(chain, chain.root, tmp_path, crl_files=(path,))
    assert [(e.depth, e.code) for e in result.verify_errors] == [(0, 23)]
    primary = result.findings[0]
    assert (primary.id, primary.side) == ("revoked", Side.SERVER)
    assert at.strftime("%Y-%m-%dT%H:%M:%SZ") in primary.summary
    assert "keyCompromise" in primary.summary
    assert format(chain.leaf.cert.serial_number, "X") in primary.detail
    assert path in primary.detail


def test_stale_crl_file_is_ours_to_update(chain: pki.Chain, tmp_path: Path) -> None:
    """An expired CRL file: crl_expired on the client side, telling to update the CRL."""
    now = pki.utcnow()
    crl = crls.make_crl(
        chain.intermediate,
        this_update=now - datetime.timedelta(days=9),
        next_update=now - datetime.timedelta(days=2),
    )
    result = _probe(chain, chain.root, tmp_path, crl_files=(_write(tmp_path, "old.crl", crl),))
    assert [e.code for e in result.verify_errors] == [12]
    finding = _only(result, "crl_expired")
    assert finding.side is Side.CLIENT
    assert "Update your CRL" in finding.remedy
    assert "2 days ago" in finding.summary


def test_revoked_intermediate_only_in_chain_mode(chain: pki.Chain, tmp_path: Path) -> None:
    """The root's CRL revoking the intermediate matters only with --crl-check chain."""
    files = (
        _write(tmp_path, "int.crl", crls.make_crl(chain.intermediate)),
        _write(tmp_path, "root.crl", crls.make_crl(chain.root, [(chain.intermediate.cert, None)])),
    )
    leaf_mode = _probe(chain, chain.root, tmp_path, crl_files=files, crl_check="leaf")
    chain_mode = _probe(chain, chain.root, tmp_path, crl_files=files, crl_check="chain")
    assert [f.id for f in leaf_mode.findings if f.id == "revoked"] == []
    assert [(e.depth, e.code) for e in chain_mode.verify_errors] == [(1, 23)]
    revoked = _only(chain_mode, "revoked")
    assert "intermediate CA" in revoked.summary and "no reason given" in revoked.summary


def test_missing_crl_in_chain_mode_is_crl_unavailable(chain: pki.Chain, tmp_path: Path) -> None:
    """Chain mode with only the intermediate's CRL: code 3 for the intermediate, our side."""
    files = (_write(tmp_path, "int.crl", crls.make_crl(chain.intermediate)),)
    result = _probe(chain, chain.root, tmp_path, crl_files=files, crl_check="chain")
    assert [(e.depth, e.code) for e in result.verify_errors] == [(1, 3)]
    finding = _only(result, "crl_unavailable")
    assert finding.side is Side.CLIENT
    assert "Revocation Root CA" in finding.summary


def test_crl_from_the_distribution_point(tmp_path: Path) -> None:
    """--crl-from-cdp fetches the leaf's CRL after the handshake and finds it revoked."""
    root = pki.make_ca("CDP Root CA")
    intermediate = pki.make_ca("CDP Intermediate CA", parent=root, path_length=0)
    url = f"http://127.0.0.1:{CDP_PORT}/int.crl"
    leaf = crls.with_cdp(intermediate, [url])
    publisher = crls.Publisher()
    publisher.publish(
        "/int.crl", crls.der(crls.make_crl(intermediate, [(leaf.cert, KEY_COMPROMISE)]))
    )
    result = _probe((leaf, intermediate), root, tmp_path, from_cdp=True, publisher=publisher)
    assert result.verify_errors == ()  # OpenSSL checked nothing: no CRL was given up front
    primary = result.findings[0]
    assert (primary.id, primary.side) == ("revoked", Side.SERVER)
    assert "keyCompromise" in primary.summary and url in primary.detail
    assert publisher.requests("/int.crl") == 1


def test_unreachable_distribution_point(tmp_path: Path) -> None:
    """A distribution point answering 404: crl_unavailable naming the URL and the error."""
    root = pki.make_ca("CDP Root CA")
    intermediate = pki.make_ca("CDP Intermediate CA", parent=root, path_length=0)
    url = f"http://127.0.0.1:{CDP_PORT}/missing.crl"
    leaf = crls.with_cdp(intermediate, [url])
    result = _probe((leaf, intermediate), root, tmp_path, from_cdp=True, publisher=crls.Publisher())
    finding = _only(result, "crl_unavailable")
    assert finding.side is Side.EITHER
    assert url in finding.summary and "404" in finding.summary


def test_no_distribution_point_is_a_warning(chain: pki.Chain, tmp_path: Path) -> None:
    """--crl-from-cdp on a leaf that names no distribution point says revocation was not
    checked, as a warning."""
    result = _probe(chain, chain.root, tmp_path, from_cdp=True)
    finding = _only(result, "crl_unavailable")
    assert finding.severity.value == "warning"
    assert "names no http:// CRL distribution point" in finding.summary


# -- configuration ---------------------------------------------------------------------------


def _config(tmp_path: Path, target: str, daemon: str = "") -> object:
    text = f'[daemon]\n{daemon}\n[[target]]\nurl = "tls://127.0.0.1:4433"\n{target}\n'
    import tomllib

    return parse_config(tomllib.loads(text), path=str(tmp_path / "t.toml"), environ={})


def test_config_takes_crl_urls_and_modes(tmp_path: Path) -> None:
    """crl takes files and http:// URLs; crl_check and crl_from_cdp reach the probe options."""
    (tmp_path / "ca.crl").write_bytes(crls.pem(crls.make_crl(pki.make_ca("Config CA"))))
    config = _config(
        tmp_path,
        'crl = ["ca.crl", "http://crl.example/ca.crl"]\ncrl_check = "chain"\ncrl_from_cdp = true',
        "crl_refresh = 900",
    )
    options = config.targets[0].settings.options  # type: ignore[attr-defined]
    assert options.trust == TrustConfig(
        crl_files=(str(tmp_path / "ca.crl"), "http://crl.example/ca.crl"), crl_check="chain"
    )
    assert options.crl_from_cdp is True
    assert config.daemon.crl_refresh == 900  # type: ignore[attr-defined]


def test_config_refuses_bad_crl_entries(tmp_path: Path) -> None:
    """An https:// CRL URL and an unknown crl_check are each reported with their key path."""
    with pytest.raises(ConfigError) as info:
        _config(tmp_path, 'crl = ["https://crl.example/ca.crl"]\ncrl_check = "all"')
    keys = {(p.key, "http" in p.message or "leaf" in p.message) for p in info.value.problems}
    assert keys == {("target[0].crl[0]", True), ("target[0].crl_check", True)}


def test_now_helper_is_utc() -> None:
    """The tests compare CRL dates in UTC against the wall clock."""
    assert abs(_now().timestamp() - time.time()) < 5
