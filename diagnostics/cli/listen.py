# -*- test-case-name: tests.integration.test_listen_clients -*-
"""``tlsdiag listen``: be the endpoint a partner points their real client at.

One report per connection on standard output as it finishes (text, or one
JSON object per line), one summary event per connection in ``server.jsonl``.
Runs until SIGINT or SIGTERM, then closes the port and the open connections
and exits 0.  CRLs given as http:// URLs are fetched before listening and kept
fresh from then on (new connections are checked against the new CRLs).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

from diagnostics.cli.common import EXIT_OK, EXIT_USAGE, UsageError, first_crl_load
from diagnostics.cli.options import (
    add_crl,
    add_key_password,
    add_log_dir,
    add_output,
    add_timeouts,
    check_crl_urls,
    log_dir_error,
    positive_int,
    secret_from_env,
)
from diagnostics.listener.refusals import RefusedConnections
from diagnostics.model.result import ProbeResult

if TYPE_CHECKING:
    from diagnostics.tls.crl_sources import CRLEvent, CRLSources


EPILOG = """\
URL schemes (an address to listen on and a port; [::1] for IPv6):
  https://ADDR[:PORT]  HTTPS (port 443): every request is answered with the report of the
                       client's TLS side (plain text, or JSON for Accept: application/json)
  ftps://ADDR[:PORT]   implicit FTPS, TLS from the first byte (port 990)
  ftpes://ADDR[:PORT]  explicit FTPS, AUTH TLS on the plain FTP port (port 21); log in with
                       any user and password, LIST shows the report

exit codes:
  0  stopped by SIGINT or SIGTERM (each connection was reported as it finished)
  2  usage or configuration error: it could not start (a file, the URL, the port)
"""


def register(subparsers: Any) -> None:
    """Add ``listen`` to the sub-commands."""
    parser = subparsers.add_parser(
        "listen",
        help="accept partners' HTTPS/FTPS clients and diagnose their side",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", metavar="URL", help="https://ADDR:PORT, ftps://… or ftpes://…")
    parser.add_argument(
        "--cert", required=True, metavar="FILE", help="our certificate (chain), PEM or DER"
    )
    parser.add_argument(
        "--key", required=True, metavar="FILE", help="the private key of --cert, PEM or DER"
    )
    add_key_password(parser)
    parser.add_argument(
        "--client-ca",
        action="append",
        default=[],
        metavar="FILE",
        help="ask for a client certificate chaining to the CAs of FILE (repeatable; "
        "default: none, no client certificate asked for)",
    )
    parser.add_argument(
        "--require-client-cert",
        action="store_true",
        help="refuse the handshake without a client certificate (default: asked for only)",
    )
    parser.add_argument(
        "--expect-cn",
        metavar="NAME",
        help="the common name the client certificate must carry (default: any)",
    )
    add_crl(parser, "a client CA", ", fetched before listening and refreshed at its next update")
    add_log_dir(parser, default="logs", stream="server.jsonl")
    add_output(parser, ("text", "json"), default="text")
    parser.add_argument(
        "--report-dir",
        default=None,
        metavar="DIR",
        help="also write a partner report per accepted session into DIR, named "
        "session-TIME-CLIENT-PORT-N.EXT (default: none)",
    )
    parser.add_argument(
        "--report-format",
        default="html",
        choices=("html", "md", "json"),
        help="the format of --report-dir reports (default: %(default)s)",
    )
    parser.add_argument(
        "--max-connections",
        type=positive_int,
        default=1000,
        metavar="N",
        help="connections held at once; at the limit the oldest one still in its TLS "
        "handshake is dropped for a new one, and a new one is refused only when all are past "
        "it; lowered at start to fit the open-file limit (default: %(default)s)",
    )
    parser.add_argument(
        "--max-per-address",
        type=positive_int,
        default=20,
        metavar="N",
        help="connections held at once from one client address (loopback too), dropped and "
        "refused like --max-connections (default: %(default)s)",
    )
    add_timeouts(parser, ("handshake-timeout", 10.0), ("idle-timeout", 60.0))
    parser.set_defaults(handler=run)


def _options(args: argparse.Namespace) -> Any:
    from diagnostics.listener.session import Limits, ListenerOptions

    if (args.require_client_cert or args.expect_cn) and not args.client_ca:
        raise UsageError(
            "tlsdiag listen: --require-client-cert and --expect-cn need --client-ca FILE "
            "(the CA, or the partner's self-signed certificate, that client certificates "
            "must chain to)"
        )
    if args.expect_cn is not None and not args.expect_cn.strip():
        raise UsageError("tlsdiag listen: --expect-cn must not be empty")
    try:
        check_crl_urls(args.crl)
    except UsageError as exc:
        raise UsageError(f"tlsdiag listen: {exc}") from None
    return ListenerOptions(
        url=args.url,
        cert_file=args.cert,
        key_file=args.key,
        key_password=secret_from_env(args.key_password_env, "--key-password-env"),
        client_ca_files=tuple(args.client_ca),
        crl_files=tuple(args.crl),
        require_client_cert=args.require_client_cert,
        expect_cn=args.expect_cn,
        limits=Limits(
            max_connections=args.max_connections,
            max_per_address=args.max_per_address,
            handshake_timeout=args.handshake_timeout,
            idle_timeout=args.idle_timeout,
        ),
    )


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Listen until stopped; exit 0 after SIGINT/SIGTERM, 2 when it cannot start."""
    from twisted.internet import reactor

    from diagnostics.daemon.logs import SessionLog
    from diagnostics.listener.service import crl_material, fit_limits, raise_open_files
    from diagnostics.model.jsonform import dumps
    from diagnostics.model.target import TargetError
    from diagnostics.render.session import render_session
    from diagnostics.tls.crl_sources import CRLSources
    from diagnostics.tls.trust import TrustError

    options = _options(args)
    sources = CRLSources()
    try:
        # As many open files as allowed; fewer connections when they cannot all be held.
        options, capacity = fit_limits(options, raise_open_files())
        # The files are read now; CRL URLs are asked for, and awaited once the reactor runs.
        material = crl_material(reactor, options, sources)
    except (TrustError, TargetError) as exc:
        raise UsageError(f"tlsdiag listen: {exc}") from None
    try:
        log = SessionLog(args.log_dir)
    except OSError as exc:
        raise log_dir_error(args.log_dir, exc) from None

    reports = None
    if args.report_dir is not None:
        from diagnostics.cli.report import SessionReports

        try:
            reports = SessionReports(args.report_dir, args.report_format)
        except OSError as exc:
            raise UsageError(f"--report-dir {args.report_dir!r}: {exc.strerror or exc}") from None

    def emit(result: ProbeResult) -> None:
        text = dumps(result) if args.format == "json" else render_session(result) + "\n"
        out.write(text + "\n")
        out.flush()
        if reports is not None:
            try:
                reports.write(result)
            except OSError as exc:
                print(f"tlsdiag listen: cannot write a report: {exc}", file=sys.stderr)
        try:
            log.write(result)
        except OSError as exc:  # a full disk must not stop the listener, nor pass unnoticed
            print(f"tlsdiag listen: cannot write to {log.sink.path}: {exc}", file=sys.stderr)

    def refused(report: RefusedConnections) -> None:
        text = json.dumps(report.to_json()) if args.format == "json" else report.render() + "\n"
        out.write(text + "\n")
        out.flush()
        try:
            log.write_refused(report)
        except OSError as exc:
            print(f"tlsdiag listen: cannot write to {log.sink.path}: {exc}", file=sys.stderr)

    return _serve(material, sources, emit, refused, capacity.message())


