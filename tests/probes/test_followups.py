"""Follow-up handshakes name the cause of a refused handshake; the version matrix; chain order.

Every server is a real ``openssl s_server`` on loopback restricted to one version or one
cipher family, started once for the module; every probe is the ``tlsdiag probe`` command.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from diagnostics.model.jsonform import schema
from diagnostics.probes.followups import MAX_FOLLOWUPS
from tests.support import pki, servers
from tests.support.hostile import LoopbackServer

pytestmark = pytest.mark.skipif(servers.OPENSSL is None, reason="needs the openssl command")

# TLS 1.0/1.1 and weak ciphers need security level 0 on the openssl 3.0 server.
LOW = ("-cipher", "ALL:@SECLEVEL=0")
# A TLS 1.2 "protocol_version" alert record: fatal (2), description 70.
PROTOCOL_VERSION_ALERT = b"\x15\x03\x01\x00\x02\x02\x46"


@pytest.fixture(scope="session")
def dh1024(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1024-bit DH group made once per session (openssl dhparam)."""
    assert servers.OPENSSL is not None
    path = tmp_path_factory.mktemp("dh") / "dh1024.pem"
    subprocess.run(
        [servers.OPENSSL, "dhparam", "-out", str(path), "1024"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return path


def _leaf_with_key_of(ca: pki.Issued, holder: pki.Issued) -> pki.Issued:
    """A server certificate for localhost issued by ``ca`` that carries ``holder``'s key.

    OpenSSL serves the certificate matching its key first; sharing the key lets
    ``s_server -cert CA -cert_chain LEAF`` send a CA certificate before the leaf.
    """
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(pki.name("localhost"))
        .issuer_name(ca.cert.subject)
        .public_key(holder.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([pki.SERVER_AUTH]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return pki.Issued(cert, holder.key)


def _write(path: Path, *items: pki.Issued, key: bool = False) -> Path:
    if key:
        path.write_bytes(
            items[0].key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)
    else:
        path.write_bytes(pki.pem([i.cert for i in items]))
    return path


@attrs.frozen
class Lab:
    root: Path
    order_root: Path  # the root of the chains served out of order
    urls: dict[str, str]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, dh1024: Path) -> Iterator[Lab]:
    directory = tmp_path_factory.mktemp("followups")
    files = servers.write_pki(directory / "pki", prefix="Follow", key_type="rsa")
    # Chains served out of order: root → upper → lower, leaves sharing a CA's key.
    root = pki.make_ca("Order Root CA", key_type="rsa")
    upper = pki.make_ca("Order Upper CA", parent=root, key_type="rsa")
    lower = pki.make_ca("Order Lower CA", parent=upper, key_type="rsa")
    order_root = _write(directory / "order-root.pem", root)
    first_leaf = _leaf_with_key_of(lower, lower)
    reversed_leaf = _leaf_with_key_of(lower, upper)
    # intermediate first: lower CA, then the leaf; reversed: upper, lower, leaf.
    ordered = {
        "intermediate_first": (lower, (first_leaf,)),
        "reversed": (upper, (lower, reversed_leaf)),
    }
    plain = dict(cert=files.leaf, key=files.key, chain=files.intermediate)
    configs: dict[str, dict[str, Any]] = {
        "tls10": {**plain, "extra": ("-tls1", *LOW)},
        "tls11": {**plain, "extra": ("-tls1_1", *LOW)},
        "null": {**plain, "extra": ("-tls1_2", "-cipher", "NULL:@SECLEVEL=0")},
        "dh1024": {
            **plain,
            "extra": ("-tls1_2", "-cipher", "DHE:@SECLEVEL=0", "-dhparam", str(dh1024)),
        },
        "good": {**plain, "extra": ()},
        "all_versions": {**plain, "extra": LOW},
    }
    for name, (served, rest) in ordered.items():
        configs[name] = {
            "cert": _write(directory / f"{name}-cert.pem", served),
            "key": _write(directory / f"{name}-key.pem", served, key=True),
            "chain": _write(directory / f"{name}-chain.pem", *rest),
            "extra": (),
        }
    started: list[servers.ServerProcess] = []
    urls = {}
    try:
        for name, config in configs.items():
            port = servers.free_port()
            command = servers.s_server_command(
                port, config["cert"], config["key"], chain=config["chain"], extra=config["extra"]
            )
            server = servers.start_process(
                f"s_server {name}", command, port, directory / f"{name}.log"
            )
            started.append(server)
            urls[name] = f"tls://localhost:{port}"
        yield Lab(root=files.root, order_root=order_root, urls=urls)
    finally:
        for server in started:
            server.stop()


def _probe(lab: Lab, name: str, *args: str, ca: Path | None = None) -> tuple[int, dict[str, Any]]:
    run = servers.run_tlsdiag(
        "probe", lab.urls[name], "--ca", str(ca or lab.root), "--format", "json", *args
    )
    assert not run.stderr.strip() or "Traceback" not in run.stderr, run.stderr
    result = json.loads(run.stdout)
    jsonschema.validate(result, schema())
    return run.returncode, result


@pytest.mark.parametrize(("name", "spoken"), [("tls10", "TLS 1.0"), ("tls11", "TLS 1.1")])
def test_server_with_only_an_obsolete_version(lab: Lab, name: str, spoken: str) -> None:
    """A server that only speaks TLS 1.0 (1.1): the primary finding says so, on the server's side,
    and names the linked OpenSSL that refuses it; the follow-ups tried each version alone."""
    code, result = _probe(lab, name)
    assert code == 3
    primary = result["findings"][0]
    assert (primary["id"], primary["side"], primary["severity"]) == (
        "obsolete_version_only",
        "server",
        "error",
    )
    assert f"only accepts {spoken}," in primary["summary"]
    assert "OpenSSL 4" in primary["summary"] and "enable TLS 1.2" in primary["summary"]
    tried = [(a["offered"], a["outcome"]) for a in result["followups"]]
    assert tried[:4] == [
        ("TLSv1.3", "refused"),
        ("TLSv1.2", "refused"),
        ("TLSv1.1", "accepted" if name == "tls11" else "refused"),
        ("TLSv1", "accepted" if name == "tls10" else "refused"),
    ]
    assert all(a["security_level"] == 0 for a in result["followups"])
    # the refusal itself is still reported, after the cause
    assert result["findings"][1]["id"] == "protocol_version"


def test_server_with_only_null_ciphers(lab: Lab) -> None:
    """A TLS 1.2 server offering only NULL ciphers: insecure_ciphers_only, server side."""
    code, result = _probe(lab, "null")
    assert code == 3
    primary = result["findings"][0]
    assert (primary["id"], primary["side"]) == ("insecure_ciphers_only", "server")
    assert "NULL" in primary["summary"] and "-NULL-" in primary["summary"]
    by_offer = {(a["purpose"], a["offered"]): a for a in result["followups"]}
    assert by_offer[("version", "TLSv1.2")]["cipher"].endswith("NULL-SHA")
    assert by_offer[("cipher", "modern AEAD")]["outcome"] == "refused"
    assert by_offer[("cipher", "CBC")]["outcome"] == "refused"
    assert len(result["followups"]) <= MAX_FOLLOWUPS


def test_server_with_a_1024_bit_dh_group(lab: Lab) -> None:
    """A DHE-only server with a 1024-bit group: weak_dh names the size, server side."""
    code, result = _probe(lab, "dh1024")
    assert code == 3
    primary = result["findings"][0]
    assert (primary["id"], primary["side"]) == ("weak_dh", "server")
    assert "DH group is between 1024 and 2047 bits" in primary["summary"]
    exchanges = [a for a in result["followups"] if a["purpose"] == "key_exchange"]
    assert [(a["security_level"], a["outcome"]) for a in exchanges] == [
        (2, "refused"),
        (1, "accepted"),
    ]
    assert exchanges[0]["reason"] == "dh key too small"
    assert len(result["followups"]) <= MAX_FOLLOWUPS


def test_no_followups_after_a_good_handshake(lab: Lab) -> None:
    """A handshake that succeeds makes no follow-up (and no matrix unless asked)."""
    code, result = _probe(lab, "good")
    assert code == 0, result["findings"]
    assert result["followups"] == [] and result["versions"] == []


def test_no_followups_when_turned_off(lab: Lab) -> None:
    """--no-followups keeps the plain refusal."""
    code, result = _probe(lab, "tls10", "--no-followups")
    assert code == 3
    assert result["followups"] == []
    assert result["findings"][0]["id"] == "protocol_version"


def test_version_matrix_of_a_current_server(lab: Lab) -> None:
    """--versions on a server at the defaults: 1.2 and 1.3 accepted, 1.0/1.1 refused."""
    code, result = _probe(lab, "good", "--versions")
    assert code == 0
    assert {a["offered"]: a["outcome"] for a in result["versions"]} == {
        "TLSv1.3": "accepted",
        "TLSv1.2": "accepted",
        "TLSv1.1": "refused",
        "TLSv1": "refused",
    }
    assert not [f for f in result["findings"] if f["id"].startswith("obsolete")]


def test_version_matrix_of_a_server_still_accepting_tls10(lab: Lab) -> None:
    """--versions on a server that accepts every version: an obsolete_version_accepted warning."""
    code, result = _probe(lab, "all_versions", "--versions")
    assert code == 1
    assert all(a["outcome"] == "accepted" for a in result["versions"])
    warning = next(f for f in result["findings"] if f["id"] == "obsolete_version_accepted")
    assert (warning["severity"], warning["side"]) == ("warning", "server")
    assert "TLS 1.0 and TLS 1.1" in warning["summary"]


def test_version_matrix_of_an_obsolete_server(lab: Lab) -> None:
    """--versions after a refused handshake: only TLS 1.0 accepted, named once."""
    code, result = _probe(lab, "tls10", "--versions")
    assert code == 3
    assert [a["offered"] for a in result["versions"] if a["outcome"] == "accepted"] == ["TLSv1"]
    ids = [f["id"] for f in result["findings"]]
    assert ids[0] == "obsolete_version_only" and ids.count("obsolete_version_only") == 1


@pytest.mark.parametrize("name", ["intermediate_first", "reversed"])
def test_chain_out_of_order_is_the_primary_finding(lab: Lab, name: str) -> None:
    """A CA certificate served before the leaf: chain_order first (error, server side),
    not a host-name mismatch against the CA certificate."""
    code, result = _probe(lab, name, ca=lab.order_root)
    assert code in (1, 3)
    primary = result["findings"][0]
    assert (primary["id"], primary["severity"], primary["side"]) == (
        "chain_order",
        "error",
        "server",
    )
    assert result["served_chain"][0]["is_ca"] and result["served_chain"][-1]["subject"] == (
        "CN = localhost"
    )
    assert "The first certificate sent is a CA certificate" in primary["detail"]
    assert "hostname_mismatch" not in [f["id"] for f in result["findings"]]
    assert result["followups"] == []


def _slow_refuser(conn: Any, stopping: threading.Event, first: list[int]) -> None:
    """Refuses the first ClientHello with protocol_version at once; never answers later ones."""
    conn.recv(4096)
    first.append(1)
    if len(first) == 1:
        conn.sendall(PROTOCOL_VERSION_ALERT)
        return
    stopping.wait(30)


def test_followups_stay_within_the_timeout() -> None:
    """Follow-ups to a server that answers none of them end at the probe's timeout."""
    seen: list[int] = []
    server = LoopbackServer(lambda conn, stop: _slow_refuser(conn, stop, seen), "refuser")
    try:
        run = servers.run_tlsdiag(
            "probe", f"tls://127.0.0.1:{server.port}", "--timeout", "2", "--format", "json"
        )
    finally:
        server.stop()
    result = json.loads(run.stdout)
    assert run.returncode == 3
    assert result["timings"]["total_s"] < 2.5
    # the refused main handshake was followed up, and the follow-ups were cut by the deadline
    assert result["followups"], result
    assert result["followups"][0]["outcome"] == "refused"
    assert "timeout" in (result["followups"][0]["reason"] or "")
    assert run.elapsed < 2.0 + 8.0  # process start-up aside, bounded
