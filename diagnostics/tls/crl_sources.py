# -*- test-case-name: tests.tls.test_crl_sources -*-
"""CRLs from files and ``http://`` URLs: fetched, cached, refreshed, shared by every probe.

A URL is fetched with plain HTTP GET: redirects are refused (a CRL has one
home, named in the certificate or the configuration), the body is bounded in
size and the whole fetch in time, and every failure is a :class:`FetchError`
with a kind and a sentence.

:class:`CRLSources` holds one entry per file or URL, whoever asks for it: a
thousand targets with the same CRL URL cause one fetch.  An entry is refreshed
at its CRL's next update or after the configured interval, whichever comes
first.  A failed reload keeps the previous CRL until its next update and says
so through ``on_event``; after that the source is unavailable.  Time comes from
the reactor given (a ``Clock`` in tests).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
from cryptography import x509
from twisted.internet import defer, error, protocol
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint
from twisted.internet.interfaces import IDelayedCall, IStreamClientEndpoint
from twisted.python.failure import Failure
from twisted.web.client import URI, Agent, HTTPConnectionPool, ResponseDone
from twisted.web.http_headers import Headers
from twisted.web.iweb import UNKNOWN_LENGTH, IAgentEndpointFactory, IResponse
from zope.interface import implementer

from diagnostics.model import certificates
from diagnostics.model.errors import TlsdiagError
from diagnostics.model.revocation import CRLError, KnownCRL, check_url, is_url, parse_crl
from diagnostics.model.version import __version__
from diagnostics.tls.trust import TrustError, load_crl

MAX_CRL_BYTES = 10 * 1024 * 1024  # the CRLs of large public CAs run to megabytes
FETCH_TIMEOUT = 10.0
REFRESH_INTERVAL = 4 * 3600.0
RETRY_INTERVAL = 300.0


class FetchError(TlsdiagError):
    """A CRL that could not be fetched: ``kind`` classifies, the message explains."""

    KINDS = ("url", "connect", "timeout", "redirect", "http_status", "too_large", "cut_short")

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@implementer(IAgentEndpointFactory)
class _Endpoints:
    """TCP endpoints for the agent: address literals directly, names through resolution."""

    def __init__(self, reactor: Any, timeout: float) -> None:
        self.reactor = reactor
        self.timeout = timeout

    def endpointForURI(self, uri: URI) -> IStreamClientEndpoint:
        host = uri.host.decode("ascii").strip("[]")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return HostnameEndpoint(self.reactor, uri.host, uri.port, timeout=self.timeout)
        if address.version == 6:
            return TCP6ClientEndpoint(  # type: ignore[no-untyped-call]
                self.reactor, host, uri.port, timeout=self.timeout
            )
        return TCP4ClientEndpoint(self.reactor, host, uri.port, timeout=self.timeout)


class _Body(protocol.Protocol):
    """Collects a response body up to ``limit`` bytes; beyond that, drops the connection."""

    def __init__(self, done: defer.Deferred[bytes], limit: int) -> None:
        self.done = done
        self.limit = limit
        self.data = bytearray()
        self.too_large = False

    def dataReceived(self, data: bytes) -> None:
        self.data += data
        if len(self.data) > self.limit and not self.too_large:
            self.too_large = True
            self.stop()

    def stop(self) -> None:
        if self.transport is not None:
            self.transport.stopProducing()  # type: ignore[attr-defined]

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        if self.done.called:
            return
        if self.too_large:
            self.done.errback(FetchError("too_large", f"the answer exceeds {self.limit} bytes"))
        elif isinstance(reason.value, ResponseDone):
            self.done.callback(bytes(self.data))
        else:
            self.done.errback(
                FetchError("cut_short", f"the answer was cut short after {len(self.data)} bytes")
            )


def _connect_error(exc: BaseException) -> FetchError | None:
    if isinstance(exc, error.DNSLookupError):
        return FetchError("connect", f"the host name does not resolve ({exc})")
    if isinstance(exc, error.ConnectionRefusedError):
        return FetchError("connect", "connection refused")
    if isinstance(exc, error.ConnectError):
        return FetchError("connect", f"cannot connect ({exc})")
    return None


async def _get(reactor: Any, url: str, timeout: float, limit: int) -> bytes:
    pool = HTTPConnectionPool(reactor, persistent=False)  # type: ignore[no-untyped-call]
    agent = Agent.usingEndpointFactory(  # type: ignore[no-untyped-call]
        reactor, _Endpoints(reactor, timeout), pool=pool
    )
    headers = Headers({b"user-agent": [f"tlsdiag/{__version__}".encode()]})
    try:
        response: IResponse = await agent.request(b"GET", url.encode("ascii"), headers)
    except (error.ConnectError, error.DNSLookupError) as exc:
        raise _connect_error(exc) or exc from None
    status = f"{response.code} {response.phrase.decode('latin-1', 'replace')}"
    if 300 <= response.code < 400:
        location = response.headers.getRawHeaders(b"location", [b"(no Location)"])[0]
        _discard(response)
        raise FetchError(
            "redirect",
            f"answered {status}, a redirect to {location.decode('latin-1', 'replace')}; "
            "redirects are not followed",
        )
    if response.code != 200:
        _discard(response)
        raise FetchError("http_status", f"answered {status}")
    if response.length is not UNKNOWN_LENGTH and int(response.length) > limit:
        _discard(response)
        raise FetchError(
            "too_large", f"the answer announces {response.length} bytes, more than {limit}"
        )
    body = _Body(defer.Deferred(lambda _d: body.stop()), limit)
    response.deliverBody(body)  # type: ignore[no-untyped-call]
    return await body.done


def _discard(response: IResponse) -> None:
    sink = _Body(defer.Deferred(), 0)
    sink.done.addErrback(lambda _f: None)
    response.deliverBody(sink)  # type: ignore[no-untyped-call]


def fetch_crl(
    reactor: Any, url: str, *, timeout: float = FETCH_TIMEOUT, limit: int = MAX_CRL_BYTES
) -> defer.Deferred[x509.CertificateRevocationList]:
    """GET one CRL over plain HTTP; errbacks with a FetchError (or a CRLError for garbage)."""
    problem = check_url(url)
    if problem is not None:
        return defer.fail(FetchError("url", problem))
    d = defer.Deferred.fromCoroutine(_get(reactor, url, timeout, limit))

    def timed_out(_result: object, _timeout: float) -> x509.CertificateRevocationList:
        raise FetchError("timeout", f"no complete answer within {timeout:g} s")

    d.addTimeout(timeout, reactor, onTimeoutCancel=timed_out)

    def classify(failure: Failure) -> x509.CertificateRevocationList:
        exc = failure.value
        if isinstance(exc, FetchError):
            raise exc
        assert isinstance(exc, BaseException)
        raise _connect_error(exc) or FetchError("cut_short", f"{type(exc).__name__}: {exc}")

    d.addErrback(classify)
    return d.addCallback(parse_crl)


# -- the cache --------------------------------------------------------------------------


@attrs.frozen
class CRLEvent:
    """Something that happened to a CRL source, for the daemon's log."""

    action: str  # crl-loaded, crl-reload-failed, crl-unavailable
    level: str  # info, warning, error
    source: str
    message: str
    error: str | None = None
    issuer: str | None = None
    next_update: str | None = None


