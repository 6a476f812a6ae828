# -*- test-case-name: tests.integration.test_sclient -*-
"""``--format s_client``: a result laid out the way ``openssl s_client`` prints a connection.

Pure data: a function of a :class:`~diagnostics.model.result.ProbeResult`, no Twisted.

The layout follows OpenSSL 3.0's ``s_client`` (without ``-showcerts``), with
distinguished names exactly as its default ``-nameopt`` prints them
(:mod:`diagnostics.render.oneline`: ``O = "Example, Inc.", CN = M\\C3\\BCnchen``, control
characters and non-ASCII bytes as ``\\XX``).  Users comparing with a newer ``s_client``
(``O=Example, CN=host``) should normalise the spaces around ``=``.  Every other line is
escaped too (:func:`diagnostics.model.escape.escape`): no control character a peer sent
reaches the terminal.  Where this output knowingly differs:

* ``s_client`` writes the verify callback lines (and error lines) to stderr and
  the rest to stdout; here everything is one text, the verify block first, then
  the connection summary.
* ``CONNECTED`` carries no socket number.
* An FTP greeting is shown (``s_client`` reads it silently), each line with its reply code.
* The acceptable client CA names are the names the capture recorded as text, escaped
  like any other line, not re-printed in OpenSSL's form.
* Lines the probe has no data for are left out: peer signing digest, server
  temp key, bytes read and written, secure renegotiation, compression, early
  data and the TLS 1.2 ``SSL-Session`` block.
* ``New, <version>`` names the negotiated protocol version; ``s_client`` prints
  the cipher's protocol there (``SSLv3`` for ``AES128-SHA`` on TLS 1.2).
* Reason texts come from the OpenSSL linked into this program, which may word
  them differently from the ``openssl`` command on the same machine; the codes
  are the same.
* The host name check is not shown: ``s_client`` checks no name unless asked
  with ``-verify_hostname``; the text and JSON formats report it.
* A failure is written as one ``error: …`` line: before ``CONNECTED`` when the
  connection or handshake never completed (TCP failures end the output there,
  as ``s_client`` stops), after the summary when it happened later.
* Probes always ask for a stapled OCSP response, so the ``OCSP response`` block
  of ``s_client -status`` follows ``CONNECTED`` whenever the handshake got as
  far as the server's answer.  Of a stapled response it shows the one
  certificate status that concerns the leaf; response extensions and the
  responder certificates a response may carry are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cryptography import x509

from diagnostics.model import certificates
from diagnostics.model.escape import escape, split_lines
from diagnostics.model.result import Failure, OCSPFacts, Phase, ProbeResult, VerifyEvent
from diagnostics.render import oneline

__all__ = ["ocsp_lines", "render_sclient", "verify_callback_lines"]

SEPARATOR = "---"
_REPLY_CODE = re.compile(r"[0-9]{3}[ -]")

# Codes after which s_client's verify callback prints one more fact about the certificate.
_ISSUER_CODES = frozenset({2})  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
_NOT_BEFORE_CODES = frozenset({9, 13})  # not yet valid, bad notBefore field
_NOT_AFTER_CODES = frozenset({10, 14})  # expired, bad notAfter field


def render_sclient(result: ProbeResult) -> str:
    """The whole ``s_client``-style text for one result, ending with a newline."""
    lines = [*verify_callback_lines(result.verify_events), *_greeting_lines(result.ftp)]
    failure = result.failure
    if failure is not None and failure.phase in (Phase.RESOLVE, Phase.CONNECT):
        # s_client gives up before printing anything about a connection.
        return _text([*lines, _failure_line(failure)])
    completed = result.tls is not None
    if failure is not None and not completed:
        lines.append(_failure_line(failure))
    lines += ["CONNECTED", *ocsp_lines(result.ocsp), *_chain_lines(result.served_chain), SEPARATOR]
    lines += _peer_lines(result.leaf if completed else None)
    lines += _client_ca_lines(result.tls.client_ca_names if result.tls else ())
    lines += [SEPARATOR, *_summary_lines(result)]
    if failure is not None and completed:
        lines.append(_failure_line(failure))
    return _text(lines)


def verify_callback_lines(events: Iterable[VerifyEvent]) -> list[str]:
    """What ``s_client``'s verify callback prints, one block per recorded call."""
    lines: list[str] = []
    # s_client never clears the verification error, so the calls after an error
    # still see it and repeat its detail line; the capture records those calls
    # as code 0 (pyOpenSSL clears the error), hence the last error is carried on.
    standing = 0
    for event in events:
        cert = event.certificate
        lines.append(f"depth={event.depth} {oneline.subject(cert) if cert else '<no cert>'}")
        if event.code != 0:
            lines.append(f"verify error:num={event.code}:{event.reason}")
            standing = event.code
        if cert is not None:
            if standing in _ISSUER_CODES:
                lines.append(f"issuer= {oneline.issuer(cert)}")
            elif standing in _NOT_BEFORE_CODES:
                lines.append(
                    f"notBefore={certificates.openssl_time(certificates.not_before(cert))}"
                )
            elif standing in _NOT_AFTER_CODES:
                lines.append(f"notAfter={certificates.openssl_time(certificates.not_after(cert))}")
        # s_client never aborts without -verify_return_error: every call continues.
        lines.append("verify return:1")
    return lines


