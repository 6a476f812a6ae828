"""``tlsdiag daemon``: probe configured targets on a schedule and serve metrics."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, TextIO

from diagnostics.cli.common import UsageError


def register(subparsers: Any) -> None:
    """Add ``daemon`` to the sub-commands."""
    daemon = subparsers.add_parser(
        "daemon", help="probe configured targets on a schedule, serve metrics"
    )
    daemon.add_argument(
        "--config",
        default=os.path.join("config", "tlsdiag.toml"),
        metavar="FILE",
        help="the TOML configuration (default: %(default)s)",
    )
    daemon.add_argument(
        "--shard",
        metavar="K/N",
        help="probe only shard K of N (stable hash) (default: every target)",
    )
    daemon.add_argument(
        "--log-stdout",
        action="store_true",
        help="all log streams to stdout (default: files in the configured log_dir)",
    )
    daemon.add_argument(
        "--progress",
        action="store_true",
        help="a readable block per target on stderr as results arrive (what `make run` shows) "
        "(default: off)",
    )
    daemon.set_defaults(handler=run)


def run(args: argparse.Namespace, _out: TextIO) -> int:
    """Run the daemon until SIGINT/SIGTERM; exit 2 when the configuration is invalid."""
    from diagnostics.daemon.schedule import parse_shard
    from diagnostics.daemon.service import run as run_daemon

    try:
        shard = parse_shard(args.shard) if args.shard else None
    except ValueError as exc:
        raise UsageError(f"tlsdiag daemon: {exc}") from None
    return run_daemon(
        args.config,
        shard=shard,
        log_stdout=args.log_stdout,
        progress=args.progress,
        err=sys.stderr,
    )
