"""``tlsdiag explain CODE``: what a verify code, alert, FTP reply or OpenSSL reason means."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, TextIO

from diagnostics.cli.common import EXIT_OK, UsageError

if TYPE_CHECKING:
    from diagnostics.explain.catalogue import Explanation


def register(subparsers: Any) -> None:
    """Add ``explain`` to the sub-commands."""
    explain = subparsers.add_parser(
        "explain",
        help="explain an OpenSSL code, alert or FTP reply",
        description="Explain verify codes, TLS alerts, FTP replies and OpenSSL reason texts; "
        "several codes are explained one after the other.",
    )
    explain.add_argument(
        "code",
        nargs="+",
        metavar="CODE",
        help="a verify code (20, CERT_HAS_EXPIRED), alert:48 or unknown_ca, ftp:522 (100 to "
        "699), or an OpenSSL reason text (quoted, or as several words)",
    )
    explain.set_defaults(handler=run)


def _entries(codes: list[str]) -> list[Explanation]:
    """One entry per code when each is known; else the words as one reason text."""
    from diagnostics.explain.catalogue import explain

    entries = [explain(code) for code in codes]
    known = [entry for entry in entries if entry is not None]
    if len(known) == len(codes):
        return known
    joined = explain(" ".join(codes))  # an unquoted reason text: wrong version number
    if joined is not None:
        return [joined]
    unknown = [code for code, entry in zip(codes, entries, strict=True) if entry is None]
    names = ", ".join(repr(code) for code in unknown)
    raise UsageError(
        f"nothing known as {names}; try a verify code (20, CERT_HAS_EXPIRED), alert:48 or "
        'unknown_ca, ftp:522, or an OpenSSL reason text ("wrong version number")'
    )


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Print the explanation of every code; a usage error when one is known by no name."""
    from diagnostics.render.explanation import render_explanation

    entries = _entries(list(args.code))
    out.write("\n\n".join(render_explanation(entry) for entry in entries) + "\n")
    return EXIT_OK
