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
import contextlib
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
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

# The floor under any command built on Twisted: the interpreter starting and importing the
# reactor (which brings in pyOpenSSL, cryptography and service_identity through Twisted's TLS).
REACTOR_IMPORT = [sys.executable, "-c", "import twisted.internet.reactor"]


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


@contextlib.contextmanager
def bytecode_cache(prefix: Path) -> Iterator[None]:
    """Run the commands measured from byte-compiled modules, as an installed tlsdiag runs.

    A shell with ``PYTHONDONTWRITEBYTECODE`` set would have every command compile the
    package from source first (about 0.1 s of each start).  The cache is written under
    ``prefix`` (``PYTHONPYCACHEPREFIX``), never into the checkout, and filled before the
    first measurement.
    """
    saved = {
        name: os.environ.get(name) for name in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    }
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(prefix)
    try:
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(servers.REPO / "diagnostics")],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    quick = os.environ.get("BENCH_QUICK") == "1"
    parser = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__)
    parser.add_argument("--duration", type=int, default=5, help="seconds per reference row")
    parser.add_argument(
        "--rounds", type=int, default=1 if quick else 3, help="rounds per figure (BENCH_QUICK=1: 1)"
    )
    parser.add_argument("--runs", type=int, default=5, help="one-shot command runs")
    parser.add_argument(
        "--probes", type=int, default=1000 if quick else 4000, help="probes of the first row"
    )
    parser.add_argument("--endpoints", type=int, default=1000, help="distinct loopback endpoints")
    parser.add_argument(
        "--daemon-targets",
        type=int,
        default=0 if quick else daemon.DEFAULT_TARGETS,
        help="targets of the daemon figures (75 s a round); 0 skips them (BENCH_QUICK=1 does)",
    )
    parser.add_argument(
        "--probe-rounds",
        type=int,
        default=0 if quick else probe_endpoint.ROUNDS,
        help="rounds of the /probe vs blackbox_exporter figure; 0 skips it",
    )
    parser.add_argument(
        "--reference",
        action="store_true",
        help="also the in-process rows: a bare pyOpenSSL loop and probe_many at concurrency 1, 50",
    )
    args = parser.parse_args(argv)
    if servers.OPENSSL is None:
        print("the benchmark needs the openssl command", file=sys.stderr)
        return 2

    from tests.bench import rows

    begun = time.perf_counter()
    measured: list[figures.Figure] = []
    with (
        tempfile.TemporaryDirectory(prefix="tlsdiag-bench-") as folder,
        bytecode_cache(Path(folder) / "pycache"),
    ):
        directory = Path(folder)
        files = servers.write_pki(directory / "pki")
        pinned = ["-ciphersuites", CIPHER, "-groups", GROUP, "-min_protocol", "TLSv1.3"]
        with servers.s_server(
            directory, files.leaf, files.key, chain=files.intermediate, extra=pinned
        ) as server:
            url = server.url("tls")
            measured.append(
                rows.handshakes(url, server.port, files.root, directory, args.probes, args.rounds)
            )
            probe_command = [*rows.TLSDIAG, "probe", url, "--ca", str(files.root)]
            probe_command += ["--servername", "localhost", "--format", "json"]
            one_shot = wall_times(probe_command, args.runs, lambda rc: rc == 0)
            floor = wall_times(REACTOR_IMPORT, args.runs, lambda rc: rc == 0)
            measured.append(
                figures.Figure(
                    "cli_probe_wall_s",
                    "one `tlsdiag probe tls://127.0.0.1:PORT`, wall s",
                    tuple(one_shot),
                    f"{len(one_shot)} runs; the interpreter importing Twisted's reactor alone: "
                    f"median {statistics.median(floor):.2f} s",
                )
            )
            if args.reference:
                reference(server.port, url, files.root, args.duration)
        measured += rows.distinct(files, directory, args.endpoints, args.rounds)
        measured.append(rows.listener(files, directory, args.rounds))
        if args.daemon_targets:
            measured += rows.daemon_figures(args.rounds, args.daemon_targets)
        else:
            note = "skipped (--daemon-targets 0)"
            measured.append(figures.Figure("daemon_probes_per_min", "daemon probes/min", (), note))
            measured.append(figures.Figure("daemon_peak_rss_mb", "daemon peak RSS", (), note))
        if args.probe_rounds:
            measured.append(
                probe_endpoint.measure(directory / "probe-endpoint", rounds=args.probe_rounds)
            )
        else:
            measured.append(
                figures.Figure(probe_endpoint.KEY, "/probe ÷ blackbox_exporter", (), "skipped")
            )

    from OpenSSL import SSL

    print()
    print(
        f"tlsdiag bench, {os.cpu_count()} CPUs, client library "
        f"{SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()}; median of {args.rounds} rounds"
    )
    print(figures.table(measured))
    for figure in measured:
        if figure.note:
            print(f"{figure.key}: {figure.note}")
    written = figures.write_json(measured)
    if written is not None:
        print(f"figures written to {written}")
    print(f"benchmark took {time.perf_counter() - begun:.1f} s")
    return 0


def reference(port: int, url: str, ca_file: Path, duration: int) -> None:
    """The in-process reference rows, printed."""
    s_time = measure_s_time(port, duration)
    bare = measure_bare_loop(port, ca_file, duration)
    engine = measure_engine(url, ca_file, duration, [1, 50])
    for rate in [s_time, bare] + [run.rate for run in engine]:
        ratio = rate.per_second / s_time.per_second
        print(f"{rate.label:<38} {rate.per_second:>8.0f}/s {ratio:>6.2f} × s_time {rate.cpu_ms} ms")


if __name__ == "__main__":
    sys.exit(main())
