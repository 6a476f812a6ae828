"""The human form of a result: verdict first, then the chain, then every finding.  Pure.

Every line is escaped (:func:`diagnostics.model.escape.escape`) before it is coloured: a
certificate name, a ``Server`` header, an FTP greeting or a finding that quotes them cannot
put a control character on the terminal.
"""

from __future__ import annotations

from cryptography import x509

from diagnostics.model import certificates
from diagnostics.model.escape import escape, split_lines
from diagnostics.model.result import OCSPFacts, ProbeResult, Severity, Status

_COLOURS = {"red": "\x1b[31m", "yellow": "\x1b[33m", "green": "\x1b[32m", "dim": "\x1b[2m"}
_RESET = "\x1b[0m"
_STATUS_COLOUR = {Status.OK: "green", Status.PROBLEMS: "yellow", Status.FAILED: "red"}
_SEVERITY_COLOUR = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "dim"}


def _paint(text: str, colour: str, enabled: bool) -> str:
    return f"{_COLOURS[colour]}{text}{_RESET}" if enabled else text


def verdict_line(result: ProbeResult) -> str:
    """One line: status, target, and the primary finding or what went well (as given, not
    escaped: :func:`render_text` escapes it)."""
    status = result.status
    head = f"{status.value.upper()} {result.target.url}"
    if result.findings:
        primary = result.findings[0]
        if status is not Status.OK or primary.severity is not Severity.INFO:
            return f"{head}: {primary.summary}"
    tls = result.tls
    if tls is not None:
        return f"{head}: {tls.version}, {tls.cipher}, certificate verified"
    if result.verified_chain and status is Status.OK:
        return f"{head}: certificate verified"  # an offline verification: no handshake facts
    return head


def _cert_line(cert: x509.Certificate) -> str:
    key_type, bits = certificates.key_type_and_bits(cert)
    key = f"{key_type.replace('Encryption', '').replace('id-ecPublicKey', 'EC')} {bits or '?'}"
    until = certificates.iso_time(certificates.not_after(cert))[:10]
    return f"{certificates.dn(cert.subject)}  [{key}, until {until}]"


def ocsp_line(facts: OCSPFacts) -> str:
    """One line about the stapled OCSP response (the probe always asks for one)."""
    if not facts.stapled:
        return "  ocsp: no staple"
    if facts.response_status is None or (facts.cert_status is None and facts.error):
        return f"  ocsp: stapled response does not parse: {facts.error}"
    if facts.cert_status is None:
        return f"  ocsp: stapled response status {facts.response_status}"
    parts = [f"  ocsp: staple says {facts.cert_status}"]
    if facts.revocation_time is not None:
        reason = f" ({facts.revocation_reason})" if facts.revocation_reason else ""
        parts.append(f"revoked {certificates.iso_time(facts.revocation_time)}{reason}")
    if facts.this_update is not None:
        parts.append(f"this update {certificates.iso_time(facts.this_update)}")
    if facts.next_update is not None:
        parts.append(f"next update {certificates.iso_time(facts.next_update)}")
    return ", ".join(parts)


def _block(head: str, text: str) -> list[str]:
    """``text`` after ``head``, its further lines (a multi-line FTP reply) indented under it."""
    first, *rest = split_lines(text)
    return [head + first] + [" " * len(head) + line for line in rest]


def chain_lines(result: ProbeResult) -> list[str]:
    """The served chain and the chain OpenSSL built, as two small trees (not escaped)."""
    lines: list[str] = []
    # An offline verification has no peer: its "served" chain is the files given.
    served = "given" if result.tls is None and result.target.port == 0 else "served"
    for title, chain in ((served, result.served_chain), ("verified", result.verified_chain)):
        if not chain:
            continue
        lines.append(f"  chain {title} ({len(chain)}):")
        for depth, cert in enumerate(chain):
            lines.append(f"    {'   ' * depth}{'└─ ' if depth else ''}{depth}: {_cert_line(cert)}")
    return lines


def render_text(result: ProbeResult, *, colour: bool = False) -> str:
    """The default terminal rendering of one result."""
    status_colour = _STATUS_COLOUR[result.status]
    lines = [_paint(escape(verdict_line(result)), status_colour, colour)]
    lines += [escape(line) for line in _fact_lines(result)]
    if result.findings:
        lines.append("  findings:")
        for finding in result.findings:
            tag = _paint(f"[{finding.severity.value}]", _SEVERITY_COLOUR[finding.severity], colour)
            about = f"{finding.id} (who acts: {finding.side.value}): {finding.summary}"
            lines.append(f"    {tag} {escape(about)}")
            if finding.detail:
                lines.append(f"        {escape(finding.detail)}")
            if finding.remedy:
                lines.append(f"        fix: {escape(finding.remedy)}")
    timings = result.timings
    if timings.total_s is not None:
        lines.append(f"  took {timings.total_s * 1000:.0f} ms")
    return "\n".join(lines)


def _address_line(result: ProbeResult) -> str | None:
    """Which address of a name the probe used, and the ones that did not answer before it;
    None for an address given in the URL that answered at once."""
    connection = result.connection
    if connection is None or (not connection.tried and connection.address == result.target.host):
        return None
    tried = ", ".join(f"{t.address} ({t.error})" for t in connection.tried)
    used = (
        f"{connection.address} (IPv{connection.family})"
        if connection.address is not None
        else "none answered"
    )
    return f"  address: {used}" + (f"; tried before: {tried}" if tried else "")


def _fact_lines(result: ProbeResult) -> list[str]:
    """What was seen, between the verdict and the findings (not yet escaped)."""
    lines = []
    if result.proxy is not None:
        proxy = result.proxy
        answer = f"{proxy.status} {proxy.reason or ''}".rstrip() if proxy.status else "no answer"
        lines.append(f"  proxy: {proxy.url} (CONNECT: {answer}, {proxy.tunnels} tunnel(s))")
    address = _address_line(result)
    if address is not None:
        lines.append(address)
    tls = result.tls
    if tls is not None:
        reused = ", session resumed" if tls.session_reused else ""
        lines.append(f"  tls: {tls.version} {tls.cipher}{reused}  ({tls.openssl_version})")
    if result.ocsp is not None:
        lines.append(ocsp_line(result.ocsp))
    if result.http:
        lines.append(
            f"  http: {result.http.get('status_line')}  server={result.http.get('server')}"
        )
    if result.ftp and result.ftp.get("greeting"):
        lines.extend(_block("  ftp: ", str(result.ftp["greeting"])))
    if result.failure is not None:
        failure = result.failure
        reason = (
            f" ({failure.reason})" if failure.reason and failure.reason != failure.message else ""
        )
        lines.append(f"  failed in the {failure.phase.value} phase: {failure.message}{reason}")
    lines.extend(chain_lines(result))
    if result.verify_errors:
        lines.append("  verify errors (OpenSSL):")
        for event in result.verify_errors:
            lines.append(f"    depth={event.depth} num={event.code} {event.name}: {event.reason}")
    if result.hostname is not None:
        check = result.hostname
        state = {True: "matches", False: "does NOT match", None: "could not be checked"}
        names = ", ".join(check.names_in_cert) or "(none)"
        lines.append(f"  name {check.name!r} {state[check.matched]} the certificate ({names})")
    return lines
