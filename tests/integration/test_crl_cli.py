"""The CRL options of ``tlsdiag probe`` end to end: a CRL URL on a loopback HTTP server,
a revoked leaf served by ``openssl s_server``, and the flags' usage errors."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from cryptography import x509

from tests.support import crls, servers


def test_revoked_leaf_with_crl_url(
    loopback_pki: servers.PKIFiles,
    tls_server: servers.ServerProcess,
    tmp_path: Path,
) -> None:
    """--crl with an http:// URL: the leaf is revoked, with date and reason, exit 1."""
    chain = loopback_pki.chain
    at = datetime.datetime(2026, 1, 15, 8, 30, tzinfo=datetime.UTC)
    crl = crls.make_crl(
        chain.intermediate,
        [(chain.leaf.cert, x509.ReasonFlags.superseded)],
        revoked_at=at,
    )
    www = tmp_path / "www"
    www.mkdir()
    (www / "int.crl").write_bytes(crls.der(crl))
    with servers.http_server(www) as http:
        url = f"http://127.0.0.1:{http.port}/int.crl"
        run = servers.run_tlsdiag(
            "probe",
            tls_server.url(),
            "--servername",
            "localhost",
            "--ca",
            loopback_pki.root,
            "--crl",
            url,
            "--format",
            "json",
        )
    assert run.returncode == 1, run.stderr
    result = json.loads(run.stdout)
    assert [(e["depth"], e["code"]) for e in result["verify_errors"]] == [(0, 23)]
    primary = result["findings"][0]
    assert (primary["id"], primary["side"]) == ("revoked", "server")
    assert "2026-01-15T08:30:00Z" in primary["summary"]
    assert "superseded" in primary["summary"]
    assert url in primary["detail"]


def test_unreachable_crl_url_is_a_configuration_error(closed_port: servers.ClosedPort) -> None:
    """A --crl URL that cannot be fetched stops before probing: exit 2 with the URL and why."""
    url = f"http://127.0.0.1:{closed_port.port}/ca.crl"
    run = servers.run_tlsdiag("probe", "tls://127.0.0.1:1", "--crl", url, "--format", "json")
    assert run.returncode == 2
    assert url in run.stderr and "connection refused" in run.stderr
    assert run.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--crl", "https://crl.example/ca.crl"), "only http://"),
        (("--crl-check", "all"), "invalid choice"),
    ],
)
def test_crl_flag_usage_errors(
    args: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A non-http CRL URL or an unknown --crl-check mode is a usage error (exit 2)."""
    from diagnostics.cli.main import main

    assert main(["probe", "tls://127.0.0.1:1", *args]) == 2
    assert message in capsys.readouterr().err


def test_crl_flags_reach_the_options() -> None:
    """--crl-check chain and --crl-from-cdp end up in the probe options."""
    from diagnostics.cli.main import build_parser
    from diagnostics.cli.probe import _options

    args = build_parser().parse_args(
        [
            "probe",
            "tls://h:1",
            "--crl",
            "http://crl.example/a.crl",
            "--crl-check",
            "chain",
            "--crl-from-cdp",
        ]
    )
    options = _options(args)
    assert options.trust.crl_files == ("http://crl.example/a.crl",)
    assert options.trust.crl_check == "chain"
    assert options.crl_from_cdp is True
