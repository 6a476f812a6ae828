"""``--format s_client``: the layout from hand-built results, and against the real ``s_client``.

The comparison tests start a real ``openssl s_server`` and run both the real
``openssl s_client`` and ``tlsdiag probe --format s_client`` against it; they
are skipped when no ``openssl`` command is installed.
"""

from __future__ import annotations

import datetime
import os
import re
import selectors
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from diagnostics.model.result import (
    Failure,
    Phase,
    ProbeResult,
    Target,
    TLSFacts,
    VerifyEvent,
)
from diagnostics.render.sclient import render_sclient
from tests.support import pki

REPO = Path(__file__).resolve().parents[2]

# Reason texts as OpenSSL words them; the renderer must print whatever the event carries.
REASONS = {
    0: "ok",
    2: "unable to get issuer certificate",
    9: "certificate is not yet valid",
    10: "certificate has expired",
    20: "unable to get local issuer certificate",
    21: "unable to verify the first certificate",
    62: "hostname mismatch",
}


# -- parsing s_client-style text (ours and OpenSSL's alike) -------------------------------


def _normalise_dn(text: str) -> str:
    """A DN with the spaces around ``=`` removed, so every OpenSSL style compares equal."""
    return re.sub(r"\s*=\s*", "=", text.strip())


@attrs.frozen
class Parsed:
    """The comparable facts of one s_client-style output."""

    events: tuple[tuple[int, int, str], ...]  # (depth, code, subject) per callback call
    chain: tuple[tuple[str, str], ...]  # (subject, issuer) per served certificate
    verify_return_code: int | None


def parse_sclient(text: str) -> Parsed:
    """Pull verify events, the served chain and the final verify code out of s_client text."""
    events: list[list[object]] = []
    chain: list[tuple[str, str]] = []
    subject: str | None = None
    code: int | None = None
    for line in text.splitlines():
        if match := re.fullmatch(r"depth=(\d+) (.*)", line):
            events.append([int(match[1]), 0, _normalise_dn(match[2])])
        elif (match := re.match(r"verify error:num=(\d+):", line)) and events:
            events[-1][1] = int(match[1])
        elif match := re.fullmatch(r" *\d+ s:(.*)", line):
            subject = _normalise_dn(match[1])
        elif (match := re.fullmatch(r" +i:(.*)", line)) and subject is not None:
            chain.append((subject, _normalise_dn(match[1])))
            subject = None
        elif (match := re.fullmatch(r"Verify return code: (\d+) .*", line)) and code is None:
            # Unindented: the session summary, not a later SSL-Session block.
            code = int(match[1])
    return Parsed(
        events=tuple((int(str(d)), int(str(c)), str(s)) for d, c, s in events),
        chain=tuple(chain),
        verify_return_code=code,
    )


# -- hand-built results -------------------------------------------------------------------

TARGET = Target(url="tls://127.0.0.1:4433", scheme="tls", host="127.0.0.1", port=4433)
TLS13 = TLSFacts(
    version="TLSv1.3",
    cipher="TLS_AES_256_GCM_SHA384",
    alpn=None,
    session_reused=False,
    openssl_version="OpenSSL 4.0.3",
)


@pytest.fixture(scope="module")
def chain() -> pki.Chain:
    """An EC root, intermediate and leaf, with O = Example in every name."""
    root = pki.make_ca("Example Root CA", organization="Example")
    intermediate = pki.make_ca(
        "Example Intermediate CA", parent=root, path_length=0, organization="Example"
    )
    leaf = pki.issue(intermediate, "localhost", organization="Example")
    return pki.Chain(root, intermediate, leaf)


def event(code: int, depth: int, cert: x509.Certificate | None) -> VerifyEvent:
    """One verify callback call."""
    return VerifyEvent(
        depth=depth, code=code, name=f"X{code}", reason=REASONS[code], certificate=cert
    )


def lines_of(result: ProbeResult) -> list[str]:
    """The rendered text, line by line."""
    text = render_sclient(result)
    assert text.endswith("\n")
    return text.splitlines()


def following(lines: Sequence[str], marker: str, count: int) -> list[str]:
    """The ``count`` lines after the first line equal to ``marker``."""
    start = lines.index(marker) + 1
    return list(lines[start : start + count])


