"""``tlsdiag verify``: OpenSSL's verdict on certificate files, diagnosed like a probe."""

from __future__ import annotations

import argparse
import datetime
import os
from typing import Any, Literal, TextIO

from diagnostics.cli.common import UsageError
from diagnostics.render import render

# More than any certificate bundle or CRL (large public CAs' CRLs run to a few megabytes).
MAX_FILE_BYTES = 64 * 2**20
_KINDS = {"certificate": "certificates (PEM or DER)", "crl": "a CRL (PEM or DER)"}


def register(subparsers: Any) -> None:
    """Add ``tlsdiag verify``."""
    verify = subparsers.add_parser(
        "verify", help="verify certificate files offline and explain what is wrong"
    )
    verify.add_argument("cert", metavar="CERT", help="the certificate, or a bundle (leaf first)")
    verify.add_argument("--ca", action="append", default=[], metavar="FILE", help="trusted CAs")
    verify.add_argument(
        "--untrusted", action="append", default=[], metavar="FILE", help="extra intermediates"
    )
    verify.add_argument(
        "--crl", action="append", default=[], metavar="FILE", help="CRLs (checks the whole chain)"
    )
    verify.add_argument("--name", metavar="NAME", help="host name or IP address to check")
    verify.add_argument(
        "--at", type=_instant, metavar="ISO8601", help="verify as of this time (UTC by default)"
    )
    verify.add_argument("--purpose", choices=("server", "client"), default="server")
    verify.add_argument("--format", choices=("text", "json"), default=None)
    verify.set_defaults(handler=run)


def _instant(text: str) -> datetime.datetime:
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 time: {text!r} (e.g. 2030-01-31 or 2030-01-31T12:00:00Z)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=datetime.UTC)


def _read(path: str, option: str, kind: Literal["certificate", "crl"]) -> bytes:
    """A file's bytes; a usage error when it cannot be read or is no such file at all."""
    from diagnostics.tls.verification import looks_like

    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise UsageError(
            f"tlsdiag verify: {option}{path!r} cannot be read: {exc.strerror or exc}"
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise UsageError(
            f"tlsdiag verify: {option}{path!r} is larger than {MAX_FILE_BYTES // 2**20} MiB: "
            f"it cannot hold {_KINDS[kind]}"
        )
    if not looks_like(data, kind):
        found = "it is empty" if not data.strip() else "no PEM block of that kind and not DER"
        raise UsageError(f"tlsdiag verify: {option}{path!r} does not hold {_KINDS[kind]}: {found}")
    return data


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Verify the files named in ``args`` and print the result; the result's exit code."""
    from diagnostics.tls.verification import name_problem, verify_chain

    if args.name is not None and (problem := name_problem(args.name)) is not None:
        raise UsageError(f"tlsdiag verify: --name {args.name!r}: {problem}")
    leaf = _read(args.cert, "", "certificate")
    trusted = [_read(path, "--ca ", "certificate") for path in args.ca]
    untrusted = [_read(path, "--untrusted ", "certificate") for path in args.untrusted]
    crls = [_read(path, "--crl ", "crl") for path in args.crl]
    result = verify_chain(
        leaf,
        trusted=trusted,
        untrusted=untrusted,
        crls=crls,
        name=args.name,
        at=args.at,
        purpose=args.purpose,
        label=args.cert,
        crl_names=args.crl,
    )
    fmt = args.format or ("text" if out.isatty() else "json")
    colour = fmt == "text" and out.isatty() and "NO_COLOR" not in os.environ
    out.write(render(result, fmt, colour=colour) + "\n")
    return result.status.exit_code
