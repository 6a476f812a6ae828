"""``tlsdiag probe``: probe endpoints and explain what is wrong.

Every URL (in the arguments and ``--targets``) is validated before anything is
probed; results are printed in input order as soon as every earlier one is done.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any, TextIO

import attrs

from diagnostics.cli.common import UsageError, first_crl_load, run_reactor, worst_exit
from diagnostics.cli.options import (
    add_crl,
    add_expiry_windows,
    add_log_dir,
    add_output,
    add_timeouts,
    check_crl_urls,
    positive_int,
)
from diagnostics.model.options import ProbeOptions, TrustConfig
from diagnostics.model.result import ProbeResult, Target
from diagnostics.model.target import TargetError, parse_target


def register(subparsers: Any) -> None:
    """Add ``probe`` to the sub-commands."""
    probe = subparsers.add_parser("probe", help="probe endpoints and explain what is wrong")
    probe.add_argument("urls", nargs="*", metavar="URL")
    probe.add_argument("--targets", metavar="FILE", help="a file of URLs, one per line")
    probe.add_argument("--concurrency", type=positive_int, default=50)
    probe.add_argument("--ca", action="append", default=[], metavar="FILE")
    probe.add_argument("--system-trust", action="store_true")
    add_crl(probe, "a CA in the chain")
    probe.add_argument(
        "--crl-check",
        choices=("leaf", "chain"),
        default="leaf",
        help="check the peer's certificate only (leaf, the default) or every certificate "
        "below the root (chain)",
    )
    probe.add_argument(
        "--crl-from-cdp",
        action="store_true",
        help="after the handshake, fetch CRLs from the chain's CRL distribution points "
        "(http only) and check revocation",
    )
    probe.add_argument("--cert", metavar="FILE")
    probe.add_argument("--key", metavar="FILE")
    probe.add_argument("--servername", metavar="NAME")
    probe.add_argument(
        "--fetch-issuer",
        action="store_true",
        help="fetch a missing issuer from the leaf's AIA caIssuers URL (http only) to name it",
    )
    add_timeouts(probe, ("timeout", 10.0))
    probe.add_argument("--user", default="anonymous")
    probe.add_argument("--password-env", metavar="VAR")
    probe.add_argument("--no-data-channel", action="store_true")
    family = probe.add_mutually_exclusive_group()
    family.add_argument("-4", dest="family", action="store_const", const=4)
    family.add_argument("-6", dest="family", action="store_const", const=6)
    add_output(probe, ("text", "s_client", "json"))
    add_log_dir(probe)
    add_expiry_windows(probe)
    probe.set_defaults(handler=run)


def _read_targets_file(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--targets {path!r} cannot be read: {exc}") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _targets(args: argparse.Namespace) -> list[Target]:
    urls = list(args.urls)
    if args.targets:
        urls.extend(_read_targets_file(args.targets))
    if not urls:
        raise UsageError("tlsdiag probe: give at least one URL (or --targets FILE)")
    targets = []
    for url in urls:
        try:
            targets.append(parse_target(url, servername=args.servername))
        except TargetError as exc:
            raise UsageError(f"tlsdiag probe: {exc}") from None
    return targets


def _options(args: argparse.Namespace) -> ProbeOptions:
    password = "anonymous@"
    if args.password_env:
        if args.password_env not in os.environ:
            raise UsageError(f"--password-env: the variable {args.password_env} is not set")
        password = os.environ[args.password_env]
    if bool(args.cert) != bool(args.key):
        raise UsageError("a client certificate needs both --cert and --key")
    if args.critical_days > args.warn_days:
        raise UsageError("--critical-days must not be more than --warn-days")
    check_crl_urls(args.crl)
    trust = TrustConfig(
        ca_files=tuple(args.ca),
        system_trust=args.system_trust,
        crl_files=tuple(args.crl),
        crl_check=args.crl_check,
        cert_file=args.cert,
        key_file=args.key,
    )
    return ProbeOptions(
        trust=trust,
        timeout=args.timeout,
        family=args.family,
        user=args.user,
        password=password,
        data_channel=not args.no_data_channel,
        fetch_issuer=args.fetch_issuer,
        crl_from_cdp=args.crl_from_cdp,
        warn_days=args.warn_days,
        critical_days=args.critical_days,
    )


class _OrderedPrinter:
    """Print results in input order as soon as every earlier one is done."""

    def __init__(self, emit: Callable[[ProbeResult], None], count: int) -> None:
        self.emit = emit
        self.pending: dict[int, ProbeResult] = {}
        self.next = 0
        self.count = count

    def __call__(self, index: int, result: ProbeResult) -> None:
        self.pending[index] = result
        while self.next in self.pending:
            self.emit(self.pending.pop(self.next))
            self.next += 1


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Probe every target; the worst exit code of their results."""
    targets = _targets(args)
    options = _options(args)
    from diagnostics.model.revocation import is_url
    from diagnostics.render import render
    from diagnostics.tls.trust import DEFAULT_CACHE, TrustError

    crl_urls = [entry for entry in options.trust.crl_files if is_url(entry)]
    files_only = [entry for entry in options.trust.crl_files if not is_url(entry)]
    try:
        # CRL URLs are fetched once the reactor runs (first_crl_load).
        DEFAULT_CACHE.get(attrs.evolve(options.trust, crl_files=tuple(files_only)))
    except TrustError as exc:
        raise UsageError(str(exc)) from None
    fmt = args.format or ("text" if out.isatty() else "json")
    colour = fmt == "text" and out.isatty() and "NO_COLOR" not in os.environ
    log = None
    if args.log_dir:
        from diagnostics.daemon.logs import ProbeLog

        try:
            log = ProbeLog(args.log_dir)
        except OSError as exc:
            raise UsageError(f"--log-dir {args.log_dir!r}: {exc.strerror or exc}") from None
    separator = "\n" if fmt != "json" else ""

    def emit(result: ProbeResult) -> None:
        if log is not None:
            log.write(result)
        out.write(render(result, fmt, colour=colour) + "\n" + separator)
        out.flush()

    printer = _OrderedPrinter(emit, len(targets))

    async def start(reactor: Any) -> list[ProbeResult]:
        from diagnostics.probes.dispatch import probe_many

        await first_crl_load(reactor, crl_urls)
        done: list[ProbeResult] = await probe_many(
            reactor, targets, options, concurrency=args.concurrency, on_result=printer
        )
        return done

    from twisted.internet import defer

    results = run_reactor(lambda reactor: defer.Deferred.fromCoroutine(start(reactor)))
    return worst_exit(results)
