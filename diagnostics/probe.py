"""Probe targets: pick the engine for a scheme, diagnose, run many at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet import defer

from diagnostics.diagnose import DiagnosisContext, diagnose
from diagnostics.engines import ftps, https, tls
from diagnostics.model import Failure, Phase, ProbeResult, Target
from diagnostics.options import ProbeOptions
from diagnostics.trust import DEFAULT_CACHE, TrustCache, TrustError, TrustMaterial

Engine = Callable[[Any, Target, ProbeOptions, TrustMaterial], defer.Deferred[ProbeResult]]

ENGINES: dict[str, Engine] = {
    "tls": tls.probe,
    "https": https.probe,
    "ftps": ftps.probe_implicit,
    "ftpes": ftps.probe_explicit,
}


def register_engine(scheme: str, engine: Engine) -> None:
    """Make ``engine`` the one used for ``scheme``."""
    ENGINES[scheme] = engine


def probe(
    reactor: Any,
    target: Target,
    options: ProbeOptions,
    *,
    cache: TrustCache = DEFAULT_CACHE,
    on_result: Callable[[ProbeResult], None] | None = None,
) -> defer.Deferred[ProbeResult]:
    """Probe one target and diagnose the result; the Deferred never errbacks."""
    try:
        material = cache.get(options.trust)
    except TrustError as exc:
        failed = ProbeResult(
            target=target,
            failure=Failure(phase=Phase.CONNECT, kind="configuration", message=str(exc)),
        )
        return defer.succeed(_diagnosed(failed, options, ()))
    engine = ENGINES.get(target.scheme)
    if engine is None:
        unsupported = ProbeResult(
            target=target,
            failure=Failure(
                phase=Phase.CONNECT,
                kind="configuration",
                message=f"no probe engine for {target.scheme}://",
            ),
        )
        return defer.succeed(_diagnosed(unsupported, options, material.trusted))
    d = engine(reactor, target, options, material)
    d.addCallback(_diagnosed, options, material.trusted)
    if on_result is not None:

        def report(result: ProbeResult) -> ProbeResult:
            on_result(result)
            return result

        d.addCallback(report)
    return d


def _diagnosed(result: ProbeResult, options: ProbeOptions, trusted: Sequence[Any]) -> ProbeResult:
    context = DiagnosisContext(
        trusted=tuple(trusted),
        warn_days=options.warn_days,
        critical_days=options.critical_days,
    )
    return diagnose(result, context)


def probe_many(
    reactor: Any,
    targets: Sequence[Target],
    options: ProbeOptions,
    *,
    concurrency: int = 50,
    cache: TrustCache = DEFAULT_CACHE,
    on_result: Callable[[int, ProbeResult], None] | None = None,
) -> defer.Deferred[list[ProbeResult]]:
    """Probe several targets, at most ``concurrency`` at once; results in input order."""
    semaphore = defer.DeferredSemaphore(max(1, concurrency))

    def one(index: int, target: Target) -> defer.Deferred[ProbeResult]:
        def report(result: ProbeResult) -> ProbeResult:
            if on_result is not None:
                on_result(index, result)
            return result

        return semaphore.run(probe, reactor, target, options, cache=cache).addCallback(report)

    calls = [one(i, t) for i, t in enumerate(targets)]
    gathered = defer.gatherResults(calls, consumeErrors=True)
    return gathered.addCallback(list)
