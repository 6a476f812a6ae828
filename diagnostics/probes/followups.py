"""Extra handshakes that find out what a server accepts: follow-ups and the version matrix.

When the probe's handshake is refused for its version or ciphers, a few bounded
attempts (at most :data:`MAX_FOLLOWUPS`, one at a time, all within the probe's
own timeout) try each TLS version alone and then, where the versions overlap,
the cipher families and key exchanges.  ``--versions`` tries each version alone
after any probe; ``--sni-compare`` makes one handshake without SNI.  Only schemes
that speak TLS from the first byte are followed up.
"""

from __future__ import annotations

from typing import Any

import attrs

from diagnostics.model.options import ProbeOptions
from diagnostics.model.result import Attempt, Phase, ProbeResult, Scheme, SNIComparison
from diagnostics.probes.run import ProbeRun, run_probe
from diagnostics.tls import offers
from diagnostics.tls.offers import DEFAULT_LEVEL, Offer
from diagnostics.tls.trust import TrustMaterial

__all__ = [
    "FIRST_BYTE_SCHEMES",
    "MAX_FOLLOWUPS",
    "REFUSALS",
    "compare_sni",
    "follow_up",
    "needs_follow_up",
    "version_matrix",
]

MAX_FOLLOWUPS = 6
"""Extra connections a refused handshake may cost the server, at most."""

MIN_ATTEMPT_S = 0.2
"""An attempt is not started with less time than this left before the probe's deadline."""

REFUSALS = (
    "protocol version",
    "handshake failure",
    "insufficient security",
    "no shared cipher",
    "unsupported protocol",
    "no protocols available",
    "no ciphers available",
    "no suitable",
    "dh key too small",
    "version too low",
)
"""Parts of OpenSSL reason texts that mean the two sides found no version or cipher in common."""

FIRST_BYTE_SCHEMES = frozenset(s.value for s in Scheme if s.tls_first)
"""The schemes whose first bytes are TLS: the only ones extra handshakes are made for."""

_MODERN = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20"
_CBC = "HIGH:!aNULL:!eNULL:!AESGCM:!CHACHA20:!AESCCM"


def needs_follow_up(result: ProbeResult) -> bool:
    """True when ``result`` is a handshake refused for its version or ciphers."""
    failure = result.failure
    if failure is None or failure.kind != "tls_error" or failure.phase is not Phase.HANDSHAKE:
        return False
    if result.target.scheme not in FIRST_BYTE_SCHEMES:
        return False
    # A TLS 1.2 server refusing a missing client certificate says handshake_failure too.
    if result.client_auth is not None and result.client_auth.requested:
        return False
    reason = (failure.reason or failure.message).lower()
    return any(part in reason for part in REFUSALS)


class _Budget:
    """The attempts left and the probe's deadline."""

    def __init__(self, reactor: Any, deadline: float, count: int) -> None:
        self.reactor = reactor
        self.deadline = deadline
        self.count = count

    def left(self) -> float:
        return self.deadline - float(self.reactor.seconds())

    def allows(self) -> bool:
        return self.count > 0 and self.left() >= MIN_ATTEMPT_S


async def _handshake(
    reactor: Any,
    result: ProbeResult,
    options: ProbeOptions,
    material: TrustMaterial,
    budget: _Budget,
    *,
    send_sni: bool = True,
) -> ProbeResult:
    """One TLS handshake to the probe's target within the budget's time, nothing after it."""
    limited = attrs.evolve(
        options,
        timeout=max(MIN_ATTEMPT_S, budget.left()),
        versions=False,
        followups=False,
        sni_compare=False,
        send_sni=send_sni,
    )

    async def body(run: ProbeRun) -> None:
        await run.connect_tls()

    return await run_probe(reactor, result.target, limited, material, body)


async def _attempt(
    reactor: Any,
    result: ProbeResult,
    options: ProbeOptions,
    material: TrustMaterial,
    offer: Offer,
    budget: _Budget,
) -> Attempt | None:
    """Make one attempt (None when the budget is spent)."""
    context = offers.client_context(offer)
    if context is None:
        return Attempt(offer.purpose, offer.label, offer.level, "unsupported")
    if not budget.allows():
        return None
    budget.count -= 1
    own = attrs.evolve(material, context=context)
    seen = await _handshake(reactor, result, options, own, budget)
    if seen.failure is None and seen.tls is not None:
        return Attempt(
            offer.purpose, offer.label, offer.level, "accepted", seen.tls.version, seen.tls.cipher
        )
    reason = seen.failure.reason or seen.failure.message if seen.failure else None
    return Attempt(offer.purpose, offer.label, offer.level, "refused", reason=reason)


