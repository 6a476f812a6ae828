"""``tlsdiag listen --crl URL``: the CRL is fetched from a loopback web server before the
listener starts, and a client certificate it revokes is rejected; a URL that cannot be
fetched stops the listener before it listens (exit 2, with the URL and why)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import attrs
import pytest
from cryptography import x509

from tests.support import crls, memtls, pki, servers
from tests.support.listening import start_listen

CURL = shutil.which("curl")


@attrs.frozen
class Partner:
    """Our server files, the partner's CA file, its CRL folder and two client identities."""

    server: servers.PKIFiles
    client_ca: Path
    www: Path  # served over plain HTTP: partner.crl revokes ``revoked``
    good: tuple[Path, Path]
    revoked: tuple[Path, Path]


@pytest.fixture(scope="module")
def partner(tmp_path_factory: pytest.TempPathFactory) -> Partner:
    """A partner CA with a good and a revoked client certificate, and the CA's CRL."""
    directory = tmp_path_factory.mktemp("listen-crl")
    ca = pki.make_ca("Partner Root CA")

    def identity(common_name: str) -> tuple[pki.Issued, tuple[Path, Path]]:
        issued = pki.issue(ca, common_name, sans=(), ekus=(pki.CLIENT_AUTH,))
        cert = Path(memtls.write_pem(directory / f"{common_name}.pem", [issued.cert]))
        return issued, (cert, Path(memtls.write_key(directory / f"{common_name}.key", issued.key)))

    _, good = identity("good")
    revoked_cert, revoked = identity("revoked")
    www = directory / "www"
    www.mkdir()
    crl = crls.make_crl(ca, [(revoked_cert.cert, x509.ReasonFlags.key_compromise)])
    (www / "partner.crl").write_bytes(crls.der(crl))
    return Partner(
        server=servers.write_pki(directory / "server"),
        client_ca=Path(memtls.write_pem(directory / "partner-ca.pem", [ca.cert])),
        www=www,
        good=good,
        revoked=revoked,
    )


def _curl(port: int, partner: Partner, identity: tuple[Path, Path]) -> int:
    """The HTTP status curl gets from the listener presenting ``identity``."""
    assert CURL is not None
    command = [CURL, "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20"]
    command += ["--cacert", str(partner.server.root)]
    command += ["--cert", str(identity[0]), "--key", str(identity[1])]
    done = subprocess.run(
        [*command, f"https://localhost:{port}/"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return int(done.stdout or 0)


@pytest.mark.skipif(CURL is None, reason="no curl command")
def test_a_client_revoked_by_the_crl_at_the_url_is_refused(
    partner: Partner, tmp_path: Path
) -> None:
    """The listener checks client certificates against the CRL fetched from --crl URL: the
    revoked client gets 403 with a revoked finding naming the URL, the good one 200."""
    with servers.http_server(partner.www) as http:
        url = f"http://127.0.0.1:{http.port}/partner.crl"
        port = servers.free_port()
        log_dir = tmp_path / "logs"
        command = ["listen", f"https://127.0.0.1:{port}", "--cert", str(partner.server.served)]
        command += ["--key", str(partner.server.key), "--client-ca", str(partner.client_ca)]
        command += ["--crl", url, "--format", "json", "--log-dir", str(log_dir)]
        listener = start_listen(command, port, log_dir)
        try:
            refused_status = _curl(port, partner, partner.revoked)
            refused = listener.report()
            accepted_status = _curl(port, partner, partner.good)
            accepted = listener.report()
        finally:
            assert listener.stop() == 0
    assert refused_status == 403
    ids = [f["id"] for f in refused["findings"]]
    assert ids[0] == "client_certificate_rejected" and "revoked" in ids
    assert [(e["depth"], e["code"]) for e in refused["verify_errors"]] == [(0, 23)]
    revoked = refused["findings"][ids.index("revoked")]
    assert url in revoked["detail"] and "keyCompromise" in revoked["summary"]
    assert accepted_status == 200
    assert (accepted["status"], accepted["findings"]) == ("ok", [])


def test_an_unreachable_crl_url_stops_before_listening(
    partner: Partner, closed_port: servers.ClosedPort
) -> None:
    """A --crl URL that cannot be fetched is a configuration error: exit 2, one line naming
    the URL and why, and nothing listens."""
    url = f"http://127.0.0.1:{closed_port.port}/partner.crl"
    port = servers.free_port()
    run = servers.run_tlsdiag(
        "listen",
        f"https://127.0.0.1:{port}",
        "--cert",
        partner.server.served,
        "--key",
        partner.server.key,
        "--client-ca",
        partner.client_ca,
        "--crl",
        url,
    )
    assert run.returncode == 2
    assert run.stderr.startswith("tlsdiag listen: --crl ")
    assert url in run.stderr and "connection refused" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "listening on" not in run.stderr


def test_a_crl_url_tlsdiag_cannot_fetch_is_a_usage_error(partner: Partner) -> None:
    """An https:// CRL URL is refused before anything is read: exit 2, 'only http://'."""
    run = servers.run_tlsdiag(
        "listen",
        "https://127.0.0.1:1",
        "--cert",
        partner.server.served,
        "--key",
        partner.server.key,
        "--crl",
        "https://crl.example/partner.crl",
    )
    assert run.returncode == 2
    assert run.stderr.startswith("tlsdiag listen: --crl ") and "only http://" in run.stderr
