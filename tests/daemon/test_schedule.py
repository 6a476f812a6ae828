"""The scheduler, driven by a fake clock and a fake probe callable (its whole contract)."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from twisted.internet import defer, task
from twisted.python.failure import Failure

from diagnostics.daemon.config import Settings, TargetConfig
from diagnostics.daemon.schedule import Scheduler, in_shard, parse_shard, shard_of
from diagnostics.model.options import ProbeOptions
from diagnostics.model.result import ProbeResult
from diagnostics.model.target import parse_target


def target(
    url: str, interval: float = 60.0, timeout: float = 10.0, versions: bool = False
) -> TargetConfig:
    """A scheduled target with the given interval."""
    options = ProbeOptions(timeout=timeout, versions=versions)
    return TargetConfig(parse_target(url), Settings(options=options, interval=interval))


class FakeProbe:
    """Records every call and hands back a Deferred the test fires."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []
        self.pending: dict[str, list[defer.Deferred[ProbeResult]]] = {}
        self.clock: task.Clock | None = None

    def __call__(self, config: TargetConfig) -> defer.Deferred[ProbeResult]:
        assert self.clock is not None
        self.calls.append((self.clock.seconds(), config.url))
        d: defer.Deferred[ProbeResult] = defer.Deferred()
        self.pending.setdefault(config.url, []).append(d)
        return d

    def finish(self, url: str) -> None:
        """Complete the oldest pending probe of ``url``."""
        self.pending[url].pop(0).callback(ProbeResult(target=parse_target(url)))

    def in_flight(self) -> int:
        """Probes started and not finished."""
        return sum(len(v) for v in self.pending.values())


def make(
    probe: Any, *, concurrency: int = 100, jitter: float = 0.0, seed: int = 1
) -> tuple[task.Clock, Scheduler, list[Any], list[Any]]:
    """A scheduler on a fresh Clock, with lists collecting results and errors."""
    clock = task.Clock()
    results: list[Any] = []
    errors: list[Any] = []
    if isinstance(probe, FakeProbe):
        probe.clock = clock
    scheduler = Scheduler(
        clock,
        probe,
        on_result=lambda t, r: results.append((t.url, r)),
        on_error=lambda t, f: errors.append((t.url, f)),
        concurrency=concurrency,
        jitter=jitter,
        rng=random.Random(seed),
    )
    return clock, scheduler, results, errors


def test_first_runs_start_at_once_within_the_limits() -> None:
    """New targets are probed at once, as many as the concurrency cap allows, then the rest."""
    probe = FakeProbe()
    clock, scheduler, _, _ = make(probe, concurrency=10)
    urls = [f"tls://h{i}.example:443" for i in range(25)]
    scheduler.start([target(u, interval=100) for u in urls])
    assert probe.calls == []  # from the reactor, not from inside start()
    clock.advance(0)
    assert [t for t, _ in probe.calls] == [0.0] * 10
    clock.advance(3)
    for url in list(probe.pending):
        probe.finish(url)
    assert [t for t, _ in probe.calls[10:]] == [3.0] * 10
    assert scheduler.queued == 5


