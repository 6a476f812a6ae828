"""Probe targets: pick the engine for a scheme, diagnose, run many at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cryptography import x509
from twisted.internet import defer

from diagnostics import certs, issuers
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
    d.addCallback(_with_evidence, reactor, options, material.trusted)
    if on_result is not None:

        def report(result: ProbeResult) -> ProbeResult:
            on_result(result)
            return result

        d.addCallback(report)
    return d


def _with_evidence(
    result: ProbeResult, reactor: Any, options: ProbeOptions, trusted: Sequence[x509.Certificate]
) -> defer.Deferred[ProbeResult]:
    """Diagnose, first gathering what can name a missing issuer (when one is missing)."""
    if not issuers.issuer_unknown(result):
        return defer.succeed(_diagnosed(result, options, trusted))
    known = list(issuers.platform_certificates())
    urls = certs.ca_issuers_urls(result.leaf) if result.leaf is not None else ()
    if not (options.fetch_issuer and urls):
        return defer.succeed(_diagnosed(result, options, trusted, known))

    def found(cert: x509.Certificate | None) -> ProbeResult:
        return _diagnosed(result, options, trusted, [*known, *([cert] if cert else [])])

    fetched = issuers.fetch_issuer(reactor, urls, timeout=min(5.0, options.timeout))
    return fetched.addCallback(found)


def _diagnosed(
    result: ProbeResult,
    options: ProbeOptions,
    trusted: Sequence[x509.Certificate],
    identification: Sequence[x509.Certificate] = (),
) -> ProbeResult:
    context = DiagnosisContext(
        trusted=tuple(trusted),
        identification=tuple(identification),
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
