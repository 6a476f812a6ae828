"""What every sub-command shares: exit codes, the usage error, running the reactor.

Exit codes (fixed): 0 ok, 1 problems, 2 usage or configuration error, 3 failed.
"""

from __future__ import annotations

import argparse
import gc
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from diagnostics.model.errors import TlsdiagError
from diagnostics.model.result import ProbeResult

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3


class UsageError(TlsdiagError):
    """Bad arguments or configuration: one line for the user, exit 2."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are :class:`UsageError` (one line, exit 2)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def worst_exit(results: Sequence[ProbeResult]) -> int:
    """The exit code of several results: 3 > 1 > 0."""
    codes = [r.status.exit_code for r in results]
    for code in (EXIT_FAILED, EXIT_PROBLEMS):
        if code in codes:
            return code
    return EXIT_OK


def run_reactor(start: Callable[[Any], Any]) -> Any:
    """Run the reactor until the Deferred returned by ``start(reactor)`` fires; its result."""
    from twisted.internet import defer, reactor
    from twisted.python.failure import Failure

    outcome: list[Any] = []

    def go() -> None:
        d = defer.maybeDeferred(start, reactor)

        def finish(value: Any) -> None:
            outcome.append(value)
            reactor.stop()

        d.addBoth(finish)

    reactor.callWhenRunning(go)
    reactor.run()
    if not outcome:
        raise KeyboardInterrupt
    if isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    return outcome[0]


async def first_crl_load(reactor: Any, urls: Sequence[str], sources: Any = None) -> None:
    """Fetch the CRL URLs given into ``sources`` (the default CRL cache when None); one that
    cannot be had is a configuration error (exit 2)."""
    if not urls:
        return
    from diagnostics.tls.crl_sources import DEFAULT_SOURCES

    loaded = await (sources or DEFAULT_SOURCES).get(reactor, urls)
    for url, why in loaded.errors.items():
        raise UsageError(f"--crl {url}: {why}")


GC_THRESHOLDS = (10_000, 10, 10)


def tune_collector() -> None:
    """Collect garbage less often than Python's default (700 new objects).

    Every connection Twisted closes leaves reference cycles, so a process that probes or
    listens all day spends 10-15 % of its CPU in the collector at the default thresholds;
    measured with ``make bench``.  The entry points (this CLI and the twistd plugin) call it.
    """
    gc.set_threshold(*GC_THRESHOLDS)
