"""Connections a listener refused at its connection limit, reported in batches.  Pure.

A refused connection never becomes a session; the listener counts them and
reports at most one :class:`RefusedConnections` a second, so that a flood of
connections cannot flood the logs.
"""

from __future__ import annotations

from typing import Any

import attrs

from diagnostics.model.jsonform import finding_to_json
from diagnostics.model.result import Finding, Severity, Side


@attrs.frozen
class RefusedConnections:
    """Connections refused since the previous report because ``limit`` were open."""

    url: str
    count: int
    limit: int
    client_address: str | None = None  # the last refused client
    client_port: int | None = None

    def finding(self) -> Finding:
        """The ``listener_connection_limit`` finding of this batch."""
        many = "connection was" if self.count == 1 else "connections were"
        last = (
            f" (the last from {self.client_address}:{self.client_port})"
            if self.client_address is not None
            else ""
        )
        return Finding(
            "listener_connection_limit",
            Severity.WARNING,
            Side.EITHER,
            f"{self.count} {many} refused at {self.url}: {self.limit} connections were already "
            f"open{last}.",
            "Over the limit a connection is closed as soon as it is accepted, before any TLS: "
            "the client sees the connection reset or closed, and no session is reported for it. "
            "Refusals are counted and reported at most once a second.",
            "If the partner's client legitimately opens many connections at once, raise the "
            "limit (--max-connections); otherwise find out why so many connections stay open "
            "(clients that never close, or a scan).",
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON form: counts, the last client and the finding."""
        return {
            "url": self.url,
            "refused": self.count,
            "max_connections": self.limit,
            "client": (
                None
                if self.client_address is None
                else {"address": self.client_address, "port": self.client_port}
            ),
            "findings": [finding_to_json(self.finding())],
        }

    def render(self) -> str:
        """The text form: one verdict-style line, then the finding's fix."""
        finding = self.finding()
        return f"REFUSED {finding.summary}\n  fix: {finding.remedy}"
