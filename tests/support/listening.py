"""``tlsdiag listen`` in a subprocess, and the partner-side files the tests need.

The listener prints one JSON report per finished connection; :meth:`Listening.report`
reads the next one (waiting on the pipe, bounded).  Readiness is the listener's own
"listening on" line on standard error, so no test connection is made before the
real client's; the line after it, the open-file and connection limits, is
:attr:`Listening.capacity`.  :func:`start_listen` can start the listener with a lower
open-file limit, and send its standard output to a file instead of the pipe (for a test
that makes more reports than it reads).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from tests.support import memtls, pki, servers

READ_TIMEOUT = 15.0


@attrs.frozen
class PartnerFiles:
    """Our server PKI and the partner's client certificates, as files."""

    server: servers.PKIFiles
    client_ca: Path  # the partner's root: our --client-ca
    good: tuple[Path, Path]  # CN=JohnD from the partner's CA (cert, key)
    lower: tuple[Path, Path]  # CN=johnd from the partner's CA
    other: tuple[Path, Path]  # CN=JohnD from an unrelated CA
    unreadable: tuple[Path, Path]  # CN=JohnD from the partner's CA, an invalid X.509 version


def write_partner(directory: Path) -> PartnerFiles:
    """Make the server PKI and the partner's certificates."""
    server = servers.write_pki(directory / "server")
    root = pki.make_ca("Partner Root CA")
    other = pki.make_ca("Other Root CA")

    def identity(name: str, ca: pki.Issued, stem: str, version: int = 2) -> tuple[Path, Path]:
        issued = pki.issue(ca, name, sans=(), ekus=(pki.CLIENT_AUTH,))
        cert = Path(memtls.write_pem(directory / f"{stem}.pem", [issued.cert]))
        if version != 2:  # OpenSSL loads and sends it; cryptography cannot read it
            der = pki.with_version(issued.cert, ca.key, version)
            cert.write_text(ssl.DER_cert_to_PEM_cert(der))
        key = Path(memtls.write_key(directory / f"{stem}.key", issued.key))
        return cert, key

    return PartnerFiles(
        server=server,
        client_ca=Path(memtls.write_pem(directory / "client_ca.pem", [root.cert])),
        good=identity("JohnD", root, "good"),
        lower=identity("johnd", root, "lower"),
        other=identity("JohnD", other, "other"),
        unreadable=identity("JohnD", root, "unreadable", version=10),
    )


class Listening:
    """A running ``tlsdiag listen --format json``."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log_dir: Path) -> None:
        self.process = process
        self.port = port
        self.log_dir = log_dir
        self.stdout = process.stdout  # None when it goes to a file
        self.buffer = b""
        self.capacity = ""  # the line on the limits, after "listening on"

    def _line(self, stream: Any, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        data = b""
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([stream], [], [], max(0.0, left))
            if not ready:
                raise AssertionError(f"nothing from the listener within {timeout} s")
            chunk = os.read(stream.fileno(), 1)
            if not chunk:
                raise AssertionError(f"the listener exited: {self.process.poll()}")
            data += chunk
        return data

    def report(self, timeout: float = READ_TIMEOUT) -> dict[str, Any]:
        """The next session's JSON report."""
        assert self.stdout is not None, "standard output goes to a file"
        line = self._line(self.stdout, timeout)
        while not line.strip():
            line = self._line(self.stdout, timeout)
        loaded: dict[str, Any] = json.loads(line)
        return loaded

    def log_lines(self) -> list[dict[str, Any]]:
        """The events of ``server.jsonl`` so far."""
        path = self.log_dir / "server.jsonl"
        return [json.loads(line) for line in path.read_text("utf-8").splitlines()]

    def stop(self) -> int:
        """SIGTERM; the exit code (0 is a clean stop)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return self.process.returncode


def start_listen(
    arguments: Sequence[str],
    port: int,
    log_dir: Path,
    *,
    open_files: int | None = None,
    stdout: Any = subprocess.PIPE,
) -> Listening:
    """Run ``tlsdiag`` with ``arguments`` (a ``listen`` command with ``--format json``);
    return once it says it is listening and what its limits are.

    ``open_files`` sets the listener's open-file limit (soft and hard); ``stdout`` is where its
    reports go (a file object, or the pipe :meth:`Listening.report` reads).
    """

    def prepare() -> None:
        servers.interruptible()  # the tests stop it with SIGINT too
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    process = subprocess.Popen(
        [sys.executable, "-m", "diagnostics", *arguments],
        cwd=servers.REPO,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=prepare,
    )
    running = Listening(process, port, log_dir)
    try:
        assert process.stderr is not None
        first = running._line(process.stderr, servers.START_TIMEOUT).decode()
        assert first.startswith("listening on"), first
        running.capacity = running._line(process.stderr, servers.START_TIMEOUT).decode().strip()
    except BaseException:
        running.stop()
        raise
    return running


@contextlib.contextmanager
def listening(
    scheme: str,
    files: PartnerFiles,
    directory: Path,
    extra: Sequence[str] = (),
    *,
    open_files: int | None = None,
    stdout: Any = subprocess.PIPE,
) -> Iterator[Listening]:
    """Start the listener on a free loopback port; stop it (cleanly) at the end.

    ``open_files`` and ``stdout`` as for :func:`start_listen`.
    """
    port = servers.free_port()
    log_dir = directory / f"logs-{port}"
    command = ["listen", f"{scheme}://127.0.0.1:{port}"]
    command += ["--cert", str(files.server.served), "--key", str(files.server.key)]
    command += ["--format", "json", "--log-dir", str(log_dir), *extra]
    running = start_listen(command, port, log_dir, open_files=open_files, stdout=stdout)
    try:
        yield running
    finally:
        code = running.stop()
        assert code == 0, f"the listener exited with {code}"
