"""The lab: local endpoints with one known fault each, and what a probe must say about them.

A configuration of real servers (Twisted, pyOpenSSL, twisted.web) over a
throw-away hierarchy made at start-up; see :func:`diagnostics.lab.servers.start_lab`.
This package and its ``endpoints`` and ``manifest`` modules are pure data: only
``servers`` imports Twisted, so that naming the lab's defaults costs no reactor.
"""

from __future__ import annotations

from diagnostics.lab.endpoints import DEFAULT_BASE_PORT, DEFAULT_BIND, DEFAULT_STATE_DIR
from diagnostics.lab.manifest import ManifestEntry

__all__ = [
    "DEFAULT_BASE_PORT",
    "DEFAULT_BIND",
    "DEFAULT_STATE_DIR",
    "ManifestEntry",
]
