"""``tlsdiag verify``: OpenSSL's verdict on certificate files, diagnosed like a probe."""

from __future__ import annotations

import argparse
import datetime
import os
from typing import Any, Literal, TextIO

from diagnostics.cli.common import UsageError
from diagnostics.cli.options import add_output
from diagnostics.model import files
from diagnostics.model.files import FileError, read_bounded, wrong_material
from diagnostics.render import render

# The shared bound (more than any certificate bundle or CRL); read at each call.
MAX_FILE_BYTES = files.MAX_FILE_BYTES
_KINDS = {"certificate": "certificates (PEM or DER)", "crl": "a CRL (PEM or DER)"}


def register(subparsers: Any) -> None:
    """Add ``tlsdiag verify``."""
    verify = subparsers.add_parser(
        "verify",
        help="verify certificate files offline and explain what is wrong",
        epilog="exit codes: 0 ok, 1 problems, 2 usage error (a file that holds no certificate "
        "or CRL at all)",
    )
    verify.add_argument("cert", metavar="CERT", help="the certificate, or a bundle (leaf first)")
    verify.add_argument(
        "--ca",
        action="append",
        default=[],
        metavar="FILE",
        help="trusted CAs (repeatable; default: none)",
    )
    verify.add_argument(
        "--untrusted",
        action="append",
        default=[],
        metavar="FILE",
        help="extra intermediates (repeatable; default: none)",
    )
    verify.add_argument(
        "--crl",
        action="append",
        default=[],
        metavar="FILE",
        help="CRLs; checks the whole chain (repeatable; default: no CRL check)",
    )
    verify.add_argument(
        "--name", metavar="NAME", help="host name or IP address to check (default: none checked)"
    )
    verify.add_argument(
        "--at",
        type=_instant,
        metavar="ISO8601",
        help="verify as of this time (UTC unless it says; default: now)",
    )
    verify.add_argument(
        "--purpose",
        choices=("server", "client"),
        default="server",
        help="the certificate's use to check (default: %(default)s)",
    )
    add_output(verify, ("text", "json"))
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
    """A file's bytes (bounded); a usage error when it cannot be read or is no such file at all."""
    from diagnostics.tls.verification import looks_like

    try:
        data = read_bounded(path, option or "certificate file", limit=MAX_FILE_BYTES)
    except FileError as exc:
        raise UsageError(f"tlsdiag verify: {exc}") from None
    other = wrong_material(data, "a certificate" if kind == "certificate" else "a CRL")
    pem = b"-----BEGIN" in data
    if looks_like(data, kind) and (pem or other is None):
        return data  # a PEM block of that kind, or DER that is no other known material
    if not data.strip():
        found = "it is empty"
    elif other is not None:
        found = f"no PEM block of that kind (it {other})" if pem else f"it {other}"
    else:
        found = "no PEM block of that kind and not DER"
    raise UsageError(
        f"tlsdiag verify: {option or 'certificate file'} {path!r} does not hold "
        f"{_KINDS[kind]}: {found}"
    )


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Verify the files named in ``args`` and print the result; the result's exit code."""
    from diagnostics.tls.verification import name_problem, verify_chain

    if args.name is not None and (problem := name_problem(args.name)) is not None:
        raise UsageError(f"tlsdiag verify: --name {args.name!r}: {problem}")
    leaf = _read(args.cert, "", "certificate")
    trusted = [_read(path, "--ca", "certificate") for path in args.ca]
    untrusted = [_read(path, "--untrusted", "certificate") for path in args.untrusted]
    crls = [_read(path, "--crl", "crl") for path in args.crl]
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
