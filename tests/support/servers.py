"""Loopback servers for end-to-end tests: ``openssl s_server``, plain HTTP, silent, closed.

Every server binds 127.0.0.1 on a free port.  Processes run in their own
process group and are stopped (group and all) when their context ends;
readiness is detected by connecting until the port answers.  The silent
listener and the closed port are plain sockets in the test process.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from tests.support import pki

HOST = "127.0.0.1"
START_TIMEOUT = 15.0
OPENSSL = shutil.which("openssl")


def interruptible() -> None:
    """Run in a child before its program (``preexec_fn``): SIGINT acts as in a terminal.

    A suite run as a background job, or under a runner that does the same, inherits SIGINT
    ignored; Python keeps an ignored SIGINT ignored (and Twisted then leaves it alone), so a
    test that sends SIGINT would wait for an exit that never comes.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def free_port(host: str = HOST) -> int:
    """A loopback TCP port that nobody listens on right now (on ``host``: 127.0.0.1 or ::1)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def bracketed(host: str) -> str:
    """``host`` as it goes before ``:port``: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def ipv6_loopback() -> bool:
    """True when this machine can listen on ::1."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


# -- certificate files -------------------------------------------------------------------


@attrs.frozen
class PKIFiles:
    """A root → intermediate → leaf PKI written as PEM files."""

    chain: pki.Chain
    root: Path  # the root CA alone: the usual --ca
    intermediate: Path
    leaf: Path
    key: Path
    bundle: Path  # root and intermediate: a trust list that also knows the intermediate
    served: Path  # leaf and intermediate: what a correctly configured server sends

    @property
    def leaf_sha256(self) -> str:
        """The leaf's SHA-256 fingerprint in upper-case hex."""
        return self.chain.leaf.cert.fingerprint(hashes.SHA256()).hex().upper()


