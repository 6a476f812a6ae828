# -*- test-case-name: tests.daemon.test_schedule -*-
"""Run every target's probe again and again: interval, jitter, limits, no overlap.

Each target's next run is scheduled with ``callLater`` only after its previous
run has ended, whatever the outcome, so a run can never overlap the previous
one and no failure can end a schedule (unlike ``TimerService``, which stops
for good on one unhandled failure).  The clock is a parameter.

A new target (at start or on reload) is probed as soon as a slot is free, so
every target has a result within seconds, not after an interval.  Its second
run falls on the target's own slot in the interval (a random phase), at least
half an interval after the first, so the burst of first runs spreads into an
even load within one interval; later runs follow the interval with jitter.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import random
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import attrs
from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure

from diagnostics.daemon.config import TargetConfig
from diagnostics.model.result import ProbeResult
from diagnostics.tls import offers

ProbeCall = Callable[[TargetConfig], "defer.Deferred[ProbeResult]"]
ResultCall = Callable[[TargetConfig, ProbeResult], None]
ErrorCall = Callable[[TargetConfig, Failure], None]

PER_HOST = 2
JITTER = 0.1


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` (1 <= K <= N) as (K, N); ValueError saying what is wrong."""
    k_text, sep, n_text = text.partition("/")
    try:
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise ValueError(f"--shard {text!r}: write it as K/N, for example 1/3") from None
    if not sep or n < 1 or not 1 <= k <= n:
        raise ValueError(f"--shard {text!r}: K/N needs 1 <= K <= N")
    return k, n