def test_verify_block_one_entry_per_event_in_callback_order(chain: pki.Chain) -> None:
    """Every recorded callback call is one depth/verify-return block, errors named, order kept."""
    leaf = chain.leaf.cert
    result = ProbeResult(
        target=TARGET,
        tls=TLS13,
        served_chain=(leaf,),
        verify_events=(event(20, 0, leaf), event(21, 0, leaf), event(0, 0, leaf)),
    )
    lines = lines_of(result)
    assert lines[:8] == [
        "depth=0 O = Example, CN = localhost",
        "verify error:num=20:unable to get local issuer certificate",
        "verify return:1",
        "depth=0 O = Example, CN = localhost",
        "verify error:num=21:unable to verify the first certificate",
        "verify return:1",
        "depth=0 O = Example, CN = localhost",
        "verify return:1",
    ]
    assert lines[8] == "CONNECTED"


def test_depth_order_is_not_sorted(chain: pki.Chain) -> None:
    """A depth-0 error reported before the chain walk stays first, as OpenSSL called back."""
    c = chain
    events = (
        event(62, 0, c.leaf.cert),
        event(0, 2, c.root.cert),
        event(0, 1, c.intermediate.cert),
        event(0, 0, c.leaf.cert),
    )
    result = ProbeResult(target=TARGET, tls=TLS13, served_chain=c.served, verify_events=events)
    depths = [line for line in lines_of(result) if line.startswith("depth=")]
    assert depths == [
        "depth=0 O = Example, CN = localhost",
        "depth=2 O = Example, CN = Example Root CA",
        "depth=1 O = Example, CN = Example Intermediate CA",
        "depth=0 O = Example, CN = localhost",
    ]


def test_validity_and_issuer_details_follow_their_codes() -> None:
    """Codes 9 and 10 add notBefore=/notAfter= in OpenSSL's time form; code 2 adds issuer=."""
    start = datetime.datetime(2030, 3, 5, 7, 8, 9, tzinfo=datetime.UTC)
    early = pki.issue(None, "early", not_before=start, not_after=start + datetime.timedelta(days=9))
    end = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    late = pki.issue(None, "late", not_before=end - datetime.timedelta(days=30), not_after=end)
    root = pki.make_ca("Far Root", organization="Far")
    orphan = pki.make_ca("Orphan CA", parent=root)
    result = ProbeResult(
        target=TARGET,
        tls=TLS13,
        verify_events=(event(9, 0, early.cert), event(10, 0, late.cert), event(2, 1, orphan.cert)),
    )
    lines = lines_of(result)
    assert following(lines, "depth=0 CN = early", 3) == [
        "verify error:num=9:certificate is not yet valid",
        "notBefore=Mar  5 07:08:09 2030 GMT",
        "verify return:1",
    ]
    assert following(lines, "depth=0 CN = late", 3) == [
        "verify error:num=10:certificate has expired",
        "notAfter=Jan  1 00:00:00 2024 GMT",
        "verify return:1",
    ]
    assert following(lines, "depth=1 CN = Orphan CA", 3) == [
        "verify error:num=2:unable to get issuer certificate",
        "issuer= O = Far, CN = Far Root",
        "verify return:1",
    ]


def test_detail_lines_repeat_after_an_error(chain: pki.Chain) -> None:
    """Calls after an error repeat its detail line, as s_client's uncleared error makes it do."""
    leaf = chain.leaf.cert
    end = leaf.not_valid_after_utc
    not_after = f"notAfter={end:%b} {end.day:2d} {end:%H:%M:%S %Y} GMT"
    result = ProbeResult(
        target=TARGET,
        tls=TLS13,
        verify_events=(event(0, 1, chain.intermediate.cert), event(10, 0, leaf), event(0, 0, leaf)),
    )
    assert lines_of(result)[:9] == [
        "depth=1 O = Example, CN = Example Intermediate CA",
        "verify return:1",
        "depth=0 O = Example, CN = localhost",
        "verify error:num=10:certificate has expired",
        not_after,
        "verify return:1",
        "depth=0 O = Example, CN = localhost",
        not_after,
        "verify return:1",
    ]


def test_no_detail_lines_without_a_detailed_error(chain: pki.Chain) -> None:
    """Codes 20 and 21 add no detail lines, neither to themselves nor to later calls."""
    leaf = chain.leaf.cert
    result = ProbeResult(
        target=TARGET,
        tls=TLS13,
        verify_events=(event(20, 0, leaf), event(21, 0, leaf), event(0, 0, leaf)),
    )
    block = lines_of(result)[:8]
    assert not [line for line in block if line.startswith(("issuer=", "notAfter", "notBefore"))]


def test_event_without_certificate() -> None:
    """A callback call that carried no certificate is shown as s_client shows it."""
    result = ProbeResult(target=TARGET, tls=TLS13, verify_events=(event(20, 1, None),))
    assert lines_of(result)[:3] == [
        "depth=1 <no cert>",
        "verify error:num=20:unable to get local issuer certificate",
        "verify return:1",
    ]


