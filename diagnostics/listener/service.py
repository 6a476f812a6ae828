# -*- test-case-name: tests.integration.test_listen_clients -*-
"""Start and stop a listener: the listening port, the connection limit, the callback.

:func:`listen` is the one entry point for the CLI, the daemon's
``[[listener]]`` and the lab: it takes the reactor, the options (or the
material already loaded) and a callback that receives every finished
session's judged result.  :func:`crl_material` and
:meth:`ListenerFactory.crl_changed` give a listener its CRLs (files and URLs)
from a :class:`~diagnostics.tls.crl_sources.CRLSources` cache, for the CLI and the
daemon alike.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IAddress, IListeningPort
from twisted.internet.protocol import Factory, Protocol

from diagnostics.listener.ftps import ftps_gate
from diagnostics.listener.https import https_gate
from diagnostics.listener.refusals import RefusedConnections
from diagnostics.listener.session import (
    Gate,
    ListenerMaterial,
    ListenerOptions,
    Session,
    SessionReports,
    load_material,
    with_crls,
)
from diagnostics.model.result import Failure, ProbeResult, Scheme
from diagnostics.model.revocation import KnownCRL, is_url
from diagnostics.tls.crl_sources import CRLEvent, CRLSources
from diagnostics.tls.trust import TrustError

# The protocol of each scheme a listener serves (tests check it covers every listenable one).
GATES: dict[Scheme, Callable[[Session], Gate]] = {
    Scheme.HTTPS: https_gate,
    Scheme.FTPS: functools.partial(ftps_gate, implicit=True),
    Scheme.FTPES: functools.partial(ftps_gate, implicit=False),
}

SessionCallback = Callable[[ProbeResult], None]
RefusedCallback = Callable[[RefusedConnections], None]
# Refusals are reported at most this often (seconds): a flood cannot fill the disk.
REFUSED_REPORT_INTERVAL = 1.0


class _Refuse(Protocol):
    """Over the connection limit: close at once, before any TLS work."""

    def connectionMade(self) -> None:
        transport: Any = self.transport
        transport.abortConnection()


class ListenerFactory(Factory[Protocol]):
    """Makes one session per accepted connection, up to the limit."""

    noisy = False

    def __init__(
        self,
        reactor: Any,
        material: ListenerMaterial,
        on_session: SessionCallback,
        on_refused: RefusedCallback | None = None,
        *,
        reports: SessionReports,
    ):
        self.reactor = reactor
        self.material = material
        self.reports = reports
        self.on_session = on_session
        self.on_refused = on_refused
        self.sessions: set[Session] = set()
        self.refused = 0
        self.errors: list[BaseException] = []
        self._unreported = 0
        self._last_refused: IAddress | None = None
        self._last_report: float | None = None
        self._report_call: Any = None

    def buildProtocol(self, addr: IAddress | None) -> Protocol:
        if len(self.sessions) >= self.material.options.limits.max_connections:
            self.refused += 1
            self._note_refused(addr)
            return _Refuse()
        session = Session(self.reactor, self.material, self.reports, self._finished)
        self.sessions.add(session)
        return GATES[Scheme(self.material.target.scheme)](session)

    def _note_refused(self, addr: IAddress | None) -> None:
        """Count a refusal; report now, or once the interval since the last report is over."""
        self._unreported += 1
        self._last_refused = addr
        if self._report_call is not None:
            return  # a report is already due: it will carry this one
        now = self.reactor.seconds()
        wait = (
            0.0 if self._last_report is None else self._last_report + REFUSED_REPORT_INTERVAL - now
        )
        if wait <= 0:
            self.report_refused()
        else:
            self._report_call = self.reactor.callLater(wait, self.report_refused)

    def report_refused(self) -> None:
        """Report the refusals not reported yet (none: nothing)."""
        if self._report_call is not None and self._report_call.active():
            self._report_call.cancel()
        self._report_call = None
        if not self._unreported:
            return
        self._last_report = self.reactor.seconds()
        addr: Any = self._last_refused
        report = RefusedConnections(
            url=self.material.target.url,
            count=self._unreported,
            limit=self.material.options.limits.max_connections,
            client_address=getattr(addr, "host", None),
            client_port=getattr(addr, "port", None),
        )
        self._unreported = 0
        if self.on_refused is None:
            return
        try:
            self.on_refused(report)
        except Exception as exc:  # a failing callback must not take the listener down
            self.errors.append(exc)

    def set_crls(self, crls: Sequence[KnownCRL], errors: Mapping[str, str]) -> None:
        """Check the clients of new connections against these CRLs from now on."""
        self.material = with_crls(self.material, crls, errors)

    def crl_changed(self, sources: CRLSources, event: CRLEvent) -> None:
        """A CRL was loaded, changed or lost in ``sources``: take the new set if it is ours."""
        crl_files = self.material.options.crl_files
        if event.action in ("crl-loaded", "crl-unavailable") and event.source in crl_files:
            held = sources.current(self.reactor, crl_files)
            self.set_crls(held.crls, held.errors)

    def _finished(self, session: Session) -> None:
        self.sessions.discard(session)
        try:
            self.on_session(session.verdict())
        except Exception as exc:  # a failing callback must not take the listener down
            self.errors.append(exc)

    def close_all(self) -> None:
        """Drop every open connection (each still reports its session, as cut short)."""
        self.report_refused()
        for session in list(self.sessions):
            if session.concluded:
                session.abort()
                continue
            session.fail(
                Failure(
                    phase=session.phase,
                    kind="listener_stopped",
                    message="the listener stopped while the connection was open",
                )
            )
            session.abort()


class Listener:
    """A running listener: its port, its factory, and how to stop it."""

    def __init__(self, port: IListeningPort, factory: ListenerFactory) -> None:
        self.port = port
        self.factory = factory

    @property
    def address(self) -> IAddress:
        """The address actually bound (the port is known even when 0 was asked for)."""
        return self.port.getHost()

    def stop(self) -> defer.Deferred[None]:
        """Stop accepting, and drop the connections still open."""
        stopped = self.port.stopListening()
        self.factory.close_all()
        return stopped if stopped is not None else defer.succeed(None)


def crl_material(reactor: Any, options: ListenerOptions, sources: CRLSources) -> ListenerMaterial:
    """A listener's set-up, its CRLs (files and URLs) as ``sources`` holds them now.

    A CRL URL not fetched yet is asked for now; until it arrives (and whenever it is
    unavailable) client certificates of its CA fail with "unable to get certificate CRL".
    A CRL file that cannot be read is a TrustError, like the other files.
    """
    sources.get(reactor, options.crl_files)  # files load at once, URLs in time
    held = sources.current(reactor, options.crl_files)
    broken = [why for name, why in held.errors.items() if not is_url(name)]
    if broken:
        raise TrustError(broken[0])
    return load_material(options, crls=held.crls, crl_errors=held.errors)


def listen(
    reactor: Any,
    options: ListenerOptions | ListenerMaterial,
    on_session: SessionCallback,
    *,
    reports: SessionReports,
    port: int | None = None,
    on_refused: RefusedCallback | None = None,
) -> Listener:
    """Start listening at the options' URL (or on ``port``); TrustError or CannotListenError.

    ``reports`` tells each session's verdict to its client; ``on_refused`` receives the
    connections refused at the connection limit, at most one report a second.
    """
    material = options if isinstance(options, ListenerMaterial) else load_material(options)
    factory = ListenerFactory(reactor, material, on_session, on_refused, reports=reports)
    target = material.target
    listening = reactor.listenTCP(
        target.port if port is None else port, factory, interface=target.host
    )
    return Listener(listening, factory)
