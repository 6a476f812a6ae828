# -*- test-case-name: tests.daemon.test_status -*-
"""``/`` on the metrics port: the status page of every scheduled target.

The rows come from the daemon (one small :class:`StatusRow` per target, kept as results
arrive); this resource only reads the query, renders and sets the headers: a strict
Content-Security-Policy (the page has no script and no external asset), ``nosniff`` and no
caching.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from twisted.web import resource

from diagnostics.model.version import __version__
from diagnostics.render.status_page import StatusRow, render_page

# Bounds of ``/?refresh=SECONDS``: a browser left open must not hammer the daemon.
MIN_REFRESH = 5
MAX_REFRESH = 86400
CSP = b"default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


class StatusPage(resource.Resource):
    """``/`` (``/?refresh=SECONDS`` adds a reload of the page every so many seconds)."""

    isLeaf = True

    def __init__(
        self,
        rows: Callable[[], Sequence[StatusRow]],
        now: Callable[[], datetime.datetime],
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.rows = rows
        self.now = now

    def render_GET(self, request: Any) -> bytes:
        """The page, or 404 for any path but ``/``, 400 for a bad ``refresh``."""
        if request.postpath not in ([], [b""]):
            return _plain(request, 404, "not found: this port serves /, /metrics, /probe, /healthz")
        args: Mapping[bytes, list[bytes]] = request.args or {}
        refresh: int | None = None
        if b"refresh" in args:
            text = args[b"refresh"][0].decode("ascii", "replace")
            if not text.isdigit() or not MIN_REFRESH <= int(text) <= MAX_REFRESH:
                return _plain(
                    request,
                    400,
                    f"refresh must be a whole number of seconds from {MIN_REFRESH} to "
                    f"{MAX_REFRESH}",
                )
            refresh = int(text)
        page = render_page(self.rows(), now=self.now(), version=__version__, refresh=refresh)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        _secure(request)
        return page.encode("utf-8")


def _secure(request: Any) -> None:
    request.setHeader(b"content-security-policy", CSP)
    request.setHeader(b"x-content-type-options", b"nosniff")
    request.setHeader(b"cache-control", b"no-store")
    request.setHeader(b"referrer-policy", b"no-referrer")


def _plain(request: Any, code: int, text: str) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    _secure(request)
    return (text + "\n").encode("utf-8")
