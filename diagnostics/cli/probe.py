"""``tlsdiag probe``: probe endpoints and explain what is wrong.

Every URL (in the arguments and ``--targets``) is validated before anything is
probed; results are printed in input order as soon as every earlier one is done.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from typing import Any, TextIO

import attrs

from diagnostics.cli.common import UsageError, first_crl_load, run_reactor, worst_exit
from diagnostics.cli.options import (
    add_crl,
    add_expiry_windows,
    add_key_password,
    add_log_dir,
    add_output,
    add_timeouts,
    check_crl_urls,
    log_dir_error,
    positive_int,
    secret_from_env,
)
from diagnostics.model.files import FileError, decode_text, read_bounded
from diagnostics.model.options import ProbeOptions, TrustConfig
from diagnostics.model.proxy import (
    ProxySettings,
    ProxyURLError,
    parse_proxy_url,
    proxy_from_environment,
)
from diagnostics.model.result import ProbeResult, Target
from diagnostics.model.target import (
    TargetError,
    parse_target,
    servername_problem,
    sni_compare_problem,
)

EPILOG = """\
URL schemes:
  https://HOST[:PORT][/PATH]  HTTPS (port 443): the TLS handshake, then one HEAD request
                              (GET when HEAD is refused) for PATH
  ftps://HOST[:PORT]          implicit FTPS, TLS from the first byte (port 990)
  ftpes://HOST[:PORT]         explicit FTPS, AUTH TLS on the plain FTP port (port 21)
  tls://HOST:PORT             TLS only, no application protocol (the port is required)
  An IPv6 address goes in brackets (tls://[::1]:8443); a path has no spaces or control
  characters (write a space as %20).

--targets FILE: one URL per line; blank lines and comments (from a # at the start of a
line or after a space) are skipped; UTF-8, a byte-order mark and CRLF line ends accepted.

exit codes:
  0  every result is ok
  1  problems: a finding of severity error or warning
  2  usage or configuration error: nothing was probed (every URL is checked first)
  3  failed: a probe could not complete (resolve, connect, STARTTLS, handshake, dialogue)
  With several URLs the exit code is the worst result, in the order 3, 1, 0.
"""


def register(subparsers: Any) -> None:
    """Add ``probe`` to the sub-commands."""
    probe = subparsers.add_parser(
        "probe",
        help="probe endpoints and explain what is wrong",
        description="Probe HTTPS, FTPS and TLS endpoints and explain what is wrong.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    probe.add_argument(
        "urls", nargs="*", metavar="URL", help="https://, ftps://, ftpes:// or tls:// URLs"
    )
    probe.add_argument(
        "--targets",
        metavar="FILE",
        help="a file of URLs, one per line, probed after the URL arguments (default: none)",
    )
    probe.add_argument(
        "--concurrency",
        type=positive_int,
        default=50,
        metavar="N",
        help="probe at most N endpoints at once (default: %(default)s)",
    )
    probe.add_argument(
        "--ca",
        action="append",
        default=[],
        metavar="FILE",
        help="trust the CA certificates of FILE, PEM or DER (repeatable; default: none, "
        "so only --system-trust or nothing is trusted)",
    )
    probe.add_argument(
        "--system-trust",
        action="store_true",
        help="also trust the platform's CA store (default: off)",
    )
    add_crl(probe, "a CA in the chain")
    probe.add_argument(
        "--crl-check",
        choices=("leaf", "chain"),
        default="leaf",
        help="check the peer's certificate only (leaf) or every certificate below the root "
        "(chain) (default: %(default)s)",
    )
    probe.add_argument(
        "--crl-from-cdp",
        action="store_true",
        help="after the handshake, fetch CRLs from the chain's CRL distribution points "
        "(http only) and check revocation (default: off)",
    )
    probe.add_argument(
        "--cert",
        metavar="FILE",
        help="our client certificate (PEM or DER, chain after it), with --key (default: none sent)",
    )
    probe.add_argument(
        "--key", metavar="FILE", help="the private key of --cert, PEM or DER (default: none)"
    )
    add_key_password(probe)
    probe.add_argument(
        "--servername",
        metavar="NAME",
        help="the name sent as SNI and verified in the certificate (default: the URL's host)",
    )
    probe.add_argument(
        "--fetch-issuer",
        action="store_true",
        help="fetch a missing issuer from the leaf's AIA caIssuers URL (http only) to name it "
        "(default: off)",
    )
    add_timeouts(probe, ("timeout", 10.0))
    probe.add_argument(
        "--versions",
        action="store_true",
        help="after the probe, try TLS 1.0, 1.1, 1.2 and 1.3 each alone (one connection each, "
        "each within --timeout) and report which the server accepts (default: off)",
    )
    probe.add_argument(
        "--no-followups",
        action="store_true",
        help="when the handshake is refused for its version or ciphers, do not make the few "
        "extra handshakes (at most 6, within --timeout) that find out why (default: made)",
    )
    probe.add_argument(
        "--user", default="anonymous", help="the FTP user name (default: %(default)s)"
    )
    probe.add_argument(
        "--password-env",
        metavar="VAR",
        help="the environment variable holding the FTP password (default: anonymous@)",
    )
    probe.add_argument(
        "--no-data-channel",
        action="store_true",
        help="FTPS: skip the check of a protected data connection (default: checked)",
    )
    family = probe.add_mutually_exclusive_group()
    family.add_argument(
        "-4",
        dest="family",
        action="store_const",
        const=4,
        help="connect over IPv4 only (default: either)",
    )
    family.add_argument(
        "-6",
        dest="family",
        action="store_const",
        const=6,
        help="connect over IPv6 only (default: either)",
    )
    _add_proxy_options(probe)
    _add_sni_compare(probe)
    add_output(probe, ("text", "s_client", "json"))
    probe.add_argument(
        "--report",
        default=None,
        metavar="FILE",
        help="also write a partner report of the one URL given; the extension picks the "
        "format: .html, .md or .json (default: none)",
    )
    add_log_dir(probe)
    add_expiry_windows(probe)
    probe.set_defaults(handler=run)


# -- HTTP CONNECT proxy ----------------------------------------------------------------------


def _add_proxy_options(probe: argparse.ArgumentParser) -> None:
    group = probe.add_argument_group("HTTP proxy")
    group.add_argument(
        "--proxy",
        metavar="URL",
        help="tunnel every connection through this HTTP proxy with CONNECT: "
        "http://[USER@]HOST:PORT (default: none, direct connections)",
    )
    group.add_argument(
        "--proxy-password-env",
        metavar="VAR",
        help="the environment variable holding the proxy user's password, sent as "
        "Proxy-Authorization: Basic (default: no password)",
    )
    group.add_argument(
        "--proxy-from-env",
        action="store_true",
        help="use the proxy of https_proxy, HTTPS_PROXY, all_proxy or ALL_PROXY and the "
        "exceptions of NO_PROXY (default: off; the environment is never read without it)",
    )


def _proxy(args: argparse.Namespace) -> ProxySettings | None:
    """The proxy settings of ``--proxy``/``--proxy-from-env``; UsageError when unusable."""
    if args.proxy is not None and args.proxy_from_env:
        raise UsageError("give either --proxy URL or --proxy-from-env, not both")
    try:
        if args.proxy is not None:
            settings: ProxySettings | None = ProxySettings(parse_proxy_url(args.proxy))
        elif args.proxy_from_env:
            settings = proxy_from_environment(os.environ)
        else:
            settings = None
    except ProxyURLError as exc:
        raise UsageError(str(exc)) from None
    if args.proxy_password_env is None:
        return settings
    if settings is None:
        raise UsageError(
            "--proxy-password-env is the password of a proxy: give --proxy URL "
            "(or --proxy-from-env with a proxy variable set)"
        )
    if settings.proxy.user is None:
        raise UsageError(
            "--proxy-password-env: the proxy URL names no user; write it as http://USER@HOST:PORT"
        )
    password = secret_from_env(args.proxy_password_env, "--proxy-password-env")
    return attrs.evolve(settings, proxy=settings.proxy.with_password(password))


_COMMENT = re.compile(r"(?:^|\s)#.*$")


def parse_targets_file(data: bytes, path: str) -> list[str]:
    """The URLs of a ``--targets`` file's bytes; UsageError when it is not UTF-8 text.

    One URL per line (LF or CRLF), a UTF-8 byte-order mark dropped; blank lines and
    comments skipped: a ``#`` at the start of a line or after whitespace starts a comment
    (a ``#`` inside a URL, as in ``https://host/#part``, does not).
    """
    try:
        text = decode_text(data, "--targets", path)
    except FileError as exc:
        raise UsageError(str(exc)) from None
    urls = []
    for line in text.splitlines():
        url = _COMMENT.sub("", line).strip()
        if url:
            urls.append(url)
    return urls


def _read_targets_file(path: str) -> list[str]:
    try:
        data = read_bounded(path, "--targets")
    except FileError as exc:
        raise UsageError(str(exc)) from None
    urls = parse_targets_file(data, path)
    if not urls:
        raise UsageError(
            f"--targets {path!r} holds no URL (only blank lines and comments): "
            "write one URL per line"
        )
    return urls


def _targets(args: argparse.Namespace) -> list[Target]:
    urls = list(args.urls)
    if args.targets:
        urls.extend(_read_targets_file(args.targets))
    if not urls:
        raise UsageError("give at least one URL (or --targets FILE)")
    if args.servername is not None and (problem := servername_problem(args.servername)):
        raise UsageError(f"--servername {args.servername!r} {problem}")
    targets = []
    for url in urls:
        try:
            targets.append(parse_target(url, servername=args.servername))
        except TargetError as exc:
            raise UsageError(str(exc)) from None
    return targets


# -- the handshake without SNI (--sni-compare) ------------------------------------------


def _add_sni_compare(probe: argparse.ArgumentParser) -> None:
    probe.add_argument(
        "--sni-compare",
        action="store_true",
        help="after the probe, one handshake without SNI (within --timeout): report when the "
        "server sends another certificate, or none, to clients that send no SNI; tls, https "
        "and ftps only (default: off)",
    )


def _check_sni_compare(args: argparse.Namespace, targets: list[Target]) -> None:
    if args.sni_compare:
        for target in targets:
            if problem := sni_compare_problem(target.scheme):
                raise UsageError(f"--sni-compare {problem}: {target.url}")


def _options(args: argparse.Namespace) -> ProbeOptions:
    password = secret_from_env(args.password_env, "--password-env") or "anonymous@"
    if bool(args.cert) != bool(args.key):
        raise UsageError("a client certificate needs both --cert and --key")
    if args.key_password_env and not args.key:
        raise UsageError("--key-password-env is the passphrase of --key: give --key FILE too")
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
        key_password=secret_from_env(args.key_password_env, "--key-password-env"),
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
        versions=args.versions,
        followups=not args.no_followups,
        proxy=_proxy(args),
        sni_compare=args.sni_compare,
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
    _check_sni_compare(args, targets)
    report_fmt = None
    if args.report is not None:
        from diagnostics.cli.report import check_report_path

        report_fmt = check_report_path(args.report, "--report")
        if len(targets) != 1:
            raise UsageError("--report takes one URL; run one probe per report")
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
            raise log_dir_error(args.log_dir, exc) from None
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
    if report_fmt is not None and results:
        from diagnostics.cli.report import view_of, write_report

        try:
            write_report(args.report, [view_of(results[0], "client")], report_fmt)
        except OSError as exc:
            raise UsageError(f"--report {args.report!r}: {exc.strerror or exc}") from None
    return worst_exit(results)
