"""The secret scan: probes, the listener and the daemon run with known secrets configured
(FTP passwords, key passphrases, private keys), and nothing any of them wrote contains one.

What is scanned: every standard output and standard error, and every file the runs created
(logs, rotated or not, the transition state, the listener's reports).  The secrets are
looked for as they were given (passwords and passphrases) and, for the private keys, as
every line of their PEM forms (PKCS#8 and traditional, encrypted as on disk and not) and
their private numbers in decimal and hexadecimal.

One scenario serves every check, so each program is started once:

- ``tlsdiag listen https://`` with an encrypted key (``--key-password-env``) that asks for
  client certificates, and ``tlsdiag listen ftpes://`` whose partner (curl) logs in with a
  password;
- ``tlsdiag probe`` of that listener with an encrypted client key, in every output format,
  and of a pyftpdlib server that needs a user and password;
- ``tlsdiag daemon`` probing both as targets, running an HTTPS listener of its own with the
  encrypted key.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.support import ftpservers
from tests.support.listening import PartnerFiles, start_listen, write_partner
from tests.support.processes import read_lines, start_tlsdiag, stop, wait_for
from tests.support.servers import REPO, ServerProcess, free_port

CURL = shutil.which("curl")

FTP_PASSWORD = "Ftp-Secret-4f1c9a7e"
PARTNER_PASSWORD = "Partner-Secret-93be20d1"
SERVER_PASSPHRASE = "server passphrase 7d2e55"
CLIENT_PASSPHRASE = "client passphrase c0ffee11"
ENVIRONMENT = {
    "TLSDIAG_SCAN_FTP_PASSWORD": FTP_PASSWORD,
    "TLSDIAG_SCAN_SERVER_KEY": SERVER_PASSPHRASE,
    "TLSDIAG_SCAN_CLIENT_KEY": CLIENT_PASSPHRASE,
}
TIMEOUT = 30
REPORT_EXTENSION = {"text": "html", "json": "json", "s_client": "md"}


@attrs.frozen
class Secrets:
    """The input files, and every byte string none of the outputs may contain."""

    files: PartnerFiles
    server_key: Path  # encrypted with SERVER_PASSPHRASE
    client_key: Path  # encrypted with CLIENT_PASSPHRASE
    needles: tuple[bytes, ...]


def _encrypted(source: Path, target: Path, passphrase: str) -> tuple[Path, list[bytes]]:
    """Write the key in ``source`` encrypted to ``target``; the key's secret forms."""
    key = serialization.load_pem_private_key(source.read_bytes(), None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )
    target.write_bytes(encrypted)
    forms = [encrypted, source.read_bytes()]
    forms.append(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    needles = [
        line
        for form in forms
        for line in form.splitlines()
        if line and not line.startswith(b"-----") and len(line) >= 32
    ]
    numbers: list[int] = []
    if isinstance(key, rsa.RSAPrivateKey):
        private = key.private_numbers()
        numbers = [private.d, private.p, private.q]
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        numbers = [key.private_numbers().private_value]
    for number in numbers:
        needles += [str(number).encode(), f"{number:x}".encode(), f"{number:X}".encode()]
    return target, needles


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> Secrets:
    directory = tmp_path_factory.mktemp("inputs")
    files = write_partner(directory)
    server_key, server_needles = _encrypted(
        files.server.key, directory / "server-locked.key", SERVER_PASSPHRASE
    )
    client_key, client_needles = _encrypted(
        files.good[1], directory / "client-locked.key", CLIENT_PASSPHRASE
    )
    words = (FTP_PASSWORD, PARTNER_PASSWORD, SERVER_PASSPHRASE, CLIENT_PASSPHRASE)
    needles = tuple(w.encode() for w in words) + tuple(server_needles + client_needles)
    return Secrets(files, server_key, client_key, needles)


@attrs.define
class Outputs:
    """Everything the programs wrote: captured streams, and a folder their files go under."""

    folder: Path
    streams: dict[str, bytes] = attrs.Factory(dict)

    def scan(self, needles: tuple[bytes, ...]) -> list[str]:
        """Where a secret was found: ``"WHERE: the first bytes of the secret"``."""
        found = []
        places = dict(self.streams)
        for path in sorted(self.folder.rglob("*")):
            if path.is_file():
                places[str(path.relative_to(self.folder))] = path.read_bytes()
        assert places, "nothing was written"
        for where, data in places.items():
            found += [f"{where}: {n[:12]!r}" for n in needles if n in data]
        return found


@pytest.fixture(scope="module")
def pyftpdlib_server(
    secrets: Secrets, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """pyftpdlib with the listener's server PKI, logging in only ``alice`` with FTP_PASSWORD."""
    server = ftpservers.start_pyftpdlib(
        tmp_path_factory.mktemp("pyftpdlib"),
        secrets.files.server,
        variant="users_only",
        users={"alice": FTP_PASSWORD},
    )
    yield server
    server.stop()


def _run(
    outputs: Outputs, name: str, *args: str, **environment: str
) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(
        [sys.executable, "-m", "diagnostics", *args],
        cwd=REPO,
        env={**os.environ, **ENVIRONMENT, **environment},
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    outputs.streams[f"{name} stdout"] = done.stdout
    outputs.streams[f"{name} stderr"] = done.stderr
    return done


def _listener_arguments(secrets: Secrets, url: str, log_dir: Path) -> list[str]:
    return [
        "listen",
        url,
        "--cert",
        str(secrets.files.server.served),
        "--key",
        str(secrets.server_key),
        "--key-password-env",
        "TLSDIAG_SCAN_SERVER_KEY",
        "--client-ca",
        str(secrets.files.client_ca),
        "--format",
        "json",
        "--log-dir",
        str(log_dir),
        "--report-dir",
        str(log_dir / "reports"),
    ]


def _client_identity(secrets: Secrets) -> list[str]:
    return [
        "--cert",
        str(secrets.files.good[0]),
        "--key",
        str(secrets.client_key),
        "--key-password-env",
        "TLSDIAG_SCAN_CLIENT_KEY",
    ]


@pytest.fixture(autouse=True)
def _secret_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The listener helper starts ``tlsdiag`` with this process's environment."""
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


def test_probes_and_listeners_write_no_secret(
    secrets: Secrets, pyftpdlib_server: ServerProcess, tmp_path: Path
) -> None:
    """Probes in every format (HTTPS with an encrypted client key, FTPS with a password) and
    the listeners they and curl talk to: no secret in any stream, log or report."""
    outputs = Outputs(tmp_path / "out")
    outputs.folder.mkdir()
    port = free_port()
    https = start_listen(
        _listener_arguments(secrets, f"https://127.0.0.1:{port}", outputs.folder / "https"),
        port,
        outputs.folder / "https",
    )
    try:
        for form in ("text", "json", "s_client"):
            done = _run(
                outputs,
                f"probe https {form}",
                "probe",
                f"https://localhost:{port}/",
                "--ca",
                str(secrets.files.server.root),
                *_client_identity(secrets),
                "--format",
                form,
                "--log-dir",
                str(outputs.folder / "probe-logs"),
                "--report",
                str(outputs.folder / f"probe-https-{form}.{REPORT_EXTENSION[form]}"),
            )
            assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
            report = https.report()
            assert report["client_auth"]["sent"] is True, report
            assert report["status"] == "ok", report["findings"]
            outputs.streams[f"listener report {form}"] = repr(report).encode()
    finally:
        assert https.stop() == 0
    assert https.process.stderr is not None
    outputs.streams["https listener stderr"] = https.process.stderr.read()

    for form in ("text", "json"):
        done = _run(
            outputs,
            f"probe ftpes {form}",
            "probe",
            pyftpdlib_server.url("ftpes"),
            "--ca",
            str(secrets.files.server.root),
            "--user",
            "alice",
            "--password-env",
            "TLSDIAG_SCAN_FTP_PASSWORD",
            *_client_identity(secrets),
            "--format",
            form,
            "--log-dir",
            str(outputs.folder / "probe-logs"),
            "--report",
            str(outputs.folder / f"probe-ftpes-{form}.{REPORT_EXTENSION[form]}"),
        )
        assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
        if form == "json":  # logged in with the password, shown masked
            assert b'"login": "ok"' in done.stdout and b"PASS ****" in done.stdout

    if CURL is not None:  # the partner logs in to our FTPS listener with a password
        port = free_port()
        ftpes = start_listen(
            _listener_arguments(secrets, f"ftpes://127.0.0.1:{port}", outputs.folder / "ftpes"),
            port,
            outputs.folder / "ftpes",
        )
        try:
            command = [CURL, "-s", "--max-time", "20", "--ssl-reqd"]
            command += ["--cacert", str(secrets.files.server.root)]
            command += ["--cert", str(secrets.files.good[0]), "--key", str(secrets.files.good[1])]
            command += ["--user", f"JohnD:{PARTNER_PASSWORD}", f"ftp://localhost:{port}/"]
            curl = subprocess.run(command, capture_output=True, timeout=TIMEOUT, check=False)
            assert curl.returncode == 0, curl.stderr
            outputs.streams["curl listing (the listener's answer)"] = curl.stdout
            report = ftpes.report()
            assert "PASS ****" in report["ftp"]["commands"]
            outputs.streams["ftpes listener report"] = repr(report).encode()
        finally:
            assert ftpes.stop() == 0
        assert ftpes.process.stderr is not None
        outputs.streams["ftpes listener stderr"] = ftpes.process.stderr.read()

    for ext in REPORT_EXTENSION.values():  # reports after the fact, from both sides' logs
        logs = [str(path) for path in sorted(outputs.folder.rglob("*.jsonl"))]
        done = _run(
            outputs, f"report {ext}", "report", *logs, "--out", f"{outputs.folder}/all.{ext}"
        )
        assert done.returncode == 0, done.stderr
    reports = [p for p in outputs.folder.rglob("*") if p.suffix in (".html", ".md", ".json")]
    assert len(reports) >= 9 and list(outputs.folder.rglob("reports/session-*"))
    assert outputs.scan(secrets.needles) == []


def _toml_path(path: Path) -> str:
    return '"' + str(path).replace("\\", "\\\\") + '"'


def test_daemon_writes_no_secret(
    secrets: Secrets, pyftpdlib_server: ServerProcess, tmp_path: Path
) -> None:
    """The daemon with a listener on an encrypted key and two targets holding secrets (an
    encrypted client key; an FTP password): no secret in its streams, logs, state or
    metrics after both targets were probed twice and the listener logged the sessions."""
    outputs = Outputs(tmp_path / "out")
    outputs.folder.mkdir()
    listen_port, metrics_port = free_port(), free_port()
    identity = f"""cert = {_toml_path(secrets.files.good[0])}
key = {_toml_path(secrets.client_key)}
key_password_env = "TLSDIAG_SCAN_CLIENT_KEY"
ca = [{_toml_path(secrets.files.server.root)}]
interval = 1
timeout = 10
"""
    config = tmp_path / "tlsdiag.toml"
    config.write_text(
        f"""[daemon]
log_dir = {_toml_path(outputs.folder / "logs")}
metrics_listen = "127.0.0.1:{metrics_port}"

[[listener]]
url = "https://127.0.0.1:{listen_port}"
cert = {_toml_path(secrets.files.server.served)}
key = {_toml_path(secrets.server_key)}
key_password_env = "TLSDIAG_SCAN_SERVER_KEY"
client_ca = [{_toml_path(secrets.files.client_ca)}]

[[target]]
url = "https://localhost:{listen_port}/"
{identity}
[[target]]
url = "{pyftpdlib_server.url("ftpes")}"
user = "alice"
password_env = "TLSDIAG_SCAN_FTP_PASSWORD"
{identity}"""
    )
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = start_tlsdiag("daemon", "--config", str(config), stdout=out, stderr=err)
    logs = outputs.folder / "logs"

    def probed_twice() -> bool:
        events = [e for e in read_lines(logs / "client.jsonl") if e.get("event.action")]
        urls = [e.get("url.full") for e in events if e["event.action"] == "tls-probe"]
        sessions = [e for e in read_lines(logs / "server.jsonl")]
        return (
            len(set(urls)) == 2
            and all(urls.count(u) >= 2 for u in set(urls))
            and (len(sessions) >= 2)
        )

    try:
        wait_for("two probes of each target", probed_twice, process)
        metrics = subprocess.run(
            [CURL or "curl", "-s", f"http://127.0.0.1:{metrics_port}/metrics"],
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        outputs.streams["/metrics"] = metrics.stdout
        assert b"tlsdiag" in metrics.stdout
    finally:
        assert stop(process) == 0
    outputs.streams["daemon stdout"] = stdout.read_bytes()
    outputs.streams["daemon stderr"] = stderr.read_bytes()
    probes = [e for e in read_lines(logs / "client.jsonl") if e.get("event.action") == "tls-probe"]
    assert {e["event.outcome"] for e in probes} == {"success"}, probes
    assert (logs / "state.json").exists()
    assert outputs.scan(secrets.needles) == []


def test_the_scan_finds_a_planted_secret(secrets: Secrets, tmp_path: Path) -> None:
    """The scan itself: a key line in a log file, a passphrase in a stream, both found."""
    outputs = Outputs(tmp_path)
    (tmp_path / "logs").mkdir()
    line = secrets.client_key.read_bytes().splitlines()[3]
    (tmp_path / "logs" / "client.jsonl").write_bytes(b'{"message": "' + line + b'"}\n')
    outputs.streams["stderr"] = f"bad passphrase {CLIENT_PASSPHRASE!r}".encode()
    found = outputs.scan(secrets.needles)
    assert [f.split(":")[0] for f in found] == ["stderr", "logs/client.jsonl"]


def test_a_wrong_passphrase_is_not_echoed(secrets: Secrets, tmp_path: Path) -> None:
    """A wrong passphrase: one line saying so, exit 2, and neither passphrase in it."""
    outputs = Outputs(tmp_path)
    wrong = "wrong passphrase 5e5e5e"
    done = _run(
        outputs,
        "probe",
        "probe",
        "tls://127.0.0.1:1",
        *_client_identity(secrets),
        TLSDIAG_SCAN_CLIENT_KEY=wrong,
    )
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.decode().splitlines()
    assert line.startswith("tlsdiag probe: ") and "passphrase" in line, line
    assert outputs.scan((*secrets.needles, wrong.encode())) == []
