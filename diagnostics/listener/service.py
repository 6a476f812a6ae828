# -*- test-case-name: tests.test_listen -*-
"""Start and stop a listener: the listening port, the connection limit, the callback.

:func:`listen` is the one entry point for the CLI, the daemon's
``[[listener]]`` and the lab: it takes the reactor, the options (or the
material already loaded) and a callback that receives every finished
session's judged result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IAddress, IListeningPort
from twisted.internet.protocol import Factory, Protocol

from diagnostics.listener.session import ListenerMaterial, ListenerOptions, Session, load_material
from diagnostics.model import Failure, ProbeResult

SessionCallback = Callable[[ProbeResult], None]


class _Refuse(Protocol):
    """Over the connection limit: close at once, before any TLS work."""

    def connectionMade(self) -> None:
        transport: Any = self.transport
        transport.abortConnection()


class ListenerFactory(Factory[Protocol]):
    """Makes one session per accepted connection, up to the limit."""

    noisy = False

    def __init__(self, reactor: Any, material: ListenerMaterial, on_session: SessionCallback):
        self.reactor = reactor
        self.material = material
        self.on_session = on_session
        self.sessions: set[Session] = set()
        self.refused = 0
        self.errors: list[BaseException] = []

    def buildProtocol(self, addr: IAddress | None) -> Protocol:
        if len(self.sessions) >= self.material.options.limits.max_connections:
            self.refused += 1
            return _Refuse()
        session = Session(self.reactor, self.material, self._finished)
        self.sessions.add(session)
        scheme = self.material.target.scheme
        if scheme == "https":
            from diagnostics.listener.https import https_gate

            return https_gate(session)
        from diagnostics.listener.ftps import ftps_gate

        return ftps_gate(session, implicit=scheme == "ftps")

    def _finished(self, session: Session) -> None:
        self.sessions.discard(session)
        try:
            self.on_session(session.verdict())
        except Exception as exc:  # a failing callback must not take the listener down
            self.errors.append(exc)

    def close_all(self) -> None:
        """Drop every open connection (each still reports its session, as cut short)."""
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


def listen(
    reactor: Any,
    options: ListenerOptions | ListenerMaterial,
    on_session: SessionCallback,
    *,
    port: int | None = None,
) -> Listener:
    """Start listening at the options' URL (or on ``port``); TrustError or CannotListenError."""
    material = options if isinstance(options, ListenerMaterial) else load_material(options)
    factory = ListenerFactory(reactor, material, on_session)
    target = material.target
    listening = reactor.listenTCP(
        target.port if port is None else port, factory, interface=target.host
    )
    return Listener(listening, factory)
