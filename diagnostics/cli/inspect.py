"""``tlsdiag inspect FILE``: what a certificate file holds, how it links, what to fix."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from diagnostics.cli.common import EXIT_OK, EXIT_PROBLEMS, UsageError
from diagnostics.cli.options import add_expiry_windows, add_output, secret_from_env
from diagnostics.model.result import Status
from diagnostics.pki.inspection import InspectionError, inspect_file
from diagnostics.render.inspection import render_inspection


def register(subparsers: Any) -> None:
    """Add the ``inspect`` sub-command."""
    parser = subparsers.add_parser(
        "inspect",
        help="inspect a PEM bundle, DER file or PKCS#12 file: order, links, key match, expiry",
    )
    parser.add_argument(
        "file", metavar="FILE", help="the certificate file: PEM bundle, DER or PKCS#12"
    )
    parser.add_argument(
        "--password-env",
        metavar="VAR",
        help="the environment variable holding the PKCS#12 or private-key password "
        "(default: none; an encrypted key is then reported, not opened)",
    )
    add_output(parser, ("text", "json"))
    add_expiry_windows(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Inspect the file and print the result; 0 clean, 1 problems, 2 unreadable."""
    secret = secret_from_env(args.password_env, "--password-env")
    password = None if secret is None else secret.encode("utf-8")
    if args.critical_days > args.warn_days:
        raise UsageError("--critical-days must not be more than --warn-days")
    try:
        inspection = inspect_file(
            args.file,
            password=password,
            warn_days=args.warn_days,
            critical_days=args.critical_days,
        )
    except InspectionError as exc:
        raise UsageError(f"tlsdiag inspect: {args.file}: {exc}") from None
    fmt = args.format or ("text" if out.isatty() else "json")
    if fmt == "json":
        out.write(json.dumps(inspection.to_json()) + "\n")
    else:
        out.write(render_inspection(inspection) + "\n")
    return EXIT_OK if inspection.status is Status.OK else EXIT_PROBLEMS
