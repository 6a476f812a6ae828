"""The lab end to end: every endpoint probed through the CLI, its files, start and stop.

One ``tlsdiag lab`` process serves the whole module; every manifest entry is
probed with ``tlsdiag probe`` (as a subprocess, with the entry's options) and
its ``expect`` must be the primary finding (or the probe is ok).  This is the
project's regression matrix: an endpoint added to the lab is probed here.
"""

from __future__ import annotations

import errno
import json
import socket
import stat
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from twisted.internet.error import CannotListenError
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogEvent, formatEvent, globalLogPublisher

from diagnostics.daemon.config import lab_targets
from diagnostics.lab import endpoints, servers
from diagnostics.lab.manifest import ManifestEntry
from diagnostics.model import certificates
from tests.support.lab import SPAN, entry_arguments, free_base_port, seen
from tests.support.processes import read_json, start_tlsdiag, stop, wait_for
from tests.support.servers import REPO, run_tlsdiag

DER = serialization.Encoding.DER


@attrs.frozen
class RunningLab:
    """A ``tlsdiag lab`` process and what it wrote."""

    process: subprocess.Popen[bytes]
    base_port: int
    state: Path
    manifest: list[dict[str, Any]]
    output: Path


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    """``tlsdiag lab`` on free ports, its state folder and manifest in a temporary folder."""
    folder = tmp_path_factory.mktemp("lab")
    base = free_base_port()
    state, copy, output = folder / "state", folder / "copy.json", folder / "lab.out"
    with output.open("wb") as sink:
        process = start_tlsdiag(
            "lab",
            "--base-port",
            str(base),
            "--state-dir",
            str(state),
            "--manifest",
            str(copy),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        manifest = wait_for("the manifest", lambda: read_json(copy), process)
        yield RunningLab(process, base, state, manifest, output)
    finally:
        stop(process)


def probe_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """``tlsdiag probe`` with the manifest entry's options; the JSON result."""
    arguments = entry_arguments(entry)
    run = run_tlsdiag("probe", *arguments, "--format", "json")
    assert run.returncode in (0, 1, 3), run.stderr
    result: dict[str, Any] = json.loads(run.stdout)
    return result


# -- the regression matrix -------------------------------------------------------------------


def test_every_endpoint_reports_its_expected_finding(lab: RunningLab) -> None:
    """Each manifest entry, probed through the CLI with its options, reports its ``expect``."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = {
            e["name"]: r
            for e, r in zip(lab.manifest, pool.map(probe_entry, lab.manifest), strict=True)
        }
    expected = {e["name"]: e["expect"] for e in lab.manifest}
    assert {name: seen(r, expected[name]) for name, r in results.items()} == expected


def test_lab_covers_the_issue_faults(lab: RunningLab) -> None:
    """The lab has every fault the lab promises, each on its own fixed port."""
    expects = sorted(e["expect"] for e in lab.manifest)
    for wanted in (
        "ok",
        "expired",
        "not_yet_valid",
        "hostname_mismatch",
        "self_signed",
        "untrusted_root",
        "missing_intermediate",
        "chain_order",
        "weak_key",
        "client_certificate_required",
        "revoked",
        "not_tls",
        "timeout",
        "ftps_session_reuse_required",
        "ftps_no_tls",
        "ftps_pasv_address",
        "ftps_explicit_port",
    ):
        assert wanted in expects
    assert expects.count("expired") == 2  # the leaf, and the intermediate
    schemes = {e["url"].split(":")[0] for e in lab.manifest if e["expect"] == "ok"}
    assert schemes == {"https", "ftps", "ftpes"}  # healthy HTTPS, implicit and explicit FTPS
    ports = [int(e["url"].rsplit(":", 1)[1]) for e in lab.manifest]
    assert len(set(ports)) == len(ports)
    assert all(lab.base_port < p < lab.base_port + SPAN for p in ports)


# -- what the lab writes and publishes ---------------------------------------------------------


def test_state_folder_holds_what_clients_need(lab: RunningLab) -> None:
    """CA bundle, client identity (key readable by the owner only), CRL and manifest."""
    files = {p.name for p in lab.state.iterdir()}
    wanted = {"ca.pem", "client.pem", "client.key", "client-ca.pem", "issuing-ca.crl"}
    assert wanted | {"manifest.json"} <= files
    assert stat.S_IMODE((lab.state / "client.key").stat().st_mode) == 0o600
    assert read_json(lab.state / "manifest.json") == lab.manifest
    mtls = next(e for e in lab.manifest if e.get("cert"))
    assert (mtls["cert"], mtls["key"]) == (
        str(lab.state / "client.pem"),
        str(lab.state / "client.key"),
    )
    client = x509.load_pem_x509_certificate((lab.state / "client.pem").read_bytes())
    assert certificates.allows_usage(client, x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH)
    (client_ca,) = x509.load_pem_x509_certificates((lab.state / "client-ca.pem").read_bytes())
    assert certificates.issued_by(client, client_ca)


def test_crl_lists_the_revoked_endpoints_leaf(lab: RunningLab) -> None:
    """The written CRL (and the one published at the leaf's CRL URL) revokes that leaf only."""
    entry = next(e for e in lab.manifest if e["expect"] == "revoked")
    leaf = served_leaf(entry)
    crl = x509.load_pem_x509_crl(Path(entry["crl"]).read_bytes())
    assert [r.serial_number for r in crl] == [leaf.serial_number]
    points = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    url = points[0].full_name[0].value
    published = x509.load_der_x509_crl(fetch(url))
    assert published.public_bytes(DER) == crl.public_bytes(DER)


def test_missing_intermediate_aia_is_served_by_the_lab(lab: RunningLab) -> None:
    """The leaf-only endpoint's AIA URL points at the lab, which serves the leaf's issuer."""
    entry = next(e for e in lab.manifest if e["expect"] == "missing_intermediate")
    leaf = served_leaf(entry)
    (url,) = certificates.ca_issuers_urls(leaf)
    assert url.startswith(f"http://127.0.0.1:{lab.base_port}/")
    issuer = x509.load_der_x509_certificate(fetch(url))
    assert certificates.issued_by(leaf, issuer) and not certificates.is_self_signed(issuer)


def served_leaf(entry: dict[str, Any]) -> x509.Certificate:
    """The leaf an endpoint serves, from a probe's JSON result."""
    result = probe_entry(entry)
    return x509.load_pem_x509_certificate(result["served_chain"][0]["pem"].encode())


def fetch(url: str) -> bytes:
    """The body of an http:// URL."""
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
    return body


def test_table_names_every_endpoint_and_its_command(lab: RunningLab) -> None:
    """The printed table has each endpoint's name, URL, expected finding and probe command."""
    text = lab.output.read_text()
    for entry in lab.manifest:
        line = next(x for x in text.splitlines() if x.startswith(entry["name"] + " "))
        assert entry["url"] in line and entry["expect"] in line
        assert f"$ {entry['command']}" in text


# -- starting and stopping ----------------------------------------------------------------------


def test_taken_port_is_a_usage_error(lab: RunningLab) -> None:
    """A second lab on the same ports exits 2 and says which port, and leaves the running
    lab's files alone (the same state folder: its trust material must stay valid)."""
    before = {p.name: p.read_bytes() for p in lab.state.iterdir()}
    run = run_tlsdiag("lab", "--base-port", str(lab.base_port), "--state-dir", str(lab.state))
    assert run.returncode == 2
    assert f"127.0.0.1:{lab.base_port}" in run.stderr and "--base-port" in run.stderr
    assert {p.name: p.read_bytes() for p in lab.state.iterdir()} == before


def test_bind_must_be_an_ip_address(tmp_path: Path) -> None:
    """A host name as --bind is a usage error before anything is made or written."""
    run = run_tlsdiag("lab", "--bind", "lab.example", "--state-dir", str(tmp_path / "state"))
    assert run.returncode == 2
    assert "not an IP address" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "state").exists()


def test_unwritable_manifest_is_a_usage_error(tmp_path: Path) -> None:
    """--manifest in a folder that does not exist: exit 2 naming that file, the ports freed."""
    base = free_base_port()
    wanted = tmp_path / "missing" / "manifest.json"
    run = run_tlsdiag(
        "lab", "--base-port", str(base), "--state-dir", str(tmp_path), "--manifest", str(wanted)
    )
    assert run.returncode == 2
    assert f"the manifest {str(wanted)!r} cannot be written" in run.stderr
    assert "Traceback" not in run.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", base + 1))  # raises if the lab still held it


def test_listen_errors_name_the_option_to_change() -> None:
    """A taken port points at the base port; an address of another machine at --bind."""
    taken = CannotListenError("127.0.0.1", 9400, OSError(errno.EADDRINUSE, "in use"))
    foreign = CannotListenError("192.0.2.7", 9400, OSError(errno.EADDRNOTAVAIL, "not here"))
    assert "--base-port" in servers._listen_advice(taken)
    assert "--bind" in servers._listen_advice(foreign)
    assert "--base-port" not in servers._listen_advice(foreign)


def test_sigterm_stops_the_lab_cleanly(tmp_path: Path) -> None:
    """SIGTERM ends ``tlsdiag lab`` with exit 0 and its ports are free again."""
    base = free_base_port()
    process = start_tlsdiag(
        "lab",
        "--base-port",
        str(base),
        "--state-dir",
        str(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for("the manifest", lambda: read_json(tmp_path / "manifest.json"), process)
    assert stop(process) == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", base + 1))  # raises if the lab still held it


# -- the servers, in memory -------------------------------------------------------------------


def test_head_gets_the_get_headers_without_a_body_or_a_warning() -> None:
    """Probes ask HEAD first: a lab page answers it with GET's length and logs nothing."""
    body = b"tlsdiag lab: healthy\n"
    site = servers._site(servers._Fixed(body))
    events: list[LogEvent] = []
    globalLogPublisher.addObserver(events.append)
    try:
        channel = site.buildProtocol(None)
        transport = StringTransport()
        channel.makeConnection(transport)
        channel.dataReceived(b"HEAD / HTTP/1.1\r\nHost: lab\r\n\r\n")
        channel.connectionLost(None)
    finally:
        globalLogPublisher.removeObserver(events.append)
    head, _, rest = transport.value().partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK"
    assert f"content-length: {len(body)}" in [line.lower() for line in lines]
    assert rest == b""
    assert [formatEvent(e) for e in events if "HEAD" in formatEvent(e)] == []


def test_silent_endpoint_hangs_up_after_its_hold() -> None:
    """The silent port says nothing, and closes a connection after SILENT_HOLD seconds."""
    clock = Clock()
    quiet = servers._Quiet()
    quiet.callLater = clock.callLater  # type: ignore[method-assign]
    transport = StringTransport()
    quiet.makeConnection(transport)
    quiet.dataReceived(b"\x16\x03\x01 a ClientHello")
    clock.advance(endpoints.SILENT_HOLD - 1)
    assert (transport.value(), transport.disconnecting) == (b"", False)
    clock.advance(1)
    assert transport.disconnecting or transport.disconnected


def test_lab_modules_without_servers_do_not_import_twisted() -> None:
    """The manifest, the endpoints and the command's registration are pure data."""
    code = (
        "import sys\n"
        "import diagnostics.cli.lab, diagnostics.lab.endpoints, diagnostics.lab.manifest\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'twisted'))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert run.stdout.strip() == "[]"


# -- pure parts -----------------------------------------------------------------------------------


def test_manifest_arguments_follow_the_probe_options() -> None:
    """Options become probe flags: true is a bare flag, false is left out, values follow."""
    entry = ManifestEntry(
        "x",
        "https://127.0.0.1:1",
        "ca.pem",
        "ok",
        "",
        {"cert": "c.pem", "key": "k.pem", "fetch_issuer": True, "data_channel": False},
    )
    assert entry.arguments == [
        "https://127.0.0.1:1",
        "--ca",
        "ca.pem",
        "--cert",
        "c.pem",
        "--key",
        "k.pem",
        "--fetch-issuer",
    ]
    options = entry.probe_options()
    assert (options.trust.cert_file, options.trust.key_file, options.fetch_issuer) == (
        "c.pem",
        "k.pem",
        True,
    )


def test_wildcard_bind_gives_loopback_urls_and_names() -> None:
    """A wildcard bind address is reached over loopback; a specific one is in the leaf."""
    assert endpoints.url_host("0.0.0.0") == "127.0.0.1"
    assert endpoints.url_host("::1") == "[::1]"
    assert "0.0.0.0" not in endpoints.leaf_names("0.0.0.0")
    assert "192.0.2.7" in endpoints.leaf_names("192.0.2.7")


def test_daemon_targets_carry_the_lab_trust_and_name() -> None:
    """Each manifest entry becomes a target with its own trust material and a ``lab`` label."""
    entry = ManifestEntry(
        "revoked", "https://127.0.0.1:9413", "s/ca.pem", "revoked", "", {"crl": "s/x.crl"}
    )
    silent = ManifestEntry("silent", "https://127.0.0.1:9415", "s/ca.pem", "timeout", "", {})
    first, second = lab_targets([entry, silent], interval=7.0, timeout=4.0)
    assert first.settings.options.trust.crl_files == ("s/x.crl",)
    assert first.settings.options.trust.ca_files == ("s/ca.pem",)
    assert dict(first.settings.labels) == {"lab": "revoked"}
    assert (second.settings.interval, second.settings.options.timeout) == (7.0, 4.0)


@pytest.mark.parametrize("base", [0, endpoints.MAX_BASE_PORT, endpoints.MAX_BASE_PORT + 1])
def test_base_port_bounds_are_one_rule(tmp_path: Path, base: int) -> None:
    """``[lab] base_port``, ``tlsdiag lab --base-port`` and start_lab accept and refuse the same
    base ports, with the same reason: the lab's highest port must exist."""
    from diagnostics.cli.main import UsageError, build_parser
    from diagnostics.daemon.config import ConfigError, load_config

    config = tmp_path / "tlsdiag.toml"
    config.write_text(f"[lab]\nenabled = true\nbase_port = {base}\n")
    fits = base + endpoints.PORT_SPAN - 1 <= 65535 and base >= 1
    if fits:
        lab = load_config(str(config), environ={}).lab
        assert lab is not None and lab.base_port == base
        assert build_parser().parse_args(["lab", "--base-port", str(base)]).base_port == base
        return
    with pytest.raises(ConfigError) as caught:
        load_config(str(config), environ={})
    (problem,) = caught.value.problems
    assert problem.key == "lab.base_port"
    with pytest.raises(UsageError) as usage:
        build_parser().parse_args(["lab", "--base-port", str(base)])
    assert problem.message in str(usage.value)
    with pytest.raises(servers.LabError) as refused:
        servers.start_lab(Clock(), base_port=base, state_dir=str(tmp_path / "state"))
    assert problem.message in str(refused.value)
