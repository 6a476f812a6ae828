"""The rows of the issue's table that compare the product path with other tools.

Each function runs one figure for ``rounds`` rounds and returns a
:class:`~tests.bench.figures.Figure` (median, min and max of the rounds).
The 1,000 endpoints are one helper TLS process (:func:`tests.bench.daemon.serve`)
listening on ``127.1.N.1…250``: one socket per address, so nothing listens
outside loopback.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.bench import daemon
from tests.bench.figures import Figure
from tests.support import servers

# The command as ``python -m`` from the checkout, so that the checkout's code is measured.
TLSDIAG = [sys.executable, "-m", "diagnostics"]
BENCH_VENV = servers.REPO / ".venv-bench"
SSLYZE = BENCH_VENV / "bin" / "sslyze"


def timed(command: Sequence[str], output: Path, *, shell: bool = False) -> float:
    """The wall time of ``command``, its standard output written to ``output``."""
    with output.open("wb") as out:
        started = time.perf_counter()
        done = subprocess.run(
            command if not shell else command[0],
            stdout=out, stderr=subprocess.PIPE, timeout=900, cwd=servers.REPO, shell=shell,
        )  # fmt: skip
        seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):  # 1: a probe found a problem, still measured
        raise RuntimeError(f"{command[0]} exited with {done.returncode}: {done.stderr[-2000:]!r}")
    return seconds


def probe_targets(urls: Sequence[str], ca_file: Path, directory: Path, name: str) -> float:
    """``tlsdiag probe --targets FILE --concurrency 100 --format json``, stdout to a file."""
    targets = directory / f"{name}.txt"
    targets.write_text("\n".join(urls) + "\n")
    command = [*TLSDIAG, "probe", "--targets", str(targets), "--concurrency", "100"]
    command += ["--format", "json", "--ca", str(ca_file), "--servername", "localhost"]
    seconds = timed(command, directory / f"{name}.jsonl")
    lines = (directory / f"{name}.jsonl").read_bytes().count(b"\n")
    if lines != len(urls):
        raise RuntimeError(f"tlsdiag wrote {lines} results for {len(urls)} targets")
    return seconds


def s_time_rate(port: int, seconds: int) -> float:
    """Full handshakes per second of ``openssl s_time -new`` against ``port``."""
    from tests.bench.run import measure_s_time

    return measure_s_time(port, seconds).per_second


def handshakes(
    url: str, port: int, ca_file: Path, directory: Path, count: int, rounds: int
) -> Figure:
    """``count`` probes of one server through the CLI ÷ ``openssl s_time -new``."""
    ratios, notes = [], []
    for n in range(rounds):
        ours = count / probe_targets([url] * count, ca_file, directory, f"same-{n}")
        theirs = s_time_rate(port, 5)
        ratios.append(ours / theirs)
        notes.append(f"{ours:.0f}/s vs {theirs:.0f}/s")
    note = f"{count} probes, concurrency 100, JSON to a file: " + ", ".join(notes)
    return Figure("handshake_ratio_vs_s_time", "tls:// probes/s ÷ openssl s_time -new",
                  tuple(ratios), note)  # fmt: skip


@contextlib.contextmanager
def endpoints(files: servers.PKIFiles, count: int) -> Iterator[list[str]]:
    """``count`` TLS endpoints, one per loopback address, served by one helper process."""
    port = servers.free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.daemon", "serve", str(files.key), str(files.served),
         str(port), str(count)],
        cwd=servers.REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"the TLS server did not start: {server.stdout.read()!r}")
        yield [f"{host}:{port}" for host in daemon.addresses(count)]
    finally:
        server.terminate()
        server.wait(timeout=60)


def distinct(files: servers.PKIFiles, directory: Path, count: int, rounds: int) -> list[Figure]:
    """``count`` distinct endpoints: an s_client shell loop and sslyze, each ÷ tlsdiag."""
    loop_ratios, sslyze_ratios, notes, sslyze_notes = [], [], [], []
    with endpoints(files, count) as hosts:
        script = directory / "loop.sh"
        script.write_text(
            "for h in " + " ".join(hosts) + "; do\n"
            f"  {servers.OPENSSL} s_client -connect $h -servername localhost "
            f"-CAfile {files.root} </dev/null >/dev/null 2>&1\ndone\n"
        )
        for n in range(rounds):
            ours = probe_targets([f"tls://{h}" for h in hosts], files.root, directory, f"many-{n}")
            loop = timed(["sh", str(script)], directory / "loop.out")
            loop_ratios.append(loop / ours)
            notes.append(f"{loop:.2f} s vs {ours:.2f} s")
            if SSLYZE.exists():
                other = timed([str(SSLYZE), "--certinfo", *hosts], directory / "sslyze.out")
                sslyze_ratios.append(other / ours)
                sslyze_notes.append(f"{other:.2f} s vs {ours:.2f} s")
    loop_note = f"{count} endpoints, s_client loop vs tlsdiag: " + ", ".join(notes)
    sslyze_note = (
        f"{count} endpoints, sslyze --certinfo vs tlsdiag: " + ", ".join(sslyze_notes)
        if SSLYZE.exists()
        else "sslyze not installed in .venv-bench (make bench installs it with pip)"
    )
    return [
        Figure("speedup_vs_s_client_loop", f"{count} endpoints: s_client loop ÷ tlsdiag",
               tuple(loop_ratios), loop_note),
        Figure("speedup_vs_sslyze", f"{count} endpoints: sslyze --certinfo ÷ tlsdiag",
               tuple(sslyze_ratios), sslyze_note),
    ]  # fmt: skip


def listener(files: servers.PKIFiles, directory: Path, rounds: int) -> Figure:
    """``openssl s_time -new`` against ``tlsdiag listen`` ÷ against ``s_server -verify 1``."""
    port = servers.free_port()
    command = [*TLSDIAG, "listen", f"https://{servers.HOST}:{port}", "--cert", str(files.served)]
    command += ["--key", str(files.key), "--client-ca", str(files.root)]
    command += ["--log-dir", str(directory / "listen-logs")]
    ratios, notes = [], []
    ours_server = servers.start_process(
        "tlsdiag listen", command, port, directory / "listen.out", cwd=servers.REPO
    )
    try:
        verify = ["-verify", "1", "-CAfile", str(files.root)]
        chain = files.intermediate
        with servers.s_server(directory, files.leaf, files.key, chain=chain, extra=verify) as ref:
            for _n in range(rounds):
                ours = s_time_rate(port, 5)
                theirs = s_time_rate(ref.port, 5)
                ratios.append(ours / theirs)
                notes.append(f"{ours:.0f}/s vs {theirs:.0f}/s")
    finally:
        ours_server.stop()
    logged = sum(1 for _ in (directory / "listen-logs").glob("*.jsonl"))
    note = f"client certificate requested, sessions logged ({logged} log file): " + ", ".join(notes)
    return Figure("listener_ratio_vs_s_server", "s_time vs tlsdiag listen ÷ vs s_server -verify 1",
                  tuple(ratios), note)  # fmt: skip


def daemon_figures(rounds: int, targets: int = 10_000) -> list[Figure]:
    """The daemon with ``targets`` at a 60 s interval: probes/min over its first 75 s, peak RSS."""
    import tempfile

    rates, peaks = [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="tlsdiag-bench-daemon-") as folder:
            outcome = daemon.run_daemon(Path(folder), targets, 60.0, 75.0, 100)
        daemon.report(outcome)
        rates.append(outcome.per_minute)
        peaks.append(outcome.peak_rss_mb)
    note = f"{targets} targets, interval 60 s, first 75 s from start"
    return [
        Figure("daemon_probes_per_min", "daemon probes per minute", tuple(rates), note),
        Figure("daemon_peak_rss_mb", "daemon peak RSS (MB)", tuple(peaks), note),
    ]


def have_openssl() -> bool:
    """Whether the ``openssl`` command is there."""
    return shutil.which("openssl") is not None
