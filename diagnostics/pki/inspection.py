# -*- test-case-name: tests.pki.test_inspection -*-
"""Chain-file inspection: what a certificate file holds, how it links, and what to fix.

Pure data: reads the bytes of a PEM bundle, a DER certificate or key, or a PKCS#12
file.  Private keys are only compared with certificates: the result keeps their type
and size, never their material, so nothing of a key can reach an output or a log.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from diagnostics.explain import lint
from diagnostics.model import certificates, files
from diagnostics.model.errors import TlsdiagError
from diagnostics.model.files import FileError, read_bounded
from diagnostics.model.inspection import (
    Entry,
    FileFormat,
    Inspection,
    KeyEntry,
    OtherBlock,
    key_words,
)
from diagnostics.model.result import Finding, Severity, Side


class InspectionError(TlsdiagError):
    """The file cannot be read, or holds nothing recognisable as certificate material."""


# -- reading ---------------------------------------------------------------------------

MAX_FILE_BYTES = files.MAX_FILE_BYTES
"""The most :func:`inspect_file` reads (a device or a wrong file must not fill the memory)."""

_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")
_CERT_LABELS = frozenset({"CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"})
_KEY_LABELS = frozenset(
    {"PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY"}
)
# PFX: SEQUENCE { INTEGER 3, ContentInfo { OID pkcs7-data | pkcs7-signedData, … } }
_PFX_VERSION = b"\x02\x01\x03\x30"
_PKCS7_OID = bytes.fromhex("06092a864886f70d0107")


@attrs.frozen
class _Malformed:
    line: int | None
    message: str


@attrs.frozen
class _Contents:
    """What was read from the file, before any analysis."""

    format: FileFormat
    certificates: tuple[tuple[x509.Certificate, int | None], ...] = ()
    keys: tuple[tuple[PrivateKeyTypes | None, KeyEntry], ...] = ()
    malformed: tuple[_Malformed, ...] = ()
    others: tuple[OtherBlock, ...] = ()


def _first_tlv(der: bytes) -> bytes:
    """The first DER element of ``der`` (a TRUSTED CERTIFICATE appends OpenSSL's trust data)."""
    if len(der) < 2:
        return der
    length = der[1]
    if length < 0x80:
        return der[: 2 + length]
    count = length & 0x7F
    if not 0 < count <= 4 or len(der) < 2 + count:
        return der
    return der[: 2 + count + int.from_bytes(der[2 : 2 + count], "big")]


def _looks_like_pkcs12(data: bytes) -> bool:
    """True when the DER starts like a PKCS#12 PFX structure."""
    if len(data) < 4 or data[0] != 0x30:
        return False
    offset = 2 + (data[1] & 0x7F if data[1] & 0x80 else 0)
    return data[offset : offset + 4] == _PFX_VERSION and _PKCS7_OID in data[offset : offset + 24]


def _load_certificate(der: bytes) -> x509.Certificate:
    """A certificate whose names and dates parse (ValueError otherwise)."""
    return certificates.load_der(der)


_NEEDS_PASSWORD = "it is encrypted and no password was given (--password-env)"


def _key_entry(
    number: int,
    key: PrivateKeyTypes | None,
    *,
    encrypted: bool,
    line: int | None = None,
    problem: str | None = None,
) -> tuple[PrivateKeyTypes | None, KeyEntry]:
    if key is None:
        return key, KeyEntry(number, None, None, encrypted, line=line, problem=problem)
    key_type, bits = certificates.public_key_type_and_bits(key.public_key())
    return key, KeyEntry(number, key_type, bits, encrypted, line=line, problem=problem)


def _read_key(
    load: Any, data: bytes, password: bytes | None
) -> tuple[PrivateKeyTypes | None, bool, str | None]:
    """A private key, whether it is encrypted, and why it cannot be read.

    The loaders' messages describe the format, never the key bytes.
    """
    try:
        return load(data, None), False, None
    except TypeError:
        pass  # the loader found it encrypted
    except ValueError as exc:
        return None, False, f"it is damaged: {exc}"
    except UnsupportedAlgorithm as exc:
        return None, False, f"its algorithm is not supported: {exc}"
    if password is None:
        return None, True, _NEEDS_PASSWORD
    try:
        return load(data, password), True, None
    except (TypeError, ValueError):
        return None, True, "the password given does not decrypt it (or the key is damaged)"
    except UnsupportedAlgorithm as exc:
        return None, True, f"its algorithm is not supported: {exc}"


def _pem_blocks(data: bytes) -> Iterator[tuple[str, int, bytes, bool]]:
    """Each PEM block as (label, line of its BEGIN, its text, complete).

    Linear in the size of the file: lines are counted from the previous block on, and
    an END line is looked for only up to the next BEGIN line.
    """
    line, counted = 1, 0
    for match in _BEGIN.finditer(data):
        label = match.group(1).decode("ascii")
        end_marker = b"-----END " + match.group(1) + b"-----"
        following = _BEGIN.search(data, match.end())
        limit = following.start() if following is not None else len(data)
        end = data.find(end_marker, match.end(), limit)
        line += data.count(b"\n", counted, match.start())
        counted = match.start()
        if end < 0:
            yield label, line, data[match.start() : limit], False
        else:
            yield label, line, data[match.start() : end + len(end_marker)], True


def _pem_body(block: bytes) -> bytes:
    """The decoded base64 of a complete block (RFC 1421 header lines skipped)."""
    lines = block.splitlines()[1:-1]
    return base64.b64decode(b"".join(ln.strip() for ln in lines if b":" not in ln), validate=True)


def _read_pem(data: bytes, password: bytes | None) -> _Contents:
    found: list[tuple[x509.Certificate, int | None]] = []
    keys: list[tuple[PrivateKeyTypes | None, KeyEntry]] = []
    malformed: list[_Malformed] = []
    others: list[OtherBlock] = []
    for label, line, block, complete in _pem_blocks(data):
        if label in _KEY_LABELS:
            if complete:
                key, encrypted, problem = _read_key(
                    serialization.load_pem_private_key, block, password
                )
            else:
                key, encrypted, problem = None, False, _cut_short(label)
            keys.append(
                _key_entry(len(keys) + 1, key, encrypted=encrypted, line=line, problem=problem)
            )
        elif label in _CERT_LABELS:
            try:
                if not complete:
                    raise ValueError(_cut_short(label))
                der = _pem_body(block)
                cert = _load_certificate(_first_tlv(der) if label.startswith("TRUSTED") else der)
            except binascii.Error as exc:
                malformed.append(_Malformed(line, f"its base64 text does not decode ({exc})"))
            except ValueError as exc:
                malformed.append(_Malformed(line, str(exc)))
            else:
                found.append((cert, line))
        else:
            others.append(OtherBlock(label, line))
    if not found and not keys and not malformed:
        labels = ", ".join(sorted({b.label for b in others}))
        held = f" (it holds: {labels})" if labels else ""
        raise InspectionError(f"the file holds no certificate and no private key{held}")
    return _Contents(FileFormat.PEM, tuple(found), tuple(keys), tuple(malformed), tuple(others))


def _cut_short(label: str) -> str:
    return f"the block has no '-----END {label}-----' line: it is cut short"


def _read_pkcs12(data: bytes, password: bytes | None) -> _Contents:
    # An unprotected file refuses a password and vice versa: try what can work.
    attempts = [password, None, b""] if password is not None else [None, b""]
    loaded = None
    for attempt in attempts:
        try:
            loaded = pkcs12.load_pkcs12(data, attempt)
            break
        except (ValueError, TypeError):
            continue
        except x509.InvalidVersion as exc:  # opened, but a certificate in it is broken
            raise InspectionError(
                f"a certificate in the PKCS#12 file cannot be read: {exc}"
            ) from None
    if loaded is None:
        if password is None:
            raise InspectionError(
                "the PKCS#12 file is protected by a password: put it in an environment "
                "variable and name it with --password-env VAR"
            )
        raise InspectionError(
            "the password given does not open this PKCS#12 file (or the file is damaged)"
        )
    found = [(loaded.cert.certificate, None)] if loaded.cert is not None else []
    found += [(extra.certificate, None) for extra in loaded.additional_certs]
    keys = []
    if loaded.key is not None:
        keys.append(_key_entry(1, loaded.key, encrypted=password is not None))
    return _Contents(FileFormat.PKCS12, tuple(found), tuple(keys))


def _read_der(data: bytes, password: bytes | None) -> _Contents:
    try:
        return _Contents(FileFormat.DER, ((_load_certificate(data), None),))
    except ValueError as exc:
        certificate_error = str(exc)
    if _looks_like_pkcs12(data):
        return _read_pkcs12(data, password)
    key, encrypted, problem = _read_key(serialization.load_der_private_key, data, password)
    if key is not None or encrypted:
        return _Contents(
            FileFormat.DER, keys=(_key_entry(1, key, encrypted=encrypted, problem=problem),)
        )
    raise InspectionError(
        "the file is neither a certificate, a private key nor a PKCS#12 file "
        f"(read as a DER certificate: {certificate_error})"
    )


def _read_contents(data: bytes, password: bytes | None = None) -> _Contents:
    """Decide the format and read every certificate and key; raises InspectionError."""
    if not data.strip():
        raise InspectionError("the file is empty")
    if _BEGIN.search(data):
        return _read_pem(data, password)
    if data[:1] == b"\x30":
        return _read_der(data, password)
    raise InspectionError("the file is neither PEM (no -----BEGIN line) nor DER")


# -- analysis --------------------------------------------------------------------------


def inspect_bytes(
    data: bytes,
    *,
    name: str = "",
    password: bytes | None = None,
    now: datetime.datetime | None = None,
    warn_days: int = 30,
    critical_days: int = 7,
) -> Inspection:
    """Inspect the contents of a certificate file; raises InspectionError when unreadable."""
    contents = _read_contents(data, password)
    when = now or datetime.datetime.now(datetime.UTC)
    return _Analysis(contents, when, warn_days, critical_days).inspection(name)


def inspect_file(
    path: str,
    *,
    password: bytes | None = None,
    now: datetime.datetime | None = None,
    warn_days: int = 30,
    critical_days: int = 7,
) -> Inspection:
    """Inspect a certificate file on disk; raises InspectionError when unreadable."""
    try:
        data = read_bounded(path, limit=MAX_FILE_BYTES)
    except FileError as exc:
        raise InspectionError(f"the file {exc.problem}") from None
    return inspect_bytes(
        data,
        name=path,
        password=password,
        now=now,
        warn_days=warn_days,
        critical_days=critical_days,
    )


def _spki(key: Any) -> bytes | None:
    try:
        encoded: bytes = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    return encoded


def _cert_spki(cert: x509.Certificate) -> bytes | None:
    try:
        return _spki(cert.public_key())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


# Formats whose certificate order means nothing (a PKCS#12 file is a bag, not a list).
_UNORDERED = frozenset({FileFormat.PKCS12})
# Lint rules that judge a served chain's shape; a bundle of CA certificates has none.
_PER_CERTIFICATE_RULES = frozenset({"weak_key", "weak_signature", "expiring_soon"})


class _Analysis:
    """Links the certificates of one file and finds what to fix."""

    def __init__(
        self, contents: _Contents, now: datetime.datetime, warn_days: int, critical_days: int
    ) -> None:
        self.contents = contents
        self.now = now
        self.warn_days = warn_days
        self.critical_days = critical_days
        self.served = [cert for cert, _ in contents.certificates]
        self.shape = lint.chain_shape(self.served)
        self.entries = self._entries()
        leaf = self.served[self.shape.path[0]] if self.served else None
        self.role: lint.Role = "server"
        if leaf is not None and not certificates.allows_usage(leaf, lint.usage_for("server")):
            self.role = (
                "client" if certificates.allows_usage(leaf, lint.usage_for("client")) else "server"
            )
        self.side = Side.SERVER if self.role == "server" else Side.CLIENT
        # Only CA certificates and no key: a trust bundle, not a chain to serve.
        self.ca_bundle = not contents.keys and all(certificates.is_ca(c) for c in self.served)
        owners = {_cert_spki(cert): i for i, cert in reversed(list(enumerate(self.served)))}
        self.keys = [
            (key, attrs.evolve(entry, matches=owners[spki] + 1 if spki in owners else None))
            for key, entry in contents.keys
            for spki in [_spki(key.public_key()) if key is not None else None]
        ]

    def _entries(self) -> tuple[Entry, ...]:
        """The certificates with their issuers and first copies, from the linear links."""
        first_copy: dict[bytes, int] = {}
        entries = []
        for index, (cert, line) in enumerate(self.contents.certificates):
            first = first_copy.setdefault(cert.fingerprint(hashes.SHA256()), index)
            issuers = tuple(i + 1 for i in self.shape.issuers[index])
            duplicate_of = first + 1 if first != index else None
            entries.append(Entry(index + 1, cert, issuers, duplicate_of, line))
        return tuple(entries)

    def inspection(self, name: str) -> Inspection:
        findings = [
            *self.malformed(),
            *self.key_findings(),
            *self.validity(),
            *self.incomplete(),
            *self.chain_lint(),
        ]
        findings.sort(key=lambda f: f.severity.rank)
        chain = () if self.ca_bundle else tuple(i + 1 for i in self.shape.path)
        return Inspection(
            name=name,
            format=self.contents.format,
            entries=self.entries,
            keys=tuple(entry for _, entry in self.keys),
            chain=chain,
            other_blocks=self.contents.others,
            findings=tuple(findings),
        )

    def _label(self, index: int) -> str:
        return f"#{index + 1} {lint.describe(self.served[index])}"

    def malformed(self) -> Iterator[Finding]:
        for bad in self.contents.malformed:
            yield Finding(
                "malformed_certificate",
                Severity.ERROR,
                self.side,
                f"The certificate block at line {bad.line} cannot be read: {bad.message}.",
                "Software that loads this file stops at the broken block or refuses the file.",
                "Copy the certificate again from its source (the CA's download or mail), keeping "
                "the BEGIN and END lines and every line between them.",
            )

    def key_findings(self) -> Iterator[Finding]:
        leaf = self.shape.path[0] if self.served and not self.ca_bundle else None
        leaf_number = leaf + 1 if leaf is not None else None
        leaf_keys = [entry.number for _, entry in self.keys if entry.matches == leaf_number]
        for key, entry in self.keys:
            where = f" at line {entry.line}" if entry.line else ""
            if key is None:
                yield self._unreadable_key(entry, where)
                continue
            owner = entry.matches - 1 if entry.matches is not None else None
            kind = key_words(entry.key_type, entry.key_bits)
            if leaf is None:
                continue
            if owner == leaf:
                yield Finding(
                    "private_key_present",
                    Severity.INFO,
                    self.side,
                    f"The file holds the private key{where} of {self._label(leaf)} ({kind}).",
                    "Whoever gets this file can impersonate the certificate's owner.",
                    "Keep the file private (readable by the service only); send partners and "
                    "CAs the certificates alone.",
                )
                continue
            yield self._key_mismatch(entry, where, kind, leaf, owner, leaf_keys)

    def _unreadable_key(self, entry: KeyEntry, where: str) -> Finding:
        if entry.problem == _NEEDS_PASSWORD:
            remedy = (
                "Give the key's password in an environment variable (--password-env VAR) to "
                "check it against the certificate; a service that reads this file unattended "
                "needs an unencrypted key or its own password setting."
            )
        else:
            remedy = "Export the private key again from where it was generated."
        return Finding(
            "private_key_unreadable",
            Severity.WARNING,
            self.side,
            f"The private key{where} cannot be read: {entry.problem}.",
            "It cannot be checked against the certificate, and software that loads it will "
            "fail the same way.",
            remedy,
        )

    def _key_mismatch(
        self,
        entry: KeyEntry,
        where: str,
        kind: str,
        leaf: int,
        owner: int | None,
        leaf_keys: Sequence[int],
    ) -> Finding:
        belongs = (
            f"; it is the key of {self._label(owner)}"
            if owner is not None
            else "; it belongs to no certificate in the file"
        )
        if leaf_keys:
            remedy = (
                f"Remove this key from the file: the key of {self._label(leaf)} is there too "
                "and software usually takes the first key it finds."
            )
        else:
            remedy = (
                "Pair the certificate with the key generated together with its certificate "
                "request; if that key is lost, generate a new key and request, and have the "
                "certificate reissued."
            )
        return Finding(
            "key_mismatch",
            Severity.ERROR,
            self.side,
            f"The private key{where} ({kind}) does not belong to {self._label(leaf)}{belongs}.",
            "A TLS server or client loading this certificate with this key refuses to start "
            "or fails every handshake (OpenSSL: 'key values mismatch').",
            remedy,
        )

    def validity(self) -> Iterator[Finding]:
        for entry in self.entries:
            if entry.duplicate_of is not None:
                continue
            cert = entry.certificate
            index = entry.number - 1
            start, end = certificates.not_before(cert), certificates.not_after(cert)
            kind = "certificate" if not certificates.is_ca(cert) else "CA certificate"
            if end < self.now:
                remedy = (
                    "Renew the certificate and replace it in the file."
                    if not certificates.is_ca(cert)
                    else f"Replace {self._label(index)} with the CA's current certificate."
                )
                yield Finding(
                    "expired",
                    Severity.ERROR,
                    self.side,
                    f"The {kind} {self._label(index)} expired on {certificates.iso_time(end)}.",
                    "Every client refuses a chain with an expired certificate (OpenSSL code 10, "
                    "certificate has expired).",
                    remedy,
                )
            elif start > self.now:
                yield Finding(
                    "not_yet_valid",
                    Severity.WARNING,
                    self.side,
                    f"The {kind} {self._label(index)} is valid only from "
                    f"{certificates.iso_time(start)}.",
                    "Until then clients refuse it (OpenSSL code 9, certificate is not yet valid).",
                    "Wait until the start date before deploying it, or check this machine's "
                    "clock; have it reissued if the start date is wrong.",
                )

    def incomplete(self) -> Iterator[Finding]:
        if not self.served or self.ca_bundle:
            return
        top_index = self.shape.path[-1]
        top = self.served[top_index]
        # A chain file normally stops below the root, at an intermediate: only a leaf
        # standing alone without its issuer lacks a link.
        if len(self.shape.path) > 1 or certificates.is_ca(top) or certificates.is_self_signed(top):
            return
        issuer = certificates.dn(top.issuer)
        roots = [
            self._label(i)
            for i in self.shape.unrelated
            if certificates.is_self_signed(self.served[i])
        ]
        also = (
            f" The file holds the root {', '.join(roots)}; the intermediate that links the "
            "two is missing."
            if roots
            else ""
        )
        urls = certificates.ca_issuers_urls(top)
        published = f" (it is published at {', '.join(urls)})" if urls else ""
        yield Finding(
            "missing_intermediate",
            Severity.WARNING,
            self.side,
            f"The file holds {self._label(top_index)} without its issuer '{issuer}'.",
            "Served as it is, the certificate reaches clients alone, and clients that trust "
            f"only roots cannot link it to one.{also}",
            f"Add the intermediate CA certificate '{issuer}'{published} right after the "
            "certificate. If that issuer is itself a root CA, nothing is missing.",
        )

    def chain_lint(self) -> Iterator[Finding]:
        if not self.served:
            return
        if self.ca_bundle:
            repeated = set(self.shape.duplicates)
            for index, cert in enumerate(self.served):
                if index in repeated:
                    continue
                for item in self._lint([cert]):
                    if item.finding.id in _PER_CERTIFICATE_RULES:
                        yield item.finding
            yield from (
                item.finding
                for item in self._lint(self.served)
                if item.finding.id == "duplicate_certificate"
            )
            return
        for item in self._lint(self.served):
            if item.finding.id == "chain_order" and self.contents.format in _UNORDERED:
                continue
            yield item.finding

    def _lint(self, served: Sequence[x509.Certificate]) -> list[lint.CertFinding]:
        return lint.lint_chain_detailed(
            served,
            role=self.role,
            now=self.now,
            warn_days=self.warn_days,
            critical_days=self.critical_days,
            source="file",
        )
