"""``tlsdiag lab``: start the local endpoints with known faults and print how to probe them."""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Sequence
from typing import Any, TextIO

# Pure modules only here: every tlsdiag command registers this one, and the servers need Twisted.
from diagnostics.lab.endpoints import (
    DEFAULT_BASE_PORT,
    DEFAULT_BIND,
    DEFAULT_STATE_DIR,
    base_port_problem,
)
from diagnostics.lab.manifest import ManifestEntry


def _bind_address(text: str) -> str:
    """An IP address to listen on (a host name would hide which interface is meant)."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an IP address (for example 127.0.0.1 or ::1): {text!r}"
        ) from None


def _base_port(text: str) -> int:
    """A base port the lab's ports fit above (the same rule as [lab] base_port)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    problem = base_port_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return value


def register(subparsers: Any) -> None:
    """Add ``tlsdiag lab``."""
    parser = subparsers.add_parser(
        "lab",
        help="start local HTTPS and FTPS endpoints with known faults, to probe and learn from",
    )
    parser.add_argument(
        "--bind",
        type=_bind_address,
        default=DEFAULT_BIND,
        metavar="ADDR",
        help="the address to listen on (default %(default)s)",
    )
    parser.add_argument(
        "--base-port",
        type=_base_port,
        default=DEFAULT_BASE_PORT,
        metavar="N",
        help="the publisher listens on N, endpoint k on N+k (default %(default)s)",
    )
    parser.add_argument(
        "--manifest",
        metavar="FILE",
        help="also write the manifest (JSON) here (default: only manifest.json in --state-dir)",
    )
    parser.add_argument(
        "--state-dir",
        default=DEFAULT_STATE_DIR,
        metavar="DIR",
        help="CA bundle, client identity, CRL and manifest (default %(default)s)",
    )
    parser.set_defaults(handler=run)


def table(manifest: Sequence[ManifestEntry]) -> str:
    """One block per endpoint: name, URL, the expected finding, the fault, the probe command."""
    width = max(len(e.name) for e in manifest)
    url_width = max(len(e.url) for e in manifest)
    lines = [f"{'NAME':<{width}}  {'URL':<{url_width}}  {'EXPECT':<28}  FAULT"]
    for e in manifest:
        lines.append(f"{e.name:<{width}}  {e.url:<{url_width}}  {e.expect:<28}  {e.fault}")
        lines.append(f"{'':<{width}}  $ {e.command}")
    return "\n".join(lines)


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Start the lab and serve until interrupted (Ctrl-C, SIGTERM); 0 on a clean stop."""
    from twisted.internet import reactor

    from diagnostics.cli.common import EXIT_OK, UsageError
    from diagnostics.lab.manifest import write_manifest
    from diagnostics.lab.servers import LabError, start_lab

    problem: list[str] = []

    def start() -> None:
        try:
            lab = start_lab(
                reactor, bind=args.bind, base_port=args.base_port, state_dir=args.state_dir
            )
        except LabError as exc:
            problem.append(f"tlsdiag lab: {exc}")
            reactor.stop()
            return
        reactor.addSystemEventTrigger("before", "shutdown", lab.stop)
        if args.manifest:
            try:
                write_manifest(args.manifest, lab.manifest)
            except OSError as exc:
                problem.append(
                    f"tlsdiag lab: the manifest {args.manifest!r} cannot be written: "
                    f"{exc.strerror or exc}"
                )
                reactor.stop()
                return
        out.write(
            f"tlsdiag lab: {len(lab.manifest)} endpoints on {args.bind}, each with one known "
            f"fault.\nTrust anchor: {lab.manifest[0].ca_file}; files (CA, AIA issuer, CRL) "
            f"also at {lab.publisher}\nState folder: {lab.state_dir} (manifest.json lists "
            "every endpoint and its expected finding)\n\n"
        )
        out.write(table(lab.manifest) + "\n\nCtrl-C stops the lab.\n")
        out.flush()

    reactor.callWhenRunning(start)
    reactor.run()  # Twisted stops on SIGINT and SIGTERM, running the shutdown triggers
    if problem:
        raise UsageError(problem[0])
    return EXIT_OK
