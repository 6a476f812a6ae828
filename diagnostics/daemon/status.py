# -*- test-case-name: tests.daemon.test_status -*-
"""``/`` and ``/report`` on the metrics port: the status page and each target's latest report.

The rows come from the daemon (one small :class:`StatusRow` per target, kept as results
arrive); the reports from :class:`LatestResults`, which keeps the JSON form of each target's
latest result compressed (about 3 KB a target).  The resources only read the query, render
and set the headers: a strict Content-Security-Policy (no script, no external asset),
``nosniff`` and no caching.
"""

from __future__ import annotations

import datetime
import json
import urllib.parse
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from twisted.web import resource

from diagnostics.model.version import __version__
from diagnostics.render.report import CSP as REPORT_CSP
from diagnostics.render.report import REPORT_FORMATS, View, render_report
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
            return _plain(
                request, 404, "not found: this port serves /, /report, /metrics, /probe, /healthz"
            )
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


def report_link(url: str) -> str:
    """The status page's link to the latest report of the target ``url`` (relative, so that
    it also works behind a reverse proxy that moves the page)."""
    return "report?" + urllib.parse.urlencode({"target": url})


class LatestResults:
    """The JSON form of each target's latest result, compressed, for ``/report``."""

    def __init__(self) -> None:
        self.packed: dict[str, bytes] = {}

    def keep(self, url: str, document: Mapping[str, Any]) -> None:
        """Remember ``document`` (a :func:`~diagnostics.model.jsonform.result_to_json` form) as
        the latest result of ``url``."""
        text = json.dumps(document, separators=(",", ":"), default=str)
        self.packed[url] = zlib.compress(text.encode("utf-8"), 1)

    def get(self, url: str) -> dict[str, Any] | None:
        """The latest result of ``url``, or None when it has none."""
        packed = self.packed.get(url)
        if packed is None:
            return None
        document: dict[str, Any] = json.loads(zlib.decompress(packed))
        return document

    def keep_only(self, urls: Iterable[str]) -> None:
        """Forget the targets not in ``urls`` (after a reload removed them)."""
        keep = set(urls)
        self.packed = {u: p for u, p in self.packed.items() if u in keep}


_REPORT_TYPES = {
    "html": b"text/html; charset=utf-8",
    "md": b"text/markdown; charset=utf-8",
    "json": b"application/json",
}


class ReportPage(resource.Resource):
    """``/report?target=URL[&format=html|md|json]``: the partner report of the target's latest
    probe, as ``tlsdiag report`` would build it from the log."""

    isLeaf = True

    def __init__(self, latest: LatestResults, openssl: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.latest = latest
        self.openssl = openssl

    def render_GET(self, request: Any) -> bytes:
        """The report, 400 for a bad query, 404 for a target without a result yet."""
        args: Mapping[bytes, list[bytes]] = request.args or {}
        url = args.get(b"target", [b""])[0].decode("utf-8", "replace")
        fmt = args.get(b"format", [b"html"])[0].decode("ascii", "replace")
        if not url:
            return _plain(request, 400, "missing the target parameter: /report?target=URL")
        if fmt not in REPORT_FORMATS:
            return _plain(request, 400, f"format must be one of {', '.join(REPORT_FORMATS)}")
        document = self.latest.get(url)
        if document is None:
            return _plain(request, 404, "no result for this target yet (not scheduled, or pending)")
        text = render_report([View("client", document)], fmt, openssl=self.openssl)
        request.setHeader(b"content-type", _REPORT_TYPES[fmt])
        _secure(request, REPORT_CSP.encode("ascii"))
        if fmt != "html":
            request.setHeader(b"content-disposition", f"inline; filename=report.{fmt}".encode())
        return text.encode("utf-8")


def _secure(request: Any, csp: bytes = CSP) -> None:
    request.setHeader(b"content-security-policy", csp)
    request.setHeader(b"x-content-type-options", b"nosniff")
    request.setHeader(b"cache-control", b"no-store")
    request.setHeader(b"referrer-policy", b"no-referrer")


def _plain(request: Any, code: int, text: str) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    _secure(request)
    return (text + "\n").encode("utf-8")
