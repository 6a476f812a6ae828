"""Probe engines: one module per kind of endpoint, one contract.

``probe(reactor, target, options, material) -> Deferred[ProbeResult]``, never
errbacking; see :mod:`diagnostics.probes.run`.
"""
