"""``tlsdiag explain CODE``: what a verify code, alert, FTP reply or OpenSSL reason means."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from diagnostics.cli.common import EXIT_OK, UsageError


def register(subparsers: Any) -> None:
    """Add ``explain`` to the sub-commands."""
    explain = subparsers.add_parser("explain", help="explain an OpenSSL code, alert or FTP reply")
    explain.add_argument("code", nargs="+")
    explain.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Print the explanation; a usage error when nothing is known by that name."""
    from diagnostics.explain.catalogue import explain
    from diagnostics.render.explanation import render_explanation

    query = " ".join(args.code)
    entry = explain(query)
    if entry is None:
        raise UsageError(
            f"tlsdiag explain: nothing known as {query!r}; try a verify code (20, "
            "CERT_HAS_EXPIRED), alert:48 or unknown_ca, ftp:522, or an OpenSSL reason text "
            '("wrong version number")'
        )
    out.write(render_explanation(entry) + "\n")
    return EXIT_OK
