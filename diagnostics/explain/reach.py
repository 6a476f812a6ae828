"""How the probe reached the server: the address it fell back to, the leaf served without SNI.

Pure: reads the result's ``connection`` and ``sni_compare``.
"""

from __future__ import annotations

from cryptography import x509

from diagnostics.model import certificates
from diagnostics.model.result import (
    SCHEMES,
    Connection,
    Finding,
    ProbeResult,
    Scheme,
    Severity,
    Side,
    SNIComparison,
)

__all__ = ["address_findings", "reach_findings", "sni_findings"]

_NO_SNI_CLIENTS = "old Java, some FTP clients, and connections made by IP address"


def _bracketed(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def address_findings(where: str, port: int, connection: Connection | None) -> list[Finding]:
    """An info finding when the first addresses of the name did not answer and a later one did."""
    if connection is None or connection.address is None or not connection.tried:
        return []
    failed = "; ".join(f"{_bracketed(t.address)}:{port} ({t.error})" for t in connection.tried)
    used = f"{_bracketed(connection.address)}:{port}"
    return [
        Finding(
            "address_fallback",
            Severity.INFO,
            Side.SERVER,
            f"{where}: {failed} did not answer; the probe connected to {used} instead.",
            "The name resolves to several addresses and the first did not answer. Clients "
            "that try the addresses in the same order wait or fail before they fall back, and "
            "a client that tries only the first one (or only its family: IPv6 first on most "
            "systems) fails.",
            "Make the service listen on every address the name resolves to, or remove the "
            "address that does not answer from the DNS (its A or AAAA record).",
        )
    ]


def _named(cert: x509.Certificate) -> str:
    sans = certificates.subject_alt_names(cert)
    names = [*sans.dns, *sans.ip]
    listed = ", ".join(names) if names else "no subjectAltName"
    return f"'{certificates.dn(cert.subject)}' (names: {listed})"


def _verdict(compared: SNIComparison, name: str) -> str:
    if compared.hostname_matched and compared.chain_verified:
        return f"it would verify for {name}, so such clients still connect"
    reasons = []
    if not compared.hostname_matched:
        reasons.append(f"it does not name {name}")
    if not compared.chain_verified:
        reasons.append("its chain does not verify against the trust list")
    return "it would not verify for " + name + ": " + " and ".join(reasons)


def sni_findings(
    where: str,
    with_sni: x509.Certificate | None,
    compared: SNIComparison,
    scheme: Scheme | None = None,
) -> list[Finding]:
    """What the handshake without SNI showed, beside the probe's own (``--sni-compare``)."""
    name = compared.servername or "the name"
    if with_sni is None:
        return []  # the probe itself got no certificate: its own failure says why
    if compared.outcome in ("skipped", "failed"):
        if scheme is not None and not scheme.tls_first:
            remedy = "Compare on the implicit FTPS port (ftps://), where TLS comes first."
        elif compared.servername is None:
            remedy = (
                "Probe by the host name, or give it as the server name (--servername; daemon: "
                "servername): SNI is never sent for an IP address."
            )
        else:
            remedy = "Probe again (with a longer timeout if it ran out)."
        return [
            Finding(
                "sni_compare_incomplete",
                Severity.INFO,
                Side.EITHER,
                f"{where}: the handshake without SNI was {compared.outcome}: {compared.reason}.",
                "The certificate served to clients that send no SNI is not known.",
                remedy,
            )
        ]
    if compared.outcome == "refused":
        return [
            Finding(
                "sni_required",
                Severity.WARNING,
                Side.SERVER,
                f"{where} refuses clients that send no SNI ({compared.reason}).",
                f"With SNI ({name}) the handshake completes; without it the server ends the "
                f"handshake. Clients that do not send SNI ({_NO_SNI_CLIENTS}) cannot connect "
                "at all.",
                f"Give the server a default certificate (the one it sends without SNI) valid "
                f"for {name}, or make the clients send SNI (server name {name}).",
            )
        ]
    if compared.leaf is None:
        return []
    if certificates.sha256_hex(compared.leaf) == certificates.sha256_hex(with_sni):
        return [
            Finding(
                "sni_certificate_same",
                Severity.INFO,
                Side.SERVER,
                f"{where} serves the same certificate with and without SNI.",
                f"Clients that do not send SNI ({_NO_SNI_CLIENTS}) get {_named(with_sni)} too.",
            )
        ]
    return [
        Finding(
            "sni_certificate_differs",
            Severity.WARNING,
            Side.SERVER,
            f"{where} serves another certificate to clients that send no SNI: "
            f"'{certificates.dn(compared.leaf.subject)}' instead of "
            f"'{certificates.dn(with_sni.subject)}'.",
            f"Clients that do not send SNI ({_NO_SNI_CLIENTS}) get {_named(compared.leaf)}; "
            f"{_verdict(compared, name)}. With SNI ({name}) the server sends "
            f"{_named(with_sni)}.",
            f"Make the server's default certificate (the one it sends without SNI) the right "
            f"one for {name}, or make the clients send SNI (server name {name}).",
        )
    ]


def reach_findings(where: str, result: ProbeResult) -> list[Finding]:
    """The findings about how the server was reached: address fallback, SNI comparison."""
    found = address_findings(where, result.target.port, result.connection)
    if result.sni_compare is not None:
        scheme = result.target.scheme
        known = Scheme(scheme) if scheme in SCHEMES else None
        found += sni_findings(where, result.leaf, result.sni_compare, known)
    return found
