"""CRL test material: CRLs with chosen flaws, certificates naming distribution points,
and an in-memory HTTP server publishing them on a memory reactor."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from twisted.internet.interfaces import IProtocolFactory, IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.web import resource, server

from tests.support import pki

UNKNOWN_CRITICAL = x509.ObjectIdentifier("1.3.6.1.4.1.55555.7")


def make_crl(
    ca: pki.Issued,
    revoked: Sequence[tuple[x509.Certificate, x509.ReasonFlags | None]] = (),
    *,
    this_update: datetime.datetime | None = None,
    next_update: datetime.datetime | None = None,
    revoked_at: datetime.datetime | None = None,
    signed_by: pki.PrivateKey | None = None,
    critical_extension: bool = False,
) -> x509.CertificateRevocationList:
    """A CRL of ``ca`` listing ``revoked`` (certificate, reason); valid from an hour ago
    for a day unless told otherwise; ``signed_by`` signs it with another key."""
    now = pki.utcnow()
    start = this_update or now - datetime.timedelta(hours=1)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(start)
        .next_update(next_update or start + datetime.timedelta(days=1))
    )
    for cert, reason in revoked:
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(revoked_at or now - datetime.timedelta(minutes=30))
        )
        if reason is not None:
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    if critical_extension:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(UNKNOWN_CRITICAL, b"\x05\x00"), critical=True
        )
    return builder.sign(signed_by or ca.key, hashes.SHA256())


def der(crl: x509.CertificateRevocationList) -> bytes:
    """The CRL in DER, as distribution points serve it."""
    return crl.public_bytes(serialization.Encoding.DER)


def pem(crl: x509.CertificateRevocationList) -> bytes:
    """The CRL in PEM."""
    return crl.public_bytes(serialization.Encoding.PEM)


def with_cdp(ca: pki.Issued, urls: Sequence[str], *, common_name: str = "localhost") -> pki.Issued:
    """A server leaf for localhost/127.0.0.1 issued by ``ca`` naming CRL distribution points."""
    return _reissue(pki.issue(ca, common_name, sans=("localhost", "127.0.0.1")), ca, urls)


def ca_with_cdp(parent: pki.Issued, name: str, urls: Sequence[str]) -> pki.Issued:
    """An intermediate CA under ``parent`` naming CRL distribution points."""
    return _reissue(pki.make_ca(name, parent=parent), parent, urls)


def _reissue(issued: pki.Issued, ca: pki.Issued, urls: Sequence[str]) -> pki.Issued:
    cert = issued.cert
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(cert.issuer)
        .public_key(issued.key.public_key())
        .serial_number(cert.serial_number)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
    )
    for ext in cert.extensions:
        builder = builder.add_extension(ext.value, ext.critical)
    points = [
        x509.DistributionPoint([x509.UniformResourceIdentifier(u)], None, None, None) for u in urls
    ]
    builder = builder.add_extension(x509.CRLDistributionPoints(points), critical=False)
    return pki.Issued(builder.sign(ca.key, hashes.SHA256()), issued.key)


# -- an HTTP server on a memory reactor ---------------------------------------------------


class _Page(resource.Resource):
    isLeaf = True

    def __init__(
        self,
        status: int,
        body: bytes,
        headers: Mapping[bytes, bytes],
        chunked: bool,
        count: Callable[[], None],
    ) -> None:
        super().__init__()
        self.status, self.body, self.headers, self.chunked = status, body, headers, chunked
        self.count = count

    def render_GET(self, request: server.Request) -> bytes | int:
        self.count()
        request.setResponseCode(self.status)
        for name, value in self.headers.items():
            request.setHeader(name, value)
        if not self.chunked:
            return self.body
        # Written in pieces without a length: the client learns the size only by reading.
        for start in range(0, len(self.body), 1024):
            request.write(self.body[start : start + 1024])
        request.finish()
        return server.NOT_DONE_YET


class Publisher:
    """Pages by path: CRLs, redirects, errors; counts the requests each page got."""

    def __init__(self) -> None:
        self.root = resource.Resource()
        self.counts: dict[str, int] = {}

    def publish(
        self,
        path: str,
        body: bytes,
        *,
        status: int = 200,
        headers: Mapping[bytes, bytes] | None = None,
        chunked: bool = False,
    ) -> None:
        """Serve ``body`` at ``path`` (replacing what was there); ``chunked``: without a length."""
        self.counts.setdefault(path, 0)

        def count() -> None:
            self.counts[path] += 1

        page = _Page(status, body, headers or {}, chunked, count)
        self.root.putChild(path.lstrip("/").encode(), page)

    def unpublish(self, path: str) -> None:
        """Answer 404 at ``path`` from now on."""
        self.publish(path, b"gone", status=404)

    def requests(self, path: str) -> int:
        """How many GETs ``path`` got."""
        return self.counts.get(path, 0)

    def factory(self, _clock: IReactorTime) -> IProtocolFactory:
        """A listening factory for a memory reactor."""
        site = server.Site(self.root)
        site.noisy = False
        return site


class _Silent(Protocol):
    def dataReceived(self, data: bytes) -> None:
        pass


def silent(_clock: IReactorTime) -> IProtocolFactory:
    """A server that accepts and never answers."""
    return Factory.forProtocol(_Silent)
