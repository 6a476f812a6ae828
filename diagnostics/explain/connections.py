# -*- test-case-name: tests.explain.test_catalogue -*-
"""Connection failures: what a failure below TLS (DNS, TCP, timeouts) means.

Pure data: one entry for each kind of connection failure a probe reports, with
plain words, likely causes and the fix (:func:`connection_error`), and the texts of
the socket layer and of Twisted that name each kind (:data:`CONNECTION_PHRASES`).
"""

from __future__ import annotations

from diagnostics.explain.entries import ERROR, E, Explanation, words

# kind, summary, causes, remedy
_CONNECTION_ROWS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    (
        "resolve_failed",
        "The host name could not be resolved to an address.",
        (
            "A typo in the host name, or the DNS record does not exist (yet).",
            "The name exists only in an internal DNS this machine does not use.",
            "The resolver is unreachable.",
        ),
        "Check the name with dig or nslookup from the probing machine; fix the DNS record or "
        "use the right name.",
    ),
    (
        "connection_refused",
        "The connection was refused: nothing accepts connections on that port.",
        (
            "The service is not running, or listens on another port or address.",
            "The wrong port for the mode (990 for implicit FTPS, 21 for explicit).",
            "A firewall rejects the connection actively.",
        ),
        "Check that the service runs and listens on that address and port, and that the URL "
        "uses the right port.",
    ),
    (
        "connection_reset",
        "The connection was reset (TCP RST) by the other side or by a device in between.",
        (
            "A firewall or intrusion-prevention system cut the connection.",
            "The service crashed or refused the client after accepting the connection.",
        ),
        "Look at the logs of the service and of firewalls in the path at that moment.",
    ),
    (
        "timeout",
        "No answer arrived in time.",
        (
            "A firewall drops the packets silently (connect phase).",
            "The service waits for the other side to speak first: an implicit/explicit "
            "FTPS or plain/TLS mix-up (handshake phase).",
            "The server or network is overloaded.",
        ),
        "Check firewalls and routing for the port; check that scheme and port match the "
        "service (TLS at once or after a plain-text greeting).",
    ),
    (
        "no_route",
        "There is no network route to the host.",
        (
            "The host or its network is down or unreachable from here.",
            "A routing or VPN problem on the probing machine.",
        ),
        "Check routing and VPNs from the probing machine (ping, traceroute).",
    ),
    (
        "connection_closed",
        "The other side closed the connection before or during the TLS handshake.",
        (
            "TLS is not enabled behind a port forward or load balancer.",
            "A firewall, SNI filter or intrusion-prevention system drops the handshake.",
            "The other side rejected something and hung up without a TLS alert.",
        ),
        "Look at the other side's log at that moment; probe from another network to rule "
        "out middleboxes.",
    ),
    (
        "connect_error",
        "The TCP connection could not be established.",
        ("A local network error on the probing machine or in the path.",),
        "Check the network configuration of the probing machine and the path to the host.",
    ),
)
CONNECTIONS = {row[0]: row for row in _CONNECTION_ROWS}

# Texts of the socket layer and of Twisted that name a connection failure.
CONNECTION_PHRASES = {
    "connection refused": "connection_refused",
    "econnrefused": "connection_refused",
    "connection reset": "connection_reset",
    "econnreset": "connection_reset",
    "timed out": "timeout",
    "etimedout": "timeout",
    "no route to host": "no_route",
    "network is unreachable": "no_route",
    "ehostunreach": "no_route",
    "enetunreach": "no_route",
    "name or service not known": "resolve_failed",
    "nodename nor servname provided": "resolve_failed",
    "temporary failure in name resolution": "resolve_failed",
    "dns lookup failed": "resolve_failed",
    "connection lost": "connection_closed",
    "connection was closed": "connection_closed",
}
CONNECTION_PATTERN = words(CONNECTION_PHRASES)


def connection_error(kind: str) -> Explanation:
    """What a connection failure of the given kind (``timeout``, ``connection_refused``…) means.

    The kinds are a closed set; an unknown kind raises ``KeyError``.
    """
    name, summary, causes, remedy = CONNECTIONS[kind]
    return Explanation(
        kind="connection",
        key=name,
        title=f"Connection failure: {name.replace('_', ' ')}",
        reason=name.replace("_", " "),
        summary=summary,
        causes=causes,
        remedy=remedy,
        side=E,
        severity=ERROR,
        finding_id=name,
    )
