"""What every sub-command shares: exit codes, the usage error, running the reactor.

Exit codes (fixed): 0 ok, 1 problems, 2 usage or configuration error, 3 failed.
"""

from __future__ import annotations

import argparse
import gc
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from diagnostics.model.errors import TlsdiagError
from diagnostics.model.result import ProbeResult

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3


class UsageError(TlsdiagError):
    """Bad arguments or configuration: one line for the user, exit 2."""


# A value that argparse would take for an option because it starts with "-".
_NEGATIVE_NUMBER = re.compile(r"^-(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$")


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are :class:`UsageError` (one line, exit 2).

    A negative number after an option that takes a value is that option's value
    (``--timeout -5`` is refused by the option's range, not as "expected one argument"):
    argparse alone reads it as an option because ``probe`` has ``-4`` and ``-6``.
    """

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Parse ``args``, each negative number joined to the option before it."""
        if args is not None:
            args = self._negative_values_joined(list(args))
        return super().parse_known_args(args, namespace)

    def _negative_values_joined(self, args: list[str]) -> list[str]:
        joined: list[str] = []
        index = 0
        while index < len(args):
            token = args[index]
            if token == "--":
                joined.extend(args[index:])
                break
            action = self._option_string_actions.get(token)
            following = args[index + 1] if index + 1 < len(args) else ""
            if action is not None and action.nargs is None and _NEGATIVE_NUMBER.match(following):
                joined.append(f"{token}={following}")
                index += 2
                continue
            joined.append(token)
            index += 1
        return joined


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


# cryptography warns on stderr each time a certificate's serial number that is zero or
# negative is read; peers send such certificates, and the finding serial_not_positive
# says so in the result instead.
_PEER_DATA_WARNINGS = ("Parsed a serial number which wasn't positive",)


def prepare_process() -> None:
    """What the entry points (this CLI and the twistd plugin) set up for the whole process.

    Garbage is collected less often than Python's default (700 new objects): every connection
    Twisted closes leaves reference cycles, so a process that probes or listens all day spends
    10-15 % of its CPU in the collector at the default thresholds; measured with ``make bench``.
    Warnings that describe a peer's data, not this program, are not printed (a finding
    carries them).
    """
    gc.set_threshold(*GC_THRESHOLDS)
    for message in _PEER_DATA_WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(message))
