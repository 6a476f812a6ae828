"""Certificate tooling: generated material as the ``openssl`` command sees it, file safety,
and the mutual self-signed set-up used end to end against ``openssl s_server -Verify``."""

from __future__ import annotations

import io
import ipaddress
import json
import os
import re
import shlex
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from diagnostics.cli import cert as certtool_cli
from diagnostics.cli.main import EXIT_OK, EXIT_USAGE, main
from diagnostics.pki import generate
from diagnostics.pki.generate import KeyType, Output
from tests.support import servers
from tests.support.listening import start_listen
from tests.support.servers import run_tlsdiag

needs_openssl = pytest.mark.skipif(servers.OPENSSL is None, reason="no openssl command")


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the ``openssl`` command; its output (stdout and stderr) is the test's evidence."""
    assert servers.OPENSSL is not None
    return subprocess.run(
        [servers.OPENSSL, *map(str, args)], capture_output=True, text=True, timeout=60
    )


def tlsdiag(*args: str | Path) -> tuple[int, str]:
    """``tlsdiag ARGS`` in this process: exit code and standard output."""
    out = io.StringIO()
    code = main([str(a) for a in args], out=out)
    return code, out.getvalue()


def mode_of(path: Path) -> int:
    """The permission bits of a file."""
    return stat.S_IMODE(path.stat().st_mode)


# -- keys and names ----------------------------------------------------------------------


def test_default_key_is_p256() -> None:
    """Without a key type the key is an EC key on P-256."""
    key = generate.generate_key()
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == "secp256r1"


def test_rsa_below_2048_is_refused_with_the_reason() -> None:
    """rsa1024 is refused, naming OpenSSL's security level, unless weak keys are allowed."""
    with pytest.raises(generate.WeakKeyError, match="security level 2"):
        generate.generate_key(KeyType.RSA1024)
    key = generate.generate_key(KeyType.RSA1024, allow_weak=True)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 1024
    assert [k.value for k in KeyType if k.is_weak] == ["rsa1024"]


def test_ip_addresses_become_ip_sans_and_the_cn_a_dns_san() -> None:
    """IP literals are IP SANs, names DNS SANs; the CN comes first; duplicates are dropped."""
    key = generate.generate_key()
    cert = generate.self_signed(
        key, "ftp.example.test", sans=["10.0.0.1", "alt.example.test", "::1", "10.0.0.1"]
    )
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(names) == [
        x509.DNSName("ftp.example.test"),
        x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
        x509.DNSName("alt.example.test"),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]


def test_a_cn_that_is_no_host_name_is_not_a_san() -> None:
    """A CN such as 'Partner Upload' stays in the subject only."""
    key = generate.generate_key()
    cert = generate.self_signed(key, "Partner Upload", sans=["upload.example.test"])
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(names) == [x509.DNSName("upload.example.test")]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Partner Upload"


@pytest.mark.parametrize("bad", ["under_score.example", "-lead.example", "two words", "hôte.fr"])
def test_a_san_that_is_neither_name_nor_address_is_refused(bad: str) -> None:
    """A SAN must be an IP address or a DNS host name (ASCII, letters, digits, hyphens)."""
    with pytest.raises(generate.NameProblemError, match=re.escape(repr(bad))):
        generate.general_names([bad])


def test_a_cn_longer_than_64_characters_is_refused() -> None:
    """X.509 bounds the CN at 64 characters; a longer one is refused, not truncated."""
    with pytest.raises(generate.NameProblemError, match="at most 64"):
        generate.subject_name("a" * 65)


