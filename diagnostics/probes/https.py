"""``https://host[:port][/path]``: the TLS capture, then one HTTP request on the same connection.

``HEAD`` first; a server that answers 405 or 501 is asked again with ``GET``
(only the status line and headers are read).  The request goes through
Twisted's HTTP/1.1 client protocol.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.web._newclient import HTTP11ClientProtocol, Request
from twisted.web.http_headers import Headers
from twisted.web.iweb import IResponse

from diagnostics.model.options import ProbeOptions
from diagnostics.model.result import Phase, ProbeResult, Target
from diagnostics.model.version import __version__
from diagnostics.probes.run import ProbeRun, run_probe
from diagnostics.tls.trust import TrustMaterial

USER_AGENT = f"tlsdiag/{__version__}"


def _host_header(target: Target) -> bytes:
    host = target.verify_name
    if ":" in host:
        host = f"[{host}]"
    if target.port != 443:
        host = f"{host}:{target.port}"
    return host.encode("idna") if host.isascii() is False else host.encode("ascii")


async def _request(
    run: ProbeRun, client: HTTP11ClientProtocol, method: bytes, persistent: bool
) -> IResponse:
    headers = Headers(
        {
            b"host": [_host_header(run.target)],
            b"user-agent": [USER_AGENT.encode("ascii")],
            b"accept": [b"*/*"],
        }
    )
    path = run.target.path.encode("ascii")
    request = Request(method, path, headers, None, persistent=persistent)  # type: ignore[no-untyped-call]
    response: IResponse = await client.request(request)
    return response


async def _exchange(run: ProbeRun, method: bytes) -> IResponse:
    """One connection: handshake, then one request; the response head is returned."""
    stream = await run.connect_tls()
    run.phase = Phase.APPLICATION
    client = HTTP11ClientProtocol()  # type: ignore[no-untyped-call]
    stream.attach(client)
    try:
        return await _request(run, client, method, persistent=False)
    except Exception:
        # A TLS 1.3 server rejects a client certificate only now: that is a
        # handshake problem, not an HTTP one.
        run.check_lost_as_handshake(stream)
        raise


async def _body(run: ProbeRun) -> None:
    method = "HEAD"
    response = await _exchange(run, b"HEAD")
    if response.code in (405, 501):
        # Some servers refuse HEAD; ask again, reading only the head of the answer.
        run.close()
        method = "GET"
        response = await _exchange(run, b"GET")
    server = response.headers.getRawHeaders(b"server")
    version = response.version
    phrase = response.phrase.decode("latin-1", "replace")
    run.http = {
        "method": method,
        "path": run.target.path,
        "status": response.code,
        "reason": phrase,
        "status_line": f"{version[0].decode()}/{version[1]}.{version[2]} {response.code} {phrase}",
        "server": server[0].decode("latin-1", "replace") if server else None,
    }


def probe(
    reactor: Any, target: Target, options: ProbeOptions, material: TrustMaterial
) -> Deferred[ProbeResult]:
    """Probe an HTTPS endpoint."""
    return run_probe(reactor, target, options, material, _body)
