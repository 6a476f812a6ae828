"""Encrypted keys: never a passphrase prompt, a clear line saying how to give it
(``--key-password-env VAR``), and with it a probe and a listener that work.

The prompt test runs ``tlsdiag`` on a pseudo-terminal that is its controlling terminal:
OpenSSL's own key loader would write ``Enter PEM pass phrase:`` there and wait for an
answer that never comes.  The passphrase itself never appears in anything printed.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import socket
import ssl
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.support import listening, servers

PASSPHRASE = "correct horse battery staple"
VARIABLE = "TLSDIAG_TEST_KEY_PASSPHRASE"
DEADLINE = 20.0


def encrypted_key(files: servers.PKIFiles, directory: Path) -> Path:
    """The leaf key of ``files`` as encrypted PKCS#8 PEM."""
    path = directory / "locked.key"
    path.write_bytes(
        files.chain.leaf.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSPHRASE.encode()),
        )
    )
    return path


def on_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``tlsdiag ARGS`` with a pseudo-terminal as its controlling terminal and its
    standard streams; its exit code and everything it wrote there.  A run that waits for
    input (a prompt) is killed at the deadline and fails the test."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: a session leader whose terminal is the pty
        os.chdir(servers.REPO)
        os.execve(sys.executable, [sys.executable, "-m", "diagnostics", *args], env)
    output = b""
    deadline = time.monotonic() + DEADLINE
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError(f"still waiting after {DEADLINE} s: {output!r}")
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


@pytest.fixture
def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != VARIABLE and k != "NO_COLOR"}


def test_probe_never_prompts_for_a_passphrase(
    tmp_path: Path, loopback_pki: servers.PKIFiles, clean_env: dict[str, str]
) -> None:
    """An encrypted --key without --key-password-env: no prompt on the terminal, exit 2 and
    one line saying the key is encrypted and how to give its passphrase."""
    key = encrypted_key(loopback_pki, tmp_path)
    args = ["probe", "tls://127.0.0.1:9", "--cert", str(loopback_pki.leaf), "--key", str(key)]
    code, output = on_terminal(args, clean_env)
    assert code == 2, output
    assert "pass phrase" not in output.lower()
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines == [
        f"tlsdiag probe: client key {str(key)!r} is an encrypted private key and no passphrase "
        "was given: put the passphrase in an environment variable and name it with "
        "--key-password-env VAR"
    ]


def test_probe_with_the_passphrase(
    tmp_path: Path,
    loopback_pki: servers.PKIFiles,
    tls_server: servers.ServerProcess,
    clean_env: dict[str, str],
) -> None:
    """With --key-password-env the key opens and the probe runs (exit 0); the passphrase is
    in nothing it prints; a wrong passphrase is one line saying so."""
    key = encrypted_key(loopback_pki, tmp_path)
    args = [
        "probe",
        tls_server.url(),
        "--ca",
        str(loopback_pki.root),
        "--cert",
        str(loopback_pki.leaf),
        "--key",
        str(key),
        "--key-password-env",
        VARIABLE,
        "--format",
        "json",
    ]
    code, output = on_terminal(args, {**clean_env, VARIABLE: PASSPHRASE})
    assert code == 0, output
    assert PASSPHRASE not in output and '"status": "ok"' in output
    code, output = on_terminal(args, {**clean_env, VARIABLE: "wrong"})
    assert code == 2, output
    assert "that the passphrase given (--key-password-env VAR) does not decrypt" in output


def test_listen_with_an_encrypted_key(
    tmp_path: Path, loopback_pki: servers.PKIFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``listen --key-password-env``: the listener serves with the encrypted key and a real
    client completes its handshake; without the option it refuses to start, one line."""
    key = encrypted_key(loopback_pki, tmp_path)
    port = servers.free_port()
    base = ["listen", f"https://127.0.0.1:{port}", "--cert", str(loopback_pki.served)]
    base += ["--key", str(key), "--format", "json", "--log-dir", str(tmp_path / "logs")]
    monkeypatch.delenv(VARIABLE, raising=False)
    refused = servers.run_tlsdiag(*base)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.splitlines() == [
        f"tlsdiag listen: key file {str(key)!r} is an encrypted private key and no passphrase "
        "was given: put the passphrase in an environment variable and name it with "
        "--key-password-env VAR"
    ]
    monkeypatch.setenv(VARIABLE, PASSPHRASE)
    running = listening.start_listen([*base, "--key-password-env", VARIABLE], port, tmp_path)
    try:
        context = ssl.create_default_context(cafile=str(loopback_pki.root))
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.")
        report = running.report()
        assert report["tls"] is not None and report["tls"]["version"].startswith("TLSv1")
    finally:
        assert running.stop() == 0
    assert PASSPHRASE not in (tmp_path / "logs" / "server.jsonl").read_text()