def _version_offers() -> list[Offer]:
    return [Offer("version", name, name, name) for name in offers.VERSIONS]


async def _versions(
    reactor: Any,
    result: ProbeResult,
    options: ProbeOptions,
    material: TrustMaterial,
    budget: _Budget,
) -> list[Attempt]:
    made: list[Attempt] = []
    for offer in _version_offers():
        attempt = await _attempt(reactor, result, options, material, offer, budget)
        if attempt is None:
            break
        made.append(attempt)
    return made


def _cipher_offers(accepted: Attempt) -> list[Offer]:
    """What to try next, once a version the client also speaks was accepted at level 0."""
    if accepted.version == "TLSv1.3":
        return [Offer("cipher", "TLS 1.3 ciphers", "TLSv1.3", "TLSv1.3", level=DEFAULT_LEVEL)]
    tls12 = ("TLSv1.2", "TLSv1.2")
    cipher = accepted.cipher or ""
    modern = Offer("cipher", "modern AEAD", *tls12, ciphers=_MODERN, level=DEFAULT_LEVEL)
    if offers.family_of(cipher) == "weak":
        return [modern, Offer("cipher", "CBC", *tls12, ciphers=_CBC, level=DEFAULT_LEVEL)]
    exchange = offers.key_exchange_of(cipher)
    if exchange == "DHE":
        return [
            Offer("key_exchange", "DHE", *tls12, ciphers="kDHE", level=DEFAULT_LEVEL),
            Offer("key_exchange", "DHE", *tls12, ciphers="kDHE", level=1),
        ]
    return [
        modern,
        Offer("key_exchange", exchange, *tls12, ciphers=cipher, level=DEFAULT_LEVEL),
    ]


async def follow_up(
    reactor: Any, result: ProbeResult, options: ProbeOptions, material: TrustMaterial
) -> tuple[Attempt, ...]:
    """The follow-up attempts for a refused handshake, within the probe's remaining time."""
    started = result.started_at or float(reactor.seconds())
    budget = _Budget(reactor, started + options.timeout, MAX_FOLLOWUPS)
    made = await _versions(reactor, result, options, material, budget)
    current = [a for a in made if a.accepted and a.version in ("TLSv1.3", "TLSv1.2")]
    if current:
        for offer in _cipher_offers(current[0]):
            attempt = await _attempt(reactor, result, options, material, offer, budget)
            if attempt is None:
                break
            made.append(attempt)
            if attempt.accepted:
                break
    return tuple(made)


async def version_matrix(
    reactor: Any, result: ProbeResult, options: ProbeOptions, material: TrustMaterial
) -> tuple[Attempt, ...]:
    """Each TLS version alone, newest first (``--versions``); each attempt gets the timeout."""
    made: list[Attempt] = []
    for offer in _version_offers():
        budget = _Budget(reactor, float(reactor.seconds()) + options.timeout, 1)
        attempt = await _attempt(reactor, result, options, material, offer, budget)
        if attempt is not None:
            made.append(attempt)
    return tuple(made)


async def compare_sni(
    reactor: Any, result: ProbeResult, options: ProbeOptions, material: TrustMaterial
) -> SNIComparison:
    """One handshake without SNI, within the probe's remaining time (``--sni-compare``)."""
    sent = result.tls.servername_sent if result.tls is not None else None
    if result.target.scheme not in FIRST_BYTE_SCHEMES:
        return SNIComparison(sent, "skipped", reason=f"not made for {result.target.scheme}://")
    if result.leaf is None:
        return SNIComparison(sent, "skipped", reason="the probe with SNI got no certificate")
    if sent is None:
        return SNIComparison(
            sent, "skipped", reason="the probe sent no SNI (an IP address without --servername)"
        )
    started = result.started_at or float(reactor.seconds())
    budget = _Budget(reactor, started + options.timeout, 1)
    if not budget.allows():
        return SNIComparison(sent, "skipped", reason="no time left within the probe's timeout")
    seen = await _handshake(reactor, result, options, material, budget, send_sni=False)
    leaf = seen.leaf
    if seen.failure is not None or seen.tls is None or leaf is None:
        failure = seen.failure
        reason = (failure.reason or failure.message) if failure else "no certificate served"
        # Only a handshake the server ended is its answer to a client without SNI.
        refused = failure is None or failure.phase is Phase.HANDSHAKE
        return SNIComparison(sent, "refused" if refused else "failed", leaf=leaf, reason=reason)
    return SNIComparison(
        sent,
        "accepted",
        leaf=leaf,
        hostname_matched=seen.hostname.matched if seen.hostname is not None else None,
        chain_verified=not seen.verify_errors and bool(seen.verified_chain),
    )