def test_self_signed_extensions() -> None:
    """An end-entity certificate for both TLS roles, its own key identified on both sides."""
    key = generate.generate_key()
    cert = generate.self_signed(key, "host.example.test", days=10)
    ext = cert.extensions
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = ext.get_extension_for_class(x509.KeyUsage).value
    assert (usage.digital_signature, usage.key_cert_sign) == (True, False)
    assert set(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == {
        x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
        x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH,
    }
    ski = ext.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == ski
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime.days == 10
    assert cert.issuer == cert.subject


@pytest.mark.parametrize("days", [3_000_000, 10**9, 10**20])
def test_a_lifetime_past_the_year_9999_is_refused(days: int) -> None:
    """--days beyond what X.509 can carry is a refusal with the reason, never a traceback."""
    with pytest.raises(generate.CertToolError, match="9999-12-31"):
        generate.self_signed(generate.generate_key(), "host.example.test", days=days)


def test_serials_are_random() -> None:
    """Two certificates for the same name never share a serial number."""
    key = generate.generate_key()
    a = generate.self_signed(key, "host.example.test")
    b = generate.self_signed(key, "host.example.test")
    assert a.serial_number != b.serial_number
    assert a.serial_number.bit_length() > 64


# -- writing files -----------------------------------------------------------------------


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that takes nothing away: file modes come from the code alone."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("open_umask")
def test_private_files_are_created_0600(tmp_path: Path) -> None:
    """A private key is created with mode 0600, a certificate with 0644."""
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    generate.write_outputs([Output(cert, b"cert"), Output(key, b"key", private=True)])
    assert (mode_of(key), mode_of(cert)) == (0o600, 0o644)
    assert key.read_bytes() == b"key"


@pytest.mark.usefixtures("open_umask")
def test_force_replaces_a_world_readable_key_with_a_0600_one(tmp_path: Path) -> None:
    """Overwriting with force gives the new key mode 0600, whatever the old file's mode."""
    key = tmp_path / "k.pem"
    key.write_bytes(b"old")
    key.chmod(0o644)
    generate.write_outputs([Output(key, b"new", private=True)], force=True)
    assert (key.read_bytes(), mode_of(key)) == (b"new", 0o600)
    assert [p.name for p in tmp_path.iterdir()] == ["k.pem"]


def test_an_existing_output_stops_everything(tmp_path: Path) -> None:
    """Without force, one existing output means no file is written or changed."""
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    key.write_bytes(b"keep me")
    with pytest.raises(generate.OutputExistsError, match=r"k\.pem already exists"):
        generate.write_outputs([Output(cert, b"c"), Output(key, b"k", private=True)])
    assert not cert.exists()
    assert key.read_bytes() == b"keep me"


def test_the_same_path_twice_and_a_missing_directory_are_refused(tmp_path: Path) -> None:
    """Every output problem is found before anything is written, and all are reported."""
    same = tmp_path / "both.pem"
    elsewhere = tmp_path / "no-such-dir" / "k.pem"
    with pytest.raises(generate.CertToolError) as caught:
        generate.write_outputs([Output(same, b"c"), Output(same, b"k"), Output(elsewhere, b"")])
    assert "given for two outputs" in str(caught.value)
    assert "does not exist" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


# -- the command line, checked by the openssl command ------------------------------------


@needs_openssl
@pytest.mark.parametrize(
    ("key_type", "expected_key"),
    [
        ("ec256", ["Public-Key: (256 bit)", "NIST CURVE: P-256"]),
        ("ec384", ["Public-Key: (384 bit)", "NIST CURVE: P-384"]),
        ("rsa2048", ["Public-Key: (2048 bit)", "rsaEncryption"]),
    ],
)
def test_selfsigned_parsed_and_verified_by_openssl(
    key_type: str, expected_key: list[str], tmp_path: Path
) -> None:
    """openssl x509 shows the SANs and key; openssl verify accepts the certificate as its
    own CA for both TLS purposes."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    code, out = tlsdiag(
        "cert", "selfsigned", "--cn", "files.example.test", "--san", "192.0.2.7",
        "--san", "2001:db8::7", "--san", "alt.example.test", "--days", "30",
        "--key-type", key_type, "--out-cert", cert, "--out-key", key,
    )  # fmt: skip
    assert code == EXIT_OK
    assert str(cert) in out and str(key) in out
    text = openssl("x509", "-in", cert, "-noout", "-text")
    assert text.returncode == 0, text.stderr
    sans = re.search(r"Subject Alternative Name:\s*\n\s*(.+)", text.stdout)
    assert sans is not None
    assert sans.group(1).strip().split(", ") == [
        "DNS:files.example.test",
        "IP Address:192.0.2.7",
        "IP Address:2001:DB8:0:0:0:0:0:7",
        "DNS:alt.example.test",
    ]
    for fragment in expected_key:
        assert fragment in text.stdout
    assert "CA:FALSE" in text.stdout
    assert "TLS Web Server Authentication, TLS Web Client Authentication" in text.stdout
    for purpose in ("sslserver", "sslclient"):
        verify = openssl("verify", "-purpose", purpose, "-CAfile", cert, cert)
        assert (verify.returncode, verify.stdout.strip()) == (0, f"{cert}: OK"), verify.stderr
    assert mode_of(key) == 0o600
    assert openssl("pkey", "-in", key, "-noout").returncode == 0


@needs_openssl
def test_csr_verified_by_openssl_with_its_subject(tmp_path: Path) -> None:
    """openssl req -verify accepts the request and shows C, O, OU and CN and the SANs."""
    csr, key = tmp_path / "req.csr", tmp_path / "key.pem"
    code, out = tlsdiag(
        "cert", "csr", "--cn", "ftp.example.test", "--san", "198.51.100.1",
        "--country", "DE", "--org", "Example GmbH", "--ou", "File Transfer",
        "--out-csr", csr, "--out-key", key,
    )  # fmt: skip
    assert code == EXIT_OK
    assert "note:" not in out
    checked = openssl("req", "-in", csr, "-noout", "-verify", "-subject", "-text")
    assert checked.returncode == 0, checked.stderr
    assert "verify OK" in checked.stdout + checked.stderr
    subject = re.search(r"^subject=(.+)$", checked.stdout, re.M)
    assert subject is not None
    assert subject.group(1) == "C = DE, O = Example GmbH, OU = File Transfer, CN = ftp.example.test"
    assert "DNS:ftp.example.test, IP Address:198.51.100.1" in checked.stdout
    assert mode_of(key) == 0o600


def test_csr_with_uk_is_made_with_a_note(tmp_path: Path) -> None:
    """UK is accepted (exceptionally reserved) and the output says that CAs expect GB."""
    csr = tmp_path / "req.csr"
    code, out = tlsdiag(
        "cert", "csr", "--cn", "h.example.test", "--country", "UK",
        "--out-csr", csr, "--out-key", tmp_path / "k.pem",
    )  # fmt: skip
    assert code == EXIT_OK
    request = x509.load_pem_x509_csr(csr.read_bytes())
    assert request.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "UK"
    assert re.search(r"^note: .*expect GB\.$", out, re.M)


@pytest.mark.parametrize(
    ("country", "hint"),
    [
        ("de", "use DE"),
        ("DEU", "use DE"),
        ("EL", "use GR"),
        ("QZ", "user-assigned"),
        ("AB", "not assigned"),
        ("D", "two letters"),
    ],
)
def test_csr_country_refusals_exit_2_and_write_nothing(
    country: str, hint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused country code is one line on stderr with its suggestion, exit 2, no files."""
    code, out = tlsdiag(
        "cert", "csr", "--cn", "h.example.test", "--country", country,
        "--out-csr", tmp_path / "r.csr", "--out-key", tmp_path / "k.pem",
    )  # fmt: skip
    err = capsys.readouterr().err
    assert (code, out) == (EXIT_USAGE, "")
    assert err.count("\n") == 1
    assert hint in err
    assert list(tmp_path.iterdir()) == []


def test_rsa1024_refused_without_allow_weak(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--key-type rsa1024 exits 2 with the reason; with --allow-weak it is made."""
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    args = ["cert", "selfsigned", "--cn", "old.example.test", "--key-type", "rsa1024"]
    args += ["--out-cert", str(cert), "--out-key", str(key)]
    code, _ = tlsdiag(*args)
    assert code == EXIT_USAGE
    assert "security level 2" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    code, _ = tlsdiag(*args, "--allow-weak")
    assert code == EXIT_OK
    loaded = x509.load_pem_x509_certificate(cert.read_bytes()).public_key()
    assert isinstance(loaded, rsa.RSAPublicKey)
    assert loaded.key_size == 1024


def test_selfsigned_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    """An existing certificate file stops the command (exit 2, key not written); --force
    replaces both files."""
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("old certificate")
    args = ["cert", "selfsigned", "--cn", "h.example.test"]
    args += ["--out-cert", str(cert), "--out-key", str(key)]
    run = run_tlsdiag(*args)
    assert run.returncode == EXIT_USAGE
    assert run.stdout == ""
    assert run.stderr.strip().endswith("already exists; nothing was written (--force overwrites)")
    assert "Traceback" not in run.stderr
    assert (cert.read_text(), key.exists()) == ("old certificate", False)
    code, _ = tlsdiag(*args, "--force")
    assert code == EXIT_OK
    assert x509.load_pem_x509_certificate(cert.read_bytes()).subject.rfc4514_string() == (
        "CN=h.example.test"
    )
    assert mode_of(key) == 0o600


# -- the mutual set-up -------------------------------------------------------------------

SERVER_HOST = "sftp.example.test"
ACCOUNT = "JohnD"


def make_mutual(directory: Path) -> tuple[int, str]:
    """``tlsdiag cert mutual`` for SERVER_HOST and ACCOUNT into ``directory``."""
    return tlsdiag(
        "cert", "mutual", "--server-cn", SERVER_HOST, "--client-cn", ACCOUNT, "--out", directory
    )


def test_mutual_writes_four_files_and_prints_the_two_test_commands(tmp_path: Path) -> None:
    """The four files are named as partners expect, keys 0600, and the listen and probe
    commands that test the set-up are printed with those files."""
    out_dir = tmp_path / "new"
    code, out = make_mutual(out_dir)
    assert code == EXIT_OK
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(generate.MUTUAL_FILES)
    assert mode_of(out_dir / "server_key.pem") == mode_of(out_dir / "client_key.pem") == 0o600
    commands = [line.strip() for line in out.splitlines() if line.startswith("  tlsdiag ")]
    d = str(out_dir)
    assert commands == [
        f"tlsdiag listen https://{SERVER_HOST}:8443 --cert {d}/server_cert.pem "
        f"--key {d}/server_key.pem --client-ca {d}/client_cert.pem --expect-cn {ACCOUNT}",
        f"tlsdiag probe https://{SERVER_HOST}:8443 --ca {d}/server_cert.pem "
        f"--cert {d}/client_cert.pem --key {d}/client_key.pem",
    ]
    server = x509.load_pem_x509_certificate((out_dir / "server_cert.pem").read_bytes())
    client = x509.load_pem_x509_certificate((out_dir / "client_cert.pem").read_bytes())
    assert server.subject.rfc4514_string() == f"CN={SERVER_HOST}"
    assert client.subject.rfc4514_string() == f"CN={ACCOUNT}"
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(sans) == [x509.DNSName(SERVER_HOST)]
    with pytest.raises(x509.ExtensionNotFound):
        client.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_mutual_refuses_a_server_cn_that_is_no_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The server CN must be what clients connect to; nothing (no directory) is made."""
    code, _ = tlsdiag(
        "cert", "mutual", "--server-cn", "My Server", "--client-cn", ACCOUNT,
        "--out", tmp_path / "x",
    )  # fmt: skip
    assert code == EXIT_USAGE
    assert "host name or an IP address" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_mutual_refuses_to_overwrite_an_existing_set_up(tmp_path: Path) -> None:
    """A second run into the same directory changes nothing without --force."""
    assert make_mutual(tmp_path)[0] == EXIT_OK
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert make_mutual(tmp_path)[0] == EXIT_USAGE
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.fixture(scope="module")
def mutual_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mutual set-up made by ``tlsdiag cert mutual``."""
    directory = tmp_path_factory.mktemp("mutual")
    assert make_mutual(directory)[0] == EXIT_OK
    return directory


@pytest.fixture(scope="module")
def verifying_server(
    mutual_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[servers.ServerProcess]:
    """``openssl s_server`` with the server pair, requiring a client certificate that
    verifies against client_cert.pem (``-verify_return_error``: s_server otherwise only
    logs a client certificate that does not verify)."""
    if servers.OPENSSL is None:
        pytest.skip("no openssl command")
    with servers.s_server(
        tmp_path_factory.mktemp("s_server-mutual"),
        mutual_dir / "server_cert.pem",
        mutual_dir / "server_key.pem",
        extra=[
            "-Verify",
            "1",
            "-verify_return_error",
            "-CAfile",
            str(mutual_dir / "client_cert.pem"),
        ],
    ) as server:
        yield server


def probe(server: servers.ServerProcess, *args: str | Path) -> tuple[int, dict[str, Any]]:
    """``tlsdiag probe`` of the server by SERVER_HOST; exit code and JSON result."""
    run = run_tlsdiag(
        "probe", server.url("tls"), "--servername", SERVER_HOST, "--format", "json", *args
    )
    assert run.returncode in (0, 1, 3), run.stderr
    return run.returncode, json.loads(run.stdout)


def test_mutual_set_up_end_to_end(
    mutual_dir: Path, verifying_server: servers.ServerProcess
) -> None:
    """The client pair against s_server -Verify, trusting server_cert.pem: ok, exit 0."""
    code, result = probe(
        verifying_server,
        "--ca", mutual_dir / "server_cert.pem",
        "--cert", mutual_dir / "client_cert.pem",
        "--key", mutual_dir / "client_key.pem",
    )  # fmt: skip
    assert (code, result["status"], result["verify_errors"]) == (0, "ok", []), result["findings"]
    assert [f["id"] for f in result["findings"] if f["severity"] != "info"] == []


def test_mutual_set_up_without_the_client_certificate(
    mutual_dir: Path, verifying_server: servers.ServerProcess
) -> None:
    """Without --cert/--key the server's demand for a client certificate is the finding."""
    code, result = probe(verifying_server, "--ca", mutual_dir / "server_cert.pem")
    assert code != 0
    assert result["findings"][0]["id"] == "client_certificate_required"


def test_mutual_set_up_with_another_client_certificate(
    mutual_dir: Path, verifying_server: servers.ServerProcess, tmp_path: Path
) -> None:
    """A client pair from another set-up is rejected by the server."""
    assert make_mutual(tmp_path)[0] == EXIT_OK
    code, result = probe(
        verifying_server,
        "--ca", mutual_dir / "server_cert.pem",
        "--cert", tmp_path / "client_cert.pem",
        "--key", tmp_path / "client_key.pem",
    )  # fmt: skip
    assert code != 0
    assert result["findings"][0]["id"] == "client_certificate_rejected"


# -- the mutual set-up against tlsdiag listen --------------------------------------------


def printed_commands(out: str, port: int) -> tuple[list[str], list[str]]:
    """The listen and probe commands printed by ``cert mutual``, aimed at a loopback port."""
    lines = [line.strip() for line in out.splitlines() if line.startswith("  tlsdiag ")]
    listen, probe = (shlex.split(line) for line in lines)
    url = f"https://{SERVER_HOST}:{certtool_cli.MUTUAL_PORT}"
    local = f"https://{servers.HOST}:{port}"
    return (
        [local if word == url else word for word in listen[1:]],
        [local if word == url else word for word in probe[1:]],
    )


def test_mutual_set_up_with_the_printed_listen_and_probe_commands(tmp_path: Path) -> None:
    """The two printed commands, on a loopback port: the probe is ok and the listener
    accepts the client certificate for the account; a probe without it is reported by the
    listener as a missing client certificate."""
    code, out = make_mutual(tmp_path / "setup")
    assert code == EXIT_OK
    port = servers.free_port()
    listen, probe_args = printed_commands(out, port)
    log_dir = tmp_path / "logs"
    # Ready when it says so on stderr: no readiness connection, so every report is a probe's.
    listener = start_listen([*listen, "--log-dir", str(log_dir), "--format", "json"], port, log_dir)
    try:
        run = run_tlsdiag(*probe_args, "--servername", SERVER_HOST, "--format", "json")
        assert run.returncode == 0, run.stdout
        assert json.loads(run.stdout)["status"] == "ok"
        without = [a for a in probe_args if not a.endswith(("client_cert.pem", "client_key.pem"))]
        without = [a for a in without if a not in ("--cert", "--key")]
        run = run_tlsdiag(*without, "--servername", SERVER_HOST, "--format", "json")
        assert run.returncode in (0, 1), run.stderr
        reports = [listener.report(), listener.report()]
    finally:
        listener.stop()
    assert [r["status"] for r in reports] == ["ok", "problems"]
    assert reports[0]["findings"] == []
    assert "client_certificate_missing" in [f["id"] for f in reports[1]["findings"]]


# -- control characters and non-ASCII names ------------------------------------------------

CONTROLS = [
    "evil\nVerify return code: 0 (ok)",
    "a\rb",
    "bell\x07",
    "\x1b[31mred",
    "\x9bC1",
    "x\x7f",
]


@pytest.mark.parametrize("value", CONTROLS)
def test_control_characters_in_any_name_are_refused(value: str) -> None:
    """CN, O, OU, country and SANs with a control character: NameProblemError naming it."""
    makers = [
        lambda: generate.subject_name(value),
        lambda: generate.subject_name("h.example.test", org=value),
        lambda: generate.subject_name("h.example.test", ou=value),
        lambda: generate.subject_name("h.example.test", country=value),
        lambda: generate.general_names([value]),
        lambda: generate.mutual_setup(value, "JohnD"),
        lambda: generate.mutual_setup("h.example.test", value),
    ]
    for make in makers:
        with pytest.raises(generate.NameProblemError, match="control character U\\+00"):
            make()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--cn", "evil\nVerify return code: 0 (ok)"),
        ("--org", "\x1b]0;title\x07"),
        ("--ou", "x\x9b"),
    ],
)
def test_the_cert_command_refuses_control_characters_in_one_line(
    option: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """tlsdiag cert csr: exit 2, one escaped line on stderr, nothing written."""
    names = {"--cn": "h.example.test", option: value}
    args = ["cert", "csr", *[word for pair in names.items() for word in pair]]
    code, out = tlsdiag(*args, "--out-csr", tmp_path / "r.csr", "--out-key", tmp_path / "k.pem")
    err = capsys.readouterr().err
    assert (code, out) == (EXIT_USAGE, "")
    assert err.startswith("tlsdiag cert csr: ") and err.count("\n") == 1
    assert "contains the control character" in err
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", err)
    assert list(tmp_path.iterdir()) == []


def test_a_non_ascii_cn_is_made_with_a_warning_and_no_dns_san(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A U-label CN: the certificate is made (exit 0) without a DNS SAN, and stderr warns,
    pointing to the xn-- form in --san; an ASCII CN gets no warning."""
    cert = tmp_path / "c.pem"
    args = ["cert", "selfsigned", "--out-cert", cert, "--out-key", tmp_path / "k.pem"]
    code, out = tlsdiag(*args, "--cn", "münchen.example")
    err = capsys.readouterr().err
    assert code == EXIT_OK and "SAN: none" in out
    assert err == (
        "tlsdiag cert selfsigned: warning: the CN 'münchen.example' is not ASCII, so it is not "
        "added as a DNS SAN and clients that check host names will not match it; if it is a "
        "host name, give its xn-- (A-label) form with --san\n"
    )
    loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    assert loaded.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "münchen.example"
    with pytest.raises(x509.ExtensionNotFound):
        loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    code, _ = tlsdiag(*args, "--cn", "muenchen.example", "--force")
    assert code == EXIT_OK and capsys.readouterr().err == ""


def test_a_non_ascii_server_cn_asks_for_its_a_label() -> None:
    """mutual --server-cn must be an address: a U-label is refused, naming the xn-- form."""
    with pytest.raises(generate.NameProblemError, match="xn-- \\(A-label\\) form"):
        generate.mutual_setup("münchen.example", "JohnD")
