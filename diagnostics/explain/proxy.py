# -*- test-case-name: tests.explain.test_proxy -*-
"""The HTTP proxy's answer as a finding: who must act when ``CONNECT`` did not open a tunnel.

Pure data.  The proxy is neither the client nor the server: a finding is on the
client's side when our proxy settings must change (the proxy address, the user,
the password), on the server's side when the proxy reached out and the target
(or the way from the proxy to it) did not answer, and ``either`` when the
proxy's operator must act (its policy, a proxy that hangs).
"""

from __future__ import annotations

from diagnostics.model.caller import PROBE, Caller
from diagnostics.model.result import Failure, Finding, ProxyFacts, Severity, Side

__all__ = ["PROXY_KINDS", "proxy_finding"]

PROXY_KINDS = frozenset(
    {
        "proxy_auth_required",
        "proxy_refused",
        "proxy_upstream_failed",
        "proxy_unreachable",
        "proxy_timeout",
        "proxy_bad_answer",
    }
)
"""Failure kinds of a tunnel the proxy did not open (``proxy_auth_rejected`` is a 407 to
credentials that were sent: the same kind, read with the facts)."""

_UPSTREAM = {
    502: "the proxy's own connection to the target failed (refused, reset, or the name "
    "does not resolve where the proxy is)",
    503: "the proxy has no way to the target right now (a service or route unavailable "
    "on the proxy's side)",
    504: "the proxy's connection to the target timed out",
}


def _scheme(challenge: str | None) -> str | None:
    """The authentication scheme of a ``Proxy-Authenticate`` challenge (``Basic``…)."""
    if not challenge:
        return None
    return challenge.split(None, 1)[0].rstrip(",") or None


def proxy_finding(
    failure: Failure, facts: ProxyFacts | None, where: str, caller: Caller = PROBE
) -> Finding:
    """The finding for a probe whose tunnel through the proxy could not be opened."""
    url = facts.url if facts is not None else "the proxy"
    answer = f"{facts.status} {facts.reason or ''}".rstrip() if facts and facts.status else None
    detail = f"{failure.message}." if not failure.message.endswith(".") else failure.message
    if failure.kind == "proxy_auth_required":
        return _auth(facts, url, where, caller, detail)
    if failure.kind == "proxy_upstream_failed":
        status = facts.status if facts is not None and facts.status is not None else 502
        return Finding(
            "proxy_upstream_failed",
            Severity.ERROR,
            Side.SERVER,
            f"The proxy {url} could not reach {where} (it answered CONNECT with {answer}).",
            f"{detail} The proxy itself works and accepted the request: "
            f"{_UPSTREAM.get(status, _UPSTREAM[502])}.",
            f"Check that the service at {where} runs and that the proxy's network may reach "
            "it (a firewall between the proxy and the server, DNS on the proxy's side); the "
            "proxy's log names the cause. Nothing in this client's settings can fix it.",
        )
    if failure.kind == "proxy_refused":
        policy = (
            "The proxy's policy does not allow a tunnel to this host or port (many proxies "
            "allow CONNECT to port 443 only, or to listed destinations)."
            if facts is not None and facts.status == 403
            else "The proxy does not open this tunnel."
        )
        return Finding(
            "proxy_refused",
            Severity.ERROR,
            Side.EITHER,
            f"The proxy {url} refused to open a tunnel to {where} ({answer}).",
            f"{detail} {policy}",
            f"Ask the proxy's operator to allow CONNECT to {where}, or probe it without this "
            "proxy (where the network allows a direct connection).",
        )
    if failure.kind == "proxy_timeout":
        return Finding(
            "proxy_timeout",
            Severity.ERROR,
            Side.EITHER,
            f"The proxy {url} accepted the connection but did not answer CONNECT to {where} "
            "in time.",
            f"{detail} An overloaded or hanging proxy, or a service on that port that is no "
            "HTTP proxy and waits for something else, behaves this way.",
            "Check that the address and port are the HTTP proxy's; if they are, its operator "
            "must look at why it does not answer (a longer timeout shows whether it is slow).",
        )
    if failure.kind == "proxy_bad_answer":
        return Finding(
            "proxy_bad_answer",
            Severity.ERROR,
            Side.CLIENT,
            f"{url} did not answer CONNECT for {where} as an HTTP proxy does.",
            f"{detail} The address is probably not an HTTP proxy: a SOCKS proxy, a TLS "
            "port or another service.",
            f"Check the proxy's address and port ({caller.proxy}); only HTTP proxies "
            "(CONNECT) are supported.",
        )
    return Finding(
        "proxy_unreachable",
        Severity.ERROR,
        Side.CLIENT,
        f"The proxy {url} cannot be reached, so {where} was not probed.",
        f"{detail} The probe's connections go through this proxy; none was opened.",
        f"Check the proxy's address and port ({caller.proxy}, or HTTPS_PROXY with "
        "--proxy-from-env) and that the proxy runs.",
    )


def _auth(facts: ProxyFacts | None, url: str, where: str, caller: Caller, detail: str) -> Finding:
    """A 407: credentials missing, or refused."""
    challenge = facts.authenticate if facts is not None else None
    scheme = _scheme(challenge)
    asks = f"it asks for {scheme} authentication" if scheme else "it names no scheme"
    basic = scheme is None or scheme.lower() == "basic"
    other = (
        ""
        if basic
        else f" tlsdiag authenticates with Basic only; a proxy that accepts only {scheme} "
        "needs a proxy account that may use Basic, or a local relay that speaks "
        f"{scheme} to it."
    )
    if facts is not None and facts.credentials_sent:
        return Finding(
            "proxy_auth_rejected",
            Severity.ERROR,
            Side.CLIENT,
            f"The proxy {url} refused the credentials sent for the tunnel to {where} "
            f"(407; {asks}).",
            f"{detail} The user name or the password is wrong, the account is locked, or "
            f"the proxy does not take Basic credentials.{other}",
            f"Check the proxy user ({caller.proxy}) and the password in the environment "
            f"variable ({caller.proxy_password}).",
        )
    return Finding(
        "proxy_auth_required",
        Severity.ERROR,
        Side.CLIENT,
        f"The proxy {url} requires authentication for the tunnel to {where} (407; {asks}); "
        "no credentials were sent.",
        f"{detail}{other}",
        f"Give the proxy user in the proxy URL ({caller.proxy}) and the password in an "
        f"environment variable ({caller.proxy_password}).",
    )
