"""A server that sends only its leaf: with the issuer fetched from the leaf's AIA URL
(--fetch-issuer), the diagnosis can tell a missing intermediate from an untrusted root."""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.support import pki

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")


def _port_from(process: subprocess.Popen[bytes], pattern: bytes) -> int:
    """Read the process's output until ``pattern`` (with one group: the port) appears."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    seen = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while selector.select(timeout=20):
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            seen += chunk
            if match := re.search(pattern, seen, re.MULTILINE):
                return int(match[1])
    raise AssertionError(f"server did not start: {seen!r}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture
def leaf_only_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An HTTP server publishing the intermediate, and s_server sending only the leaf."""
    root = pki.make_ca("Evidence Root CA")
    inter = pki.make_ca("Evidence Intermediate CA", parent=root, path_length=0)
    www = tmp_path / "www"
    www.mkdir()
    (www / "int.cer").write_bytes(inter.cert.public_bytes(serialization.Encoding.DER))
    http = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1"],
        cwd=www,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        bufsize=0,
    )
    try:
        http_port = _port_from(http, rb"port (\d+)")
        leaf = pki.issue(inter, "localhost", ca_issuers=(f"http://127.0.0.1:{http_port}/int.cer",))
        cert = tmp_path / "leaf.pem"
        key = tmp_path / "leaf.key"
        ca = tmp_path / "root.pem"
        cert.write_bytes(leaf.cert.public_bytes(serialization.Encoding.PEM))
        key.write_bytes(
            leaf.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        ca.write_bytes(root.cert.public_bytes(serialization.Encoding.PEM))
        assert OPENSSL is not None
        tls = subprocess.Popen(
            [
                OPENSSL,
                "s_server",
                "-rev",
                "-accept",
                "127.0.0.1:0",
                "-cert",
                str(cert),
                "-key",
                str(key),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            bufsize=0,
        )
        try:
            yield _port_from(tls, rb"^ACCEPT 127\.0\.0\.1:(\d+)$"), ca
        finally:
            _stop(tls)
    finally:
        _stop(http)


def _probe(port: int, ca: Path, *extra: str) -> dict[str, object]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "diagnostics",
            "probe",
            f"tls://127.0.0.1:{port}",
            "--servername",
            "localhost",
            "--ca",
            str(ca),
            "--format",
            "json",
            *extra,
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_without_evidence_both_possibilities_are_stated(
    leaf_only_server: tuple[int, Path],
) -> None:
    """Without fetching, the events alone cannot tell: unknown_issuer, side either."""
    port, ca = leaf_only_server
    result = _probe(port, ca)
    primary = result["findings"][0]  # type: ignore[index]
    assert (primary["id"], primary["side"]) == ("unknown_issuer", "either")
    assert "Evidence Intermediate CA" in primary["summary"]


def test_fetched_issuer_settles_it(leaf_only_server: tuple[int, Path]) -> None:
    """With --fetch-issuer the intermediate is found and chains to the trusted root:
    the server forgot it (missing_intermediate, side server)."""
    port, ca = leaf_only_server
    result = _probe(port, ca, "--fetch-issuer")
    primary = result["findings"][0]  # type: ignore[index]
    assert (primary["id"], primary["side"]) == ("missing_intermediate", "server")
    assert [e["code"] for e in result["verify_errors"]] == [20, 21]  # type: ignore[index]
