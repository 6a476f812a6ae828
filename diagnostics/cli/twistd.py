# -*- test-case-name: tests.daemon.test_service -*-
"""``twistd -n tlsdiag --config FILE``: the daemon as a twistd application.

The plugin in ``twisted/plugins`` points here; :func:`makeService` builds the
same service as ``tlsdiag daemon`` (:func:`diagnostics.daemon.service.make_service`).
twistd runs the reactor, handles SIGTERM and SIGINT and writes Twisted's own
log; the service still writes its streams under ``log_dir``.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

from twisted.application import service
from twisted.python import usage

from diagnostics.daemon.config import DEFAULT_CONFIG
from diagnostics.daemon.schedule import parse_shard
from diagnostics.daemon.service import load_or_report, make_service


class Options(usage.Options):
    """The options of ``twistd tlsdiag`` (those of ``tlsdiag daemon``)."""

    optParameters = [  # noqa: RUF012 (usage.Options reads these class attributes)
        ["config", "c", DEFAULT_CONFIG, "the TOML configuration"],
        ["shard", None, None, "probe only shard K of N (stable hash), as K/N"],
    ]
    optFlags = [  # noqa: RUF012
        ["log-stdout", None, "all log streams to standard output"],
    ]

    def postOptions(self) -> None:
        """Check --shard."""
        if self["shard"] is not None:
            try:
                self["shard"] = parse_shard(self["shard"])
            except ValueError as exc:
                raise usage.UsageError(str(exc)) from None


def makeService(options: Any) -> service.IService:
    """The daemon's service; exit code 2 with every problem when the configuration is invalid."""
    from diagnostics.cli.common import prepare_process

    prepare_process()
    config = load_or_report(options["config"], sys.stderr)
    if config is None:
        raise SystemExit(2)
    from twisted.internet import reactor

    def clean_exit() -> None:
        # twistd ends itself with the signal that stopped the reactor; for this daemon SIGTERM
        # and SIGINT are the normal way to stop, which ends with exit 0 as `tlsdiag daemon` does.
        if getattr(reactor, "_exitSignal", None) in (signal.SIGTERM, signal.SIGINT):
            reactor._exitSignal = None  # type: ignore[attr-defined]

    reactor.addSystemEventTrigger("after", "shutdown", clean_exit)
    return make_service(
        config, reactor=reactor, shard=options["shard"], log_stdout=bool(options["log-stdout"])
    )
