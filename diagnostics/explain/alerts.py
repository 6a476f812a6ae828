# -*- test-case-name: tests.explain.test_catalogue -*-
"""TLS alerts and handshake reasons: what a TLS error means to the side that saw it.

Pure data: every TLS alert the linked OpenSSL (4.0.3) names, as received by a
client and by a server (:func:`alert`), the handshake reason texts admins meet
(:data:`REASONS`), and :func:`classify_tls_error`, which reads an OpenSSL reason
text as an alert, a handshake reason or a connection failure from the point of view
of the side that saw it (``seen_by``).
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from typing import NamedTuple

from diagnostics.explain.connections import CONNECTION_PATTERN, CONNECTION_PHRASES, connection_error
from diagnostics.explain.entries import (
    ERROR,
    INFO,
    OPENSSL,
    WARNING,
    C,
    E,
    Explanation,
    S,
    View,
    words,
)
from diagnostics.model.result import Severity, Side

# -- TLS alerts -------------------------------------------------------------------------


def _cert_rejected(who: str, summary: str, causes: tuple[str, ...], remedy: str) -> View:
    """The view of a side whose own certificate the peer rejected."""
    if who == "client":
        return View("client_certificate_rejected", C, summary, causes, remedy)
    return View("server_certificate_rejected", S, summary, causes, remedy)


_ASK_SERVER_LOG = "the server operator's log names the exact verify error"
_PROBE_LISTENER = (
    "Probe this server with tlsdiag probe to see what a client gets, and ask the partner "
    "for their client log."
)


class _Alert(NamedTuple):
    """A TLS alert: its number, name, OpenSSL's text and what it means.

    ``from_server`` is the reading of a client that received it, ``from_client`` the
    reading of a server that received it; ``None`` stands for the generic reading.
    """

    number: int
    name: str
    reason: str
    meaning: str
    from_server: View | None = None
    from_client: View | None = None
    severity: Severity = ERROR


_ALERT_ROWS: tuple[_Alert, ...] = (
    _Alert(
        0,
        "close_notify",
        "close notify",
        "The sender is closing the connection in an orderly way.",
        severity=INFO,
    ),
    _Alert(
        10,
        "unexpected_message",
        "tls alert unexpected message",
        "A TLS message arrived that was not expected at that point of the handshake.",
    ),
    _Alert(
        20,
        "bad_record_mac",
        "tls alert bad record mac",
        "A record failed its integrity check: "
        "data was damaged or altered in transit, or an implementation is broken.",
    ),
    _Alert(
        21,
        "decryption_failed",
        "tlsv1 alert decryption failed",
        "A record could not be decrypted (obsolete alert of old TLS versions).",
    ),
    _Alert(
        22,
        "record_overflow",
        "tlsv1 alert record overflow",
        "A record was longer than the protocol allows.",
    ),
    _Alert(
        30,
        "decompression_failure",
        "tls alert decompression failure",
        "Decompressing a record failed (TLS compression is obsolete).",
    ),
    _Alert(
        40,
        "handshake_failure",
        "tls alert handshake failure",
        "The sender could not agree on the handshake parameters and gave no more specific reason.",
        View(
            "handshake_failure",
            E,
            "The server refused the handshake without saying exactly why.",
            (
                "No cipher suite, key-exchange group or signature algorithm in common (the "
                "server's log then says, for example, 'no shared cipher').",
                "With TLS 1.2: the server requires a client certificate and none was sent.",
                "The server does not serve the requested host name, or blocks this client.",
            ),
            "Compare the TLS versions and cipher suites both sides allow (tlsdiag probe "
            "--versions), send a client certificate if the server requires one, and ask the "
            "server operator for the matching log line.",
        ),
        View(
            "handshake_failure",
            E,
            "The client refused the handshake without saying exactly why.",
            (
                "The client finds this server's Diffie-Hellman group too small or its "
                "parameters unacceptable.",
                "No cipher suite or signature algorithm in common with the client's settings.",
            ),
            "Offer TLS 1.2 and 1.3 with ECDHE cipher suites, and ask the partner for their "
            "client log.",
        ),
    ),
    _Alert(
        41,
        "no_certificate",
        "tls alert no certificate",
        "The sender had no certificate to send (obsolete SSL 3.0 alert).",
        View(
            "client_certificate_required",
            C,
            "The server reports that no client certificate was sent.",
            ("An old SSL 3.0 implementation on the server side.",),
            "Configure a client certificate, and move the server to TLS 1.2 or later.",
        ),
    ),
    _Alert(
        42,
        "bad_certificate",
        "tls alert bad certificate",
        "The sender rejected the certificate it was shown (bad signature, not yet valid, "
        "wrong name, weak key or similar).",
        _cert_rejected(
            "client",
            "The server rejected our client certificate.",
            (
                "The certificate is damaged or not yet valid, or its key or signature is too "
                "weak for the server.",
                f"Something else about it is wrong; {_ASK_SERVER_LOG}.",
            ),
            "Check the client certificate (tlsdiag inspect) and use one the server accepts.",
        ),
        _cert_rejected(
            "server",
            "The client rejected this server's certificate.",
            (
                "The host name the client used is not in the certificate.",
                "The certificate is not yet valid by the client's clock.",
                "Its key or signature is too weak for the client (RSA below 2048 bits, SHA-1).",
            ),
            "Fix the certificate (names, key size, signature) or the partner's clock. "
            + _PROBE_LISTENER,
        ),
    ),
    _Alert(
        43,
        "unsupported_certificate",
        "tls alert unsupported certificate",
        "The sender cannot use the certificate it was shown for this purpose (wrong key "
        "usage or key type).",
        _cert_rejected(
            "client",
            "The server cannot use our client certificate for client authentication.",
            (
                "The certificate lacks the clientAuth extended key usage.",
                "Its key type is not supported by the server.",
            ),
            "Use a client certificate with the clientAuth extended key usage and an RSA or "
            "ECDSA key.",
        ),
        _cert_rejected(
            "server",
            "The client cannot use this server's certificate for a server.",
            (
                "The certificate lacks the serverAuth extended key usage.",
                "Its key type is not supported by the client.",
            ),
            "Reissue the certificate with the serverAuth extended key usage and an RSA or "
            "ECDSA key.",
        ),
    ),
    _Alert(
        44,
        "certificate_revoked",
        "tls alert certificate revoked",
        "The sender found the certificate it was shown revoked by its CA.",
        _cert_rejected(
            "client",
            "The server says our client certificate is revoked.",
            ("The CA revoked the certificate (key compromise, replacement, leaving staff).",),
            "Get a new client certificate; a revoked one cannot be used again.",
        ),
        _cert_rejected(
            "server",
            "The client says this server's certificate is revoked.",
            ("The CA revoked the certificate, but the server still uses it.",),
            "Install a new certificate on the server.",
        ),
    ),
    _Alert(
        45,
        "certificate_expired",
        "tls alert certificate expired",
        "The sender found the certificate it was shown expired.",
        _cert_rejected(
            "client",
            "The server says our client certificate (or one in its chain) has expired.",
            (
                "The client certificate was not renewed.",
                "The server's clock is ahead.",
            ),
            "Renew the client certificate; if its dates are fine, the server's clock is wrong.",
        ),
        _cert_rejected(
            "server",
            "The client says this server's certificate (or one in its chain) has expired.",
            (
                "The certificate or an intermediate sent with it is past its expiry date.",
                "The client's clock is wrong.",
            ),
            "Renew the certificate and serve the current chain; if the dates are fine, the "
            "partner must fix their clock.",
        ),
    ),
    _Alert(
        46,
        "certificate_unknown",
        "tls alert certificate unknown",
        "The sender rejected the certificate it was shown for a reason no more specific alert "
        "covers.",
        _cert_rejected(
            "client",
            "The server rejected our client certificate without a specific reason.",
            (f"A chain, purpose or policy problem; {_ASK_SERVER_LOG}.",),
            "Check the client certificate and its chain (tlsdiag inspect), and ask the server "
            "operator for their log.",
        ),
        _cert_rejected(
            "server",
            "The client rejected this server's certificate without a specific reason.",
            (
                "A chain problem (missing intermediate), a name or purpose problem, or a "
                "strict-mode check on the client.",
            ),
            _PROBE_LISTENER,
        ),
    ),
    _Alert(
        47,
        "illegal_parameter",
        "tls alert illegal parameter",
        "A handshake field had a value that is out of range or contradicts other fields.",
    ),
    _Alert(
        48,
        "unknown_ca",
        "tlsv1 alert unknown ca",
        "The sender does not trust the CA behind the certificate it was shown, or could not "
        "build a chain to one.",
        _cert_rejected(
            "client",
            "The server does not accept the CA that issued our client certificate.",
            (
                "Our client certificate comes from a CA that is not among the server's client CAs.",
                "We do not send the intermediate between our certificate and the CA the "
                "server trusts.",
            ),
            "Use a client certificate from a CA the server accepts (the server lists them in "
            "its certificate request), send the full client chain, or ask the server "
            "operator to add our CA.",
        ),
        _cert_rejected(
            "server",
            "The client does not trust the CA behind this server's certificate.",
            (
                "The server does not send its intermediate certificates.",
                "The certificate comes from a private CA the client has not imported.",
                "The client's CA bundle is outdated.",
            ),
            "Serve the full chain; if the certificate comes from a private CA, give the "
            "partner the CA certificate to import.",
        ),
    ),
    _Alert(
        49,
        "access_denied",
        "tlsv1 alert access denied",
        "The sender accepted the certificate, but the identity it proves is not allowed in.",
        View(
            "access_denied",
            E,
            "The server accepted our client certificate but does not let that identity in.",
            ("The certificate's subject is not on the server's list of allowed clients.",),
            "Use the certificate the server expects, or ask the server operator to allow "
            "this identity.",
        ),
    ),
    _Alert(
        50,
        "decode_error",
        "tlsv1 alert decode error",
        "A message could not be decoded: it is malformed or a field has the wrong length.",
    ),
    _Alert(
        51,
        "decrypt_error",
        "tlsv1 alert decrypt error",
        "A handshake signature or key check "
        "failed: a certificate or handshake signature does not verify, or the final "
        "handshake check failed.",
    ),
    _Alert(
        60,
        "export_restriction",
        "tlsv1 alert export restriction",
        "Obsolete export-restriction alert of old TLS versions.",
    ),
    _Alert(
        70,
        "protocol_version",
        "tlsv1 alert protocol version",
        "The sender does not support the TLS version that was offered or chosen.",
        View(
            "protocol_version",
            E,
            "The server supports none of the TLS versions we offered.",
            (
                "The server speaks only TLS 1.0 or 1.1, which current clients no longer offer.",
                "The server accepts only TLS 1.3 and we offered at most TLS 1.2.",
            ),
            "Enable TLS 1.2 and 1.3 on the server; TLS 1.0 and 1.1 are deprecated (RFC 8996).",
        ),
        View(
            "protocol_version",
            E,
            "The client supports none of the TLS versions this server accepts.",
            ("The client speaks only TLS 1.0 or 1.1.",),
            "Ask the partner to enable TLS 1.2 or 1.3; lowering the server's minimum is only "
            "a stopgap.",
        ),
    ),
    _Alert(
        71,
        "insufficient_security",
        "tlsv1 alert insufficient security",
        "The sender requires stronger cipher suites than the other side offers.",
        View(
            "no_shared_cipher",
            E,
            "The server requires stronger cipher suites than we offered.",
            ("Our cipher list contains only old or weak suites.",),
            "Offer modern suites (AES-GCM or ChaCha20-Poly1305 with ECDHE) on the client.",
        ),
        View(
            "no_shared_cipher",
            E,
            "The client requires stronger cipher suites than this server offers.",
            ("The server's cipher list contains only old or weak suites.",),
            "Offer modern suites (AES-GCM or ChaCha20-Poly1305 with ECDHE) on the server.",
        ),
    ),
    _Alert(
        80,
        "internal_error",
        "tlsv1 alert internal error",
        "The sender hit an internal problem, or one of its checks rejected the handshake "
        "without a specific reason.",
        View(
            "peer_internal_error",
            E,
            "The server reported an internal error.",
            (
                "The server cannot sign with any algorithm the offered TLS version allows "
                "(a modern server asked for TLS 1.0).",
                "A server-side callback (certificate selection, SNI) failed.",
                "The server is short of resources.",
            ),
            "Check the server's log at the time of the probe, and use TLS 1.2 or 1.3.",
        ),
        View(
            "peer_internal_error",
            E,
            "The client reported an internal error.",
            (
                "The client's own certificate check (a pinning callback) rejected this "
                "server's certificate without a specific code.",
                "The client's TLS library failed or is short of resources.",
            ),
            "Ask the partner for their client log.",
        ),
    ),
    _Alert(
        86,
        "inappropriate_fallback",
        "tlsv1 alert inappropriate fallback",
        "The client retried "
        "with a lower TLS version although both sides support a higher one; the server refuses "
        "the downgrade.",
    ),
    _Alert(
        90,
        "user_canceled",
        "tlsv1 alert user cancelled",
        "The sender cancelled the handshake for a reason unrelated to the protocol.",
        severity=WARNING,
    ),
    _Alert(
        100,
        "no_renegotiation",
        "tlsv1 alert no renegotiation",
        "The sender refuses to renegotiate the connection.",
        severity=WARNING,
    ),
    _Alert(
        109,
        "missing_extension",
        "tlsv13 alert missing extension",
        "A TLS 1.3 extension the sender requires was missing.",
    ),
    _Alert(
        110,
        "unsupported_extension",
        "tlsv1 unsupported extension",
        "The handshake contained an extension the sender did not ask for.",
    ),
    _Alert(
        111,
        "certificate_unobtainable",
        "tlsv1 certificate unobtainable",
        "The sender could not fetch a certificate from a URL given in the handshake (obsolete).",
    ),
    _Alert(
        112,
        "unrecognized_name",
        "tlsv1 unrecognized name",
        "The sender does not serve the host name given in the server name indication (SNI).",
        View(
            "unrecognized_name",
            C,
            "The server does not serve the host name we asked for (SNI).",
            (
                "A typo in the host name or in --servername.",
                "The virtual host is not configured on this server or load balancer.",
            ),
            "Use a host name the server is configured for, or ask the server operator to add it.",
        ),
    ),
    _Alert(
        113,
        "bad_certificate_status_response",
        "tlsv1 bad certificate status response",
        "The OCSP response stapled to the certificate is invalid.",
        View(
            "ocsp_staple_invalid",
            S,
            "The server's stapled OCSP response is invalid.",
            ("The server staples a stale, broken or unrelated OCSP response.",),
            "Fix OCSP stapling on the server (the responder must be reachable) or switch it off.",
        ),
    ),
    _Alert(
        114,
        "bad_certificate_hash_value",
        "tlsv1 bad certificate hash value",
        "A certificate hash did not match (obsolete alert).",
    ),
    _Alert(
        115,
        "unknown_psk_identity",
        "tlsv1 alert unknown psk identity",
        "The sender does not know the pre-shared key identity offered.",
    ),
    _Alert(
        116,
        "certificate_required",
        "tlsv13 alert certificate required",
        "The sender (a TLS 1.3 server) requires a client certificate and none was sent.",
        View(
            "client_certificate_required",
            C,
            "The server requires a client certificate and we sent none.",
            (
                "No client certificate is configured (--cert and --key).",
                "None of our certificates comes from a CA the server names, so none was sent.",
            ),
            "Configure a client certificate from a CA the server accepts. With TLS 1.3 this "
            "shows only after the handshake, on the first read.",
        ),
    ),
    _Alert(
        120,
        "no_application_protocol",
        "tlsv1 alert no application protocol",
        "The sender supports none of the application protocols offered via ALPN.",
        View(
            "alpn_mismatch",
            E,
            "The server supports none of the application protocols we offered (ALPN).",
            ("The client offers only h2 and the server only http/1.1, or the reverse.",),
            "Offer a protocol the server supports, or fix the server's ALPN list.",
        ),
    ),
)

ALERTS: Mapping[int, _Alert] = types.MappingProxyType({a.number: a for a in _ALERT_ROWS})

# What follows the "tls alert" / "tlsv1" prefix in OpenSSL's text, to find the alert.
_ALERT_PREFIX = re.compile(r"(?<![a-z0-9])(?:sslv3|ssl3|tlsv1|tlsv13|tls)\s+(?:alert\s+)?")
_ALERT_DESCRIPTIONS = sorted(
    ((_ALERT_PREFIX.sub("", a.reason, count=1), a.number) for a in ALERTS.values() if a.number),
    key=lambda item: -len(item[0]),
)
_ALERT_NUMBER = re.compile(r"alert number\s*(\d{1,3})\b")


def _generic_alert_view(entry: _Alert, sender: str) -> View:
    return View(
        f"tls_alert_{entry.name}",
        E,
        f"The {sender} ended the handshake with TLS alert {entry.name}: {entry.meaning}",
        (f"The {sender}'s own TLS log names the exact check that failed.",),
        f"Look at the {sender}'s TLS log for the same moment, and compare the TLS versions, "
        "cipher suites and certificates both sides use.",
    )


def alert_view(entry: _Alert, seen_by: Side) -> View:
    """How the side ``seen_by`` reads an alert it received; the generic reading if none."""
    if seen_by == S:
        return entry.from_client or _generic_alert_view(entry, "client")
    return entry.from_server or _generic_alert_view(entry, "server")


def alert(number: int) -> Explanation:
    """What a TLS alert means, for either side; a generic entry for an unknown number."""
    entry = ALERTS.get(number)
    if entry is None:
        return Explanation(
            kind="alert",
            key=f"alert:{number}",
            title=f"TLS alert {number}",
            reason="unknown alert",
            summary=f"{OPENSSL} has no name for TLS alert {number}.",
            causes=("A newer TLS extension's alert, or a value that is not a TLS alert.",),
            remedy="Look the number up in the IANA TLS Alerts registry, and check the "
            "sender's log.",
            side=E,
            severity=ERROR,
            finding_id="tls_alert_unknown",
        )
    client, server = alert_view(entry, C), alert_view(entry, S)
    causes = [
        f"{label}: {view.summary}"
        for label, view, specific in (
            ("Received by a client (the server sent it)", client, entry.from_server),
            ("Received by a server (a client sent it)", server, entry.from_client),
        )
        if specific is not None
    ]
    if entry.number == 0:
        remedy = "Nothing to do: this is how TLS connections end."
        causes = ["The sender has finished and closes the connection."]
    elif causes:
        remedy = f"As the client: {client.remedy} As the server: {server.remedy}"
    else:
        causes = ["The sender's own TLS log names the exact check that failed."]
        remedy = _generic_alert_view(entry, "sender").remedy
    return Explanation(
        kind="alert",
        key=f"alert:{entry.number}",
        title=f"{entry.name} (TLS alert {entry.number})",
        reason=entry.reason,
        summary=entry.meaning,
        causes=tuple(causes),
        remedy=remedy,
        side=client.side if client.side == server.side else E,
        severity=entry.severity,
        finding_id=f"tls_alert_{entry.name}",
    )


def _alert_seen(number: int, seen_by: Side) -> Explanation:
    entry = ALERTS[number]
    view = alert_view(entry, seen_by)
    sender = "a client" if seen_by == S else "the server"
    return Explanation(
        kind="alert",
        key=f"alert:{number}",
        title=f"{entry.name} (TLS alert {number}, sent by {sender})",
        reason=entry.reason,
        summary=view.summary,
        causes=view.causes,
        remedy=view.remedy,
        side=view.side,
        severity=entry.severity,
        finding_id=view.finding_id,
    )


# -- handshake reasons ------------------------------------------------------------------


class _Reason(NamedTuple):
    """Reason texts of the linked OpenSSL, read by the side that saw them."""

    texts: tuple[str, ...]
    client: View
    server: View | None = None
    aliases: tuple[str, ...] = ()


def _own_certificate_refused(
    text: str, finding_id: str, causes: tuple[str, ...], fix: str
) -> _Reason:
    """A reason OpenSSL gives when this side's own certificate is too weak to load."""
    return _Reason(
        (text,),
        View(
            finding_id,
            C,
            "OpenSSL refused our own client certificate: it is too weak for the security level.",
            causes,
            fix,
        ),
        View(
            finding_id,
            S,
            "OpenSSL refused this server's own certificate: it is too weak for the security level.",
            causes,
            fix,
        ),
    )