def test_certificate_chain_lists_what_was_served(chain: pki.Chain) -> None:
    """Each served certificate gets s:, i:, a: and v: lines, numbered from the leaf."""
    c = chain
    result = ProbeResult(target=TARGET, tls=TLS13, served_chain=c.served)
    lines = lines_of(result)
    assert lines[:3] == ["CONNECTED", "---", "Certificate chain"]
    leaf_start = c.leaf.cert.not_valid_before_utc
    expected_v = (
        f"   v:NotBefore: {leaf_start:%b} {leaf_start.day:2d} {leaf_start:%H:%M:%S %Y} GMT; "
    )
    assert lines[3:7] == [
        " 0 s:O = Example, CN = localhost",
        "   i:O = Example, CN = Example Intermediate CA",
        "   a:PKEY: id-ecPublicKey, 256 (bit); sigalg: ecdsa-with-SHA256",
        lines[6],
    ]
    assert lines[6].startswith(expected_v) and lines[6].endswith(" GMT")
    assert lines[7:9] == [
        " 1 s:O = Example, CN = Example Intermediate CA",
        "   i:O = Example, CN = Example Root CA",
    ]
    assert lines[11] == "---"


def test_rsa_key_line() -> None:
    """An RSA leaf is described the way OpenSSL 3.0 does."""
    leaf = pki.issue(None, "rsa", key_type="rsa")
    lines = lines_of(ProbeResult(target=TARGET, tls=TLS13, served_chain=(leaf.cert,)))
    assert "   a:PKEY: rsaEncryption, 2048 (bit); sigalg: RSA-SHA256" in lines
    assert "Server public key is 2048 bit" in lines


def test_server_certificate_section(chain: pki.Chain) -> None:
    """The leaf's PEM follows 'Server certificate', then its subject= and issuer=."""
    c = chain
    lines = lines_of(ProbeResult(target=TARGET, tls=TLS13, served_chain=c.served))
    start = lines.index("Server certificate") + 1
    end = lines.index("-----END CERTIFICATE-----", start) + 1
    block = "\n".join(lines[start:end]).encode()
    assert x509.load_pem_x509_certificate(block) == c.leaf.cert
    assert lines[end : end + 3] == [
        "subject=O = Example, CN = localhost",
        "issuer=O = Example, CN = Example Intermediate CA",
        "---",
    ]
    assert lines[end + 3] == "No client certificate CA names sent"


def test_summary_reports_the_last_error(chain: pki.Chain) -> None:
    """Verification error and Verify return code name the last error, like SSL_get_verify_result."""
    leaf = chain.leaf.cert
    result = ProbeResult(
        target=TARGET,
        tls=TLS13,
        served_chain=(leaf,),
        verify_events=(event(20, 0, leaf), event(21, 0, leaf), event(0, 0, leaf)),
    )
    lines = lines_of(result)
    assert "Verification error: unable to verify the first certificate" in lines
    assert "Verification: OK" not in lines
    assert "New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384" in lines
    assert "No ALPN negotiated" in lines
    assert lines[-2:] == ["Verify return code: 21 (unable to verify the first certificate)", "---"]


def test_summary_when_everything_verified(chain: pki.Chain) -> None:
    """Only code-0 events: Verification: OK and return code 0 (ok)."""
    c = chain
    events = (event(0, 2, c.root.cert), event(0, 1, c.intermediate.cert), event(0, 0, c.leaf.cert))
    lines = lines_of(
        ProbeResult(target=TARGET, tls=TLS13, served_chain=c.served, verify_events=events)
    )
    assert "Verification: OK" in lines
    assert "Verify return code: 0 (ok)" in lines


def test_negotiated_extras(chain: pki.Chain) -> None:
    """A resumed session, an ALPN protocol and client CA names are shown as s_client does."""
    tls = attrs.evolve(
        TLS13,
        alpn="h2",
        session_reused=True,
        client_ca_names=("O = Example, CN = Client CA", "CN = Other CA"),
    )
    lines = lines_of(ProbeResult(target=TARGET, tls=tls, served_chain=chain.served))
    assert following(lines, "Acceptable client certificate CA names", 3) == [
        "O = Example, CN = Client CA",
        "CN = Other CA",
        "---",
    ]
    assert "No client certificate CA names sent" not in lines
    assert "Reused, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384" in lines
    assert "ALPN protocol: h2" in lines


