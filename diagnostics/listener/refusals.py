"""Connections a listener refused or dropped at its connection limits, reported in batches.

Pure.  A refused connection never becomes a session, and neither does one dropped
before the end of its TLS handshake to make room for a newcomer; the listener
counts both, by reason, and reports at most one :class:`RefusedConnections` a
second, so that a flood of connections cannot flood the logs.  The reasons:

- ``max_connections``: the listener's ``--max-connections`` were open and every one
  of them had finished its TLS handshake, so none could be dropped;
- ``max_per_address``: the client's address already had ``--max-per-address``
  connections open, every one of them past its handshake;
- ``evicted``: a connection still in its handshake (the oldest one, of the address
  at its cap or of the whole listener at its limit) was dropped to make room.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from diagnostics.model.jsonform import finding_to_json
from diagnostics.model.result import Finding, Severity, Side


class Refusal(enum.StrEnum):
    """Why a connection was refused or dropped (the keys of ``reasons`` in the JSON form)."""

    MAX_CONNECTIONS = "max_connections"
    MAX_PER_ADDRESS = "max_per_address"
    EVICTED = "evicted"


@attrs.frozen
class RefusedConnections:
    """Connections refused or dropped since the previous report.

    ``count`` is their total; ``per_address`` and ``evicted`` say how many of them were
    refused at the per-address cap and dropped before their handshake ended; the rest were
    refused because ``limit`` connections, all past their handshake, were open.
    """

    url: str
    count: int
    limit: int
    client_address: str | None = None  # the last refused (or dropped) client
    client_port: int | None = None
    max_per_address: int | None = None
    per_address: int = 0
    evicted: int = 0

    @property
    def at_limit(self) -> int:
        """Refused because ``limit`` connections were open, none still in its handshake."""
        return self.count - self.per_address - self.evicted

    def reasons(self) -> dict[str, int]:
        """How many connections each reason turned away, by :class:`Refusal` value."""
        return {
            Refusal.MAX_CONNECTIONS.value: self.at_limit,
            Refusal.MAX_PER_ADDRESS.value: self.per_address,
            Refusal.EVICTED.value: self.evicted,
        }

    def _parts(self) -> list[str]:
        parts = []
        if self.at_limit:
            parts.append(
                f"{self.at_limit} refused because {self.limit} connections were already open, "
                "all past their TLS handshake"
            )
        if self.per_address:
            cap = "" if self.max_per_address is None else f" {self.max_per_address}"
            parts.append(
                f"{self.per_address} refused because their address already had{cap} "
                "connections open, all past their TLS handshake"
            )
        if self.evicted:
            parts.append(
                f"{self.evicted} dropped before finishing the TLS handshake, the oldest such, "
                "to make room for a new connection"
            )
        return parts

    def finding(self) -> Finding:
        """The ``listener_connection_limit`` finding of this batch."""
        many = "connection was" if self.count == 1 else "connections were"
        done = "dropped" if self.evicted == self.count else "refused"
        if 0 < self.evicted < self.count:
            done = "refused or dropped"
        last = (
            f" (the last: {self.client_address}:{self.client_port})"
            if self.client_address is not None
            else ""
        )
        return Finding(
            "listener_connection_limit",
            Severity.WARNING,
            Side.EITHER,
            f"{self.count} {many} {done} at {self.url}: {'; '.join(self._parts())}{last}.",
            "A listener holds at most --max-connections connections, and at most "
            "--max-per-address from one client address. When a new connection would pass "
            "either bound, the oldest connection that has not finished its TLS handshake (of "
            "that address, or of the whole listener) is dropped to make room; a connection "
            "past its handshake is never dropped for a newcomer, so when there is none to "
            "drop the new one is closed as soon as it is accepted, before any TLS. Either way "
            "the client sees the connection reset or closed, and no session is reported for "
            "it. These are counted and reported at most once a second.",
            "If the partner's client legitimately opens many connections at once, raise "
            "--max-connections or --max-per-address (max_connections, max_per_address in a "
            "[[listener]]); otherwise find out why so many connections stay open (clients "
            "that never close, or a scan).",
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON form: counts by reason, the bounds, the last client and the finding."""
        return {
            "url": self.url,
            "refused": self.count,
            "reasons": self.reasons(),
            "max_connections": self.limit,
            "max_per_address": self.max_per_address,
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
