"""What the follow-up handshakes and the version matrix tell: the cause of a refusal.  Pure."""

from __future__ import annotations

from collections.abc import Sequence

from diagnostics.model.result import Attempt, Finding, Severity, Side

__all__ = ["followup_findings", "matrix_findings"]

OBSOLETE = ("TLSv1", "TLSv1.1")
_SPOKEN = {"TLSv1": "TLS 1.0", "TLSv1.1": "TLS 1.1", "TLSv1.2": "TLS 1.2", "TLSv1.3": "TLS 1.3"}
_LEVELS = (
    "OpenSSL's security level 2 (its default since 3.0) refuses TLS 1.0 and 1.1, SHA-1 "
    "signatures, RSA and DH below 2048 bits, and RC4, 3DES, NULL, anonymous and export "
    "ciphers; lowering it (@SECLEVEL=0) on the client would only hide the weakness."
)


def _spoken(versions: Sequence[str]) -> str:
    order = list(_SPOKEN)
    ranked = sorted(versions, key=lambda v: order.index(v) if v in order else len(order))
    names = [_SPOKEN.get(v, v) for v in ranked]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _client(library: str | None) -> str:
    return f"this client ({library or 'the linked OpenSSL'} at its default level)"


def _tried(attempts: Sequence[Attempt]) -> str:
    parts = []
    for a in attempts:
        got = f"{a.version} {a.cipher}" if a.accepted else a.reason or a.outcome
        parts.append(f"{a.offered} at level {a.security_level}: {a.outcome} ({got})")
    return "Attempts: " + "; ".join(parts) + "."


def _accepted_versions(attempts: Sequence[Attempt]) -> list[str]:
    return [a.offered for a in attempts if a.purpose == "version" and a.accepted]


def _only_obsolete(where: str, accepted: list[str], library: str | None, tried: str) -> Finding:
    return Finding(
        "obsolete_version_only",
        Severity.ERROR,
        Side.SERVER,
        f"{where} only accepts {_spoken(accepted)}, which {_client(library)} refuses — "
        "enable TLS 1.2 on the server.",
        f"{_LEVELS} Any up-to-date client fails the same way. {tried}",
        "Enable TLS 1.2 (and 1.3) in the server's TLS configuration; keep 1.0/1.1 off.",
    )


def followup_findings(
    where: str, attempts: Sequence[Attempt], library: str | None = None
) -> list[Finding]:
    """The finding naming the cause of a refused handshake, from its follow-ups (or none)."""
    if not attempts:
        return []
    tried = _tried(attempts)
    accepted = _accepted_versions(attempts)
    if accepted and all(v in OBSOLETE for v in accepted):
        return [_only_obsolete(where, accepted, library, tried)]
    later = [a for a in attempts if a.purpose != "version"]
    if not accepted or not later or any(a.accepted and a.security_level >= 2 for a in later):
        return []
    first = next(a for a in attempts if a.purpose == "version" and a.accepted)
    cipher = first.cipher or "?"
    dhe = [a for a in later if a.offered == "DHE"]
    if dhe and any("dh key too small" in (a.reason or "") for a in dhe):
        low = [a for a in dhe if a.security_level < 2]
        size = (
            "between 1024 and 2047 bits (usually 1024)"
            if low and low[0].accepted
            else "smaller than 1024 bits"
            if low
            else "smaller than 2048 bits"
        )
        return [
            Finding(
                "weak_dh",
                Severity.ERROR,
                Side.SERVER,
                f"{where}: the server's DH group is {size}; {_client(library)} "
                "requires at least 2048 bits.",
                f"The server only negotiates DHE key exchange ({cipher}) with a group too "
                f"small for the client. {_LEVELS} {tried}",
                "Configure a 2048-bit or larger DH group (RFC 7919 ffdhe2048+), or better "
                "enable ECDHE ciphers on the server.",
            )
        ]
    if any(a.offered == "CBC" for a in later):
        return [
            Finding(
                "insecure_ciphers_only",
                Severity.ERROR,
                Side.SERVER,
                f"{where}: the server only offers NULL/anonymous/export or RC4/3DES ciphers "
                f"({cipher}), which {_client(library)} refuses.",
                f"Such ciphers give no confidentiality or no authentication. {_LEVELS} {tried}",
                "Enable modern ciphers (ECDHE with AES-GCM or ChaCha20-Poly1305) on the server.",
            )
        ]
    return [
        Finding(
            "below_security_level",
            Severity.ERROR,
            Side.SERVER,
            f"{where}: the server requires a TLS version or cipher below this client's "
            f"security level ({first.offered} {cipher} works only at a lowered level).",
            f"{_LEVELS} Older or laxer clients still connect; current ones fail. {tried}",
            "Enable TLS 1.2 or 1.3 with ECDHE and AES-GCM or ChaCha20-Poly1305 ciphers, "
            "and a certificate key of at least 2048 bits (RSA) or 256 bits (EC).",
        )
    ]


def matrix_findings(
    where: str, attempts: Sequence[Attempt], library: str | None = None
) -> list[Finding]:
    """Findings of the version matrix: obsolete versions accepted, only obsolete ones."""
    accepted = _accepted_versions(attempts)
    if not accepted:
        return []
    tried = _tried(attempts)
    if all(v in OBSOLETE for v in accepted):
        return [_only_obsolete(where, accepted, library, tried)]
    old = [v for v in accepted if v in OBSOLETE]
    if not old:
        return []
    current = _spoken([v for v in accepted if v not in OBSOLETE])
    return [
        Finding(
            "obsolete_version_accepted",
            Severity.WARNING,
            Side.SERVER,
            f"{where} still accepts {_spoken(old)} (besides {current}).",
            "TLS 1.0 and 1.1 are deprecated (RFC 8996): they rely on SHA-1 and MD5 and "
            "CBC constructions with known attacks; current clients refuse them at their "
            f"default level, but a downgrade-prone old client may still use them. {tried}",
            "Disable TLS 1.0 and 1.1 on the server once no partner depends on them.",
        )
    ]
