"""OCSP stapling at the TLS edge: a client context that records what the server staples.

pyOpenSSL only (no Twisted): trust loading installs the callback on every client context,
and a connection's staple goes to the capture the connection records into
(:func:`diagnostics.tls.recording.capture_of`).  What a staple says is read and judged in
:mod:`diagnostics.explain.ocsp`.
"""

from __future__ import annotations

from OpenSSL import SSL

from diagnostics.tls.recording import capture_of, trap


def _on_staple(conn: SSL.Connection, data: bytes, _arg: object) -> bool:
    # The OCSP callback belongs to the context, which many probes share.
    capture = capture_of(conn)
    if capture is not None:
        trap(capture, capture.record_staple, conn, data)
    return True  # never abort: the staple is judged afterwards


def record_staples(context: SSL.Context) -> None:
    """Let a client context record stapled OCSP responses (before its first connection)."""
    context.set_ocsp_client_callback(_on_staple)
