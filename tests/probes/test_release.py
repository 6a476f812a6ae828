"""A probe lets go of its TLS connection when it ends, without waiting for the cycle collector.

A daemon runs a hundred probes at once; each connection holds some 100 KB of OpenSSL
memory (record buffers, the peer's chain).  Kept in a reference cycle, each would live
until Python's cycle collector next runs a full collection, which, with thousands of
targets in memory, comes only every few thousand probes.  Real probes under the real
reactor, in a process of their own, against a TLS server on loopback in that process
that closes after each handshake; the cycle collector is off while they run.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.alive import run_script

_SCRIPT = """
import collections, gc, json, os, sys
from pathlib import Path
from twisted.internet import reactor, task
import diagnostics
from tests.support import memtls, pki
from tests.support.alive import run_under_reactor, track_client_connections

made = track_client_connections()

root = pki.make_ca("Release Root CA")
leaf = pki.issue(root)
ca = memtls.write_pem(Path(sys.argv[1]) / "ca.pem", [root.cert])
server = memtls.tls_server(memtls.tls_context((leaf.cert,), leaf.key), memtls.CloseAfterHandshake)
port = reactor.listenTCP(0, server(reactor), interface="127.0.0.1").getHost().port
options = diagnostics.ProbeOptions(trust=diagnostics.TrustConfig(ca_files=(ca,)), timeout=5.0)
target = diagnostics.parse_target(f"tls://127.0.0.1:{port}", servername="localhost")

def fds():
    return len(os.listdir("/proc/self/fd"))

async def main():
    await diagnostics.probe_many(reactor, [target], options)  # warm-up: caches
    gc.collect()
    gc.disable()
    before = fds()
    results = await diagnostics.probe_many(reactor, [target] * 200, options, concurrency=20)
    # Closing transports finish on the next reactor turns: poll, bounded.
    for _ in range(100):
        if fds() <= before:
            break
        await task.deferLater(reactor, 0.05, lambda: None)
    statuses = collections.Counter(r.status.value for r in results)
    print(json.dumps({"statuses": statuses, "alive": len(made)}))

run_under_reactor(main)
"""


def test_probe_connections_are_freed_by_reference_counting(tmp_path: Path) -> None:
    """200 verified probes with the cycle collector off: none of their TLS connections is
    still alive once the connections are closed."""
    report = run_script(_SCRIPT, tmp_path / "release.py", str(tmp_path))
    assert report["statuses"] == {"ok": 200}, report
    assert report["alive"] == 0, report
