# -*- test-case-name: tests.explain.test_lint -*-
"""Chain lint: what is wrong with a served chain even when OpenSSL accepts it.

Pure data.  Expired and not-yet-valid certificates are left to
:mod:`diagnostics.explain.diagnose`, which reads them from the verify events; lint
reports the windows before expiry.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterator, Sequence
from typing import Literal

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from diagnostics.model import certificates
from diagnostics.model.result import Finding, Severity, Side

Role = Literal["server", "client"]
# Who holds the chain: a peer that sends it, or a file that lists it (the wording differs).
Source = Literal["peer", "file"]

# Below these sizes OpenSSL's default security level (2) refuses a key.
MIN_EC_BITS = 256
WEAK_DIGESTS = ("sha1", "md5")
_RSA_LIKE = ("rsaEncryption", "dsaEncryption")
_EC = "id-ecPublicKey"
# Positions of the repeated copies a duplicate finding lists before it stops at "…".
_POSITIONS_SHOWN = 5


@attrs.frozen
class CertFinding:
    """A finding and the certificate it is about (None when it is about the whole chain)."""

    finding: Finding
    certificate: x509.Certificate | None = None


@attrs.frozen
class ChainShape:
    """How the certificates of a served chain link to each other.

    Indices point into the served sequence.  ``path`` starts at the end-entity
    certificate and follows issuer links upwards; ``alternates`` are further
    served certificates that also issued a member of the path (cross-signs).
    ``issuers`` holds, for every served index, the first copies of the other
    certificates that issued it (a repeated certificate has the links of its first copy).
    """

    path: tuple[int, ...]
    alternates: tuple[int, ...] = ()
    duplicates: tuple[int, ...] = ()
    unrelated: tuple[int, ...] = ()
    issuers: tuple[tuple[int, ...], ...] = ()

    @property
    def in_order(self) -> bool:
        """True when the path is served leaf first, each certificate before its issuer."""
        return not self.path or (self.path[0] == 0 and list(self.path) == sorted(self.path))


MAX_ISSUER_CANDIDATES = 16
"""Certificates with the right subject whose signature is tried, at most, per certificate.

