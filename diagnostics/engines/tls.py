"""``tls://host:port``: TCP, the TLS handshake, a bounded wait for post-handshake news."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

from diagnostics.engines.run import ProbeRun, run_probe
from diagnostics.model import ProbeResult, Target
from diagnostics.options import ProbeOptions
from diagnostics.trust import TrustMaterial


async def _body(run: ProbeRun) -> None:
    stream = await run.connect_tls()
    await run.settle(stream)


def probe(
    reactor: Any, target: Target, options: ProbeOptions, material: TrustMaterial
) -> Deferred[ProbeResult]:
    """Probe a plain TLS endpoint."""
    return run_probe(reactor, target, options, material, _body)
