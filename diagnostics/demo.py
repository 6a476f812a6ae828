"""``tlsdiag demo``: serve a few faulty TLS endpoints on loopback and diagnose each.

Everything is made at start-up (a throw-away CA hierarchy, in memory) and
nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import datetime
import os
import tempfile
from collections.abc import Sequence
from typing import Any, TextIO

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from twisted.internet import defer
from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.tls import TLSMemoryBIOFactory

from diagnostics.issuing import Issued, PrivateKey, issue, make_ca
from diagnostics.model import ProbeResult
from diagnostics.options import ProbeOptions, TrustConfig
from diagnostics.serving import ServerCreator, server_context
from diagnostics.target import parse_target


@attrs.frozen
class Endpoint:
    """One faulty server of the demo."""

    name: str
    fault: str
    chain: tuple[x509.Certificate, ...]
    key: PrivateKey = attrs.field(repr=False)
    servername: str = "localhost"


def endpoints() -> tuple[Issued, list[Endpoint]]:
    """The demo's CA root and its endpoints."""
    now = datetime.datetime.now(datetime.UTC)
    root = make_ca("tlsdiag demo root CA", not_after=now + datetime.timedelta(days=30))
    inter = make_ca("tlsdiag demo intermediate CA", parent=root)
    names = ("localhost", "127.0.0.1")
    good = issue(inter, "localhost", sans=names)
    expired = issue(
        inter,
        "localhost",
        sans=names,
        not_before=now - datetime.timedelta(days=400),
        not_after=now - datetime.timedelta(days=3),
    )
    wrong = issue(inter, "www.example.test", sans=("www.example.test",))
    own = issue(None, "localhost", sans=names)
    return root, [
        Endpoint("healthy", "nothing wrong", (good.cert, inter.cert), good.key),
        Endpoint("missing-intermediate", "serves its leaf only", (good.cert,), good.key),
        Endpoint("expired", "leaf expired 3 days ago", (expired.cert, inter.cert), expired.key),
        Endpoint("wrong-host", "certificate for another name", (wrong.cert, inter.cert), wrong.key),
        Endpoint("self-signed", "self-signed leaf", (own.cert,), own.key),
    ]


class _Quiet(Protocol):
    """Accept TLS and say nothing."""


def _listen(reactor: Any, endpoint: Endpoint) -> Any:
    creator = ServerCreator(server_context(endpoint.chain, endpoint.key))
    factory = TLSMemoryBIOFactory(creator, False, Factory.forProtocol(_Quiet))
    return reactor.listenTCP(0, factory, interface="127.0.0.1")


async def _demo(reactor: Any, out: TextIO, ca_file: str, eps: Sequence[Endpoint]) -> int:
    from diagnostics.cli import render, worst_exit
    from diagnostics.probe import probe

    ports = [_listen(reactor, ep) for ep in eps]
    options = ProbeOptions(trust=TrustConfig(ca_files=(ca_file,)), timeout=5.0)
    results: list[ProbeResult] = []
    try:
        for ep, port in zip(eps, ports, strict=True):
            url = f"tls://127.0.0.1:{port.getHost().port}"
            target = parse_target(url, servername=ep.servername)
            out.write(f"== {ep.name}: {ep.fault}\n   tlsdiag probe {url} --servername localhost\n")
            result = await probe(reactor, target, options)
            results.append(result)
            out.write(render(result, "text") + "\n\n")
            out.flush()
    finally:
        await defer.gatherResults([defer.maybeDeferred(p.stopListening) for p in ports])
    return worst_exit(results)


def run_demo(out: TextIO) -> int:
    """Start the faulty endpoints, probe each, print the diagnoses; the worst exit code."""
    from diagnostics.cli import run_reactor

    root, eps = endpoints()
    with tempfile.TemporaryDirectory(prefix="tlsdiag-demo-") as folder:
        ca_file = os.path.join(folder, "demo-root.pem")
        with open(ca_file, "wb") as handle:
            handle.write(root.cert.public_bytes(serialization.Encoding.PEM))
        out.write(
            f"tlsdiag demo: {len(eps)} faulty TLS servers on 127.0.0.1, trusting one root\n\n"
        )
        code: int = run_reactor(
            lambda reactor: defer.Deferred.fromCoroutine(_demo(reactor, out, ca_file, eps))
        )
    return code