# OpenSSL's names and numbers for an OCSP response status (OCSP_response_status_str).
_RESPONSE_STATUS = {
    "successful": ("successful", 0),
    "malformed_request": ("malformedrequest", 1),
    "internal_error": ("internalerror", 2),
    "try_later": ("trylater", 3),
    "sig_required": ("sigrequired", 5),
    "unauthorized": ("unauthorized", 6),
}
# RFC 5280 reason names and their CRLReason numbers (OCSP_crl_reason_str).
_REASON_CODES = {
    "unspecified": 0,
    "keyCompromise": 1,
    "cACompromise": 2,
    "affiliationChanged": 3,
    "superseded": 4,
    "cessationOfOperation": 5,
    "certificateHold": 6,
    "removeFromCRL": 8,
    "privilegeWithdrawn": 9,
    "aACompromise": 10,
}
_OCSP_RULE = "======================================"
_HEX_PER_LINE = 18  # bytes per line of OpenSSL's signature dump


def ocsp_lines(facts: OCSPFacts | None) -> list[str]:
    """What ``s_client -status`` prints about the stapled OCSP response."""
    if facts is None:
        return []
    if not facts.stapled:
        return ["OCSP response: no response sent"]
    if facts.response_status is None:
        # s_client cannot parse it either: it says so and dumps nothing.
        return ["OCSP response: response parse error"]
    name, number = _RESPONSE_STATUS.get(facts.response_status, (facts.response_status, -1))
    lines = [
        "OCSP response: ",
        _OCSP_RULE,
        "OCSP Response Data:",
        f"    OCSP Response Status: {name} (0x{number:x})",
    ]
    if facts.cert_status is None:
        return [*lines, _OCSP_RULE]
    lines += [
        "    Response Type: Basic OCSP Response",
        "    Version: 1 (0x0)",
        f"    Responder Id: {facts.responder or ''}",
    ]
    if facts.produced_at is not None:
        lines.append(f"    Produced At: {certificates.openssl_time(facts.produced_at)}")
    lines += [
        "    Responses:",
        "    Certificate ID:",
        f"      Hash Algorithm: {facts.hash_algorithm}",
        f"      Issuer Name Hash: {(facts.issuer_name_hash or b'').hex().upper()}",
        f"      Issuer Key Hash: {(facts.issuer_key_hash or b'').hex().upper()}",
        f"      Serial Number: {_openssl_integer(facts.serial_number or 0)}",
        f"    Cert Status: {facts.cert_status}",
    ]
    if facts.revocation_time is not None:
        lines.append(f"    Revocation Time: {certificates.openssl_time(facts.revocation_time)}")
    if facts.revocation_reason is not None:
        code = _REASON_CODES.get(facts.revocation_reason, -1)
        lines.append(f"    Revocation Reason: {facts.revocation_reason} (0x{code:x})")
    if facts.this_update is not None:
        lines.append(f"    This Update: {certificates.openssl_time(facts.this_update)}")
    if facts.next_update is not None:
        lines.append(f"    Next Update: {certificates.openssl_time(facts.next_update)}")
    lines += ["", f"    Signature Algorithm: {facts.signature_algorithm}", "    Signature Value:"]
    signature = facts.signature or b""
    for start in range(0, len(signature), _HEX_PER_LINE):
        chunk = signature[start : start + _HEX_PER_LINE]
        last = start + _HEX_PER_LINE >= len(signature)
        lines.append("        " + ":".join(f"{b:02x}" for b in chunk) + ("" if last else ":"))
    return [*lines, _OCSP_RULE]