def test_second_runs_spread_the_first_burst_over_the_interval() -> None:
    """Second runs fall on each target's own slot, half an interval or more after the first."""
    probe = FakeProbe()
    clock, scheduler, _, _ = make(probe)
    scheduler.start([target(f"tls://h{i}.example:443", interval=100) for i in range(100)])
    clock.advance(1)
    assert len(probe.calls) == 100
    for url in list(probe.pending):
        probe.finish(url)
    clock.pump([1.0] * 160)
    second_run: dict[str, float] = {}
    for t, url in probe.calls[100:]:
        second_run.setdefault(url, t)
    seconds = list(second_run.values())
    assert len(seconds) == 100
    assert all(50 <= t <= 151 for t in seconds)  # slots in [50, 150), a clock step of 1 s
    assert len({int(t // 10) for t in seconds}) >= 8  # spread over most of the ten deciles


def test_next_run_follows_interval_after_completion() -> None:
    """Once on its slot, a target runs one interval after its previous start, not before it ends."""
    probe = FakeProbe()
    clock, scheduler, results, _ = make(probe)
    scheduler.start([target("tls://a.example:443", interval=60)])
    clock.advance(0)
    probe.finish("tls://a.example:443")
    while len(probe.calls) < 2 and clock.seconds() < 120:
        clock.advance(0.5)
    assert len(probe.calls) == 2
    second = probe.calls[1][0]
    assert 30 <= second <= 90
    clock.advance(5)
    probe.finish("tls://a.example:443")
    assert len(results) == 2
    clock.advance(second + 60 - clock.seconds() - 0.01)
    assert len(probe.calls) == 2
    clock.advance(0.02)
    assert len(probe.calls) == 3


def test_never_two_runs_of_the_same_target() -> None:
    """A probe slower than its interval is not started again while it runs."""
    probe = FakeProbe()
    clock, scheduler, _, _ = make(probe)
    scheduler.start([target("tls://slow.example:443", interval=10, timeout=1000)])
    clock.pump([1.0] * 100)
    assert len(probe.calls) == 1
    probe.finish("tls://slow.example:443")
    clock.pump([1.0] * 11)
    assert len(probe.calls) == 2


def test_global_concurrency_cap() -> None:
    """No more than ``concurrency`` probes are in flight; the rest wait and then run."""
    probe = FakeProbe()
    clock, scheduler, _, _ = make(probe, concurrency=3)
    urls = [f"tls://h{i}.example:443" for i in range(10)]
    scheduler.start([target(u, interval=10) for u in urls])
    clock.advance(10)
    assert probe.in_flight() == 3
    assert scheduler.queued == 7
    for url in list(probe.pending):
        while probe.pending[url]:
            probe.finish(url)
    assert probe.in_flight() == 3
    assert len(probe.calls) == 6


def test_at_most_two_per_host() -> None:
    """Targets on one host run two at a time while other hosts are not held up."""
    probe = FakeProbe()
    clock, scheduler, _, _ = make(probe)
    same = [f"tls://busy.example:{port}" for port in range(1000, 1005)]
    scheduler.start([target(u, interval=10) for u in [*same, "tls://other.example:443"]])
    clock.advance(10)
    running = [url for url, ds in probe.pending.items() if ds]
    busy = [u for u in running if "busy" in u]
    assert len(busy) == 2
    assert "tls://other.example:443" in running
    probe.finish(busy[0])
    busy_now = [u for u, ds in probe.pending.items() if ds and "busy" in u]
    assert len(busy_now) == 2
    assert len([u for _, u in probe.calls if "busy" in u]) == 3


def test_survives_an_engine_bug() -> None:
    """A probe that raises, errbacks or never answers does not end its schedule."""
    calls: list[float] = []
    clock = task.Clock()
    mode = ["raise"]

    def probe(config: TargetConfig) -> defer.Deferred[ProbeResult]:
        calls.append(clock.seconds())
        if mode[0] == "raise":
            raise RuntimeError("engine bug")
        if mode[0] == "errback":
            return defer.fail(ValueError("also a bug"))
        return defer.Deferred()  # never fires: the watchdog must end it

    errors: list[Failure] = []
    scheduler = Scheduler(
        clock,
        probe,
        on_result=lambda t, r: None,
        on_error=lambda t, f: errors.append(f),
        jitter=0.0,
        rng=random.Random(3),
    )
    scheduler.start([target("tls://buggy.example:443", interval=30, timeout=1)])
    clock.pump([1.0] * 31)
    mode[0] = "errback"
    clock.pump([1.0] * 31)
    mode[0] = "hang"
    clock.pump([1.0] * 100)
    assert len(calls) >= 4
    kinds = [f.type for f in errors]
    assert RuntimeError in kinds and ValueError in kinds and defer.TimeoutError in kinds


@pytest.mark.parametrize("versions", [False, True])
def test_watchdog_leaves_time_for_every_handshake(versions: bool) -> None:
    """A probe with the version matrix makes a handshake per TLS version, each with the
    timeout: the watchdog must not end it while they run, and still ends a hung one."""
    clock = task.Clock()
    probe = FakeProbe()
    probe.clock = clock
    errors: list[Failure] = []
    results: list[ProbeResult] = []
    scheduler = Scheduler(
        clock,
        probe,
        on_result=lambda t, r: results.append(r),
        on_error=lambda t, f: errors.append(f),
        jitter=0.0,
        rng=random.Random(3),
    )
    slow = target("tls://slow.example:443", interval=600, timeout=10, versions=versions)
    scheduler.start([slow])
    clock.advance(0)
    assert probe.in_flight() == 1  # the first run starts at once
    # The probe and, with the matrix, one handshake per version, each using its timeout.
    clock.advance(10 * (5 if versions else 1))
    assert errors == []
    probe.finish(slow.url)
    assert len(results) == 1
    clock.advance(600)  # the next run hangs for good
    clock.pump([10.0] * 100)
    assert errors and {f.type for f in errors} == {defer.TimeoutError}


def test_survives_a_failing_result_handler() -> None:
    """An exception in the result handler is reported and the target runs again."""
    probe = FakeProbe()
    clock = task.Clock()
    probe.clock = clock
    errors: list[Failure] = []

    def broken(config: TargetConfig, result: ProbeResult) -> None:
        raise KeyError("handler bug")

    scheduler = Scheduler(
        clock, probe, on_result=broken, on_error=lambda t, f: errors.append(f), jitter=0.0
    )
    scheduler.start([target("tls://a.example:443", interval=5)])
    clock.pump([1.0] * 6)
    probe.finish("tls://a.example:443")
    clock.pump([1.0] * 6)
    assert [f.type for f in errors] == [KeyError]
    assert len(probe.calls) == 2


def test_stop_waits_for_in_flight_and_schedules_nothing() -> None:
    """stop() fires once the running probes end, and no new probe starts afterwards."""
    probe = FakeProbe()
    clock, scheduler, _, _ = make(probe)
    scheduler.start([target("tls://a.example:443", interval=5), target("tls://b.example:1")])
    clock.advance(0)
    assert probe.in_flight() == 2
    stopped = scheduler.stop()
    probe.finish("tls://a.example:443")
    assert not stopped.called
    probe.finish("tls://b.example:1")
    assert stopped.called
    clock.pump([10.0] * 20)
    assert len(probe.calls) == 2


def test_set_targets_keeps_schedules_and_drops_removed() -> None:
    """A reload keeps kept targets' schedules, starts new ones and stops removed ones."""
    probe = FakeProbe()
    clock, scheduler, _, _ = make(probe)
    scheduler.start([target("tls://keep.example:1", 10), target("tls://gone.example:1", 10)])
    scheduler.set_targets([target("tls://keep.example:1", 10), target("tls://new.example:1", 10)])
    for _ in range(30):
        clock.advance(1)
        for url in list(probe.pending):
            while probe.pending[url]:
                probe.finish(url)
    urls = {u for _, u in probe.calls}
    assert urls == {"tls://keep.example:1", "tls://new.example:1"}


def test_jitter_varies_the_interval_within_bounds() -> None:
    """With jitter, successive gaps differ but stay within ±jitter of the interval."""
    probe = FakeProbe()
    clock, scheduler, _, _ = make(probe, jitter=0.1, seed=7)
    scheduler.start([target("tls://a.example:443", interval=100)])
    for _ in range(1000):
        clock.advance(1)
        while probe.pending.get("tls://a.example:443"):
            probe.finish("tls://a.example:443")
    times = [t for t, _ in probe.calls[1:]]  # from the second run on, which takes its slot
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) >= 8
    assert all(89 <= g <= 111 for g in gaps)
    assert len(set(gaps)) > 1


def test_shards_partition_the_targets() -> None:
    """Every URL is in exactly one of N shards, and the split is roughly even."""
    targets = [target(f"tls://h{i}.example:443") for i in range(300)]
    shards = [in_shard(targets, (k, 3)) for k in (1, 2, 3)]
    assert sorted(t.url for s in shards for t in s) == sorted(t.url for t in targets)
    assert all(70 <= len(s) <= 130 for s in shards)
    assert shard_of("tls://h1.example:443", 3) == shard_of("tls://h1.example:443", 3)


def test_parse_shard() -> None:
    """K/N is parsed; nonsense is refused with the reason."""
    assert parse_shard("2/5") == (2, 5)
    for bad in ("0/3", "4/3", "x/3", "3"):
        try:
            parse_shard(bad)
        except ValueError as exc:
            assert "--shard" in str(exc)
        else:
            raise AssertionError(f"{bad} accepted")