def test_failed_handshake() -> None:
    """No handshake: the failure line, no peer certificate, (NONE) cipher, return code 0."""
    failure = Failure(
        phase=Phase.HANDSHAKE,
        kind="tls_error",
        message="wrong version number",
        reason="wrong version number",
    )
    lines = lines_of(ProbeResult(target=TARGET, failure=failure))
    assert lines[0] == "error: handshake failed (tls_error): wrong version number"
    assert lines[1:4] == ["CONNECTED", "---", "no peer certificate available"]
    assert "Certificate chain" not in lines
    assert "Server certificate" not in lines
    assert "New, (NONE), Cipher is (NONE)" in lines
    assert "Verify return code: 0 (ok)" in lines
    assert not any(line.startswith("Server public key") for line in lines)


def test_connect_failure_stops_before_connected() -> None:
    """A TCP failure prints only the failure, as s_client stops before CONNECTED."""
    failure = Failure(phase=Phase.CONNECT, kind="connection_refused", message="refused")
    lines = lines_of(ProbeResult(target=TARGET, failure=failure))
    assert lines == ["error: connect failed (connection_refused): refused"]


def test_failure_after_the_handshake_comes_last(chain: pki.Chain) -> None:
    """A failure after a completed handshake follows the full summary."""
    failure = Failure(
        phase=Phase.HANDSHAKE, kind="tls_error", message="tlsv13 alert certificate required"
    )
    lines = lines_of(
        ProbeResult(target=TARGET, tls=TLS13, served_chain=chain.served, failure=failure)
    )
    assert "Server certificate" in lines
    assert lines[-2] == "---"
    assert lines[-1] == "error: handshake failed (tls_error): tlsv13 alert certificate required"


def test_ftp_greeting_follows_the_verify_block(chain: pki.Chain) -> None:
    """An FTP greeting is printed after the verify lines, before the connection summary."""
    c = chain
    events = (event(0, 0, c.leaf.cert),)
    result = ProbeResult(
        target=attrs.evolve(TARGET, scheme="ftpes", port=21),
        tls=TLS13,
        served_chain=c.served,
        verify_events=events,
        ftp={"greeting": "220-Welcome\n220 Ready"},
    )
    lines = lines_of(result)
    assert lines[:5] == [
        "depth=0 O = Example, CN = localhost",
        "verify return:1",
        "220-Welcome",
        "220 Ready",
        "CONNECTED",
    ]


def test_parser_reads_back_what_the_renderer_wrote(chain: pki.Chain) -> None:
    """The comparison parser recovers events, chain and return code from our own output."""
    c = chain
    events = (event(20, 1, c.intermediate.cert), event(0, 0, c.leaf.cert))
    parsed = parse_sclient(
        render_sclient(
            ProbeResult(target=TARGET, tls=TLS13, served_chain=c.served, verify_events=events)
        )
    )
    assert parsed.events == (
        (1, 20, "O=Example, CN=Example Intermediate CA"),
        (0, 0, "O=Example, CN=localhost"),
    )
    assert parsed.chain == (
        ("O=Example, CN=localhost", "O=Example, CN=Example Intermediate CA"),
        ("O=Example, CN=Example Intermediate CA", "O=Example, CN=Example Root CA"),
    )
    assert parsed.verify_return_code == 20


# -- against the real openssl s_client and s_server ---------------------------------------

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="no openssl command installed")


