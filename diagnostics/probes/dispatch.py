"""Probe targets: pick the engine for a scheme, diagnose, run many at once."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Any

import attrs
from cryptography import x509
from twisted.internet import defer

from diagnostics.explain.diagnose import DiagnosisContext, diagnose
from diagnostics.model import certificates
from diagnostics.model.options import ProbeOptions
from diagnostics.model.result import SCHEMES, Failure, Phase, ProbeResult, Scheme, Target
from diagnostics.model.revocation import CheckMode, KnownCRL, RevocationOutcome, distribution_points
from diagnostics.probes import followups, ftps, https, tls
from diagnostics.tls import issuers
from diagnostics.tls.crl_sources import DEFAULT_SOURCES, CRLSet, CRLSources
from diagnostics.tls.recording import OPENSSL_VERSION
from diagnostics.tls.revocation import check_chain
from diagnostics.tls.trust import DEFAULT_CACHE, TrustCache, TrustError, TrustMaterial

Engine = Callable[[Any, Target, ProbeOptions, TrustMaterial], defer.Deferred[ProbeResult]]

# One engine per scheme (tests check that every Scheme has one).
ENGINES: dict[Scheme, Engine] = {
    Scheme.TLS: tls.probe,
    Scheme.HTTPS: https.probe,
    Scheme.FTPS: ftps.probe_implicit,
    Scheme.FTPES: ftps.probe_explicit,
}


def probe(
    reactor: Any,
    target: Target,
    options: ProbeOptions,
    *,
    cache: TrustCache = DEFAULT_CACHE,
    crl_sources: CRLSources = DEFAULT_SOURCES,
    on_result: Callable[[ProbeResult], None] | None = None,
) -> defer.Deferred[ProbeResult]:
    """Probe one target and diagnose the result; the Deferred never errbacks.

    CRL files and URLs come from ``crl_sources`` (loaded or refreshed when due,
    one fetch per URL for every probe that shares it).
    """
    crl_files = options.trust.crl_files
    crls = crl_sources.get(reactor, crl_files) if crl_files else defer.succeed(CRLSet())
    d = crls.addCallback(_probe_with, reactor, target, options, cache, crl_sources)
    if on_result is not None:

        def report(result: ProbeResult) -> ProbeResult:
            on_result(result)
            return result

        d.addCallback(report)
    return d


def _probe_with(
    crls: CRLSet,
    reactor: Any,
    target: Target,
    options: ProbeOptions,
    cache: TrustCache,
    crl_sources: CRLSources,
) -> defer.Deferred[ProbeResult]:
    evidence = _Evidence(upfront=crls)
    try:
        material = cache.get(
            options.trust, crls.revocation_lists if options.trust.crl_files else None
        )
    except TrustError as exc:
        failed = ProbeResult(
            target=target,
            failure=Failure(phase=Phase.CONNECT, kind="configuration", message=str(exc)),
        )
        return defer.succeed(_diagnosed(failed, options, evidence))
    evidence = attrs.evolve(evidence, trusted=material.trusted)
    engine = ENGINES.get(Scheme(target.scheme)) if target.scheme in SCHEMES else None
    if engine is None:
        unsupported = ProbeResult(
            target=target,
            failure=Failure(
                phase=Phase.CONNECT,
                kind="configuration",
                message=f"no probe engine for {target.scheme}://",
            ),
        )
        return defer.succeed(_diagnosed(unsupported, options, evidence))
    d = engine(reactor, target, options, material)
    d.addCallback(_with_attempts, reactor, options, material)
    return d.addCallback(_with_evidence, reactor, options, evidence, crl_sources)


def _with_attempts(
    result: ProbeResult, reactor: Any, options: ProbeOptions, material: TrustMaterial
) -> defer.Deferred[ProbeResult]:
    """Add the follow-ups of a refused handshake, the version matrix and the handshake
    without SNI when asked for."""

    async def attempts() -> ProbeResult:
        found = result
        if options.followups and followups.needs_follow_up(result):
            found = attrs.evolve(
                found, followups=await followups.follow_up(reactor, result, options, material)
            )
        # Before the matrix: the comparison shares the probe's own timeout.
        if options.sni_compare:
            found = attrs.evolve(
                found, sni_compare=await followups.compare_sni(reactor, result, options, material)
            )
        if options.versions:
            found = attrs.evolve(
                found, versions=await followups.version_matrix(reactor, result, options, material)
            )
        return found

    return defer.Deferred.fromCoroutine(attempts())


@attrs.frozen
class _Evidence:
    """What the diagnosis of one probe may use besides the captured result."""

    upfront: CRLSet = attrs.field(factory=CRLSet)
    trusted: tuple[x509.Certificate, ...] = ()
    identification: tuple[x509.Certificate, ...] = ()
    cdp_crls: tuple[KnownCRL, ...] = ()
    revocation: tuple[RevocationOutcome, ...] = ()


def _with_evidence(
    result: ProbeResult,
    reactor: Any,
    options: ProbeOptions,
    evidence: _Evidence,
    crl_sources: CRLSources,
) -> defer.Deferred[ProbeResult]:
    """Diagnose, first gathering what can name a missing issuer and check revocation."""

    async def gather() -> ProbeResult:
        found = evidence
        if issuers.issuer_unknown(result):
            found = attrs.evolve(
                found, identification=await _issuer_evidence(reactor, result, options)
            )
        if options.crl_from_cdp:
            found = await _cdp_evidence(reactor, result, options, found, crl_sources)
        return _diagnosed(result, options, found)

    return defer.Deferred.fromCoroutine(gather())


async def _issuer_evidence(
    reactor: Any, result: ProbeResult, options: ProbeOptions
) -> tuple[x509.Certificate, ...]:
    """The platform's store, and the issuer at the leaf's AIA URL when allowed."""
    known = issuers.platform_certificates()
    urls = certificates.ca_issuers_urls(result.leaf) if result.leaf is not None else ()
    if not (options.fetch_issuer and urls):
        return known
    cert = await issuers.fetch_issuer(reactor, urls, timeout=min(5.0, options.timeout))
    return (*known, *([cert] if cert else []))


async def _cdp_evidence(
    reactor: Any,
    result: ProbeResult,
    options: ProbeOptions,
    evidence: _Evidence,
    crl_sources: CRLSources,
) -> _Evidence:
    """CRLs fetched from the served chain's distribution points, and the chain checked."""
    chain = result.verified_chain or result.served_chain
    if not chain:
        return evidence
    mode = CheckMode(options.trust.crl_check)
    scope = chain[:1] if mode is CheckMode.LEAF else chain
    urls = [url for cert in scope for url in distribution_points(cert)]
    fetched = await crl_sources.get(reactor, urls)
    outcomes = check_chain(
        chain,
        fetched.crls,
        now=datetime.datetime.now(datetime.UTC),
        mode=mode,
        trusted=evidence.trusted,
        errors=fetched.errors,
        from_cdp=True,
    )
    return attrs.evolve(evidence, cdp_crls=fetched.crls, revocation=outcomes)


