"""Probe speed against ``openssl s_time`` on the same loopback ``openssl s_server``.

Run with ``python -m tests.bench.run`` (``make bench``).  It starts one
``s_server`` on 127.0.0.1 with a fresh EC P-256 chain, pins TLS 1.3 with one
cipher suite and one key-exchange group so that every client below does the
same full handshake, and measures for a fixed time each:

* ``openssl s_time -new``: full handshakes, one after another;
* a bare blocking pyOpenSSL loop (connect, handshake, close) for reference;
* :func:`diagnostics.probes.dispatch.probe_many` under the real reactor, in this process,
  at concurrency 1 and 50 (each probe also waits for the server's first
  post-handshake record, which the session tickets provide at once);
* the wall time of one ``python -m diagnostics probe`` command (the median of
  several runs), and of a bare interpreter start for comparison;
* the daemon with 10,000 targets for about two minutes (:mod:`tests.bench.daemon`);
* 200 sequential ``/probe`` requests to the daemon and to Prometheus blackbox_exporter on the
  same server, three rounds (:mod:`tests.bench.probe_endpoint`).

``BENCH_JSON=FILE`` also writes the figures of :mod:`tests.bench.figures` to ``FILE``.

Rates are handshakes per wall-clock second.  Everything stays on loopback; the
handshake measurements take under a minute, the daemon's run about two more
(``--daemon-targets 0`` leaves it out).
"""

from __future__ import annotations

import argparse
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from tests.bench import daemon, figures, probe_endpoint
from tests.support import servers

CIPHER = "TLS_AES_256_GCM_SHA384"
GROUP = "X25519"
PILOT_SECONDS = 1.0
S_TIME_LINE = re.compile(r"(\d+) connections in ([\d.]+)s; ([\d.]+) connections/user sec")


@attrs.frozen
class Rate:
    """Handshakes done in a measured wall time."""

    label: str
    count: int
    seconds: float
    cpu_seconds: float | None = None  # the client's own CPU time, when known
    note: str = ""

    @property
    def per_second(self) -> float:
        """Handshakes per wall-clock second."""
        return self.count / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_ms(self) -> str:
        """The client's CPU milliseconds per handshake, as text."""
        if self.cpu_seconds is None or not self.count:
            return "?"
        return f"{1000 * self.cpu_seconds / self.count:.2f}"


# -- openssl s_time ----------------------------------------------------------------------


def measure_s_time(port: int, duration: int) -> Rate:
    """``openssl s_time -new`` for ``duration`` seconds.

    s_time stops on a whole-second clock, so its loop runs between ``duration``
    and ``duration + 1`` seconds: the rate divides by the wall time measured here.
    """
    assert servers.OPENSSL is not None
    command = [servers.OPENSSL, "s_time", "-connect", f"{servers.HOST}:{port}", "-new"]
    command += ["-time", str(duration)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 30)
    seconds = time.perf_counter() - started
    match = S_TIME_LINE.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"s_time failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    count = int(match[1])
    note = f"{count / duration:.0f}/s if divided by -time; CPU is user time only"
    cpu = count / float(match[3]) if float(match[3]) else None
    return Rate("openssl s_time -new", count, seconds, cpu, note)


# -- a bare blocking pyOpenSSL loop ------------------------------------------------------


def measure_bare_loop(port: int, ca_file: Path, duration: float) -> Rate:
    """Connect, handshake (verifying against ``ca_file``), close; as often as time allows."""
    from OpenSSL import SSL

    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.load_verify_locations(str(ca_file))
    context.set_verify(SSL.VERIFY_PEER, lambda *_args: True)
    count = 0
    cpu = time.process_time()
    started = time.perf_counter()
    deadline = started + duration
    while time.perf_counter() < deadline:
        with socket.create_connection((servers.HOST, port)) as sock:
            connection = SSL.Connection(context, sock)
            connection.set_connect_state()
            connection.do_handshake()
            connection.shutdown()
        count += 1
    seconds = time.perf_counter() - started
    return Rate("bare blocking pyOpenSSL loop", count, seconds, time.process_time() - cpu)