def _write_pem(path: Path, *items: x509.Certificate | pki.PrivateKey) -> Path:
    blobs = []
    for item in items:
        if isinstance(item, x509.Certificate):
            blobs.append(item.public_bytes(serialization.Encoding.PEM))
        else:
            blobs.append(
                item.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
    path.write_bytes(b"".join(blobs))
    return path


@attrs.frozen
class Scenario:
    """A server configuration and the CA file the clients trust."""

    leaf: pki.Issued
    extra: tuple[x509.Certificate, ...]  # sent after the leaf
    trusted: x509.Certificate


def _scenario(name: str) -> Scenario:
    # RSA 2048 throughout: OpenSSL 3.0's default security level accepts it everywhere.
    root = pki.make_ca("Probe Test Root CA", key_type="rsa", organization="Probe Test")
    intermediate = pki.make_ca(
        "Probe Test Intermediate CA",
        parent=root,
        path_length=0,
        key_type="rsa",
        organization="Probe Test",
    )
    expired = name == "expired_leaf"
    now = pki.utcnow()
    leaf = pki.issue(
        intermediate,
        "localhost",
        sans=("localhost", "127.0.0.1"),
        key_type="rsa",
        organization="Probe Test",
        not_before=now - datetime.timedelta(days=60) if expired else None,
        not_after=now - datetime.timedelta(days=1) if expired else None,
    )
    if name == "untrusted_root":
        unrelated = pki.make_ca("Unrelated Root CA", key_type="rsa", organization="Elsewhere")
        return Scenario(leaf, (intermediate.cert,), unrelated.cert)
    if name == "missing_intermediate":
        return Scenario(leaf, (), root.cert)
    return Scenario(leaf, (intermediate.cert,), root.cert)


@pytest.fixture
def s_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A real ``openssl s_server`` for the scenario; yields its port and the CA file to trust."""
    assert OPENSSL is not None
    scenario = _scenario(request.param)
    cert = _write_pem(tmp_path / "leaf.pem", scenario.leaf.cert)
    key = _write_pem(tmp_path / "leaf.key", scenario.leaf.key)
    ca_file = _write_pem(tmp_path / "root.pem", scenario.trusted)
    command = [OPENSSL, "s_server", "-rev", "-accept", "127.0.0.1:0", "-cert", str(cert)]
    command += ["-key", str(key)]
    if scenario.extra:
        command += ["-cert_chain", str(_write_pem(tmp_path / "chain.pem", *scenario.extra))]
    server = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        bufsize=0,
    )
    try:
        yield _accepting_port(server), ca_file
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        assert server.stdout is not None
        server.stdout.close()


def _accepting_port(server: subprocess.Popen[bytes]) -> int:
    """The port s_server listens on, read from its ``ACCEPT host:port`` line.

    s_server binds port 0 itself (no race for a free port) and prints that line
    once it is listening, so connections made afterwards are accepted.
    """
    assert server.stdout is not None
    fd = server.stdout.fileno()
    seen = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        # Raw reads: a buffered reader could hold the line while select() waits for more.
        while selector.select(timeout=20):
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            seen += chunk
            if match := re.search(rb"^ACCEPT 127\.0\.0\.1:(\d+)$", seen, re.MULTILINE):
                return int(match[1])
    raise AssertionError(f"openssl s_server did not start listening: {seen!r}")


def _run_s_client(port: int, ca_file: Path) -> str:
    assert OPENSSL is not None
    done = subprocess.run(
        [
            OPENSSL,
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            *("-servername", "localhost"),
            *("-CAfile", str(ca_file)),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    # Verify lines go to stderr, the rest to stdout: stderr first, as our text is laid out.
    return done.stderr + done.stdout


def _run_tlsdiag(port: int, ca_file: Path) -> str:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "diagnostics",
            "probe",
            f"tls://127.0.0.1:{port}",
            *("--servername", "localhost", "--ca", str(ca_file), "--format", "s_client"),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return done.stdout


# The final code each scenario must give: documented OpenSSL behaviour, checked on the
# real s_client so that a broken test setup cannot pass as agreement.
EXPECTED_RETURN_CODE = {
    "valid_chain": 0,
    "missing_intermediate": 21,
    "untrusted_root": 20,
    "expired_leaf": 10,
}


@needs_openssl
@pytest.mark.parametrize("s_server", sorted(EXPECTED_RETURN_CODE), indirect=True)
def test_same_story_as_openssl_s_client(
    s_server: tuple[int, Path], request: pytest.FixtureRequest
) -> None:
    """Against one real server, tlsdiag and s_client report the same events, chain and code."""
    port, ca_file = s_server
    their_text = _run_s_client(port, ca_file)
    our_text = _run_tlsdiag(port, ca_file)
    theirs, ours = parse_sclient(their_text), parse_sclient(our_text)
    scenario = request.node.callspec.params["s_server"]
    assert theirs.verify_return_code == EXPECTED_RETURN_CODE[scenario]
    assert theirs.events and theirs.chain
    assert ours.events == theirs.events
    assert ours.chain == theirs.chain
    assert ours.verify_return_code == theirs.verify_return_code
    assert verify_block(our_text) == verify_block(their_text)


def verify_block(text: str) -> list[str]:
    """The verify callback lines before the connection summary, comparable across versions.

    DNs lose the spaces around ``=``; error lines keep their code only, since the
    reason texts are those of two different OpenSSL builds.
    """
    block = []
    for line in text.splitlines():
        if line.startswith("CONNECTED"):
            break
        if line == "DONE":  # s_client's own farewell on stderr
            continue
        line = re.sub(r"^(verify error:num=\d+):.*", r"\1", line)
        block.append(_normalise_dn(line))
    return block