def shard_of(url: str, count: int) -> int:
    """The shard (1..count) a URL belongs to: a hash stable across runs and machines."""
    digest = hashlib.sha256(url.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def in_shard(targets: Iterable[TargetConfig], shard: tuple[int, int] | None) -> list[TargetConfig]:
    """The targets that belong to ``shard`` (all of them when it is None)."""
    if shard is None:
        return list(targets)
    k, n = shard
    return [t for t in targets if shard_of(t.url, n) == k]


@attrs.define(eq=False)
class _Entry:
    config: TargetConfig
    call: IDelayedCall | None = None
    queued: bool = False
    running: defer.Deferred[None] | None = None
    active: bool = True
    runs: int = 0
    # The target's slot in the interval, as a fraction, and when it joined the schedule.
    phase: float = 0.0
    joined: float = 0.0


class Scheduler:
    """Probe a set of targets on their intervals, within the concurrency limits."""

    def __init__(
        self,
        clock: IReactorTime,
        probe: ProbeCall,
        *,
        on_result: ResultCall,
        on_error: ErrorCall,
        concurrency: int = 100,
        per_host: int = PER_HOST,
        jitter: float = JITTER,
        rng: random.Random | None = None,
        watchdog: Callable[[TargetConfig], float] | None = None,
    ) -> None:
        self.clock = clock
        self.probe = probe
        self.on_result = on_result
        self.on_error = on_error
        self.concurrency = max(1, concurrency)
        self.per_host = max(1, per_host)
        self.jitter = jitter
        self.rng = rng or random.Random()
        self.watchdog = watchdog or _default_watchdog
        self.entries: dict[str, _Entry] = {}
        self.ready: deque[_Entry] = deque()
        self.blocked: dict[str, deque[_Entry]] = {}
        self.host_running: dict[str, int] = {}
        self.running = 0
        self.started = False

    # -- the target set -----------------------------------------------------------------

    def start(self, targets: Iterable[TargetConfig]) -> None:
        """Start scheduling ``targets``: first runs at once, within the limits."""
        self.started = True
        self.set_targets(targets)

    def set_targets(self, targets: Iterable[TargetConfig]) -> None:
        """Replace the target set; kept targets keep their schedule and take the new settings."""
        wanted = {t.url: t for t in targets}
        for url in list(self.entries):
            if url not in wanted:
                self._remove(self.entries.pop(url))
        for url, config in wanted.items():
            entry = self.entries.get(url)
            if entry is not None:
                entry.config = config
                continue
            entry = self.entries[url] = _Entry(config, phase=self.rng.random())
            if self.started:
                entry.joined = self.clock.seconds()
                self._schedule(entry, 0.0)

    def _remove(self, entry: _Entry) -> None:
        entry.active = False
        if entry.call is not None and entry.call.active():
            entry.call.cancel()
        entry.call = None

    def stop(self) -> defer.Deferred[None]:
        """Schedule nothing more; fires when the probes in flight have ended."""
        self.started = False
        for entry in self.entries.values():
            self._remove(entry)
        self.ready.clear()
        self.blocked.clear()
        in_flight = [e.running for e in self.entries.values() if e.running is not None]
        done: defer.Deferred[Any] = defer.DeferredList(in_flight, consumeErrors=True)
        return done.addCallback(lambda _: None)

    @property
    def queued(self) -> int:
        """How many due runs wait for a free slot."""
        return len(self.ready) + sum(len(q) for q in self.blocked.values())

    # -- running --------------------------------------------------------------------------

    def _schedule(self, entry: _Entry, delay: float) -> None:
        if entry.active and self.started:
            entry.call = self.clock.callLater(max(0.0, delay), self._due, entry)

    def _due(self, entry: _Entry) -> None:
        entry.call = None
        if not entry.active or entry.queued or entry.running is not None:
            return
        entry.queued = True
        self.ready.append(entry)
        self._pump()

    def _pump(self) -> None:
        while self.ready and self.running < self.concurrency:
            entry = self.ready.popleft()
            if not entry.active:
                entry.queued = False
                continue
            host = entry.config.host
            if self.host_running.get(host, 0) >= self.per_host:
                self.blocked.setdefault(host, deque()).append(entry)
                continue
            entry.queued = False
            self._run(entry)

    def _run(self, entry: _Entry) -> None:
        config = entry.config
        host = config.host
        self.running += 1
        self.host_running[host] = self.host_running.get(host, 0) + 1
        started = self.clock.seconds()
        entry.runs += 1
        try:
            d: defer.Deferred[Any] = defer.maybeDeferred(self.probe, config)
            d.addTimeout(self.watchdog(config), self.clock)
        except Exception:
            d = defer.fail(Failure())  # type: ignore[no-untyped-call]

        def finished(outcome: Any) -> None:
            try:
                if isinstance(outcome, Failure):
                    self.on_error(config, outcome)
                else:
                    self.on_result(config, outcome)
            except Exception:
                self._report(config, Failure())  # type: ignore[no-untyped-call]
            finally:
                self._finish(entry, host, started)

        # Set before adding the callback: a probe that fails at once finishes right here.
        entry.running = d
        d.addBoth(finished)

    def _report(self, config: TargetConfig, failure: Failure) -> None:
        # When the error reporter itself fails there is nothing left to do but go on.
        with contextlib.suppress(Exception):
            self.on_error(config, failure)

    def _finish(self, entry: _Entry, host: str, started: float) -> None:
        entry.running = None
        self.running -= 1
        left = self.host_running.get(host, 1) - 1
        if left:
            self.host_running[host] = left
        else:
            self.host_running.pop(host, None)
        waiting = self.blocked.get(host)
        if waiting:
            self.ready.appendleft(waiting.popleft())
            if not waiting:
                del self.blocked[host]
        now = self.clock.seconds()
        self._schedule(entry, max(self._next_start(entry, started) - now, 0.0))
        self._pump()

    def _next_start(self, entry: _Entry, started: float) -> float:
        """When the run after the one that started at ``started`` is due."""
        interval = entry.config.settings.interval
        if entry.runs == 1:
            # The first slot of the target's phase at least half an interval after its first run.
            due = entry.joined + entry.phase * interval
            earliest = started + interval / 2
            if due < earliest:
                due += math.ceil((earliest - due) / interval) * interval
        else:
            spread = self.rng.uniform(-self.jitter, self.jitter) * interval if self.jitter else 0.0
            due = started + interval + spread
        # A probe slower than its interval runs again soon, but never back to back.
        return max(due, self.clock.seconds() + interval * 0.1)


def _default_watchdog(config: TargetConfig) -> float:
    """How long a probe may take before it is given up as an engine that never answers.

    A probe bounds itself with its timeout (its follow-ups and SNI comparison included);
    the version matrix (``versions = true``) gives each version's handshake a timeout of
    its own on top.
    """
    options = config.settings.options
    handshakes = 1 + (len(offers.VERSIONS) if options.versions else 0)
    return options.timeout * (3 + handshakes) + 5.0
