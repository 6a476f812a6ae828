"""The lab as the tests meet it: free base ports, and what a probe of an endpoint showed."""

from __future__ import annotations

import random
import socket
from typing import Any

from diagnostics.lab.manifest import ManifestEntry

SPAN = 40  # ports the lab may use from its base port


def free_base_port() -> int:
    """A base port whose next SPAN ports are all free on 127.0.0.1 right now.

    Chosen below every common ephemeral range (Linux starts at 32768, others at 49152) so
    that outgoing connections do not take the lab's ports, and checked with SO_REUSEADDR as
    Twisted listens (ports left in TIME_WAIT by earlier tests are usable).
    """
    chooser = random.Random()
    for _ in range(100):
        base = chooser.randrange(20000, 32000 - SPAN)
        taken: list[socket.socket] = []
        try:
            for port in range(base, base + SPAN):
                sock = socket.socket()
                taken.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in taken:
                sock.close()
    raise RuntimeError("no run of free ports found")


def seen(result: dict[str, Any], expect: str) -> str:
    """``expect`` when the JSON result meets it, otherwise what the result shows instead.

    ``"ok"`` is met by the status ok; a finding id by findings[0] (an info-only finding,
    such as a server requiring session reuse, leaves the status ok).
    """
    findings: list[dict[str, Any]] = result["findings"]
    first = str(findings[0]["id"]) if findings else None
    if expect == ("ok" if result["status"] == "ok" else None) or expect == first:
        return expect
    return f"{result['status']}: {first}"


def entry_arguments(entry: dict[str, Any]) -> list[str]:
    """The ``tlsdiag probe`` arguments of a manifest entry (its URL and options)."""
    skip = ("name", "url", "ca_file", "expect", "fault", "command")
    options = {k: v for k, v in entry.items() if k not in skip}
    manifest = ManifestEntry(
        entry["name"], entry["url"], entry["ca_file"], entry["expect"], entry["fault"], options
    )
    return list(manifest.arguments)