_VERSION_FIX = "Enable TLS 1.2 and 1.3 on both sides; TLS 1.0 and 1.1 are deprecated (RFC 8996)."
_NOT_TLS_FIX = (
    "Check the scheme and port: ftpes:// for explicit FTPS (port 21, AUTH TLS), ftps:// for "
    "implicit FTPS (port 990), https:// and tls:// only for ports that speak TLS at once."
)

REASONS: tuple[_Reason, ...] = (
    _Reason(
        ("certificate verify failed",),
        View(
            "certificate_verify_failed",
            E,
            "We stopped the handshake because the server's certificate failed verification.",
            ("The verify errors recorded for the chain name the exact problem.",),
            "Look at the verify errors: each code has its own explanation (tlsdiag explain "
            "<code>).",
        ),
        View(
            "client_certificate_rejected",
            E,
            "This server rejected the client's certificate: it failed verification.",
            (
                "The client certificate comes from a CA that is not among this server's "
                "client CAs.",
                "The client certificate is expired, revoked or not meant for clients.",
            ),
            "Look at the verify errors for the client certificate; add the partner's CA to "
            "the client CAs, or have the partner use a certificate from an accepted CA.",
        ),
    ),
    _Reason(
        ("wrong version number", "unknown protocol", "packet length too long"),
        View(
            "not_tls",
            E,
            "The server's answer was not TLS.",
            (
                "A plain-text service on that port: an explicit-FTPS port (which greets with "
                "'220') used as implicit FTPS, or plain HTTP.",
                "The wrong port, or a proxy or captive portal answering in plain text.",
            ),
            _NOT_TLS_FIX,
        ),
        View(
            "not_tls",
            C,
            "A client sent something that is not TLS to this TLS port.",
            (
                "An explicit-FTPS client (plain FTP first, then AUTH TLS) connected to the "
                "implicit port.",
                "A plain-text client, a port scanner or a health check.",
            ),
            "The client must start TLS at once on this port, or use the explicit-FTPS / "
            "plain-HTTP port instead.",
        ),
    ),
    _Reason(
        ("http request",),
        View(
            "plain_http_on_tls_port",
            C,
            "A plain HTTP request arrived at a port that expects TLS.",
            ("Someone used http:// for an https:// service.",),
            "Use https:// for this port.",
        ),
    ),
    _Reason(
        ("https proxy request",),
        View(
            "proxy_request_on_tls_port",
            C,
            "An HTTP proxy request (CONNECT) arrived at a port that expects TLS.",
            ("A client is configured to use this server as its HTTP proxy.",),
            "Fix the client's proxy setting.",
        ),
    ),
    _Reason(
        ("unexpected eof while reading",),
        View(
            "connection_closed",
            E,
            "The server closed the connection during the handshake without a TLS alert.",
            (
                "TLS is not enabled behind a port forward or load balancer.",
                "An intrusion-prevention system, SNI filter or firewall drops the handshake.",
                "The server rejected something (our client certificate, our TLS version) "
                "and hung up without an alert.",
                "The server process crashed or hit a connection limit.",
            ),
            "Look at the server's log at the time of the probe; probe from another network "
            "to rule out middleboxes.",
        ),
        View(
            "connection_closed",
            E,
            "The client closed the connection during the handshake without a TLS alert.",
            (
                "The client rejected this server's certificate and hung up without an alert "
                "(some Java and .NET clients do this).",
                "A port scanner or load-balancer health check opened and closed the connection.",
                "The client ran into its own timeout.",
            ),
            "Ask the partner for their client log, and check that they trust this server's "
            "certificate chain.",
        ),
        aliases=("unexpected eof",),
    ),
    _Reason(
        ("no shared cipher",),
        View(
            "no_shared_cipher",
            E,
            "The two sides have no cipher suite in common.",
            (
                "The server accepts only suites the client does not offer (for example a "
                "single ECDHE-RSA suite, which an ECDSA certificate cannot use).",
                "The client's cipher list is restricted to old suites.",
            ),
            "Compare the cipher suites both sides allow and enable a common modern suite "
            "(AES-GCM or ChaCha20-Poly1305 with ECDHE).",
        ),
        View(
            "no_shared_cipher",
            E,
            "The client offered no cipher suite that this server accepts.",
            (
                "The client offers only old suites this server disabled.",
                "This server's certificate key type fits none of the offered suites.",
            ),
            "Enable a modern suite the client offers (AES-GCM or ChaCha20-Poly1305 with "
            "ECDHE), or ask the partner to update their client.",
        ),
    ),
    _Reason(
        ("no shared groups", "no suitable key share", "no suitable groups"),
        View(
            "no_shared_group",
            E,
            "The two sides have no key-exchange group (curve) in common.",
            ("One side restricts its groups (FIPS mode, post-quantum only, P-256 only).",),
            "Enable a common group such as X25519 or P-256 on both sides.",
        ),
    ),
    _Reason(
        (
            "no suitable signature algorithm",
            "no shared signature algorithms",
            "legacy sigalg disallowed or unsupported",
        ),
        View(
            "no_shared_signature_algorithm",
            E,
            "The two sides have no signature algorithm in common for the handshake.",
            (
                "A server limited to TLS 1.0 or 1.1 signs with SHA-1 or MD5, which the "
                "client's security level refuses.",
                "A modern server was asked for TLS 1.0 and cannot sign for it.",
            ),
            _VERSION_FIX,
        ),
    ),
    _Reason(
        ("peer did not return a certificate", "no certificates returned"),
        View(
            "client_certificate_required",
            C,
            "The server requires a client certificate and none was sent.",
            (
                "No client certificate is configured (--cert and --key).",
                "None of our certificates comes from a CA the server names, so none was sent.",
            ),
            "Configure a client certificate from a CA the server accepts.",
        ),
        View(
            "client_certificate_missing",
            C,
            "The client sent no certificate, but this server requires one.",
            (
                "The partner's client is not configured with its certificate and key.",
                "The partner's certificate comes from none of the CAs this server names, so "
                "their client sent none.",
            ),
            "The partner must configure their client certificate; make sure this server's "
            "client CAs include the CA that issued it.",
        ),
    ),
    _Reason(
        ("unsupported protocol", "unsupported ssl version", "wrong ssl version"),
        View(
            "protocol_version",
            E,
            "The two sides have no TLS version in common.",
            (
                "The server speaks only TLS 1.0 or 1.1, or only TLS 1.3.",
                "The client is limited to versions the server no longer accepts.",
            ),
            _VERSION_FIX,
        ),
        View(
            "protocol_version",
            E,
            "The client offered only TLS versions this server does not accept.",
            ("The partner's client speaks only TLS 1.0 or 1.1.",),
            "Ask the partner to enable TLS 1.2 or 1.3; lowering this server's minimum is only "
            "a stopgap.",
        ),
    ),
    _Reason(
        ("version too low",),
        View(
            "protocol_version",
            S,
            "The server chose a TLS version below our minimum.",
            ("The server supports at most TLS 1.0 or 1.1.",),
            "Enable TLS 1.2 and 1.3 on the server.",
        ),
        View(
            "protocol_version",
            C,
            "The client chose a TLS version below this server's minimum.",
            ("The partner's client supports at most TLS 1.0 or 1.1.",),
            "Ask the partner to enable TLS 1.2 or 1.3.",
        ),
    ),
    _Reason(
        ("no protocols available",),
        View(
            "protocol_version",
            C,
            "Our own settings leave no TLS version to offer, so nothing was sent.",
            (
                "The minimum and maximum versions exclude each other, or the requested "
                "version (TLS 1.0, 1.1) is disabled in this OpenSSL or by its security level.",
            ),
            "Allow TLS 1.2 or 1.3 on the client.",
        ),
        View(
            "protocol_version",
            S,
            "This server's own settings leave no TLS version to accept.",
            ("The minimum and maximum versions exclude each other.",),
            "Allow TLS 1.2 and 1.3 on the server.",
        ),
    ),
    _Reason(
        ("dh key too small",),
        View(
            "weak_dh",
            S,
            "The server's Diffie-Hellman group is smaller than our security level allows.",
            ("The server uses DHE with a group below 2048 bits (old dhparam file).",),
            "Configure a 2048-bit or larger DH group on the server, or prefer ECDHE suites.",
        ),
        View(
            "weak_dh",
            S,
            "This server's Diffie-Hellman group is smaller than the security level allows.",
            ("The configured dhparam file has fewer than 2048 bits.",),
            "Configure a 2048-bit or larger DH group, or prefer ECDHE suites.",
        ),
    ),
    _own_certificate_refused(
        "ee key too small",
        "weak_key",
        ("The certificate's RSA or DSA key has fewer than 2048 bits.",),
        "Reissue the certificate with an RSA key of at least 2048 bits or an ECDSA P-256 key.",
    ),
    _own_certificate_refused(
        "ca key too small",
        "weak_key",
        ("A CA certificate in the configured chain has a key below 2048 bits.",),
        "Use a chain whose CA keys have at least 2048 bits.",
    ),
    _own_certificate_refused(
        "ca md too weak",
        "weak_signature",
        ("The certificate or its chain is signed with SHA-1 or MD5.",),
        "Reissue the certificate with a SHA-256 (or stronger) signature.",
    ),
    _Reason(
        ("excessive message size",),
        View(
            "excessive_message_size",
            S,
            "The server sent a handshake message larger than OpenSSL accepts.",
            (
                "A huge list of accepted client CA names in the certificate request (every "
                "CA of a big trust store).",
                "An oversized certificate chain.",
            ),
            "Name only the CAs that actually issue client certificates, and serve a normal chain.",
        ),
        View(
            "excessive_message_size",
            C,
            "The client sent a handshake message larger than OpenSSL accepts.",
            ("An oversized client certificate chain.",),
            "The partner must send a shorter client certificate chain.",
        ),
    ),
    _Reason(
        ("unsafe legacy renegotiation disabled",),
        View(
            "legacy_renegotiation",
            S,
            "The server does not support secure renegotiation (RFC 5746), which OpenSSL 3 and "
            "later require.",
            ("An old appliance, FTP server or TLS library on the server.",),
            "Update the server's TLS software. As a stopgap the client can allow legacy "
            "server connections (OP_LEGACY_SERVER_CONNECT).",
        ),
        View(
            "legacy_renegotiation",
            C,
            "The client does not support secure renegotiation (RFC 5746).",
            ("An old TLS library in the partner's client.",),
            "Ask the partner to update their TLS software.",
        ),
    ),
    _Reason(
        ("callback failed",),
        View(
            "handshake_callback_failed",
            E,
            "An application callback refused the handshake.",
            (
                "The server's SNI callback does not know the requested host name.",
                "Our own certificate or verify callback failed.",
            ),
            "Check the host name sent (--servername) and the log of the side that refused.",
        ),
    ),
    _Reason(
        (
            "unexpected message",
            "unexpected record",
            "decryption failed or bad record mac",
            "record layer failure",
            "bad packet length",
            "length mismatch",
        ),
        View(
            "tls_protocol_error",
            E,
            "The TLS exchange broke down: a message was malformed, damaged or out of order.",
            (
                "A middlebox (proxy, firewall, load balancer) altered the traffic.",
                "A bug or incompatibility in one side's TLS implementation.",
                "With 'record layer failure': OpenSSL adds it to a more specific error "
                "reported just before it.",
            ),
            "Repeat the probe without middleboxes in the path, and compare with another "
            "client; update old TLS software.",
        ),
    ),
)

