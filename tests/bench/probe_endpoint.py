"""The multi-target pattern side by side: 200 sequential ``/probe`` requests to the daemon and
to Prometheus blackbox_exporter, both probing the same loopback ``openssl s_server``.

Run alone with ``python -m tests.bench.probe_endpoint`` or as a row of ``make bench``.  Each
round sends ``REQUESTS`` ``GET /probe?target=…&module=…`` one after another over one kept-alive
HTTP connection (as Prometheus scrapes) to each exporter in turn; the figure is the ratio of
the wall times, tlsdiag ÷ blackbox_exporter (lower is better), median of the rounds.
Everything binds 127.0.0.1; every process it starts, it stops.
"""

from __future__ import annotations

import contextlib
import http.client
import shutil
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from tests.bench.figures import Figure
from tests.support import servers

BLACKBOX = shutil.which("prometheus-blackbox-exporter") or (
    "/usr/bin/prometheus-blackbox-exporter"
    if Path("/usr/bin/prometheus-blackbox-exporter").exists()
    else None
)
REQUESTS = 200
ROUNDS = 3
KEY = "probe_endpoint_ratio_vs_blackbox"
REQUEST_TIMEOUT = 15.0


@contextlib.contextmanager
def tlsdiag_daemon(directory: Path, ca_file: Path) -> Iterator[servers.ServerProcess]:
    """A ``tlsdiag daemon`` with a module ``tls`` allowed to probe 127.0.0.1."""
    port = servers.free_port()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "tlsdiag.toml"
    config.write_text(
        "[daemon]\n"
        f'log_dir = "{directory / "logs"}"\n'
        f'metrics_listen = "{servers.HOST}:{port}"\n'
        f'allowed_targets = ["tls://{servers.HOST}:*"]\n'
        "[module.tls]\n"
        'servername = "localhost"\n'
        f'ca = ["{ca_file}"]\n'
        "timeout = 5\n"
    )
    command = [sys.executable, "-m", "diagnostics", "daemon", "--config", str(config)]
    server = servers.start_process(
        "tlsdiag daemon", command, port, directory / "daemon.out", cwd=servers.REPO
    )
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def blackbox_exporter(directory: Path, ca_file: Path) -> Iterator[servers.ServerProcess]:
    """blackbox_exporter with a module ``tls`` (TCP connect and a TLS handshake)."""
    assert BLACKBOX is not None
    port = servers.free_port()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "blackbox.yml"
    config.write_text(
        "modules:\n"
        "  tls:\n"
        "    prober: tcp\n"
        "    timeout: 5s\n"
        "    tcp:\n"
        "      tls: true\n"
        "      tls_config:\n"
        f"        ca_file: {ca_file}\n"
        "        server_name: localhost\n"
    )
    command = [BLACKBOX, f"--config.file={config}", f"--web.listen-address={servers.HOST}:{port}"]
    server = servers.start_process("blackbox_exporter", command, port, directory / "blackbox.out")
    try:
        yield server
    finally:
        server.stop()


def probe_requests(port: int, target: str, count: int) -> float:
    """The wall time of ``count`` sequential ``/probe`` requests on one connection; every
    answer must report ``probe_success 1``."""
    query = urllib.parse.urlencode({"target": target, "module": "tls"})
    connection = http.client.HTTPConnection(servers.HOST, port, timeout=REQUEST_TIMEOUT)
    try:
        started = time.perf_counter()
        for _ in range(count):
            connection.request("GET", f"/probe?{query}")
            response = connection.getresponse()
            body = response.read().decode("utf-8", "replace")
            if response.status != 200 or not _succeeded(body):
                raise RuntimeError(f"/probe on port {port} answered {response.status}:\n{body}")
        return time.perf_counter() - started
    finally:
        connection.close()


def _succeeded(body: str) -> bool:
    return any(
        line.startswith("probe_success") and line.split()[-1] in ("1", "1.0")
        for line in body.splitlines()
    )


def measure(directory: Path, requests: int = REQUESTS, rounds: int = ROUNDS) -> Figure:
    """The ratio tlsdiag ÷ blackbox_exporter of the wall time of ``requests`` probes."""
    if BLACKBOX is None:
        return Figure(KEY, "/probe ÷ blackbox_exporter", (), "blackbox_exporter not installed")
    files = servers.write_pki(directory / "pki")
    with (
        servers.s_server(directory, files.leaf, files.key, chain=files.intermediate) as tls,
        tlsdiag_daemon(directory / "tlsdiag", files.root) as ours,
        blackbox_exporter(directory / "blackbox", files.root) as theirs,
    ):
        ours_target = tls.url("tls")
        theirs_target = f"{servers.HOST}:{tls.port}"
        probe_requests(ours.port, ours_target, 10)  # warm-up: imports, first contexts
        probe_requests(theirs.port, theirs_target, 10)
        ratios, walls = [], []
        for _ in range(rounds):
            mine = probe_requests(ours.port, ours_target, requests)
            other = probe_requests(theirs.port, theirs_target, requests)
            ratios.append(mine / other)
            walls.append(f"{mine:.2f} s vs {other:.2f} s")
    note = f"{requests} sequential requests, tlsdiag vs blackbox_exporter: " + ", ".join(walls)
    return Figure(KEY, f"{requests} sequential /probe ÷ blackbox_exporter", tuple(ratios), note)


def main() -> int:
    """Print the figure."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tlsdiag-bench-") as folder:
        figure = measure(Path(folder))
    print(figure.line())
    return 0 if figure.values else 1


if __name__ == "__main__":
    sys.exit(main())
