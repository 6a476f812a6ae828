"""The text form of ``tlsdiag inspect``: verdict, certificates in file order, keys, findings.

Pure: a function of an :class:`~diagnostics.model.inspection.Inspection`.  Every line is
escaped (:func:`diagnostics.model.escape.escape`): the file's name and the names in its
certificates may carry control characters.
"""

from __future__ import annotations

from diagnostics.model import certificates
from diagnostics.model.escape import escape
from diagnostics.model.inspection import Entry, FileFormat, Inspection, KeyEntry, key_words

_FORMAT_NAMES = {FileFormat.PEM: "PEM", FileFormat.DER: "DER", FileFormat.PKCS12: "PKCS#12"}


def _link(entry: Entry) -> str:
    name = f"#{entry.number}"
    if entry.duplicate_of is not None:
        return f"{name} is a copy of #{entry.duplicate_of}"
    if entry.self_signed:
        return f"{name} is self-signed (a root)"
    if entry.issued_by:
        return f"{name} issued by " + ", ".join(f"#{n}" for n in entry.issued_by)
    return f"{name} issued by a certificate not in the file"


def _entry_lines(entry: Entry, inspection: Inspection) -> list[str]:
    cert = entry.certificate
    key_type, bits = certificates.key_type_and_bits(cert)
    flags = [
        flag
        for flag, on in (("CA", certificates.is_ca(cert)), ("leaf", _is_leaf(entry, inspection)))
        if on
    ]
    head = f"#{entry.number} {certificates.dn(cert.subject) or '(empty subject)'}"
    return [
        f"{head}  [{', '.join(flags)}]" if flags else head,
        f"    link:     {_link(entry)}",
        f"    issuer:   {certificates.dn(cert.issuer)}",
        f"    valid:    {certificates.iso_time(certificates.not_before(cert))} to "
        f"{certificates.iso_time(certificates.not_after(cert))}",
        f"    key:      {key_words(key_type, bits)}; serial {cert.serial_number:X}",
        f"    sha256:   {certificates.sha256_hex(cert)}",
        f"    sha1:     {certificates.sha1_hex(cert)}",
    ]


def _is_leaf(entry: Entry, inspection: Inspection) -> bool:
    return inspection.leaf is entry and len(inspection.entries) > 1


def _key_line(key: KeyEntry) -> str:
    where = f" (line {key.line})" if key.line else ""
    if key.problem is not None:
        return f"private key {key.number}{where}: cannot be read: {key.problem}"
    state = f"belongs to #{key.matches}" if key.matches else "belongs to no certificate here"
    locked = ", encrypted" if key.encrypted else ""
    return (
        f"private key {key.number}{where}: {key_words(key.key_type, key.key_bits)}{locked}; {state}"
    )


def _verdict(inspection: Inspection) -> str:
    head = f"{inspection.status.value.upper()} {inspection.name}"
    for finding in inspection.findings:
        if finding.severity.rank < 2:
            return f"{head}: {finding.summary}"
    count = len(inspection.entries)
    keys = len(inspection.keys)
    held = f"{count} certificate{'s' if count != 1 else ''}"
    if keys:
        held += f" and {keys} private key{'s' if keys != 1 else ''}"
    return f"{head}: {held} ({_FORMAT_NAMES[inspection.format]}), nothing to fix"


def render_inspection(inspection: Inspection) -> str:
    """The text form of an inspection: verdict, certificates in file order, keys, findings."""
    lines = [_verdict(inspection), ""]
    for entry in inspection.entries:
        lines.extend(_entry_lines(entry, inspection))
    lines.extend(_key_line(key) for key in inspection.keys)
    for block in inspection.other_blocks:
        lines.append(f"other block (line {block.line}): {block.label}, not inspected")
    if len(inspection.chain) > 1:
        arrows = " → ".join(f"#{n}" for n in inspection.chain)
        state = "in file order" if inspection.in_order else "NOT in file order"
        lines.append(f"chain (leaf first): {arrows}  ({state})")
    if inspection.findings:
        lines += ["", "findings:"]
        for finding in inspection.findings:
            lines.append(f"  [{finding.severity.value}] {finding.id}: {finding.summary}")
            if finding.detail:
                lines.append(f"      {finding.detail}")
            if finding.remedy:
                lines.append(f"      fix: {finding.remedy}")
    return "\n".join(escape(line) for line in lines)
