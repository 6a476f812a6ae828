"""In the daemon, remedies name the configuration keys (``ca = [...]``, ``client_ca = [...]``)
instead of the command-line options, for its scheduled targets, its ``/probe`` modules and
its ``[[listener]]`` sessions.

Everything runs on a memory reactor: the probed server, the daemon and its listener, and the
partner's client (the probe, presenting a client certificate).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from twisted.internet.testing import MemoryReactorClock

from diagnostics.daemon.config import load_config
from diagnostics.daemon.service import DaemonService, make_service
from diagnostics.model.result import Finding, ProbeResult
from diagnostics.model.target import parse_target
from tests.support import memtls, pki

SERVER_PORT = memtls.PORT
LISTEN_PORT = 4434


class Setup:
    """A server sending its root (not trusted by the daemon), and a daemon with a target, a
    module and a listener that accepts the partner's CA."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.server = pki.make_chain()
        self.partner = pki.make_ca("Partner Root CA")
        self.reactor = MemoryReactorClock()  # type: ignore[no-untyped-call]
        self.reactor.advance(time.time())
        served = [*self.server.served, self.server.root.cert]
        context = memtls.tls_context(served, self.server.leaf.key)
        self.reactor.listenTCP(  # type: ignore[no-untyped-call]
            SERVER_PORT, memtls.tls_server(context)(self.reactor), interface="127.0.0.1"
        )
        memtls.write_pem(directory / "listener.pem", self.server.served)
        memtls.write_key(directory / "listener.key", self.server.leaf.key)
        memtls.write_pem(directory / "partner.pem", [self.partner.cert])
        config_file = directory / "tlsdiag.toml"
        config_file.write_text(
            '[daemon]\nlog_dir = "logs"\nmetrics_listen = "127.0.0.1:0"\n'
            "[module.internal]\n"
            'servername = "localhost"\n'
            "[[target]]\n"
            f'url = "tls://127.0.0.1:{SERVER_PORT}"\nservername = "localhost"\n'
            "[[listener]]\n"
            f'url = "https://127.0.0.1:{LISTEN_PORT}"\n'
            'cert = "listener.pem"\nkey = "listener.key"\nclient_ca = ["partner.pem"]\n'
        )
        self.service = make_service(
            load_config(str(config_file), environ={}), reactor=self.reactor, handle_sighup=False
        )

    def session(self, client: pki.Issued) -> ProbeResult:
        """The listener's judged session of a partner's client presenting ``client``."""
        (running,) = self.service.listeners.values()
        trust = memtls.trust_config(
            self.directory, [self.server.root.cert], [client.cert], client.key
        )
        url = f"tls://127.0.0.1:{LISTEN_PORT}"
        return memtls.listener_session(self.reactor, running.listener.factory, url, trust)


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def _finding(result: ProbeResult, finding_id: str) -> Finding:
    found = [f for f in result.findings if f.id == finding_id]
    assert found, [f.id for f in result.findings]
    return found[0]


def test_a_scheduled_target_with_an_untrusted_root_names_the_ca_key(setup: Setup) -> None:
    """A configured target whose server sends a root the daemon does not trust: the remedy
    says to add it with ca = [...] in the configuration, not with --ca."""
    (target,) = setup.service.config.targets
    result = memtls.drive(setup.reactor, setup.service._probe_target(target))
    remedy = _finding(result, "untrusted_root").remedy
    assert '(ca = ["FILE"])' in remedy
    assert "--" not in " ".join(f.remedy for f in result.findings)


def test_a_probe_module_with_an_untrusted_root_names_the_ca_key(setup: Setup) -> None:
    """/probe with a [module.NAME]: the same finding names the same configuration key."""
    settings = setup.service.config.modules["internal"]
    url = f"tls://127.0.0.1:{SERVER_PORT}"
    target = parse_target(url, servername=settings.servername)
    result = memtls.drive(setup.reactor, setup.service._probe_now(target, settings))
    assert '(ca = ["FILE"])' in _finding(result, "untrusted_root").remedy


def test_a_listener_session_names_the_client_ca_key(setup: Setup) -> None:
    """A [[listener]] rejecting a client certificate from an unknown CA: the remedy names
    client_ca = [...] in the configuration, not --client-ca."""
    service: DaemonService = setup.service
    service.startService()
    try:
        stranger = pki.issue(pki.make_ca("Stranger CA"), "JohnD", sans=(), ekus=(pki.CLIENT_AUTH,))
        session = setup.session(stranger)
    finally:
        service.stopService()
    remedy = _finding(session, "client_certificate_rejected").remedy
    assert '(client_ca = ["FILE"])' in remedy
    assert "--" not in " ".join(f.remedy for f in session.findings)
