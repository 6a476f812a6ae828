"""OCSP stapling at the TLS edge: a client context that records what the server staples.

pyOpenSSL only (no Twisted): trust loading installs the callback on every client context,
the connection creators say which capture a connection's staple goes to.  What a staple
says is read and judged in :mod:`diagnostics.explain.ocsp`.
"""

from __future__ import annotations

import weakref

from OpenSSL import SSL

from diagnostics.tls.recording import HandshakeCapture, trap

# The OCSP callback belongs to the context, which many probes share: it finds the
# capture of the connection it is called for here.  The values are weak too: a capture
# holds its connection, so a strong value would keep every entry (and every connection
# of a long-running daemon) alive for ever.
_STAPLE_CAPTURES: weakref.WeakKeyDictionary[SSL.Connection, weakref.ref[HandshakeCapture]] = (
    weakref.WeakKeyDictionary()
)


def capture_of(
    captures: weakref.WeakKeyDictionary[SSL.Connection, weakref.ref[HandshakeCapture]],
    conn: SSL.Connection,
) -> HandshakeCapture | None:
    ref = captures.get(conn)
    return ref() if ref is not None else None


def _on_staple(conn: SSL.Connection, data: bytes, _arg: object) -> bool:
    capture = capture_of(_STAPLE_CAPTURES, conn)
    if capture is not None:
        trap(capture, capture.record_staple)(conn, data)
    return True  # never abort: the staple is judged afterwards


def watch_staples(conn: SSL.Connection, capture: HandshakeCapture) -> None:
    """Record the OCSP response stapled on ``conn`` (of a context with :func:`record_staples`)
    into ``capture``."""
    _STAPLE_CAPTURES[conn] = weakref.ref(capture)


def record_staples(context: SSL.Context) -> None:
    """Let a client context record stapled OCSP responses (before its first connection)."""
    context.set_ocsp_client_callback(_on_staple)