@attrs.frozen
class CRLSet:
    """The usable CRLs of some sources, and why the others have none."""

    crls: tuple[KnownCRL, ...] = ()
    errors: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def revocation_lists(self) -> tuple[x509.CertificateRevocationList, ...]:
        """The CRLs as ``cryptography`` objects, ready for an OpenSSL store."""
        return tuple(k.crl for k in self.crls)


@attrs.define
class _Source:
    entry: str
    known: KnownCRL | None = None
    error: str | None = None
    refresh_at: float = 0.0
    stat: tuple[int, int] | None = None
    pending: defer.Deferred[None] | None = None
    timer: IDelayedCall | None = None
    reported_unavailable: bool = False


def _stat(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _when(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


class CRLSources:
    """CRLs by file name or URL, loaded once, refreshed in time, shared by every caller."""

    def __init__(
        self,
        *,
        refresh_interval: float = REFRESH_INTERVAL,
        retry_interval: float = RETRY_INTERVAL,
        timeout: float = FETCH_TIMEOUT,
        limit: int = MAX_CRL_BYTES,
        on_event: Callable[[CRLEvent], None] | None = None,
        fetch: Callable[..., defer.Deferred[x509.CertificateRevocationList]] = fetch_crl,
    ) -> None:
        self.refresh_interval = refresh_interval
        self.retry_interval = min(retry_interval, refresh_interval)
        self.timeout = timeout
        self.limit = limit
        self.on_event = on_event
        self.fetch = fetch
        self.fetches = 0
        self._sources: dict[str, _Source] = {}
        self._watched: set[str] = set()

    # -- asking ---------------------------------------------------------------------------

    def get(self, reactor: Any, entries: Iterable[str]) -> defer.Deferred[CRLSet]:
        """The usable CRLs of ``entries`` (loading or refreshing what is due); never errbacks."""
        names = list(dict.fromkeys(entries))
        waits = [self._fresh(reactor, self._source(name)) for name in names]
        done = defer.gatherResults(waits, consumeErrors=True)
        return done.addBoth(lambda _: self.current(reactor, names))

    def current(self, reactor: Any, entries: Iterable[str]) -> CRLSet:
        """What is held for ``entries`` right now, without loading anything."""
        now = _when(reactor.seconds())
        crls: list[KnownCRL] = []
        errors: dict[str, str] = {}
        for name in dict.fromkeys(entries):
            source = self._source(name)
            # A stale CRL just loaded is the CA's current one and is used (OpenSSL then
            # says it expired); a kept one that could not be reloaded is dropped at its end.
            if source.known is not None and (source.error is None or not source.known.expired(now)):
                crls.append(source.known)
            else:
                errors[name] = self._unavailable_reason(source)
        return CRLSet(tuple(crls), errors)

    def _unavailable_reason(self, source: _Source) -> str:
        if source.known is not None and source.known.next_update is not None:
            expired = certificates.iso_time(source.known.next_update)
            return f"its CRL expired at {expired} and could not be reloaded: {source.error}"
        return source.error or "not loaded yet"

    def _source(self, name: str) -> _Source:
        source = self._sources.get(name)
        if source is None:
            source = self._sources[name] = _Source(name)
        return source

    def _due(self, reactor: Any, source: _Source) -> bool:
        if source.known is None and source.error is None:
            return True
        if reactor.seconds() >= source.refresh_at:
            return True
        return not is_url(source.entry) and _stat(source.entry) != source.stat

    def _fresh(self, reactor: Any, source: _Source) -> defer.Deferred[None]:
        if source.pending is None and self._due(reactor, source):
            self._start(reactor, source)
        if source.pending is None:
            return defer.succeed(None)
        waiter: defer.Deferred[None] = defer.Deferred()

        def wake(result: object) -> object:
            waiter.callback(None)
            return result

        source.pending.addBoth(wake)
        return waiter

    # -- loading --------------------------------------------------------------------------

    def _start(self, reactor: Any, source: _Source) -> None:
        loading = self._load(reactor, source)
        # A file loads at once: then nothing is pending any more.
        source.pending = None if loading.called else loading

    def _load(self, reactor: Any, source: _Source) -> defer.Deferred[None]:
        self.fetches += 1
        loaded: defer.Deferred[x509.CertificateRevocationList]
        if is_url(source.entry):
            loaded = self.fetch(reactor, source.entry, timeout=self.timeout, limit=self.limit)
        else:
            source.stat = _stat(source.entry)
            try:
                loaded = defer.succeed(load_crl(source.entry))
            except TrustError as exc:
                loaded = defer.fail(exc)

        def ok(crl: x509.CertificateRevocationList) -> None:
            self._loaded(reactor, source, KnownCRL(crl, source.entry))

        def failed(failure: Failure) -> None:
            exc = failure.value
            if isinstance(exc, FetchError | CRLError | TrustError):
                message = str(exc)
            else:
                message = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, CRLError):
                message = f"the answer is not a CRL: {message}"
            self._failed(reactor, source, message)

        def settled(_: object) -> None:
            source.pending = None
            if source.entry in self._watched:
                self._schedule(reactor, source)

        return loaded.addCallbacks(ok, failed).addBoth(settled)

    def _loaded(self, reactor: Any, source: _Source, known: KnownCRL) -> None:
        now = reactor.seconds()
        changed = source.known is None or source.known.sha256 != known.sha256
        recovered = source.error is not None
        source.known, source.error, source.reported_unavailable = known, None, False
        wait = self.refresh_interval
        if known.next_update is not None:
            until = (known.next_update - _when(now)).total_seconds()
            # A CRL already past its next update is the CA's stale one: ask again soon.
            wait = min(wait, until if until > 0 else self.retry_interval)
        source.refresh_at = now + wait
        if changed or recovered:
            until_text = (
                certificates.iso_time(known.next_update) if known.next_update else "unknown"
            )
            self._emit(
                CRLEvent(
                    "crl-loaded",
                    "info",
                    source.entry,
                    f"CRL of '{known.issuer}' loaded from {source.entry}: "
                    f"{len(known.crl)} revoked, next update {until_text}",
                    issuer=known.issuer,
                    next_update=until_text,
                )
            )

    def _failed(self, reactor: Any, source: _Source, message: str) -> None:
        now = reactor.seconds()
        source.error = message
        source.refresh_at = now + self.retry_interval
        known = source.known
        if known is not None and not known.expired(_when(now)):
            if known.next_update is not None:
                # Try again before the kept CRL runs out, so that its end is noticed.
                until = (known.next_update - _when(now)).total_seconds()
                source.refresh_at = now + max(1.0, min(self.retry_interval, until))
            until_text = (
                certificates.iso_time(known.next_update) if known.next_update else "unknown"
            )
            self._emit(
                CRLEvent(
                    "crl-reload-failed",
                    "warning",
                    source.entry,
                    f"CRL reload failed, keeping the CRL of '{known.issuer}' valid until "
                    f"{until_text}: {source.entry}: {message}",
                    error=message,
                    issuer=known.issuer,
                    next_update=until_text,
                )
            )
            return
        if not source.reported_unavailable:
            source.reported_unavailable = True
            self._emit(
                CRLEvent(
                    "crl-unavailable",
                    "error",
                    source.entry,
                    f"no usable CRL from {source.entry}: {self._unavailable_reason(source)}",
                    error=message,
                    issuer=known.issuer if known else None,
                )
            )

    def _emit(self, event: CRLEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

    # -- background refresh -----------------------------------------------------------------

    def watch(self, reactor: Any, entries: Iterable[str]) -> None:
        """Keep exactly ``entries`` loaded and refreshed in the background from now on."""
        wanted = set(entries)
        for name in self._watched - wanted:
            self._cancel(self._source(name))
        self._watched = wanted
        for name in sorted(wanted):
            source = self._source(name)
            if source.pending is None and source.timer is None:
                if self._due(reactor, source):
                    self._start(reactor, source)
                else:
                    self._schedule(reactor, source)

    def stop(self) -> None:
        """Stop every background refresh."""
        for name in self._watched:
            self._cancel(self._source(name))
        self._watched = set()

    def _cancel(self, source: _Source) -> None:
        if source.timer is not None and source.timer.active():
            source.timer.cancel()
        source.timer = None

    def _schedule(self, reactor: Any, source: _Source) -> None:
        self._cancel(source)
        delay = max(0.0, source.refresh_at - reactor.seconds())

        def due() -> None:
            source.timer = None
            if source.entry in self._watched and source.pending is None:
                self._start(reactor, source)

        source.timer = reactor.callLater(delay, due)


DEFAULT_SOURCES = CRLSources()
