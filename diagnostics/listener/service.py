# -*- test-case-name: tests.integration.test_listen_clients -*-
"""Start and stop a listener: the listening port, the connection limits, the callback.

:func:`listen` is the one entry point for the CLI, the daemon's
``[[listener]]`` and the lab: it takes the reactor, the options (or the
material already loaded) and a callback that receives every finished
session's judged result.  :func:`crl_material` and
:meth:`ListenerFactory.crl_changed` give a listener its CRLs (files and URLs)
from a :class:`~diagnostics.tls.crl_sources.CRLSources` cache, for the CLI and the
daemon alike.

The connection limits keep a partner-facing port serving good clients while
others connect and send nothing, garbage, or a byte a second.
:class:`ListenerFactory` holds at most ``max_connections`` connections, at most
``max_per_address`` of them from one client address.  A new connection that would
pass either bound makes room by dropping the oldest connection still in its TLS
handshake (of that address, or of the whole listener); a connection past its
handshake is never dropped for a newcomer, and when there is none to drop the
newcomer is refused.  Both are counted by reason and reported at most once a
second (:mod:`.refusals`).  :func:`raise_open_files` raises the process's
open-file limit as far as its hard limit allows and :func:`fit_limits` lowers
``max_connections`` when the files left cannot hold them, so that the listening
port never runs out of file descriptors.
"""

from __future__ import annotations

import collections
import functools
import resource
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
from twisted.internet import defer
from twisted.internet.interfaces import IAddress, IListeningPort
from twisted.internet.protocol import Factory, Protocol

