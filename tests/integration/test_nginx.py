"""HTTPS probes against a real nginx: a good chain, a missing intermediate, an HTTP error,
and the client-certificate checks nginx makes after the handshake (``ssl_verify_client``).

nginx completes the TLS handshake even when it requires a client certificate and answers
the request with 400 instead; tlsdiag must name that a client certificate problem, not an
HTTP detail.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import nginx, pki, servers
from tests.support.servers import PKIFiles, ServerProcess, run_tlsdiag

pytestmark = pytest.mark.skipif(not nginx.available(), reason="nginx is not installed")


@pytest.fixture(scope="module")
def server_pki(tmp_path_factory: pytest.TempPathFactory) -> PKIFiles:
    """The server's root → intermediate → leaf PKI."""
    return servers.write_pki(tmp_path_factory.mktemp("pki"), prefix="Web")


def client_identity(directory: Path, ca: pki.Issued, name: str) -> tuple[Path, Path]:
    """A client certificate issued by ``ca``, written as (cert, key) files."""
    issued = pki.issue(ca, name, sans=(), ekus=(pki.CLIENT_AUTH,))
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    cert.write_bytes(pki.pem([issued.cert]))
    key.write_bytes(pki.key_pem(issued.key))
    key.chmod(0o600)
    return cert, key


@pytest.fixture
def requiring(tmp_path: Path, server_pki: PKIFiles) -> Iterator[ServerProcess]:
    """nginx requiring a client certificate issued by the server PKI's root."""
    extra = (
        f"        ssl_client_certificate {server_pki.root};\n"
        "        ssl_verify_client on;\n"
        "        ssl_verify_depth 2;\n"
    )
    with nginx.nginx(tmp_path / "nginx", server_pki.served, server_pki.key, extra) as server:
        yield server


def probe(server: ServerProcess, pki_files: PKIFiles, *args: str | Path, path: str = "/") -> Any:
    """``tlsdiag probe https://localhost:PORT/PATH --ca ROOT --format json``: exit code, result."""
    run = run_tlsdiag(
        "probe", server.url("https") + path, "--ca", pki_files.root, "--format", "json", *args
    )
    assert run.stderr == "", run.stderr
    return run.returncode, json.loads(run.stdout)


def ids(result: dict[str, Any]) -> list[str]:
    return [finding["id"] for finding in result["findings"]]


def test_full_chain_is_ok(tmp_path: Path, server_pki: PKIFiles) -> None:
    with nginx.nginx(tmp_path / "nginx", server_pki.served, server_pki.key) as server:
        code, result = probe(server, server_pki)
    assert (code, result["status"], ids(result)) == (0, "ok", [])
    assert result["http"]["status"] == 200
    assert result["http"]["server"].startswith("nginx")
    leaf = result["verified_chain"][0]["sha256"]
    assert leaf.replace(":", "").upper() == server_pki.leaf_sha256


def test_leaf_without_intermediate(tmp_path: Path, server_pki: PKIFiles) -> None:
    with nginx.nginx(tmp_path / "nginx", server_pki.leaf, server_pki.key) as server:
        code, result = probe(server, server_pki)
    assert code == 1
    assert ids(result)[0] == "unknown_issuer"
    assert "Web Intermediate CA" in result["findings"][0]["summary"]
    assert [e["code"] for e in result["verify_errors"]][:2] == [20, 21]
    # The HTTP exchange still happened: the chain problem is the diagnosis, not a failure.
    assert result["http"]["status"] == 200


def test_missing_page_is_an_http_fact(tmp_path: Path, server_pki: PKIFiles) -> None:
    with nginx.nginx(tmp_path / "nginx", server_pki.served, server_pki.key) as server:
        code, result = probe(server, server_pki, path="/nowhere")
    assert (code, ids(result)) == (0, ["http_status"])
    assert "404" in result["findings"][0]["summary"]
    assert result["findings"][0]["side"] == "server"


def test_required_client_certificate_not_sent(
    requiring: ServerProcess, server_pki: PKIFiles
) -> None:
    code, result = probe(requiring, server_pki)
    assert code == 1
    assert result["http"]["status"] == 400
    assert result["client_auth"] == {
        "requested": True,
        "sent": False,
        "ca_names": ["CN = Web Root CA"],
    }
    primary = result["findings"][0]
    assert (primary["id"], primary["side"], primary["severity"]) == (
        "client_certificate_required",
        "client",
        "error",
    )
    assert "--cert/--key" in primary["remedy"]
    assert "http_status" not in ids(result)


def test_client_certificate_from_another_ca(
    requiring: ServerProcess, server_pki: PKIFiles, tmp_path: Path
) -> None:
    other = pki.make_ca("Other Client CA")
    cert, key = client_identity(tmp_path, other, "partner")
    code, result = probe(requiring, server_pki, "--cert", cert, "--key", key)
    assert code == 1
    assert result["client_auth"]["sent"] is True
    primary = result["findings"][0]
    assert (primary["id"], primary["side"]) == ("client_certificate_rejected", "client")
    assert "CN = Web Root CA" in primary["detail"]


def test_accepted_client_certificate(
    requiring: ServerProcess, server_pki: PKIFiles, tmp_path: Path
) -> None:
    cert, key = client_identity(tmp_path, server_pki.chain.root, "partner")
    code, result = probe(requiring, server_pki, "--cert", cert, "--key", key)
    assert (code, result["status"], ids(result)) == (0, "ok", [])
    assert result["http"]["status"] == 200
    assert result["client_auth"]["sent"] is True