def _serve(material: Any, sources: CRLSources, emit: Any, refused: Any, capacity: str) -> int:
    """Run the listener until stopped; ``capacity`` is said on standard error once it listens."""
    from twisted.internet import defer, reactor
    from twisted.internet.error import CannotListenError
    from twisted.python.failure import Failure

    from diagnostics.listener.service import crl_material, listen
    from diagnostics.model.revocation import is_url
    from diagnostics.model.target import TargetError
    from diagnostics.render.session import PLAIN_TEXT_REPORTS
    from diagnostics.tls.trust import TrustError

    options = material.options
    problems: list[str] = []
    errors: list[Failure] = []
    running: list[Any] = []

    def crl_event(event: CRLEvent) -> None:
        if not running:
            return  # the first load decides whether the listener starts at all
        print(f"tlsdiag listen: {event.message}", file=sys.stderr, flush=True)
        running[0].factory.crl_changed(sources, event)

    sources.on_event = crl_event

    async def start() -> None:
        urls = [entry for entry in options.crl_files if is_url(entry)]
        ready = material
        if urls:
            await first_crl_load(reactor, urls, sources)
            ready = crl_material(reactor, options, sources)
        listener = listen(reactor, ready, emit, reports=PLAIN_TEXT_REPORTS, on_refused=refused)
        running.append(listener)
        reactor.addSystemEventTrigger("before", "shutdown", listener.stop)
        reactor.addSystemEventTrigger("before", "shutdown", sources.stop)
        sources.watch(reactor, options.crl_files)
        host: Any = listener.address
        print(
            f"listening on {ready.target.scheme}://{_host(host.host)}:{host.port} "
            f"(pid {os.getpid()})",
            file=sys.stderr,
            flush=True,
        )
        print(capacity, file=sys.stderr, flush=True)  # the open-file and connection limits

    def failed(failure: Failure) -> None:
        if isinstance(failure.value, UsageError | TrustError | TargetError):
            problems.append(f"tlsdiag listen: {failure.value}")
        elif isinstance(failure.value, CannotListenError):
            problems.append(f"tlsdiag listen: cannot listen on {options.url}: {failure.value}")
        else:
            errors.append(failure)
        reactor.stop()

    reactor.callWhenRunning(lambda: defer.Deferred.fromCoroutine(start()).addErrback(failed))
    reactor.run()
    if errors:
        errors[0].raiseException()
    if problems:
        print(problems[0], file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