from diagnostics.listener.ftps import ftps_gate
from diagnostics.listener.https import https_gate
from diagnostics.listener.refusals import Refusal, RefusedConnections
from diagnostics.listener.session import (
    Gate,
    Limits,
    ListenerMaterial,
    ListenerOptions,
    Session,
    SessionReports,
    load_material,
    parse_listen_url,
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
# File descriptors one connection may hold: an FTPS session also opens a passive data port
# and accepts its data connection there.
FILES_PER_CONNECTION: dict[Scheme, int] = {Scheme.HTTPS: 1, Scheme.FTPS: 3, Scheme.FTPES: 3}
# File descriptors kept for everything else: standard streams, logs, the listening port, the
# reactor's own, CRL fetches.
RESERVED_FILES = 64
# Connections the kernel queues for the listener before it accepts them (Twisted's is 50).
BACKLOG = 1024

SessionCallback = Callable[[ProbeResult], None]
RefusedCallback = Callable[[RefusedConnections], None]
# Refusals are reported at most this often (seconds): a flood cannot fill the disk.
REFUSED_REPORT_INTERVAL = 1.0


class _Refuse(Protocol):
    """Over the connection limit: close at once, before any TLS work."""

    def connectionMade(self) -> None:
        transport: Any = self.transport
        transport.abortConnection()


def _host(addr: IAddress | None) -> str:
    """The client address that ``max_per_address`` counts against."""
    return str(getattr(addr, "host", "")) if addr is not None else ""


class ListenerFactory(Factory[Protocol]):
    """Makes one session per accepted connection, within the connection limits.

    ``sessions`` are the connections the limits count; ``pending`` those of them still in
    their TLS handshake, oldest first (the first to be dropped for a newcomer).
    """

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
        self.pending: collections.OrderedDict[Session, None] = collections.OrderedDict()
        self.refused = 0  # refused or dropped, since the start
        self.refusals: collections.Counter[Refusal] = collections.Counter()
        self.errors: list[BaseException] = []
        self._clients: dict[Session, IAddress | None] = {}
        self._open: collections.Counter[str] = collections.Counter()
        self._pending_at: dict[str, collections.OrderedDict[Session, None]] = {}
        self._dropped: set[Session] = set()
        self._unreported: collections.Counter[Refusal] = collections.Counter()
        self._last_refused: IAddress | None = None
        self._last_report: float | None = None
        self._report_call: Any = None

    @property
    def limits(self) -> Limits:
        """This listener's bounds."""
        return self.material.options.limits

    def buildProtocol(self, addr: IAddress | None) -> Protocol:
        host = _host(addr)
        while self._open[host] >= self.limits.max_per_address:
            if not self._make_room(self._pending_at.get(host), addr, Refusal.MAX_PER_ADDRESS):
                return _Refuse()
        while len(self.sessions) >= self.limits.max_connections:
            if not self._make_room(self.pending, addr, Refusal.MAX_CONNECTIONS):
                return _Refuse()
        session = Session(
            self.reactor, self.material, self.reports, self._finished, on_secured=self._secured
        )
        self.sessions.add(session)
        self.pending[session] = None
        self._pending_at.setdefault(host, collections.OrderedDict())[session] = None
        self._open[host] += 1
        self._clients[session] = addr
        return GATES[Scheme(self.material.target.scheme)](session)

    def _make_room(
        self,
        pending: collections.OrderedDict[Session, None] | None,
        addr: IAddress | None,
        refusal: Refusal,
    ) -> bool:
        """Drop the oldest of ``pending`` for a newcomer; without one, refuse the newcomer."""
        if not pending:
            self._note_refused(addr, refusal)
            return False
        oldest = next(iter(pending))
        where = "from its address" if refusal is Refusal.MAX_PER_ADDRESS else "in all"
        bound = (
            self.limits.max_per_address
            if refusal is Refusal.MAX_PER_ADDRESS
            else self.limits.max_connections
        )
        client = self._clients.get(oldest)
        self._forget(oldest)
        self._dropped.add(oldest)
        oldest.fail(
            Failure(
                phase=oldest.phase,
                kind="evicted",
                message=f"the client had not finished the TLS handshake when {bound} "
                f"connections were open {where}; the oldest such was dropped for a new one",
            )
        )
        oldest.abort()
        self._note_refused(client, Refusal.EVICTED)
        return True

    def _forget(self, session: Session) -> None:
        """Stop counting ``session`` against the limits (it ended, or it was dropped)."""
        if session not in self.sessions:
            return
        self.sessions.discard(session)
        self.pending.pop(session, None)
        host = _host(self._clients.pop(session, None))
        at_host = self._pending_at.get(host)
        if at_host is not None:
            at_host.pop(session, None)
            if not at_host:
                del self._pending_at[host]
        self._open[host] -= 1
        if self._open[host] <= 0:
            del self._open[host]

    def _secured(self, session: Session) -> None:
        """The session finished its handshake: it is never dropped for a newcomer now."""
        self.pending.pop(session, None)
        at_host = self._pending_at.get(_host(self._clients.get(session)))
        if at_host is not None:
            at_host.pop(session, None)

    def _note_refused(self, addr: IAddress | None, refusal: Refusal) -> None:
        """Count a refusal; report now, or once the interval since the last report is over."""
        self.refused += 1
        self.refusals[refusal] += 1
        self._unreported[refusal] += 1
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
        unreported = self._unreported
        report = RefusedConnections(
            url=self.material.target.url,
            count=unreported.total(),
            limit=self.limits.max_connections,
            client_address=getattr(addr, "host", None),
            client_port=getattr(addr, "port", None),
            max_per_address=self.limits.max_per_address,
            per_address=unreported[Refusal.MAX_PER_ADDRESS],
            evicted=unreported[Refusal.EVICTED],
        )
        self._unreported = collections.Counter()
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
        self._forget(session)
        if session in self._dropped:
            self._dropped.discard(session)  # counted among the refusals: no session report
            return
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


# -- the open-file limit -------------------------------------------------------------------


@attrs.frozen
class OpenFiles:
    """The process's open-file limit (``RLIMIT_NOFILE``) as :func:`raise_open_files` left it."""

    soft: int | None
    """The limit now; None: unlimited."""
    hard: int | None
    """The hard limit, as far as the soft one may be raised; None: unlimited."""
    before: int | None
    """The limit found at start."""
    error: str | None = None
    """Why it could not be raised, if it could not."""

    def describe(self) -> str:
        """``open-file limit 20000 (raised from 1024, the hard limit)`` and the like."""
        if self.soft is None:
            return "no open-file limit"
        hard = "no hard limit" if self.hard is None else f"hard limit {self.hard}"
        if self.soft == self.hard:
            hard = "the hard limit"
        if self.error is not None:
            return f"open-file limit {self.soft} ({hard}; it could not be raised: {self.error})"
        if self.before != self.soft:
            return f"open-file limit {self.soft} (raised from {self.before}, {hard})"
        return f"open-file limit {self.soft} ({hard})"

    def to_json(self) -> dict[str, Any]:
        """The JSON form (``None``: unlimited)."""
        return {"limit": self.soft, "hard": self.hard, "before": self.before, "error": self.error}


def _finite(value: int) -> int | None:
    return None if value == resource.RLIM_INFINITY or value < 0 else value


def raise_open_files(
    getrlimit: Callable[[int], tuple[int, int]] = resource.getrlimit,
    setrlimit: Callable[[int, tuple[int, int]], None] = resource.setrlimit,
) -> OpenFiles:
    """Raise the open-file soft limit as far as the hard limit allows; what it is now.

    Without a hard limit the kernel still has one of its own: 2**20, then 65,536 and 10,240
    files are tried.  A limit that cannot be raised is kept, and the error said.
    """
    soft, hard = getrlimit(resource.RLIMIT_NOFILE)
    before, ceiling = _finite(soft), _finite(hard)
    if before is None:
        return OpenFiles(None, ceiling, None)
    wanted = [ceiling] if ceiling is not None else [2**20, 65536, 10240]
    error: str | None = None
    for value in wanted:
        if value <= before:
            break
        try:
            setrlimit(resource.RLIMIT_NOFILE, (value, hard))
        except (ValueError, OSError) as exc:
            error = str(exc) or type(exc).__name__
            continue
        return OpenFiles(value, ceiling, before)
    return OpenFiles(before, ceiling, before, error)


@attrs.frozen
class Capacity:
    """The connections a listener may hold within the open-file limit."""

    files: OpenFiles
    asked: int
    """The ``max_connections`` asked for."""
    limits: Limits
    """The limits in force: ``max_connections`` lowered to fit the files, when it had to be."""
    option: str = "--max-connections"
    """How the caller names ``max_connections`` (``max_connections`` in a [[listener]])."""

    @property
    def lowered(self) -> bool:
        """``max_connections`` had to be lowered to fit the open-file limit."""
        return self.limits.max_connections < self.asked

    def message(self) -> str:
        """One line: the open-file limit, the connection limits, and whether one was lowered."""
        connections = f"at most {self.limits.max_connections} connections"
        if self.lowered:
            connections += f" ({self.option} {self.asked} lowered to fit)"
        return (
            f"{self.files.describe()}: {connections}, "
            f"{self.limits.max_per_address} per client address"
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON form of the daemon's listener-start event."""
        return {
            "open_files": self.files.to_json(),
            "max_connections": self.limits.max_connections,
            "max_connections_asked": self.asked,
            "max_per_address": self.limits.max_per_address,
        }


def fit_limits(
    options: ListenerOptions,
    files: OpenFiles,
    *,
    reserved: int = RESERVED_FILES,
    option: str = "--max-connections",
) -> tuple[ListenerOptions, Capacity]:
    """The options with ``max_connections`` lowered, if need be, to what the files can hold.

    ``reserved`` files are kept for everything but the connections (more in a daemon that
    also probes); each connection may take :data:`FILES_PER_CONNECTION` of its scheme.
    """
    limits = options.limits
    fitted = limits
    if files.soft is not None:
        room = max(1, (files.soft - reserved) // _files_per_connection(options))
        if room < limits.max_connections:
            fitted = attrs.evolve(limits, max_connections=room)
    capacity = Capacity(files, limits.max_connections, fitted, option)
    return attrs.evolve(options, limits=fitted), capacity


def files_needed(options: ListenerOptions) -> int:
    """The file descriptors a listener's connections may take at most."""
    return options.limits.max_connections * _files_per_connection(options)


def _files_per_connection(options: ListenerOptions) -> int:
    """:data:`FILES_PER_CONNECTION` of the options' scheme; TargetError for a bad URL."""
    return FILES_PER_CONNECTION[Scheme(parse_listen_url(options.url).scheme)]


# -- starting ------------------------------------------------------------------------------


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
    connections refused or dropped at the connection limits, at most one report a second.
    The options' ``max_connections`` should fit the open-file limit (see :func:`fit_limits`).
    """
    material = options if isinstance(options, ListenerMaterial) else load_material(options)
    factory = ListenerFactory(reactor, material, on_session, on_refused, reports=reports)
    target = material.target
    listening = reactor.listenTCP(
        target.port if port is None else port, factory, backlog=BACKLOG, interface=target.host
    )
    return Listener(listening, factory)
