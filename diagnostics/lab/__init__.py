"""The lab: local endpoints with one known fault each, and what a probe must say about them.

A configuration of real servers (Twisted, pyOpenSSL, twisted.web) over a
throw-away hierarchy made at start-up; see :func:`start_lab`.
"""

from __future__ import annotations

from diagnostics.lab.endpoints import DEFAULT_BASE_PORT, DEFAULT_BIND
from diagnostics.lab.manifest import ManifestEntry
from diagnostics.lab.servers import DEFAULT_STATE_DIR, LabError, RunningLab, start_lab

__all__ = [
    "DEFAULT_BASE_PORT",
    "DEFAULT_BIND",
    "DEFAULT_STATE_DIR",
    "LabError",
    "ManifestEntry",
    "RunningLab",
    "start_lab",
]
