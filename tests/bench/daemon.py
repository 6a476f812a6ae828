"""The daemon at scale: many targets, real TLS handshakes on loopback, for a fixed time.

Run by ``python -m tests.bench.run`` (``make bench``) or alone with
``python -m tests.bench.daemon``.  One helper process serves TLS (Twisted and
pyOpenSSL, EC P-256 chain of two, TLS 1.3 with session tickets) on one port
of many loopback addresses (``127.1.x.y``), so that every target is a host of
its own; a real ``tlsdiag daemon`` process probes them all with the default
concurrency.  Measured, from the daemon's own ``client.jsonl``:

* probes per minute over the run, and how many ended ``ok``;
* misses: targets not probed within their first interval (+10 % jitter),
  second probes more than 1.5 intervals + 2 s after the first (the second takes the
  target's own slot, half an interval to an interval and a half later), and later
  probes that came more than 10 % + 2 s after the previous one;
* the daemon's resident memory (now and peak) and the CPU time of the daemon
  and of the TLS server, both over the measured window.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs

from tests.support import servers

CLK_TCK = os.sysconf("SC_CLK_TCK")
DEFAULT_TARGETS = 10_000
DEFAULT_INTERVAL = 50.0
RSS_LIMIT_MB = 150
RATE_GOAL = 10_000  # probes per minute


def addresses(count: int) -> list[str]:
    """``count`` loopback addresses outside 127.0.0.0/24: 127.1.0.1, 127.1.0.2, …"""
    return [f"127.1.{i // 250}.{i % 250 + 1}" for i in range(count)]


# -- the TLS server process --------------------------------------------------------------


def serve(key: str, chain: str, port: int, hosts: Sequence[str]) -> None:
    """Listen with TLS on ``port`` of every address in ``hosts``; print ``ready`` then run."""
    from OpenSSL import SSL
    from twisted.internet import protocol, reactor, ssl
    from twisted.internet.interfaces import IHandshakeListener
    from zope.interface import implementer

    @implementer(IHandshakeListener)
    class Quiet(protocol.Protocol):
        """Close once the handshake is done (and the session tickets are sent).

        The side that closes first keeps the TIME_WAIT state: here that is the server's
        127.1.x.y address, so thousands of probes a minute do not hold 127.0.0.1 ports
        that other programs on the machine want to bind.
        """

        def handshakeCompleted(self) -> None:
            assert self.transport is not None
            self.transport.loseConnection()  # close_notify, written at once
            # Without waiting for the client's close_notify: the server's FIN goes first.
            self.transport.transport.loseConnection()  # type: ignore[attr-defined]

    class Factory(protocol.Factory):
        noisy = False
        protocol = Quiet

    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.use_certificate_chain_file(chain)  # the leaf, then the intermediate
    context.use_privatekey_file(key)
    context.set_min_proto_version(SSL.TLS1_3_VERSION)
    factory = ssl.ContextFactory()
    factory.getContext = lambda: context  # type: ignore[method-assign]
    for host in hosts:
        reactor.listenSSL(port, Factory(), factory, interface=host, backlog=128)  # type: ignore[attr-defined]
    print("ready", flush=True)
    reactor.run()  # type: ignore[attr-defined]


# -- measuring ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory_mb(pid: int) -> tuple[float, float]:
    """Resident memory now and at its peak, in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def log_events(log_dir: Path) -> Iterator[dict[str, object]]:
    """Every probe event of ``client.jsonl`` and its rotated files."""
    files = sorted(log_dir.glob("client.jsonl.*"), key=lambda p: -int(p.suffix[1:]))
    for path in [*files, log_dir / "client.jsonl"]:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                event = json.loads(line)
                if event.get("event.action") == "tls-probe":
                    yield event


def parse_time(text: str) -> float:
    """A log timestamp as a Unix time."""
    import datetime

    return datetime.datetime.fromisoformat(text).timestamp()


@attrs.frozen
class Outcome:
    """What one daemon run measured."""

    targets: int
    interval: float
    seconds: float
    probes: int
    statuses: dict[str, int]
    never_probed: int
    late_gaps: int
    gaps: int
    worst_gap: float
    rss_mb: float
    peak_rss_mb: float
    daemon_cpu: float
    server_cpu: float
    scrape_seconds: float
    scrape_bytes: int

    @property
    def per_minute(self) -> float:
        """Probes per minute over the measured window."""
        return self.probes * 60 / self.seconds

    @property
    def first_probes(self) -> int:
        """Targets probed at least once."""
        return self.targets - self.never_probed


def analyse(
    events: Sequence[dict[str, object]], start: float, end: float, targets: int, interval: float
) -> tuple[int, dict[str, int], int, int, int, float]:
    """Probes in [start, end], statuses, targets never probed in time, late gaps, gaps, worst."""
    statuses: dict[str, int] = {}
    times: dict[str, list[float]] = {}
    probes = 0
    for event in events:
        at = parse_time(str(event["@timestamp"]))
        times.setdefault(str(event["url.full"]), []).append(at)
        if start <= at <= end:
            probes += 1
            status = str(event.get("tlsdiag", {}).get("status"))  # type: ignore[union-attr]
            statuses[status] = statuses.get(status, 0) + 1
    first_deadline = start + interval * 1.1 + 2
    never = targets - sum(1 for t in times.values() if t[0] <= first_deadline)
    slack = interval * 1.1 + 2
    first_slack = interval * 1.5 + 2
    late = 0
    gaps: list[float] = []
    for t in times.values():
        for index, (a, b) in enumerate(itertools.pairwise(t)):
            gaps.append(b - a)
            late += b - a > (first_slack if index == 0 else slack)
    return probes, statuses, never, late, len(gaps), max(gaps, default=0.0)


