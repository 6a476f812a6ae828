"""Evidence for naming a missing issuer: the platform's CA store and the leaf's AIA URL.

Both are used only to *identify* the issuer of a chain that stops short; they
never make anything trusted.  The AIA caIssuers URL is fetched only when the
user allows it (``--fetch-issuer``): plain ``http://`` only, no redirects,
bounded in size and time.
"""

from __future__ import annotations

import functools
import ssl
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cryptography import x509
from twisted.internet import defer, protocol
from twisted.python.failure import Failure

from diagnostics.model.result import ProbeResult
from diagnostics.model.version import __version__

if TYPE_CHECKING:
    from twisted.web.iweb import IResponse

# Twisted's HTTP client is imported by the fetch itself: most probes never fetch.

MAX_ISSUER_BYTES = 64 * 1024
ISSUER_CODES = frozenset({2, 20, 21})


@functools.cache
def platform_certificates() -> tuple[x509.Certificate, ...]:
    """The platform's CA bundle (identification only); empty when there is none."""
    paths = ssl.get_default_verify_paths()
    for path in (paths.cafile, paths.openssl_cafile):
        if not path:
            continue
        try:
            with open(path, "rb") as handle, warnings.catch_warnings():
                # Some platform roots are old enough to break today's rules (negative
                # serial numbers); they still serve to recognise a name.
                warnings.simplefilter("ignore")
                return tuple(x509.load_pem_x509_certificates(handle.read()))
        except (OSError, ValueError):
            continue
    return ()


def issuer_unknown(result: ProbeResult) -> bool:
    """True when verification stopped for want of an issuer certificate."""
    return any(e.code in ISSUER_CODES for e in result.verify_events)


def load_issuer(data: bytes) -> x509.Certificate | None:
    """A certificate served at an AIA URL: DER (the norm) or PEM; None when neither."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)[0]
        return x509.load_der_x509_certificate(data)
    except (ValueError, IndexError):
        return None


class _Bounded(protocol.Protocol):
    def __init__(self, done: defer.Deferred[bytes], limit: int) -> None:
        self.done = done
        self.limit = limit
        self.data = bytearray()

    def dataReceived(self, data: bytes) -> None:
        self.data += data
        if len(self.data) > self.limit and self.transport is not None:
            self.transport.stopProducing()  # type: ignore[attr-defined]

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        from twisted.web.client import ResponseDone

        if self.done.called:
            return
        if isinstance(reason.value, ResponseDone) and len(self.data) <= self.limit:
            self.done.callback(bytes(self.data))
        else:
            self.done.errback(ValueError("issuer certificate too large or cut short"))


async def _fetch(reactor: Any, url: str, limit: int) -> x509.Certificate | None:
    from twisted.web.client import Agent
    from twisted.web.http_headers import Headers

    agent = Agent(reactor, connectTimeout=5)  # type: ignore[no-untyped-call]
    headers = Headers({b"user-agent": [f"tlsdiag/{__version__}".encode()]})
    response: IResponse = await agent.request(b"GET", url.encode("ascii"), headers)
    if response.code != 200:
        return None
    done: defer.Deferred[bytes] = defer.Deferred()
    response.deliverBody(_Bounded(done, limit))  # type: ignore[no-untyped-call]
    return load_issuer(await done)


def fetch_issuer(
    reactor: Any, urls: Sequence[str], *, timeout: float, limit: int = MAX_ISSUER_BYTES
) -> defer.Deferred[x509.Certificate | None]:
    """The first certificate found at one of the ``http://`` URLs; never errbacks."""
    candidates = [u for u in urls if u.lower().startswith("http://")]

    async def first() -> x509.Certificate | None:
        for url in candidates:
            try:
                cert = await _fetch(reactor, url, limit)
            except Exception:  # an unreachable URL is simply no evidence
                continue
            if cert is not None:
                return cert
        return None

    d = defer.Deferred.fromCoroutine(first())
    d.addTimeout(timeout, reactor)
    return d.addErrback(lambda _f: None)