def _openssl_integer(value: int) -> str:
    """An ASN.1 integer as OpenSSL writes it: upper-case hex in whole bytes."""
    digits = f"{value:X}"
    return digits if len(digits) % 2 == 0 else "0" + digits


def _greeting_lines(ftp: Mapping[str, Any] | None) -> list[str]:
    """The FTP server's greeting as the reply it came in: ``220-`` before each line but the
    last, ``220 `` before the last (a line that already starts with a reply code is kept), so
    that no line of it can pose as one of ``s_client``'s own."""
    greeting = ftp.get("greeting") if ftp else None
    if isinstance(greeting, str):
        lines = split_lines(greeting)
    elif isinstance(greeting, Sequence):
        lines = [str(line) for line in greeting]
    else:
        return []
    last = len(lines) - 1
    return [
        line if _REPLY_CODE.match(line) else f"220{'-' if index < last else ' '}{line}"
        for index, line in enumerate(lines)
    ]


def _chain_lines(chain: Sequence[x509.Certificate]) -> list[str]:
    """The ``Certificate chain`` section: the certificates as the server sent them."""
    if not chain:
        return []
    lines = [SEPARATOR, "Certificate chain"]
    for index, cert in enumerate(chain):
        key_type, bits = certificates.key_type_and_bits(cert)
        lines += [
            f" {index} s:{oneline.subject(cert)}",
            f"   i:{oneline.issuer(cert)}",
            f"   a:PKEY: {key_type}, {bits or 0} (bit); "
            f"sigalg: {certificates.signature_algorithm_short(cert)}",
            f"   v:NotBefore: {certificates.openssl_time(certificates.not_before(cert))}; "
            f"NotAfter: {certificates.openssl_time(certificates.not_after(cert))}",
        ]
    return lines


def _peer_lines(leaf: x509.Certificate | None) -> list[str]:
    """The ``Server certificate`` section, or s_client's words for its absence."""
    if leaf is None:
        return ["no peer certificate available"]
    return [
        "Server certificate",
        *certificates.pem(leaf).splitlines(),
        f"subject={oneline.subject(leaf)}",
        f"issuer={oneline.issuer(leaf)}",
    ]


def _client_ca_lines(names: Sequence[str]) -> list[str]:
    """The CA names the server would accept a client certificate from."""
    if not names:
        return [SEPARATOR, "No client certificate CA names sent"]
    return [SEPARATOR, "Acceptable client certificate CA names", *names]


def _summary_lines(result: ProbeResult) -> list[str]:
    """Verification verdict, negotiated parameters and the final verify return code."""
    errors = result.verify_errors
    # Like SSL_get_verify_result() under s_client: the last error recorded wins.
    last = errors[-1] if errors else None
    verdict = f"Verification error: {last.reason}" if last else "Verification: OK"
    code = f"{last.code} ({last.reason})" if last else "0 (ok)"
    tls = result.tls
    if tls is None:
        session = ["New, (NONE), Cipher is (NONE)"]
    else:
        opening = "Reused" if tls.session_reused else "New"
        session = [f"{opening}, {tls.version or '(NONE)'}, Cipher is {tls.cipher or '(NONE)'}"]
        leaf = result.leaf
        bits = certificates.key_type_and_bits(leaf)[1] if leaf is not None else None
        if bits:
            session.append(f"Server public key is {bits} bit")
    alpn = f"ALPN protocol: {tls.alpn}" if tls and tls.alpn else "No ALPN negotiated"
    return [verdict, SEPARATOR, *session, alpn, f"Verify return code: {code}", SEPARATOR]


def _failure_line(failure: Failure) -> str:
    """One line saying where and why the probe stopped."""
    return f"error: {failure.phase.value} failed ({failure.kind}): {failure.message}"


def _text(lines: Sequence[str]) -> str:
    """The lines as one text, each escaped: a peer's control characters never pass."""
    return "".join(escape(line) + "\n" for line in lines)
