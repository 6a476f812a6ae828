"""What a certificate file holds and how it links: the result of ``tlsdiag inspect``.

Pure data.  Private keys are kept as their type and size, never their material, so nothing
of a key can reach an output or a log.  The file is read by :mod:`diagnostics.pki.inspection`.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs
from cryptography import x509

from diagnostics.model import certificates
from diagnostics.model.jsonform import cert_to_json, finding_to_json
from diagnostics.model.result import Finding, Severity, Status


class FileFormat(enum.StrEnum):
    """How the file is encoded."""

    PEM = "pem"
    DER = "der"
    PKCS12 = "pkcs12"


@attrs.frozen
class Entry:
    """One certificate of the file, numbered from 1 in file order."""

    number: int
    certificate: x509.Certificate
    issued_by: tuple[int, ...] = ()
    duplicate_of: int | None = None
    line: int | None = None

    @property
    def self_signed(self) -> bool:
        """True when the certificate's own key verifies its signature."""
        return certificates.is_self_signed(self.certificate)


@attrs.frozen
class KeyEntry:
    """One private key of the file: its kind and what it belongs to, never its material."""

    number: int
    key_type: str | None
    key_bits: int | None
    encrypted: bool
    matches: int | None = None
    line: int | None = None
    problem: str | None = None


@attrs.frozen
class OtherBlock:
    """A PEM block that is neither a certificate nor a private key (a CSR, a CRL, …)."""

    label: str
    line: int


@attrs.frozen
class Inspection:
    """Everything found in one file, its links and the findings, most important first."""

    name: str
    format: FileFormat
    entries: tuple[Entry, ...]
    keys: tuple[KeyEntry, ...] = ()
    chain: tuple[int, ...] = ()
    other_blocks: tuple[OtherBlock, ...] = ()
    findings: tuple[Finding, ...] = ()

    @property
    def status(self) -> Status:
        """``problems`` when a finding is an error or a warning, else ``ok``."""
        if any(f.severity in (Severity.ERROR, Severity.WARNING) for f in self.findings):
            return Status.PROBLEMS
        return Status.OK

    @property
    def leaf(self) -> Entry | None:
        """The certificate the chain starts from (the end entity), when there is one."""
        return self.entries[self.chain[0] - 1] if self.chain else None

    @property
    def in_order(self) -> bool:
        """True when the chain appears in the file leaf first, each before its issuer."""
        return list(self.chain) == sorted(self.chain) and self.chain[:1] in ((), (1,))

    def to_json(self) -> dict[str, Any]:
        """The JSON form (``tlsdiag inspect --format json``)."""
        return {
            "status": self.status.value,
            "file": self.name,
            "format": self.format.value,
            "certificates": [_entry_to_json(e) for e in self.entries],
            "chain": list(self.chain),
            "in_order": self.in_order,
            "private_keys": [attrs.asdict(k) for k in self.keys],
            "other_blocks": [attrs.asdict(b) for b in self.other_blocks],
            "findings": [finding_to_json(f) for f in self.findings],
        }


_KEY_NAMES = {
    "rsaEncryption": "RSA",
    "id-ecPublicKey": "EC",
    "dsaEncryption": "DSA",
    "ED25519": "Ed25519",
    "ED448": "Ed448",
}


def key_words(key_type: str | None, bits: int | None) -> str:
    """A key's kind for a reader (``EC 256-bit key``)."""
    name = _KEY_NAMES.get(key_type or "", key_type or "unknown")
    return f"{name} {bits}-bit key" if bits else f"{name} key"


def _entry_to_json(entry: Entry) -> dict[str, Any]:
    cert = entry.certificate
    return {
        "number": entry.number,
        "line": entry.line,
        **cert_to_json(cert),
        "sha1": certificates.sha1_hex(cert),
        "self_signed": entry.self_signed,
        "issued_by": list(entry.issued_by),
        "duplicate_of": entry.duplicate_of,
    }