# -- the engine under the real reactor ---------------------------------------------------


@attrs.frozen
class EngineRun:
    """What one batch of probes measured."""

    rate: Rate
    statuses: dict[str, int]
    resumed: int
    versions: frozenset[str | None]
    ciphers: frozenset[str | None]


async def _engine_batches(
    reactor: Any, url: str, ca_file: Path, duration: float, concurrencies: list[int]
) -> list[EngineRun]:
    from diagnostics.cli.main import prepare_process
    from diagnostics.model.options import ProbeOptions, TrustConfig
    from diagnostics.model.target import parse_target
    from diagnostics.probes.dispatch import probe_many

    prepare_process()  # as the tlsdiag command and the daemon run
    target = parse_target(url, servername="localhost")
    options = ProbeOptions(trust=TrustConfig(ca_files=(str(ca_file),)))
    runs = []
    for concurrency in concurrencies:
        # A pilot of about a second (which also warms up) sizes the measured batch to
        # last about ``duration`` seconds.
        pilot_size = max(50, 4 * concurrency)
        done = 0
        started = time.perf_counter()
        while time.perf_counter() - started < PILOT_SECONDS:
            await probe_many(reactor, [target] * pilot_size, options, concurrency=concurrency)
            done += pilot_size
        pilot_rate = done / (time.perf_counter() - started)
        size = max(pilot_size, int(pilot_rate * duration))
        cpu = time.process_time()
        started = time.perf_counter()
        results = await probe_many(reactor, [target] * size, options, concurrency=concurrency)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        statuses: dict[str, int] = {}
        for result in results:
            statuses[result.status.value] = statuses.get(result.status.value, 0) + 1
        runs.append(
            EngineRun(
                rate=Rate(f"tlsdiag probe_many, concurrency {concurrency}", size, seconds, cpu),
                statuses=statuses,
                resumed=sum(1 for r in results if r.tls is not None and r.tls.session_reused),
                versions=frozenset(r.tls.version if r.tls else None for r in results),
                ciphers=frozenset(r.tls.cipher if r.tls else None for r in results),
            )
        )
    return runs


def measure_engine(
    url: str, ca_file: Path, duration: float, concurrencies: list[int]
) -> list[EngineRun]:
    """Probe ``url`` over and over at each concurrency, in this process's reactor."""
    from twisted.internet import defer
    from twisted.internet import reactor as _reactor

    reactor: Any = _reactor
    outcome: list[Any] = []

    def start() -> None:
        d = defer.Deferred.fromCoroutine(
            _engine_batches(reactor, url, ca_file, duration, concurrencies)
        )

        def finish(value: Any) -> None:
            outcome.append(value)
            reactor.stop()

        d.addBoth(finish)

    reactor.callWhenRunning(start)
    reactor.run()
    if not outcome or not isinstance(outcome[0], list):
        failure = outcome[0] if outcome else "the reactor stopped early"
        raise RuntimeError(f"engine benchmark failed: {failure}")
    return outcome[0]


# -- one command -------------------------------------------------------------------------


