"""``tls://host:port``: TCP, the TLS handshake, a bounded wait for post-handshake news."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

from diagnostics.model.options import ProbeOptions
from diagnostics.model.result import ProbeResult, Target
from diagnostics.probes.run import ProbeRun, run_probe
from diagnostics.tls.trust import TrustMaterial


async def _body(run: ProbeRun) -> None:
    stream = await run.connect_tls()
    await run.settle(stream)


def probe(
    reactor: Any, target: Target, options: ProbeOptions, material: TrustMaterial
) -> Deferred[ProbeResult]:
    """Probe a plain TLS endpoint."""
    return run_probe(reactor, target, options, material, _body)