_REASON_ENTRIES = {text: reason for reason in REASONS for text in reason.texts + reason.aliases}
_REASON_PATTERN = words(_REASON_ENTRIES)


def _reason_seen(matched: str, seen_by: Side) -> Explanation:
    reason = _REASON_ENTRIES[matched]
    # An alias (another version's wording) is reported in the linked library's words.
    text = matched if matched in reason.texts else reason.texts[0]
    view = reason.server if seen_by == S and reason.server is not None else reason.client
    who = "server" if seen_by == S else "client"
    return Explanation(
        kind="handshake",
        key=text,
        title=f"TLS error seen by the {who}: {text}",
        reason=text,
        summary=view.summary,
        causes=view.causes,
        remedy=view.remedy,
        side=view.side,
        severity=ERROR,
        finding_id=view.finding_id,
    )


def _unknown_reason(reason: str) -> Explanation:
    return Explanation(
        kind="handshake",
        key=reason,
        title="TLS handshake failed",
        reason=reason,
        summary=f"The TLS handshake failed with OpenSSL's reason “{reason}”, which this "
        "catalogue does not explain.",
        causes=("A rare or version-specific OpenSSL error; its text is the best clue.",),
        remedy="Look for the same text in the other side's log, and compare the TLS "
        "versions, cipher suites and certificates both sides use.",
        side=E,
        severity=ERROR,
        finding_id="handshake_failed",
    )


