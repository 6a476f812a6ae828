# -*- test-case-name: tests.daemon.test_service -*-
"""Changes between successive probes of a target: emitted once per change, not per probe.

Pure data.  ``chain_changed`` (the served leaf is another certificate),
``expiry_warning`` / ``expiry_critical`` (the leaf's expiry crossed a
threshold), ``degraded`` / ``recovered`` (the status got worse or better).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

import attrs

from diagnostics.model import certificates
from diagnostics.model.result import ProbeResult, Status

_STATUS_RANK = {Status.OK: 0, Status.PROBLEMS: 1, Status.FAILED: 2}
_EXPIRY_RANK = {None: 0, "warning": 1, "critical": 2}
_LEAF_KEYS = ("sha256", "subject", "serial", "not_after")


@attrs.frozen
class Leaf:
    """The facts of a served leaf that a change event reports."""

    sha256: str
    subject: str
    serial: str
    not_after: str

    def to_json(self) -> dict[str, str]:
        """As a JSON object."""
        return attrs.asdict(self)


@attrs.frozen
class Seen:
    """What was seen at the last probe of a target."""

    status: Status
    leaf: Leaf | None
    expiry: str | None


@attrs.frozen
class Transition:
    """One change event: its action name, a sentence, and its fields."""

    action: str
    level: str
    message: str
    fields: dict[str, Any]


def leaf_of(result: ProbeResult) -> Leaf | None:
    """The served leaf's facts, when there was one."""
    cert = result.leaf
    if cert is None:
        return None
    return Leaf(
        sha256=certificates.sha256_hex(cert),
        subject=certificates.dn(cert.subject),
        serial=format(cert.serial_number, "X"),
        not_after=certificates.iso_time(certificates.not_after(cert)),
    )


def expiry_level(
    result: ProbeResult, now: datetime.datetime, warn_days: int, critical_days: int
) -> str | None:
    """``critical``, ``warning`` or None for the leaf's remaining lifetime."""
    cert = result.leaf
    if cert is None:
        return None
    left = certificates.not_after(cert) - now
    if left <= datetime.timedelta(days=critical_days):
        return "critical"
    if left <= datetime.timedelta(days=warn_days):
        return "warning"
    return None


class Tracker:
    """Remembers each target's last probe and says what changed."""

    def __init__(self) -> None:
        self.seen: dict[str, Seen] = {}
        self.dirty = False  # something changed since the owner last saved

    def observe(
        self,
        url: str,
        result: ProbeResult,
        now: datetime.datetime,
        *,
        warn_days: int,
        critical_days: int,
    ) -> list[Transition]:
        """Record ``result`` for ``url``; the transitions since the previous probe."""
        before = self.seen.get(url)
        leaf = leaf_of(result)
        expiry = expiry_level(result, now, warn_days, critical_days)
        if leaf is None and before is not None:
            # A failed probe says nothing about the certificate: keep what we knew.
            leaf, expiry = before.leaf, before.expiry
        now_seen = Seen(result.status, leaf, expiry)
        if now_seen != before:
            self.seen[url] = now_seen
            self.dirty = True
        events: list[Transition] = []
        if before is not None and before.leaf and leaf and before.leaf.sha256 != leaf.sha256:
            events.append(
                Transition(
                    "chain_changed",
                    "warning",
                    f"{url}: the served certificate changed ({before.leaf.subject}, serial "
                    f"{before.leaf.serial} → {leaf.subject}, serial {leaf.serial})",
                    {"old": before.leaf.to_json(), "new": leaf.to_json()},
                )
            )
        previous_expiry = before.expiry if before is not None else None
        if expiry is not None and _EXPIRY_RANK[expiry] > _EXPIRY_RANK[previous_expiry]:
            assert leaf is not None
            days = warn_days if expiry == "warning" else critical_days
            events.append(
                Transition(
                    f"expiry_{expiry}",
                    "warning" if expiry == "warning" else "error",
                    f"{url}: the certificate expires on {leaf.not_after}, within {days} days",
                    {"leaf": leaf.to_json(), "threshold_days": days},
                )
            )
        if before is not None and before.status is not result.status:
            worse = _STATUS_RANK[result.status] > _STATUS_RANK[before.status]
            events.append(
                Transition(
                    "degraded" if worse else "recovered",
                    "warning" if worse else "info",
                    f"{url}: {before.status.value} → {result.status.value}",
                    {"from": before.status.value, "to": result.status.value},
                )
            )
        return events

    def keep_only(self, urls: Iterable[str]) -> None:
        """Forget targets that are no longer configured."""
        keep = set(urls)
        kept = {u: s for u, s in self.seen.items() if u in keep}
        self.dirty = self.dirty or len(kept) != len(self.seen)
        self.seen = kept

    def to_json(self) -> dict[str, Any]:
        """What was seen of every target, as JSON (the daemon keeps it across restarts)."""
        return {
            url: {
                "status": seen.status.value,
                "leaf": seen.leaf.to_json() if seen.leaf else None,
                "expiry": seen.expiry,
            }
            for url, seen in self.seen.items()
        }

    def load_json(self, data: Any) -> int:
        """Take what was seen from :meth:`to_json` output; entries that do not fit are skipped.

        Returns how many targets were taken.
        """
        if not isinstance(data, dict):
            return 0
        for url, entry in data.items():
            seen = _seen_from_json(entry)
            if isinstance(url, str) and seen is not None:
                self.seen[url] = seen
        return len(self.seen)


def _seen_from_json(entry: Any) -> Seen | None:
    try:
        status = Status(entry["status"])
        raw = entry.get("leaf")
        leaf = None if raw is None else Leaf(**{k: str(raw[k]) for k in _LEAF_KEYS})
        expiry = entry.get("expiry")
    except (TypeError, KeyError, ValueError, AttributeError):
        return None
    if expiry not in _EXPIRY_RANK:
        return None
    return Seen(status, leaf, expiry)