def run_daemon(
    directory: Path, count: int, interval: float, seconds: float, concurrency: int
) -> Outcome:
    """Serve ``count`` loopback TLS endpoints, probe them with a daemon for ``seconds``."""
    files = servers.write_pki(directory / "pki")
    hosts = addresses(count)
    port = servers.free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.daemon", "serve", str(files.key), str(files.served),
         str(port), str(count)],
        cwd=servers.REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    daemon: subprocess.Popen[bytes] | None = None
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"the TLS server did not start: {server.stdout.read()!r}")
        metrics_port = servers.free_port()
        lines = [
            "[daemon]",
            'log_dir = "logs"',
            f'metrics_listen = "127.0.0.1:{metrics_port}"',
            f"concurrency = {concurrency}",
            "[defaults]",
            f"interval = {interval}",
            "timeout = 10",
            f'ca = ["{files.root}"]',
            'servername = "localhost"',
        ]
        for host in hosts:
            lines += ["[[target]]", f'url = "tls://{host}:{port}"']
        config = directory / "tlsdiag.toml"
        config.write_text("\n".join(lines) + "\n")
        server_cpu = cpu_seconds(server.pid)
        daemon = subprocess.Popen(
            [sys.executable, "-m", "diagnostics", "daemon", "--config", str(config)],
            cwd=servers.REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        started = time.time()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if daemon.poll() is not None:
                raise RuntimeError(f"the daemon exited: {daemon.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(1.0)  # sampling period of the benchmark, not a wait for an outcome
        ended = time.time()
        daemon_cpu = cpu_seconds(daemon.pid)
        server_cpu = cpu_seconds(server.pid) - server_cpu
        rss, peak = memory_mb(daemon.pid)
        scrape = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=60) as r:
            scrape_bytes = len(r.read())
        scrape_seconds = time.perf_counter() - scrape
    finally:
        for process in (daemon, server):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=60)
    events = list(log_events(directory / "logs"))
    probes, statuses, never, late, gaps, worst = analyse(events, started, ended, count, interval)
    return Outcome(
        targets=count,
        interval=interval,
        seconds=ended - started,
        probes=probes,
        statuses=statuses,
        never_probed=never,
        late_gaps=late,
        gaps=gaps,
        worst_gap=worst,
        rss_mb=rss,
        peak_rss_mb=peak,
        daemon_cpu=daemon_cpu,
        server_cpu=server_cpu,
        scrape_seconds=scrape_seconds,
        scrape_bytes=scrape_bytes,
    )


def report(outcome: Outcome) -> bool:
    """Print the figures; True when the goals are met."""
    o = outcome
    rate_ok = o.per_minute >= RATE_GOAL
    rss_ok = o.peak_rss_mb <= RSS_LIMIT_MB
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(o.statuses.items()))
    print(
        f"daemon: {o.targets} tls:// targets on {o.targets} loopback addresses, interval "
        f"{o.interval:g} s (±10 %), {os.cpu_count()} CPUs, {o.seconds:.0f} s measured"
    )
    print(
        f"  probes: {o.probes} = {o.per_minute:.0f}/min (goal ≥ {RATE_GOAL}: "
        f"{'met' if rate_ok else 'MISSED'}); {statuses}"
    )
    print(
        f"  misses: {o.never_probed} targets not probed within their first interval + 10 %; "
        f"{o.late_gaps} of {o.gaps} later gaps late (second > 1.5 intervals + 2 s, "
        f"others > interval + 10 % + 2 s) "
        f"(longest {o.worst_gap:.1f} s)"
    )
    print(
        f"  memory: {o.rss_mb:.0f} MB resident at the end, peak {o.peak_rss_mb:.0f} MB "
        f"(goal ≤ {RSS_LIMIT_MB} MB: {'met' if rss_ok else 'MISSED'})"
    )
    per_probe = 1000 * o.daemon_cpu / o.probes if o.probes else 0.0
    print(
        f"  CPU: daemon {o.daemon_cpu:.1f} s ({100 * o.daemon_cpu / o.seconds:.0f} % of one "
        f"CPU, {per_probe:.2f} ms per probe), TLS server {o.server_cpu:.1f} s "
        f"({100 * o.server_cpu / o.seconds:.0f} %)"
    )
    print(f"  one /metrics scrape: {o.scrape_bytes / 1e6:.1f} MB in {o.scrape_seconds:.2f} s")
    return rate_ok and rss_ok


def main(argv: list[str] | None = None) -> int:
    """Run the daemon benchmark (or, with ``serve``, be its TLS server)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["serve"]:
        key, chain, port, count = args[1:5]
        serve(key, chain, int(port), addresses(int(count)))
        return 0
    parser = argparse.ArgumentParser(prog="python -m tests.bench.daemon", description=__doc__)
    parser.add_argument("--targets", type=int, default=DEFAULT_TARGETS)
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL)
    parser.add_argument("--seconds", type=float, default=None, help="default: 2.5 intervals")
    parser.add_argument("--concurrency", type=int, default=100)
    options = parser.parse_args(args)
    ok = measure(options.targets, options.interval, options.seconds, options.concurrency)
    return 0 if ok else 1


def measure(
    targets: int = DEFAULT_TARGETS,
    interval: float = DEFAULT_INTERVAL,
    seconds: float | None = None,
    concurrency: int = 100,
) -> bool:
    """Run the daemon benchmark and print its figures; True when the goals are met."""
    with tempfile.TemporaryDirectory(prefix="tlsdiag-bench-daemon-") as folder:
        outcome = run_daemon(
            Path(folder), targets, interval, seconds or interval * 2.5, concurrency
        )
    return report(outcome)


if __name__ == "__main__":
    sys.exit(main())