# -- classify_tls_error -----------------------------------------------------------------

_PYTHON_SSL_TAG = re.compile(r"\[ssl(?::[^\]]*)?\]|\(_ssl\.c:\d+\)")
_PACKED_CODE = re.compile(r"error:([0-9a-f]{8})")


def _find_alert(text: str) -> int | None:
    """The number of the TLS alert a reason text reports, if any."""
    number = _ALERT_NUMBER.search(text)
    if number is not None and int(number.group(1)) in ALERTS:
        return int(number.group(1))
    for prefix in _ALERT_PREFIX.finditer(text):
        rest = text[prefix.end() :]
        for description, alert_number in _ALERT_DESCRIPTIONS:
            after = rest[len(description) : len(description) + 1]
            if rest.startswith(description) and not after.isalnum():
                return alert_number
    # OpenSSL packs a received alert into its error code as reason 1000 + alert.
    for packed in _PACKED_CODE.finditer(text):
        code = int(packed.group(1), 16)
        if code >> 23 == 20 and (code & 0x7FFFFF) - 1000 in ALERTS:
            return (code & 0x7FFFFF) - 1000
    return None


def classify(reason: str, seen_by: Side) -> Explanation | None:
    """The alert, handshake reason or connection failure a reason text names; else None."""
    text = _PYTHON_SSL_TAG.sub(" ", reason.lower())
    text = " ".join(text.split())
    number = _find_alert(text)
    if number is not None:
        return _alert_seen(number, seen_by)
    found = _REASON_PATTERN.search(text)
    if found is not None:
        return _reason_seen(found.group(1), seen_by)
    found = CONNECTION_PATTERN.search(text)
    if found is not None:
        return connection_error(CONNECTION_PHRASES[found.group(1)])
    return None


def classify_tls_error(reason: str, *, seen_by: Side) -> Explanation:
    """Explain an OpenSSL reason text from the point of view of the side that saw it.

    ``seen_by`` is the side we are: ``CLIENT`` for a probe (a received alert came from
    the server), ``SERVER`` for a listener; ``EITHER`` reads like ``CLIENT``.  Alert
    texts are matched on what follows the ``sslv3``/``tls``/``tlsv1`` prefix, so
    OpenSSL 3 and 4 texts give the same entry.  Unknown texts give a generic entry
    quoting the reason; this never raises.
    """
    text = str(reason).strip()
    return classify(text, seen_by) or _unknown_reason(text)