def _diagnosed(result: ProbeResult, options: ProbeOptions, evidence: _Evidence) -> ProbeResult:
    context = DiagnosisContext(
        trusted=evidence.trusted,
        identification=evidence.identification,
        warn_days=options.warn_days,
        critical_days=options.critical_days,
        crls=(*evidence.upfront.crls, *evidence.cdp_crls),
        crl_errors=evidence.upfront.errors,
        revocation=evidence.revocation,
        caller=options.caller,
        client_library=OPENSSL_VERSION,
    )
    return diagnose(result, context)


def probe_many(
    reactor: Any,
    targets: Sequence[Target],
    options: ProbeOptions,
    *,
    concurrency: int = 50,
    cache: TrustCache = DEFAULT_CACHE,
    crl_sources: CRLSources = DEFAULT_SOURCES,
    on_result: Callable[[int, ProbeResult], None] | None = None,
) -> defer.Deferred[list[ProbeResult]]:
    """Probe several targets, at most ``concurrency`` at once; results in input order."""
    semaphore = defer.DeferredSemaphore(max(1, concurrency))

    def one(index: int, target: Target) -> defer.Deferred[ProbeResult]:
        def report(result: ProbeResult) -> ProbeResult:
            if on_result is not None:
                on_result(index, result)
            return result

        running = semaphore.run(
            probe, reactor, target, options, cache=cache, crl_sources=crl_sources
        )
        return running.addCallback(report)

    calls = [one(i, t) for i, t in enumerate(targets)]
    gathered = defer.gatherResults(calls, consumeErrors=True)
    return gathered.addCallback(list)
