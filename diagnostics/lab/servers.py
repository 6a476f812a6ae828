# -*- test-case-name: tests.lab.test_lab -*-
"""The lab's servers: real Twisted listeners on fixed ports, one per endpoint.

HTTPS endpoints are twisted.web behind the chain-serving TLS contexts of
:mod:`diagnostics.tls.serving`; FTPS endpoints are the listener's own FTPS server
(:mod:`diagnostics.listener`) with its fault knobs.

:func:`start_lab` makes a fresh hierarchy, listens on ``base_port`` (the
publisher: plain HTTP serving the CA bundle, the issuing CA for AIA and its CRL)
and on ``base_port + offset`` for every endpoint, then writes the state folder,
and returns the manifest with a function that stops everything.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Callable, Sequence
from typing import Any

import attrs
from cryptography.hazmat.primitives import serialization
from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.policies import TimeoutMixin
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.web import http, resource, server

from diagnostics.lab import endpoints as lab_endpoints
from diagnostics.lab.endpoints import (
    CA_BUNDLE,
    CRL_FILE,
    DEFAULT_BASE_PORT,
    DEFAULT_BIND,
    DEFAULT_STATE_DIR,
    INTERMEDIATE_FILE,
    SILENT_HOLD,
    Endpoint,
    Kind,
    Lab,
    base_port_problem,
    publisher_url,
)
from diagnostics.lab.manifest import ManifestEntry, entries, write_state
from diagnostics.listener.service import Listener, listen
from diagnostics.listener.session import FTPFaults, ListenerOptions, material_from
from diagnostics.model.errors import TlsdiagError
from diagnostics.pki.throwaway_ca import pem
from diagnostics.render.session import PLAIN_TEXT_REPORTS
from diagnostics.tls.serving import ServerCreator, server_context


class LabError(TlsdiagError):
    """The lab cannot start (a port is taken, the state folder cannot be written)."""


@attrs.frozen
class RunningLab:
    """A started lab: its manifest, where it publishes, and how to stop it."""

    manifest: tuple[ManifestEntry, ...]
    state_dir: str
    publisher: str  # the publisher's base URL
    stop: Callable[[], defer.Deferred[None]]


class _Quiet(Protocol, TimeoutMixin):
    """Accept a connection and say nothing; hang up after ``SILENT_HOLD`` seconds."""

    def connectionMade(self) -> None:
        """Start the clock: a silent port must not hold connections forever."""
        self.setTimeout(SILENT_HOLD)  # type: ignore[no-untyped-call]

    def connectionLost(self, reason: Any = None) -> None:
        """Stop the clock."""
        self.setTimeout(None)  # type: ignore[no-untyped-call]


class _PlainHTTPChannel(http.HTTPChannel):
    """HTTP that answers anything else (a TLS ClientHello) with 400, as web servers do."""

    checked = False

    def dataReceived(self, data: bytes) -> None:
        """Refuse a first packet that is not an HTTP request line; else serve HTTP."""
        if not self.checked:
            self.checked = True
            if not re.match(rb"[A-Z]{3,10} ", data[:11]):
                assert self.transport is not None
                self.transport.write(_BAD_REQUEST)
                self.transport.loseConnection()
                return
        super().dataReceived(data)  # type: ignore[no-untyped-call]


_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\nServer: tlsdiag-lab\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 12\r\nConnection: close\r\n\r\nBad Request\n"
)


class _QuietSite(server.Site):
    """A site that writes no access log line and refuses what is not HTTP."""

    noisy = False
    protocol = _PlainHTTPChannel  # type: ignore[assignment]

    def log(self, request: Any) -> None:
        """Write nothing."""


class _Fixed(resource.Resource):
    """Every path below answers 200 with the same body."""

    isLeaf = True

    def __init__(self, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.body = body
        self.content_type = content_type.encode("ascii")

    def render_GET(self, request: Any) -> bytes:
        """The body."""
        request.setHeader(b"content-type", self.content_type)
        request.setHeader(b"server", b"tlsdiag-lab")
        return self.body

    def render_HEAD(self, request: Any) -> bytes:
        """The headers of GET, without the body (probes ask HEAD first)."""
        # Without this, twisted.web answers HEAD through GET and logs a warning per request.
        self.render_GET(request)
        request.setHeader(b"content-length", b"%d" % len(self.body))
        return b""


def _site(root: resource.Resource) -> server.Site:
    return _QuietSite(root)  # type: ignore[no-untyped-call]


def _ftps(reactor: Any, endpoint: Endpoint, bind: str, port: int) -> Listener:
    """The listener's own FTPS server, with the endpoint's faults."""
    scheme = "ftps" if endpoint.kind is Kind.FTPS_IMPLICIT else "ftpes"
    host = f"[{bind}]" if ":" in bind else bind
    options = ListenerOptions(
        url=f"{scheme}://{host}:{port}",
        cert_file="",  # the certificate and key are in memory, below
        key_file="",
        faults=FTPFaults(**endpoint.ftp_faults),
    )
    assert endpoint.key is not None
    material = material_from(options, endpoint.chain, endpoint.key)
    return listen(reactor, material, lambda _result: None, reports=PLAIN_TEXT_REPORTS)


def _factory(endpoint: Endpoint) -> Factory[Any]:
    page = _site(_Fixed(f"tlsdiag lab: {endpoint.name}: {endpoint.fault}\n".encode()))
    if endpoint.kind is Kind.PLAIN_HTTP:
        return page
    if endpoint.kind is Kind.SILENT:
        silent: Factory[Any] = Factory.forProtocol(_Quiet)
        silent.noisy = False
        return silent
    assert endpoint.key is not None
    context = server_context(
        endpoint.chain,
        endpoint.key,
        security_level=endpoint.security_level,
        client_cas=endpoint.client_cas,
    )
    tls = TLSMemoryBIOFactory(ServerCreator(context), False, page)
    tls.noisy = False
    return tls


def _publisher(lab: Lab) -> server.Site:
    hierarchy = lab.hierarchy
    der = serialization.Encoding.DER
    root = resource.Resource()  # type: ignore[no-untyped-call]
    files = {
        CA_BUNDLE: (pem([hierarchy.root.cert]), "application/x-pem-file"),
        INTERMEDIATE_FILE: (hierarchy.issuing.cert.public_bytes(der), "application/pkix-cert"),
        CRL_FILE: (hierarchy.crl.public_bytes(der), "application/pkix-crl"),
    }
    for name, (data, content_type) in files.items():
        root.putChild(name.encode("ascii"), _Fixed(data, content_type))
    return _site(root)


def start_lab(
    reactor: Any,
    *,
    bind: str = DEFAULT_BIND,
    base_port: int = DEFAULT_BASE_PORT,
    state_dir: str = DEFAULT_STATE_DIR,
) -> RunningLab:
    """Make a fresh hierarchy, listen, then write the state folder; LabError when it cannot.

    The files are written only once every port is held: a second lab started by mistake
    on the same ports leaves the running lab's trust material alone.
    """
    problem = base_port_problem(base_port)
    if problem is not None:
        raise LabError(f"the base port {problem}")
    lab = lab_endpoints.build(bind, base_port)
    manifest = entries(lab, bind=bind, base_port=base_port, state_dir=state_dir)
    stops: list[Callable[[], Any]] = []
    try:
        port = reactor.listenTCP(base_port, _publisher(lab), interface=bind)
        stops.append(port.stopListening)
        for endpoint in lab.endpoints:
            number = base_port + endpoint.offset
            if endpoint.kind in (Kind.FTPS_EXPLICIT, Kind.FTPS_IMPLICIT):
                stops.append(_ftps(reactor, endpoint, bind, number).stop)
            else:
                port = reactor.listenTCP(number, _factory(endpoint), interface=bind)
                stops.append(port.stopListening)
    except CannotListenError as exc:
        _stop_all(stops)
        raise LabError(f"cannot listen on {bind}:{exc.port}: {_listen_advice(exc)}") from None
    try:
        write_state(lab, state_dir, manifest)
    except OSError as exc:
        _stop_all(stops)
        raise LabError(f"the state folder {state_dir!r} cannot be written: {exc}") from None
    return RunningLab(
        manifest=tuple(manifest),
        state_dir=state_dir,
        publisher=publisher_url(bind, base_port, ""),
        stop=lambda: _stop_all(stops),
    )


def _listen_advice(exc: CannotListenError) -> str:
    """Why a port could not be bound, and which option changes it."""
    if getattr(exc.socketError, "errno", None) == errno.EADDRINUSE:
        return f"{exc.socketError}; choose another base port (--base-port, or [lab] base_port)"
    return f"{exc.socketError}; choose an address of this machine (--bind, or [lab] bind)"


def _stop_all(stops: Sequence[Callable[[], Any]]) -> defer.Deferred[None]:
    stopping = [defer.maybeDeferred(stop) for stop in stops]
    done: defer.Deferred[Any] = defer.gatherResults(stopping, consumeErrors=True)
    return done.addCallback(lambda _: None)
