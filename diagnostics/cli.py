"""The ``tlsdiag`` command line.  Every sub-command ends in an exit code, never a traceback.

Exit codes (fixed): 0 ok, 1 problems, 2 usage or configuration error, 3 failed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TextIO

import attrs

from diagnostics import __version__
from diagnostics.model import ProbeResult, Status, Target
from diagnostics.options import ProbeOptions, TrustConfig
from diagnostics.target import TargetError, parse_target

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3


class UsageError(Exception):
    """Bad arguments or configuration: one line for the user, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be between 0 and 3600 seconds: {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = _Parser(prog="tlsdiag", description="TLS diagnostics for HTTPS, FTPS and TLS.")
    parser.add_argument("--version", action="version", version=f"tlsdiag {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    probe = sub.add_parser("probe", help="probe endpoints and explain what is wrong")
    probe.add_argument("urls", nargs="*", metavar="URL")
    probe.add_argument("--targets", metavar="FILE", help="a file of URLs, one per line")
    probe.add_argument("--concurrency", type=_positive_int, default=50)
    probe.add_argument("--ca", action="append", default=[], metavar="FILE")
    probe.add_argument("--system-trust", action="store_true")
    probe.add_argument(
        "--crl",
        action="append",
        default=[],
        metavar="FILE|URL",
        help="a CRL (PEM or DER file, or http:// URL) of a CA in the chain; turns CRL checks on",
    )
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
    probe.add_argument("--timeout", type=_positive_float, default=10.0, metavar="S")
    probe.add_argument("--user", default="anonymous")
    probe.add_argument("--password-env", metavar="VAR")
    probe.add_argument("--no-data-channel", action="store_true")
    family = probe.add_mutually_exclusive_group()
    family.add_argument("-4", dest="family", action="store_const", const=4)
    family.add_argument("-6", dest="family", action="store_const", const=6)
    probe.add_argument("--format", choices=("text", "s_client", "json"), default=None)
    probe.add_argument("--log-dir", metavar="DIR")
    probe.add_argument("--warn-days", type=_positive_int, default=30)
    probe.add_argument("--critical-days", type=_positive_int, default=7)

    explain = sub.add_parser("explain", help="explain an OpenSSL code, alert or FTP reply")
    explain.add_argument("code", nargs="+")

    sub.add_parser("schema", help="print the JSON Schema of a result")

    daemon = sub.add_parser("daemon", help="probe configured targets on a schedule, serve metrics")
    daemon.add_argument("--config", default=os.path.join("config", "tlsdiag.toml"), metavar="FILE")
    daemon.add_argument("--shard", metavar="K/N", help="probe only shard K of N (stable hash)")
    daemon.add_argument("--log-stdout", action="store_true", help="all log streams to stdout")
    daemon.add_argument(
        "--progress",
        action="store_true",
        help="a readable block per target on stderr as results arrive (what `make run` shows)",
    )

    for command in _command_modules():
        command.register(sub)
    return parser


def _command_modules() -> list[Any]:
    """The modules of ``diagnostics.commands``: each adds its sub-command with ``register``.

    A registered sub-parser sets ``handler`` (``(args, out) -> exit code``) as its default.
    """
    import importlib
    import pkgutil

    from diagnostics import commands

    names = sorted(info.name for info in pkgutil.iter_modules(commands.__path__))
    return [importlib.import_module(f"diagnostics.commands.{name}") for name in names]


# -- probe ------------------------------------------------------------------------------


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


def check_crl_urls(entries: Sequence[str]) -> None:
    """Every ``--crl`` URL among ``entries`` is one tlsdiag can fetch; UsageError otherwise."""
    from diagnostics.revocation import check_url, is_url

    for entry in entries:
        problem = check_url(entry) if is_url(entry) else None
        if problem is not None:
            raise UsageError(f"--crl {problem}")


def render(result: ProbeResult, fmt: str, *, colour: bool = False) -> str:
    """A result in one of the output formats."""
    if fmt == "json":
        from diagnostics.serialize import dumps

        return dumps(result)
    if fmt == "s_client":
        from diagnostics.render_sclient import render_sclient

        return render_sclient(result)
    from diagnostics.render_text import render_text

    return render_text(result, colour=colour)


def worst_exit(results: Sequence[ProbeResult]) -> int:
    """The exit code of several results: 3 > 1 > 0."""
    codes = [r.status.exit_code for r in results]
    for code in (EXIT_FAILED, EXIT_PROBLEMS):
        if code in codes:
            return code
    return EXIT_OK


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


def _run_probe(args: argparse.Namespace, out: TextIO) -> int:
    targets = _targets(args)
    options = _options(args)
    from diagnostics.revocation import is_url
    from diagnostics.trust import DEFAULT_CACHE, TrustError

    crl_urls = [entry for entry in options.trust.crl_files if is_url(entry)]
    files_only = [entry for entry in options.trust.crl_files if not is_url(entry)]
    try:
        # CRL URLs are fetched once the reactor runs (_first_crl_load).
        DEFAULT_CACHE.get(attrs.evolve(options.trust, crl_files=tuple(files_only)))
    except TrustError as exc:
        raise UsageError(str(exc)) from None
    fmt = args.format or ("text" if out.isatty() else "json")
    colour = fmt == "text" and out.isatty() and "NO_COLOR" not in os.environ
    log = None
    if args.log_dir:
        from diagnostics.logs import ProbeLog

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
        await _first_crl_load(reactor, crl_urls)
        done: list[ProbeResult] = await _probe_all(
            reactor, targets, options, args.concurrency, printer
        )
        return done

    from twisted.internet import defer

    results = run_reactor(lambda reactor: defer.Deferred.fromCoroutine(start(reactor)))
    return worst_exit(results)


async def _first_crl_load(reactor: Any, urls: Sequence[str], sources: Any = None) -> None:
    """Fetch the CRL URLs given into ``sources`` (the default CRL cache when None); one that
    cannot be had is a configuration error (exit 2)."""
    if not urls:
        return
    from diagnostics.crl_sources import DEFAULT_SOURCES

    loaded = await (sources or DEFAULT_SOURCES).get(reactor, urls)
    for url, why in loaded.errors.items():
        raise UsageError(f"--crl {url}: {why}")


def _probe_all(
    reactor: Any,
    targets: list[Target],
    options: ProbeOptions,
    concurrency: int,
    printer: _OrderedPrinter,
) -> Any:
    from diagnostics.probe import probe_many

    return probe_many(reactor, targets, options, concurrency=concurrency, on_result=printer)


def run_reactor(start: Callable[[Any], Any]) -> Any:
    """Run the reactor until the Deferred returned by ``start(reactor)`` fires; its result."""
    from twisted.internet import reactor
    from twisted.python.failure import Failure

    outcome: list[Any] = []

    def go() -> None:
        from twisted.internet import defer

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


# -- explain, schema --------------------------------------------------------------------


def _run_explain(args: argparse.Namespace, out: TextIO) -> int:
    from diagnostics.catalogue import explain, render_explanation

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


def _run_schema(_args: argparse.Namespace, out: TextIO) -> int:
    from diagnostics.serialize import schema

    out.write(json.dumps(schema(), indent=2) + "\n")
    return EXIT_OK


def _run_daemon(args: argparse.Namespace, _out: TextIO) -> int:
    from diagnostics.daemon import run
    from diagnostics.schedule import parse_shard

    try:
        shard = parse_shard(args.shard) if args.shard else None
    except ValueError as exc:
        raise UsageError(f"tlsdiag daemon: {exc}") from None
    return run(
        args.config,
        shard=shard,
        log_stdout=args.log_stdout,
        progress=args.progress,
        err=sys.stderr,
    )


COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "probe": _run_probe,
    "explain": _run_explain,
    "schema": _run_schema,
    "daemon": _run_daemon,
}


GC_THRESHOLDS = (10_000, 10, 10)


def tune_collector() -> None:
    """Collect garbage less often than Python's default (700 new objects).

    Every connection Twisted closes leaves reference cycles, so a process that probes or
    listens all day spends 10-15 % of its CPU in the collector at the default thresholds;
    measured with ``make bench``.  The entry points (this CLI and the twistd plugin) call it.
    """
    gc.set_threshold(*GC_THRESHOLDS)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run one sub-command; returns (and, as a script, exits with) the exit code."""
    tune_collector()
    stream = out if out is not None else sys.stdout
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
        if args.command is None:
            parser.print_help(stream)
            return EXIT_USAGE
        handler = getattr(args, "handler", None) or COMMANDS[args.command]
        code: int = handler(args, stream)
        return code
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_PROBLEMS", "EXIT_USAGE", "Status", "main"]
