"""Probe targets: pick the engine for a scheme, diagnose, run many at once.

A probe imports only what it runs: the engine of its scheme, the follow-ups after a
refused handshake, the CRL and issuer fetching when those are asked for.
"""

from __future__ import annotations

import datetime
import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from cryptography import x509
from twisted.internet import defer

from diagnostics.explain.diagnose import DiagnosisContext, diagnose
from diagnostics.model import certificates
from diagnostics.model.options import ProbeOptions
from diagnostics.model.result import SCHEMES, Failure, Phase, ProbeResult, Scheme, Target
from diagnostics.model.revocation import CheckMode, KnownCRL, RevocationOutcome, distribution_points
from diagnostics.tls import issuers
from diagnostics.tls.recording import OPENSSL_VERSION
from diagnostics.tls.trust import DEFAULT_CACHE, TrustCache, TrustError, TrustMaterial

if TYPE_CHECKING:
    from diagnostics.tls.crl_sources import CRLSet, CRLSources

Engine = Callable[[Any, Target, ProbeOptions, TrustMaterial], defer.Deferred[ProbeResult]]

# One engine per scheme (tests check that every Scheme has one), as ``module:function``
# of diagnostics.probes: a module is imported when its scheme is first probed.
ENGINES: dict[Scheme, str] = {
    Scheme.TLS: "tls:probe",
    Scheme.HTTPS: "https:probe",
    Scheme.FTPS: "ftps:probe_implicit",
    Scheme.FTPES: "ftps:probe_explicit",
}


def engine_for(scheme: Scheme) -> Engine:
    """The probe engine of ``scheme``."""
    module, _, name = ENGINES[scheme].partition(":")
    engine: Engine = getattr(importlib.import_module(f"diagnostics.probes.{module}"), name)
    return engine


def default_crl_sources() -> CRLSources:
    """The process's CRL sources (imported with the HTTP client when a CRL is first asked for)."""
    from diagnostics.tls.crl_sources import DEFAULT_SOURCES

    return DEFAULT_SOURCES


def probe(
    reactor: Any,
    target: Target,
    options: ProbeOptions,
    *,
    cache: TrustCache = DEFAULT_CACHE,
    crl_sources: CRLSources | None = None,
    on_result: Callable[[ProbeResult], None] | None = None,
) -> defer.Deferred[ProbeResult]:
    """Probe one target and diagnose the result; the Deferred never errbacks.

    CRL files and URLs come from ``crl_sources`` (default: :func:`default_crl_sources`;
    loaded or refreshed when due, one fetch per URL for every probe that shares it).
    """
    crl_files = options.trust.crl_files
    if crl_files or options.crl_from_cdp:
        crl_sources = crl_sources or default_crl_sources()
    if crl_files:
        assert crl_sources is not None
        crls = crl_sources.get(reactor, crl_files)
        d = crls.addCallback(_probe_with, reactor, target, options, cache, crl_sources)
    else:
        d = defer.succeed(None).addCallback(
            _probe_with, reactor, target, options, cache, crl_sources
        )
    if on_result is not None:

        def report(result: ProbeResult) -> ProbeResult:
            on_result(result)
            return result

        d.addCallback(report)
    return d


def _probe_with(
    crls: CRLSet | None,
    reactor: Any,
    target: Target,
    options: ProbeOptions,
    cache: TrustCache,
    crl_sources: CRLSources | None,
) -> defer.Deferred[ProbeResult]:
    evidence = _Evidence(upfront=crls)
    try:
        material = cache.get(options.trust, crls.revocation_lists if crls is not None else None)
    except TrustError as exc:
        failed = ProbeResult(
            target=target,
            failure=Failure(phase=Phase.CONNECT, kind="configuration", message=str(exc)),
        )
        return defer.succeed(_diagnosed(failed, options, evidence))
    evidence = attrs.evolve(evidence, trusted=material.trusted)
    engine = engine_for(Scheme(target.scheme)) if target.scheme in SCHEMES else None
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
    wanted = options.versions or options.sni_compare
    if not (wanted or (options.followups and result.failure is not None)):
        return defer.succeed(result)  # follow-ups only ever follow a failed probe
    from diagnostics.probes import followups

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

    upfront: CRLSet | None = None  # None: no CRL given
    trusted: tuple[x509.Certificate, ...] = ()
    identification: tuple[x509.Certificate, ...] = ()
    cdp_crls: tuple[KnownCRL, ...] = ()
    revocation: tuple[RevocationOutcome, ...] = ()


def _with_evidence(
    result: ProbeResult,
    reactor: Any,
    options: ProbeOptions,
    evidence: _Evidence,
    crl_sources: CRLSources | None,
) -> defer.Deferred[ProbeResult]:
    """Diagnose, first gathering what can name a missing issuer and check revocation."""
    if not (options.crl_from_cdp or issuers.issuer_unknown(result)):
        return defer.succeed(_diagnosed(result, options, evidence))  # nothing to gather

    async def gather() -> ProbeResult:
        found = evidence
        if issuers.issuer_unknown(result):
            found = attrs.evolve(
                found, identification=await _issuer_evidence(reactor, result, options)
            )
        if options.crl_from_cdp:
            assert crl_sources is not None
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
    from diagnostics.tls.revocation import check_chain

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
    upfront = evidence.upfront
    context = DiagnosisContext(
        trusted=evidence.trusted,
        identification=evidence.identification,
        warn_days=options.warn_days,
        critical_days=options.critical_days,
        crls=(*(upfront.crls if upfront else ()), *evidence.cdp_crls),
        crl_errors=upfront.errors if upfront else {},
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
    crl_sources: CRLSources | None = None,
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
