"""Probe one URL with a name resolver that answers what the test says; the connections are real.

``python -m tests.support.resolving URL ADDRESS [ADDRESS ...] [-- PROBE OPTIONS]`` resolves
every host name to the ADDRESSes given, in that order, then probes URL through the public API
on Twisted's reactor (connections over loopback as usual) and prints the JSON result.  Only
the resolver is replaced: a test can make a name resolve to a dead address, then a live one.
Options after ``--``: ``-4``/``-6`` and ``--ca FILE``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IHostnameResolver, IResolutionReceiver
from zope.interface import implementer

import diagnostics


@implementer(IHostnameResolver)
class FixedResolver:
    """Resolves every name to the same addresses, in order, filtered by the types asked."""

    def __init__(self, addresses: Sequence[str]) -> None:
        self.addresses = list(addresses)
        self.asked: list[str] = []

    def resolveHostName(
        self,
        resolutionReceiver: IResolutionReceiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Sequence[type[Any]] | None = None,
        transportSemantics: str = "TCP",
    ) -> IResolutionReceiver:
        self.asked.append(hostName)
        resolutionReceiver.resolutionBegan(None)  # type: ignore[arg-type]
        for address in self.addresses:
            kind = IPv6Address if ":" in address else IPv4Address
            if addressTypes is None or kind in addressTypes:
                resolutionReceiver.addressResolved(kind("TCP", address, portNumber))
        resolutionReceiver.resolutionComplete()
        return resolutionReceiver


class ResolvingReactor:
    """Twisted's reactor with its name resolver replaced (everything else is the reactor's)."""

    def __init__(self, reactor: Any, resolver: FixedResolver) -> None:
        self._reactor = reactor
        self.nameResolver = resolver

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    options: list[str] = []
    if "--" in args:
        options = args[args.index("--") + 1 :]
        args = args[: args.index("--")]
    url, addresses = args[0], args[1:]
    family = 4 if "-4" in options else 6 if "-6" in options else None
    ca = tuple(options[i + 1] for i, o in enumerate(options) if o == "--ca")

    from twisted.internet import reactor

    probing = ResolvingReactor(reactor, FixedResolver(addresses))
    target = diagnostics.parse_target(url)
    probe_options = diagnostics.ProbeOptions(
        trust=diagnostics.TrustConfig(ca_files=ca), timeout=10.0, family=family
    )
    printed: list[str] = []

    def done(result: Any) -> None:
        printed.append(diagnostics.to_json(result))
        reactor.stop()  # type: ignore[attr-defined]

    # Started once the reactor runs: a probe that fails at once must still stop it.
    reactor.callWhenRunning(  # type: ignore[attr-defined]
        lambda: diagnostics.probe(probing, target, probe_options).addCallback(done)
    )
    reactor.run()  # type: ignore[attr-defined]
    print(printed[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
