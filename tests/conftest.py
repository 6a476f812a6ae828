"""Shared test set-up: library versions in the header, file limits, loopback servers."""

from __future__ import annotations

import contextlib
import resource
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.support import servers


def pytest_report_header() -> list[str]:
    """The TLS libraries in use: failures in TLS code depend on the linked versions."""
    import cryptography
    import OpenSSL
    import twisted
    from cryptography.hazmat.backends.openssl import backend
    from OpenSSL import SSL

    linked = SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode("ascii", "replace")
    cli = "none"
    if shutil.which("openssl"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            cli = subprocess.run(
                ["openssl", "version"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
    return [
        f"pyOpenSSL {OpenSSL.__version__} linked to {linked}",
        f"cryptography {cryptography.__version__} linked to {backend.openssl_version_text()}",
        f"Twisted {twisted.__version__}; openssl command: {cli}",
    ]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Raise the open-file soft limit to the hard limit: many probes run side by side."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- loopback servers (see tests/servers.py) ---------------------------------------------


def _need_openssl() -> None:
    if servers.OPENSSL is None:
        pytest.skip("no openssl command installed")


@pytest.fixture(scope="session")
def loopback_pki(tmp_path_factory: pytest.TempPathFactory) -> servers.PKIFiles:
    """Root → intermediate → leaf (localhost, 127.0.0.1), written as PEM files."""
    return servers.write_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> servers.PKIFiles:
    """A second PKI that has nothing to do with ``loopback_pki``."""
    return servers.write_pki(tmp_path_factory.mktemp("other-pki"), prefix="Other")


@pytest.fixture(scope="session")
def tls_server(
    loopback_pki: servers.PKIFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[servers.ServerProcess]:
    """``openssl s_server`` sending leaf and intermediate."""
    _need_openssl()
    with servers.s_server(
        tmp_path_factory.mktemp("s_server"),
        loopback_pki.leaf,
        loopback_pki.key,
        chain=loopback_pki.intermediate,
    ) as server:
        yield server


@pytest.fixture(scope="session")
def leaf_only_server(
    loopback_pki: servers.PKIFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[servers.ServerProcess]:
    """``openssl s_server`` sending its leaf without the intermediate."""
    _need_openssl()
    with servers.s_server(
        tmp_path_factory.mktemp("s_server-leaf"), loopback_pki.leaf, loopback_pki.key
    ) as server:
        yield server


@pytest.fixture(scope="session")
def plain_http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.ServerProcess]:
    """A plain-HTTP server: it answers a TLS ClientHello in clear text."""
    with servers.http_server(tmp_path_factory.mktemp("http")) as server:
        yield server


@pytest.fixture
def silent_listener() -> Iterator[servers.SilentListener]:
    """A port that accepts TCP connections and never says a word."""
    with servers.SilentListener() as listener:
        yield listener


@pytest.fixture
def closed_port() -> Iterator[servers.ClosedPort]:
    """A port that refuses connections."""
    with servers.ClosedPort() as port:
        yield port