def _pem(certs: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def write_pki(directory: Path, *, prefix: str = "Test", key_type: pki.KeyType = "ec") -> PKIFiles:
    """Make a fresh three-level PKI (leaf for localhost and 127.0.0.1) and write its files."""
    directory.mkdir(parents=True, exist_ok=True)
    chain = pki.make_chain(prefix=prefix, key_type=key_type)
    files = PKIFiles(
        chain=chain,
        root=directory / "root.pem",
        intermediate=directory / "intermediate.pem",
        leaf=directory / "leaf.pem",
        key=directory / "leaf.key",
        bundle=directory / "bundle.pem",
        served=directory / "served.pem",
    )
    files.root.write_bytes(_pem([chain.root.cert]))
    files.intermediate.write_bytes(_pem([chain.intermediate.cert]))
    files.leaf.write_bytes(_pem([chain.leaf.cert]))
    files.bundle.write_bytes(_pem([chain.root.cert, chain.intermediate.cert]))
    files.served.write_bytes(_pem(chain.served))
    files.key.write_bytes(
        chain.leaf.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files.key.chmod(0o600)
    return files


# -- processes ---------------------------------------------------------------------------


@attrs.define
class ServerProcess:
    """A server running in its own process group on a loopback port."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    output: Path
    url_host: str = HOST  # "localhost" where a test wants the name, not the address
    host: str = HOST  # the address it listens on (::1 for IPv6 tests)

    def url(self, scheme: str = "tls") -> str:
        """The URL of this server for ``scheme``."""
        return f"{scheme}://{self.url_host}:{self.port}"

    def log(self) -> str:
        """What the process wrote so far (for failure messages)."""
        try:
            return self.output.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the process and anything it started."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        else:
            # The leader exited; children it forked (vsftpd's sessions) may hold the group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)


def wait_until_listening(server: ServerProcess, timeout: float = START_TIMEOUT) -> None:
    """Connect until the server's port answers; fail early if the process died."""
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.process.returncode}:\n{server.log()}"
            )
        try:
            with socket.create_connection((server.host, server.port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"{server.name} did not listen on {server.port}") from None
            # Polling interval of the readiness loop, not a wait for an outcome.
            time.sleep(0.02)


def start_process(
    name: str,
    command: Sequence[str],
    port: int,
    output: Path,
    *,
    cwd: Path | None = None,
    url_host: str = HOST,
    host: str = HOST,
) -> ServerProcess:
    """Start ``command`` (which must listen on ``port``) and wait until it does."""
    with output.open("ab") as sink:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = ServerProcess(name, port, process, output, url_host, host)
    try:
        wait_until_listening(server)
    except BaseException:
        server.stop()
        raise
    return server


def s_server_command(
    port: int,
    cert: Path,
    key: Path,
    *,
    chain: Path | None = None,
    www: bool = True,
    extra: Sequence[str] = (),
    host: str = HOST,
) -> list[str]:
    """The ``openssl s_server`` command line for a loopback server."""
    if OPENSSL is None:
        raise RuntimeError("no openssl command installed")
    command = [OPENSSL, "s_server", "-accept", f"{bracketed(host)}:{port}"]
    command += ["-cert", str(cert), "-key", str(key), "-quiet"]
    if chain is not None:
        command += ["-cert_chain", str(chain)]
    # -www answers an HTTP GET and otherwise just waits: without it s_server relays its
    # standard input, and an empty one would end every connection early.
    if www:
        command.append("-www")
    return command + list(extra)


@contextlib.contextmanager
def s_server(
    directory: Path,
    cert: Path,
    key: Path,
    *,
    chain: Path | None = None,
    extra: Sequence[str] = (),
    host: str = HOST,
) -> Iterator[ServerProcess]:
    """A running ``openssl s_server`` serving ``cert`` (and ``chain``, if given) on ``host``."""
    port = free_port(host)
    command = s_server_command(port, cert, key, chain=chain, extra=extra, host=host)
    output = directory / f"s_server-{port}.log"
    server = start_process(
        "openssl s_server", command, port, output, url_host=bracketed(host), host=host
    )
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def http_server(directory: Path) -> Iterator[ServerProcess]:
    """A plain-HTTP server (``python -m http.server``) serving ``directory``."""
    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", HOST]
    command += ["--directory", str(directory)]
    server = start_process("http.server", command, port, directory / f"http-{port}.log")
    try:
        yield server
    finally:
        server.stop()


# -- sockets in the test process ---------------------------------------------------------


class SilentListener:
    """A socket that listens and never accepts: connections complete, nothing is answered.

    The kernel completes TCP handshakes into the accept backlog, so a client
    connects and then waits for bytes that never come.
    """

    def __init__(self, backlog: int = 64) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((HOST, 0))
        self.sock.listen(backlog)
        self.port = int(self.sock.getsockname()[1])

    def url(self, scheme: str = "tls") -> str:
        """The URL of this listener for ``scheme``."""
        return f"{scheme}://{HOST}:{self.port}"

    def drain(self) -> int:
        """Accept (and close) every connection waiting in the backlog; how many there were."""
        self.sock.setblocking(False)
        count = 0
        try:
            while True:
                try:
                    conn, _ = self.sock.accept()
                except BlockingIOError:
                    return count
                conn.close()
                count += 1
        finally:
            self.sock.setblocking(True)

    def close(self) -> None:
        """Stop listening."""
        self.sock.close()

    def __enter__(self) -> SilentListener:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class ClosedPort:
    """A loopback port that refuses connections and that nobody else can take meanwhile.

    A socket bound but not listening holds the port; connecting to it is refused.
    """

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((HOST, 0))
        self.port = int(self.sock.getsockname()[1])

    def url(self, scheme: str = "tls") -> str:
        """The URL of this port for ``scheme``."""
        return f"{scheme}://{HOST}:{self.port}"

    def close(self) -> None:
        """Release the port."""
        self.sock.close()

    def __enter__(self) -> ClosedPort:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


# -- the command line --------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 60.0


@attrs.frozen
class CommandRun:
    """What one ``tlsdiag`` command did."""

    returncode: int
    stdout: str
    stderr: str
    elapsed: float  # wall seconds

    @property
    def lines(self) -> list[str]:
        """The non-empty lines of standard output."""
        return [line for line in self.stdout.splitlines() if line.strip()]


def run_tlsdiag(
    *args: str | os.PathLike[str],
    env: dict[str, str] | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> CommandRun:
    """Run ``python -m diagnostics ARGS`` in a subprocess and collect its output."""
    environment = dict(os.environ if env is None else env)
    environment.pop("NO_COLOR", None)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "diagnostics", *map(str, args)],
        cwd=REPO,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return CommandRun(done.returncode, done.stdout, done.stderr, time.monotonic() - started)
