"""A daemon's ``[[listener]]`` with a CRL given as an ``http://`` URL: fetched through the
shared CRL cache, refreshed into the running listener, and failing closed while missing.

Everything runs on a memory reactor: the CRL's web server, the daemon with its listener,
and the partner's client (the probe, presenting a client certificate).
"""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from diagnostics.daemon.config import load_config
from diagnostics.daemon.service import DaemonService, make_service
from diagnostics.model.result import ProbeResult, Target
from tests.support import crls, memtls, pki

WEB_PORT = 8080
LISTEN_PORT = 4433
CRL_URL = f"http://127.0.0.1:{WEB_PORT}/partner.crl"


def _no_probe(_reactor: Any, target: Target, _options: Any) -> defer.Deferred[ProbeResult]:
    return defer.succeed(ProbeResult(target=target))


class Setup:
    """The listener's files, the partner's CA and its client identities, a web server."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.server = pki.make_chain()
        self.partner = pki.make_ca("Partner Root CA")
        self.clients = {
            name: pki.issue(self.partner, name, sans=(), ekus=(pki.CLIENT_AUTH,))
            for name in ("good", "first", "second")
        }
        memtls.write_pem(directory / "listener.pem", self.server.served)
        memtls.write_key(directory / "listener.key", self.server.leaf.key)
        memtls.write_pem(directory / "partner.pem", [self.partner.cert])
        self.publisher = crls.Publisher()
        self.reactor = MemoryReactorClock()  # type: ignore[no-untyped-call]
        self.reactor.advance(time.time())
        self.reactor.listenTCP(  # type: ignore[no-untyped-call]
            WEB_PORT, self.publisher.factory(self.reactor), interface="127.0.0.1"
        )

    def publish(self, *revoked: str, age: float = 3600.0) -> None:
        """Publish the partner CA's CRL revoking the named clients, issued ``age`` s ago."""
        issued = datetime.datetime.fromtimestamp(self.reactor.seconds() - age, datetime.UTC)
        crl = crls.make_crl(
            self.partner,
            [(self.clients[n].cert, x509.ReasonFlags.key_compromise) for n in revoked],
            this_update=issued,
            revoked_at=issued,
        )
        self.publisher.publish("/partner.crl", crls.der(crl))

    def start(self) -> DaemonService:
        """A daemon with one listener whose only CRL is the URL, started."""
        config_file = self.directory / "tlsdiag.toml"
        config_file.write_text(
            "[daemon]\n"
            'log_dir = "logs"\nmetrics_listen = "127.0.0.1:0"\ncrl_refresh = 60\n'
            "[[listener]]\n"
            f'url = "https://127.0.0.1:{LISTEN_PORT}"\n'
            'cert = "listener.pem"\nkey = "listener.key"\nclient_ca = ["partner.pem"]\n'
            f'crl = ["{CRL_URL}"]\n'
        )
        config = load_config(str(config_file), environ={})
        service = make_service(config, reactor=self.reactor, probe=_no_probe, handle_sighup=False)
        service.startService()
        return service

    def session(self, service: DaemonService, client: str) -> ProbeResult:
        """The listener's judged session of the partner's client presenting ``client``."""
        (running,) = service.listeners.values()
        identity = self.clients[client]
        files = self.directory / client
        files.mkdir(exist_ok=True)
        trust = memtls.trust_config(files, [self.server.root.cert], [identity.cert], identity.key)
        url = f"tls://127.0.0.1:{LISTEN_PORT}"
        return memtls.listener_session(self.reactor, running.listener.factory, url, trust)

    def daemon_events(self, action: str) -> list[dict[str, Any]]:
        """The daemon.jsonl events of one action."""
        path = self.directory / "logs" / "daemon.jsonl"
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        return [e for e in lines if e["event.action"] == action]


def _ids(session: ProbeResult) -> list[str]:
    return [f.id for f in session.findings]


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def test_a_revoked_client_is_rejected_and_a_new_crl_is_taken_up(setup: Setup) -> None:
    """The listener checks clients against the CRL fetched from its URL: a revoked client is
    rejected (the finding names the URL), a good one is ok; after the CA publishes a new CRL
    and the refresh interval passes, the newly revoked client is rejected too."""
    setup.publish("first")
    service = setup.start()
    memtls.drive(setup.reactor, service.crl_sources.get(setup.reactor, [CRL_URL]))
    assert [e["url.full"] for e in setup.daemon_events("crl-loaded")] == [CRL_URL]

    first = setup.session(service, "first")
    assert _ids(first)[0] == "client_certificate_rejected" and "revoked" in _ids(first)
    assert CRL_URL in first.findings[_ids(first).index("revoked")].detail
    assert setup.session(service, "second").findings == ()
    assert setup.session(service, "good").findings == ()

    setup.publish("first", "second", age=10.0)
    setup.reactor.advance(61)
    memtls.drive(setup.reactor, service.crl_sources.get(setup.reactor, [CRL_URL]))
    assert len(setup.daemon_events("crl-loaded")) == 2
    second = setup.session(service, "second")
    assert "revoked" in _ids(second)
    assert "revoked" in _ids(setup.session(service, "first"))
    assert setup.session(service, "good").findings == ()
    service.stopService()


def test_a_crl_url_that_cannot_be_fetched_fails_closed(setup: Setup) -> None:
    """While the listener's CRL URL answers 404 the daemon still starts, logs the CRL as
    unavailable, and no client certificate of that CA passes unchecked: the session is
    rejected and its CRL finding names the URL and the HTTP answer."""
    setup.publisher.unpublish("/partner.crl")
    service = setup.start()
    memtls.drive(setup.reactor, service.crl_sources.get(setup.reactor, [CRL_URL]))
    (unavailable,) = setup.daemon_events("crl-unavailable")
    assert unavailable["url.full"] == CRL_URL

    good = setup.session(service, "good")
    assert _ids(good)[0] == "client_certificate_rejected"
    assert {e.code for e in good.verify_errors} == {3}
    text = " ".join(f"{f.summary} {f.detail}" for f in good.findings)
    assert CRL_URL in text and "404" in text

    setup.publish()
    setup.reactor.advance(301)  # the retry interval of a failed CRL source
    memtls.drive(setup.reactor, service.crl_sources.get(setup.reactor, [CRL_URL]))
    assert setup.session(service, "good").findings == ()
    service.stopService()