def wall_times(command: list[str], runs: int, check: Callable[[int], bool]) -> list[float]:
    """The wall time of ``runs`` executions of ``command``."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, timeout=60, cwd=servers.REPO)
        times.append(time.perf_counter() - started)
        if not check(done.returncode):
            raise RuntimeError(f"{command} exited with {done.returncode}: {done.stderr!r}")
    return times


# -- report ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__)
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    parser.add_argument("--runs", type=int, default=5, help="one-shot command runs")
    parser.add_argument(
        "--daemon-targets",
        type=int,
        default=daemon.DEFAULT_TARGETS,
        help="targets of the daemon benchmark (tests/bench/daemon.py); 0 skips it",
    )
    parser.add_argument(
        "--probe-rounds",
        type=int,
        default=probe_endpoint.ROUNDS,
        help="rounds of the /probe vs blackbox_exporter figure; 0 skips it",
    )
    args = parser.parse_args(argv)
    if servers.OPENSSL is None:
        print("the benchmark needs the openssl command", file=sys.stderr)
        return 2

    begun = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tlsdiag-bench-") as folder:
        directory = Path(folder)
        files = servers.write_pki(directory / "pki")
        pinned = ["-ciphersuites", CIPHER, "-groups", GROUP, "-min_protocol", "TLSv1.3"]
        with servers.s_server(
            directory, files.leaf, files.key, chain=files.intermediate, extra=pinned
        ) as server:
            url = server.url("tls")
            s_time = measure_s_time(server.port, args.duration)
            bare = measure_bare_loop(server.port, files.root, args.duration)
            engine = measure_engine(url, files.root, args.duration, [1, 50])
            probe_command = [sys.executable, "-m", "diagnostics", "probe", url]
            probe_command += ["--ca", str(files.root), "--servername", "localhost"]
            probe_command += ["--format", "json"]
            one_shot = wall_times(probe_command, args.runs, lambda rc: rc == 0)
            bare_python = wall_times([sys.executable, "-c", "pass"], args.runs, lambda rc: rc == 0)
            imports = wall_times(
                [sys.executable, "-c", "import diagnostics.cli.main, diagnostics.probes.dispatch"],
                args.runs,
                lambda rc: rc == 0,
            )
        measured = []
        if args.probe_rounds:
            measured.append(
                probe_endpoint.measure(directory / "probe-endpoint", rounds=args.probe_rounds)
            )

    from OpenSSL import SSL

    linked = SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()
    print(
        f"Full TLS 1.3 handshakes ({CIPHER}, {GROUP}, EC P-256 chain of 2) against "
        f"openssl s_server on {servers.HOST}, {args.duration} s each; client library {linked}"
    )
    print()
    header = f"{'client':<38} {'handshakes':>10} {'seconds':>8} {'per s':>8} {'/ s_time':>9}"
    print(f"{header} {'CPU ms each':>12}")
    rows = [s_time, bare] + [run.rate for run in engine]
    for rate in rows:
        ratio = rate.per_second / s_time.per_second
        print(
            f"{rate.label:<38} {rate.count:>10} {rate.seconds:>8.2f} "
            f"{rate.per_second:>8.0f} {ratio:>9.2f} {rate.cpu_ms:>12}"
        )
    print()
    print(f"s_time: {s_time.note}")
    for run in engine:
        statuses = ", ".join(f"{count} {status}" for status, count in sorted(run.statuses.items()))
        versions = ", ".join(sorted(str(v) for v in run.versions))
        ciphers = ", ".join(sorted(str(c) for c in run.ciphers))
        print(f"{run.rate.label}: {statuses}; resumed {run.resumed}; {versions}; {ciphers}")
    print()
    print(
        f"one `tlsdiag probe` command, wall time: median {statistics.median(one_shot):.3f} s "
        f"(min {min(one_shot):.3f}, max {max(one_shot):.3f}, {len(one_shot)} runs)"
    )
    print(
        f"for comparison: `python -c pass` median {statistics.median(bare_python):.3f} s, "
        f"importing the CLI and the engines median {statistics.median(imports):.3f} s"
    )
    for figure in measured:
        print(figure.line())
    written = figures.write_json(measured)
    if written is not None:
        print(f"figures written to {written}")
    bad = [run for run in engine if set(run.statuses) != {"ok"}]
    if args.daemon_targets:
        print()
        if not daemon.measure(args.daemon_targets):
            bad.append(None)
    print(f"benchmark took {time.perf_counter() - begun:.1f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
