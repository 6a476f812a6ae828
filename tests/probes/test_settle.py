"""The post-handshake wait of tls:// probes: only where a verdict can still come."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from diagnostics.model.options import ProbeOptions
from diagnostics.model.result import TLSFacts
from diagnostics.model.target import parse_target
from diagnostics.probes.run import ProbeRun, Stream
from diagnostics.tls.creators import RecordingClientCreator
from diagnostics.tls.trust import TrustCache


def _settling(version: str, *, requested: bool) -> tuple[Clock, Deferred[None]]:
    """A probe whose handshake just finished as ``version``; its settle() running on a clock."""
    clock = Clock()
    options = ProbeOptions(post_handshake_wait=0.5)
    material = TrustCache().get(options.trust)
    run = ProbeRun(clock, parse_target("tls://127.0.0.1:4433"), options, material)
    run.creator = RecordingClientCreator(material.context, None)
    capture = run.creator.capture
    capture.done = True
    capture.certificate_requested = requested
    capture.tls = TLSFacts(
        version=version, cipher=None, alpn=None, session_reused=False, openssl_version="x"
    )
    return clock, Deferred.fromCoroutine(run.settle(Stream()))


def test_tls13_with_a_certificate_request_waits_for_the_verdict() -> None:
    """The server asked for a client certificate: its verdict is waited for, up to the bound."""
    clock, settled = _settling("TLSv1.3", requested=True)
    assert not settled.called
    clock.advance(0.49)
    assert not settled.called
    clock.advance(0.01)
    clock.advance(0)  # the wake-up lets the TLS layer finish first
    assert settled.called


def test_tls13_without_a_certificate_request_does_not_wait() -> None:
    """No certificate was asked for, so no verdict can follow: the probe ends at once."""
    clock, settled = _settling("TLSv1.3", requested=False)
    assert settled.called
    assert clock.getDelayedCalls() == []


def test_tls12_does_not_wait() -> None:
    """TLS 1.2 servers judge the client certificate inside the handshake."""
    clock, settled = _settling("TLSv1.2", requested=True)
    assert settled.called
    assert clock.getDelayedCalls() == []