Real files hold a handful of certificates with one CA name (a renewal, a cross-sign); the
bound keeps a crafted file of thousands of same-named certificates linear."""


def issuer_links(
    served: Sequence[x509.Certificate], indices: Sequence[int]
) -> dict[int, tuple[int, ...]]:
    """For each of ``indices``, the other indices among them whose certificate issued it.

    Candidates are looked up by subject name (and, when both carry one, by key
    identifier), so a signature is checked only against certificates that could have
    made it: the work grows with the number of certificates, not with its square.
    """
    by_subject: dict[x509.Name, list[int]] = {}
    for index in indices:
        by_subject.setdefault(served[index].subject, []).append(index)
    key_ids = {index: certificates.key_identifier(served[index]) for index in indices}
    links: dict[int, tuple[int, ...]] = {}
    for index in indices:
        cert = served[index]
        wanted = certificates.authority_key_identifier(cert)
        candidates = [
            other
            for other in by_subject.get(cert.issuer, ())
            if other != index and (wanted is None or key_ids[other] in (None, wanted))
        ]
        links[index] = tuple(
            other
            for other in candidates[:MAX_ISSUER_CANDIDATES]
            if certificates.issued_by(cert, served[other])
        )
    return links


def chain_shape(served: Sequence[x509.Certificate]) -> ChainShape:
    """Link the served certificates by issuer name and signature (linear in their number)."""
    return _chain_shape(tuple(served))


# The lint and the diagnosis of one probe both ask for the shape, and a daemon asks again for
# the same served chain on every round.
@functools.lru_cache(maxsize=256)
def _chain_shape(served: tuple[x509.Certificate, ...]) -> ChainShape:
    if not served:
        return ChainShape(path=())
    first_seen: dict[bytes, int] = {}
    original = []
    duplicates = []
    for index, cert in enumerate(served):
        fingerprint = cert.fingerprint(hashes.SHA256())
        if fingerprint in first_seen:
            duplicates.append(index)
        else:
            first_seen[fingerprint] = index
        original.append(first_seen[fingerprint])
    unique = sorted(first_seen.values())
    issuers = issuer_links(served, unique)
    issued: dict[int, list[int]] = {index: [] for index in unique}
    for index in unique:
        for other in issuers[index]:
            issued[other].append(index)
    # The end entity is the certificate that issued nothing else that was served;
    # a TLS peer sends it first, but files may come in any order.
    start = 0
    visited = {start}
    while below := [i for i in issued[start] if i not in visited]:
        start = below[0]
        visited.add(start)
    path = [start]
    on_path = {start}
    while issuers[path[-1]] and issuers[path[-1]][0] not in on_path:
        path.append(issuers[path[-1]][0])
        on_path.add(path[-1])
    alternates = sorted({i for member in path for i in issuers[member] if i not in on_path})
    related = on_path | set(alternates)
    unrelated = [i for i in unique if i not in related]
    return ChainShape(
        tuple(path),
        tuple(alternates),
        tuple(duplicates),
        tuple(unrelated),
        tuple(issuers[first] for first in original),
    )


def describe(cert: x509.Certificate) -> str:
    """A certificate named for a reader: its subject DN, or its serial when the subject is empty."""
    subject = certificates.dn(cert.subject)
    return f"'{subject}'" if subject else f"(empty subject, serial {cert.serial_number:X})"


def find_issuer(
    cert: x509.Certificate, candidates: Sequence[x509.Certificate]
) -> x509.Certificate | None:
    """The first candidate that names and signs ``cert``."""
    for candidate in candidates:
        if certificates.issued_by(cert, candidate):
            return candidate
    return None


def usage_for(role: Role) -> x509.ObjectIdentifier:
    """The extended key usage a certificate needs in this role."""
    return ExtendedKeyUsageOID.SERVER_AUTH if role == "server" else ExtendedKeyUsageOID.CLIENT_AUTH


def weak_key(cert: x509.Certificate) -> str | None:
    """A description of the key when it is below the security level, else None."""
    key_type, bits = certificates.key_type_and_bits(cert)
    if bits is None:
        return None
    if key_type in _RSA_LIKE and bits < certificates.MIN_RSA_BITS:
        return f"{bits}-bit {'RSA' if key_type == 'rsaEncryption' else 'DSA'} key"
    if key_type == _EC and bits < MIN_EC_BITS:
        return f"{bits}-bit EC key"
    return None


def lint_chain(
    served: Sequence[x509.Certificate],
    *,
    role: Role = "server",
    now: datetime.datetime,
    warn_days: int = 30,
    critical_days: int = 7,
    trusted: Sequence[x509.Certificate] = (),
) -> list[Finding]:
    """Findings about a served chain (leaf first), whatever OpenSSL made of it."""
    return [
        item.finding
        for item in lint_chain_detailed(
            served,
            role=role,
            now=now,
            warn_days=warn_days,
            critical_days=critical_days,
            trusted=trusted,
        )
    ]


def lint_chain_detailed(
    served: Sequence[x509.Certificate],
    *,
    role: Role = "server",
    now: datetime.datetime,
    warn_days: int = 30,
    critical_days: int = 7,
    trusted: Sequence[x509.Certificate] = (),
    source: Source = "peer",
) -> list[CertFinding]:
    """Like :func:`lint_chain`, with the certificate each finding is about.

    ``source="file"`` words the findings for a chain file instead of a peer.
    """
    if not served:
        return []
    chain = tuple(served)
    anchors = tuple(trusted)
    shape, timeless = _timeless_findings(chain, role, source, _Same(anchors))
    linter = _Linter(
        served=chain,
        shape=shape,
        owner=Side.SERVER if role == "server" else Side.CLIENT,
        role=role,
        now=now,
        warn=datetime.timedelta(days=warn_days),
        critical=datetime.timedelta(days=critical_days),
        trusted=anchors,
        source=source,
    )
    return [*timeless, *linter.timed()]


@attrs.frozen(eq=False)
class _Same:
    """A trust list compared by identity: the same loaded list comes back on every probe,
    and comparing its certificates one by one would cost more than the lint it saves."""

    value: tuple[x509.Certificate, ...]

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.value is self.value


# A daemon lints the same served chains round after round: what does not depend on the
# time is remembered per chain (the key holds the trust list, so its id stays unique).
@functools.lru_cache(maxsize=256)
def _timeless_findings(
    served: tuple[x509.Certificate, ...], role: Role, source: Source, trusted: _Same
) -> tuple[ChainShape, tuple[CertFinding, ...]]:
    shape = chain_shape(served)
    linter = _Linter(
        served=served,
        shape=shape,
        owner=Side.SERVER if role == "server" else Side.CLIENT,
        role=role,
        now=datetime.datetime.now(datetime.UTC),  # the time-free checks never read it
        warn=datetime.timedelta(),
        critical=datetime.timedelta(),
        trusted=trusted.value,
        source=source,
    )
    return shape, tuple(linter.timeless())


@attrs.frozen
class _Linter:
    served: tuple[x509.Certificate, ...]
    shape: ChainShape
    owner: Side
    role: Role
    now: datetime.datetime
    warn: datetime.timedelta
    critical: datetime.timedelta
    trusted: tuple[x509.Certificate, ...]
    source: Source = "peer"

    @property
    def leaf(self) -> x509.Certificate:
        return self.served[self.shape.path[0]]

    @property
    def related(self) -> list[x509.Certificate]:
        return [self.served[i] for i in sorted(self.shape.path + self.shape.alternates)]

    @property
    def who(self) -> str:
        return "server" if self.role == "server" else "client"

    @property
    def sends(self) -> str:
        return f"The {self.who} sends" if self.source == "peer" else "The file lists"

    def _finding(
        self,
        id: str,
        severity: Severity,
        summary: str,
        detail: str = "",
        remedy: str = "",
        certificate: x509.Certificate | None = None,
    ) -> CertFinding:
        return CertFinding(Finding(id, severity, self.owner, summary, detail, remedy), certificate)

    def timeless(self) -> Iterator[CertFinding]:
        """The findings that do not depend on the time, in report order."""
        yield from self.order()
        yield from self.duplicates()
        yield from self.unrelated()
        yield from self.root_sent()
        yield from self.missing_intermediate()
        yield from self.weak_keys()
        yield from self.weak_signatures()
        yield from self.eku()
        yield from self.ca_as_leaf()
        yield from self.cn_only()
        yield from self.serials()

    def timed(self) -> Iterator[CertFinding]:
        """The findings that depend on the time, reported after the others."""
        yield from self.expiry()
        yield from self.issuer_expires_first()

    def _position(self, index: int) -> str:
        return f"position {index + 1} of {len(self.served)}"

    def order(self) -> Iterator[CertFinding]:
        if self.shape.in_order:
            return
        sent = "; ".join(f"{i + 1}. {describe(self.served[i])}" for i in sorted(self.shape.path))
        expected = " → ".join(describe(self.served[i]) for i in self.shape.path)
        yield self._finding(
            "chain_order",
            Severity.WARNING,
            f"{self.sends} its chain out of order: expected {expected}.",
            f"{'Sent' if self.source == 'peer' else 'Listed'}: {sent}. TLS 1.2 requires each "
            "certificate to be followed by its issuer; "
            "strict clients (older Java, embedded stacks) reject a chain in another order, "
            "lenient ones reorder it.",
            "Put the certificate first, then its issuer, then that issuer's issuer.",
        )

    def duplicates(self) -> Iterator[CertFinding]:
        """One finding per repeated certificate, with the number of copies."""
        if not self.shape.duplicates:
            return
        first_copy: dict[bytes, int] = {}
        for index, cert in enumerate(self.served):
            first_copy.setdefault(cert.fingerprint(hashes.SHA256()), index)
        repeats: dict[int, list[int]] = {}
        for index in self.shape.duplicates:
            first = first_copy[self.served[index].fingerprint(hashes.SHA256())]
            repeats.setdefault(first, []).append(index)
        for first, again in repeats.items():
            cert = self.served[first]
            if len(again) == 1:
                summary = (
                    f"{self.sends} {describe(cert)} more than once "
                    f"(again at {self._position(again[0])})."
                )
            else:
                shown = ", ".join(str(i + 1) for i in again[:_POSITIONS_SHOWN])
                more = " …" if len(again) > _POSITIONS_SHOWN else ""
                summary = (
                    f"{self.sends} {describe(cert)} {len(again) + 1:,} times: "
                    f"{len(again):,} repeated copies (at positions {shown}{more} "
                    f"of {len(self.served):,})."
                )
            yield self._finding(
                "duplicate_certificate",
                Severity.WARNING,
                summary,
                "A repeated certificate wastes handshake bytes and some clients refuse it.",
                "Remove the repeated certificate from the chain file.",
                cert,
            )

    def unrelated(self) -> Iterator[CertFinding]:
        for index in self.shape.unrelated:
            cert = self.served[index]
            yield self._finding(
                "unrelated_certificate",
                Severity.WARNING,
                f"{self.sends} {describe(cert)} at {self._position(index)}, "
                f"which is not part of the chain of {describe(self.leaf)}.",
                f"It was issued by '{certificates.dn(cert.issuer)}' and issued none of the served "
                "certificates: usually a left-over intermediate of an older certificate or "
                "of another CA.",
                "Serve only the certificate's own issuing chain.",
                cert,
            )

    def root_sent(self) -> Iterator[CertFinding]:
        for index in sorted(self.shape.path[1:] + self.shape.alternates):
            cert = self.served[index]
            if certificates.is_self_signed(cert):
                yield self._finding(
                    "root_sent",
                    Severity.INFO,
                    f"{self.sends} the root certificate {describe(cert)}.",
                    "A client trusts a root only from its own trust store, so the copy sent "
                    "is never used for trust; it only adds bytes to every handshake.",
                    "Optional: leave the root out of the chain file.",
                    cert,
                )

    def missing_intermediate(self) -> Iterator[CertFinding]:
        top = self.served[self.shape.path[-1]]
        if certificates.is_self_signed(top):
            return
        issuer = find_issuer(top, self.trusted)
        if issuer is None or certificates.is_self_signed(issuer):
            return
        urls = certificates.ca_issuers_urls(top)
        where = f" It is published at {', '.join(urls)}." if urls else ""
        yield self._finding(
            "missing_intermediate",
            Severity.WARNING,
            f"The {self.who} does not send the intermediate CA '{certificates.dn(top.issuer)}'; "
            "verification succeeded only because the trust list given here holds it.",
            f"{describe(top)} was issued by the intermediate '{certificates.dn(top.issuer)}', "
            f"which clients that only trust roots cannot find.{where}",
            f"Configure the {self.who} to send its full chain (certificate followed by "
            "the intermediate CA certificates).",
            issuer,
        )

    def weak_keys(self) -> Iterator[CertFinding]:
        for cert in self.related:
            weakness = weak_key(cert)
            if weakness is not None:
                yield self._finding(
                    "weak_key",
                    Severity.ERROR,
                    f"{describe(cert)} has a {weakness}.",
                    f"Current clients refuse RSA/DSA keys below {certificates.MIN_RSA_BITS} bits "
                    f"and EC keys below {MIN_EC_BITS} bits (OpenSSL security level 2).",
                    "Reissue the certificate with an RSA key of 2048 bits or more, or ECDSA P-256.",
                    cert,
                )

    def weak_signatures(self) -> Iterator[CertFinding]:
        for cert in self.related:
            digest = certificates.signature_hash(cert)
            # A root's self-signature is never checked: trust in it comes from the store.
            if digest in WEAK_DIGESTS and not certificates.is_self_signed(cert):
                yield self._finding(
                    "weak_signature",
                    Severity.ERROR,
                    f"{describe(cert)} is signed with {digest.upper()} "
                    f"({certificates.signature_algorithm(cert)}) "
                    f"by '{certificates.dn(cert.issuer)}'.",
                    "Signatures with SHA-1 or MD5 can be forged and current clients refuse them.",
                    "Reissue the certificate with a SHA-256 signature.",
                    cert,
                )

    def eku(self) -> Iterator[CertFinding]:
        usage = usage_for(self.role)
        label = "serverAuth" if self.role == "server" else "clientAuth"
        leaf = self.leaf
        if not certificates.allows_usage(leaf, usage):
            yield self._finding(
                "wrong_eku",
                Severity.ERROR,
                f"{describe(leaf)} does not allow TLS {self.who} use: its extended key usage "
                f"lacks {label} (it has {eku_names(leaf)}).",
                "Clients check the extended key usage and refuse a certificate issued for "
                "another purpose (OpenSSL code 26, unsuitable certificate purpose).",
                f"Reissue the certificate with the {label} extended key usage.",
                leaf,
            )
        for index in self.shape.path[1:]:
            ca = self.served[index]
            if not certificates.allows_usage(ca, usage):
                yield self._finding(
                    "wrong_eku",
                    Severity.ERROR,
                    f"The CA {describe(ca)} restricts its extended key usage to "
                    f"{eku_names(ca)}, without {label}.",
                    "A CA's extended key usage limits every certificate below it.",
                    f"Use a CA whose extended key usage includes {label}, or none at all.",
                    ca,
                )

    def ca_as_leaf(self) -> Iterator[CertFinding]:
        leaf = self.leaf
        if certificates.is_ca(leaf):
            yield self._finding(
                "ca_as_leaf",
                Severity.WARNING,
                f"The {self.who}'s own certificate {describe(leaf)} is a CA certificate "
                "(basicConstraints CA:TRUE).",
                "Some clients (Firefox among them) refuse a CA certificate used as an end "
                "entity; it also lets its key issue certificates.",
                "Reissue the certificate with CA:FALSE.",
                leaf,
            )

    def cn_only(self) -> Iterator[CertFinding]:
        leaf = self.leaf
        # Client certificates are identified by their subject; only servers need SANs.
        if self.role != "server" or certificates.subject_alt_names(leaf).present:
            return
        names = certificates.common_names(leaf.subject)
        if names:
            yield self._finding(
                "cn_only",
                Severity.WARNING,
                f"{describe(leaf)} carries its host name only in the common name "
                f"({', '.join(names)}), without a subjectAltName extension.",
                "Browsers and current TLS libraries ignore the common name and check only "
                "the subjectAltName entries, so they reject this certificate for any name.",
                "Reissue the certificate with the host names as DNS subjectAltName entries.",
                leaf,
            )

    def serials(self) -> Iterator[CertFinding]:
        for cert in self.related:
            serial = cert.serial_number
            if serial <= 0:
                yield self._finding(
                    "serial_not_positive",
                    Severity.WARNING,
                    f"{describe(cert)} has the serial number {serial:X}, which is not positive.",
                    "RFC 5280 requires a positive serial number. OpenSSL accepts this one, but "
                    "strict parsers (Go's crypto/x509, newer Python cryptography releases) "
                    "refuse the certificate.",
                    "Have the CA reissue the certificate with a positive serial number.",
                    cert,
                )

    def expiry(self) -> Iterator[CertFinding]:
        for cert in self.related:
            end = certificates.not_after(cert)
            if certificates.not_before(cert) > self.now or end < self.now:
                continue  # not valid now: reported by the diagnosis from the verify events
            left = end - self.now
            if left > self.warn:
                continue
            severity = Severity.ERROR if left <= self.critical else Severity.WARNING
            kind = "certificate" if cert is self.leaf else "CA certificate"
            yield self._finding(
                "expiring_soon",
                severity,
                f"The {kind} {describe(cert)} expires on {certificates.iso_time(end)}, "
                f"in {_days(left)}.",
                "After that date clients refuse the chain.",
                "Renew the certificate and deploy it before it expires.",
                cert,
            )

    def issuer_expires_first(self) -> Iterator[CertFinding]:
        leaf_end = certificates.not_after(self.leaf)
        for index in self.shape.path[1:]:
            ca = self.served[index]
            end = certificates.not_after(ca)
            if self.now <= end < leaf_end:
                kind = "root" if certificates.is_self_signed(ca) else "intermediate"
                yield self._finding(
                    "intermediate_expires_first",
                    Severity.WARNING,
                    f"The {kind} {describe(ca)} expires on {certificates.iso_time(end)}, "
                    f"before the certificate {describe(self.leaf)} "
                    f"({certificates.iso_time(leaf_end)}).",
                    "A chain is valid only as long as its shortest-lived certificate: clients "
                    f"will refuse it from {certificates.iso_time(end)} although the leaf is "
                    "still valid.",
                    "Serve a newer intermediate from the CA, or plan the renewal for the "
                    "earlier date.",
                    ca,
                )


def _days(delta: datetime.timedelta) -> str:
    days = delta.days
    if days >= 1:
        return f"{days} day{'s' if days != 1 else ''}"
    hours = int(delta.total_seconds() // 3600)
    return f"{hours} hour{'s' if hours != 1 else ''}"


def eku_names(cert: x509.Certificate) -> str:
    """The extended key usages of a certificate, by name, for a reader."""
    ekus = certificates.extended_key_usages(cert) or ()
    if not ekus:
        return "no usage at all"
    return ", ".join(getattr(oid, "_name", None) or oid.dotted_string for oid in ekus)
