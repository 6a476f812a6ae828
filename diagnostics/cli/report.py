"""``tlsdiag report``: a partner report from the JSON logs already written, and the helpers
``probe --report`` and ``listen --report-dir`` use to write one."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from diagnostics.cli.common import EXIT_OK, UsageError
from diagnostics.model.files import FileError, read_bounded
from diagnostics.model.result import ProbeResult
from diagnostics.render.report import REPORT_FORMATS, View, render_report, report_format

MERGE_WINDOW_S = 30.0
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_ROLE_OF_ACTION = {"tls-probe": "client", "tls-listen": "server"}


def register(subparsers: Any) -> None:
    """Add ``report`` to the sub-commands."""
    report = subparsers.add_parser(
        "report",
        help="write a partner report (HTML, Markdown or JSON) from JSON logs",
        description=(
            "Build one shareable report from the client.jsonl (probe, daemon) and/or "
            "server.jsonl (listener) logs already written, rotated files too.  With a "
            "client-side and a server-side event of the same connection attempt (same "
            f"host:port, within {MERGE_WINDOW_S:.0f} s), the report shows both views."
        ),
    )
    report.add_argument("logs", nargs="+", metavar="LOGFILE", help="client.jsonl / server.jsonl")
    which = report.add_mutually_exclusive_group()
    which.add_argument(
        "--target", default=None, metavar="URL", help="only events of this URL (default: any)"
    )
    which.add_argument(
        "--client",
        default=None,
        metavar="ADDR",
        help="only listener events from this client address (default: any)",
    )
    report.add_argument(
        "--since",
        default=None,
        metavar="ISO-TIME|DURATION",
        help="only events at or after this time (2026-01-31T10:00:00Z) or this long ago "
        "(30m, 2h, 1d); default: no limit",
    )
    report.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="the report file; its extension picks the format: .html, .md or .json",
    )
    report.set_defaults(handler=run)


def check_report_path(path: str, option: str) -> str:
    """The format of ``path``, or a usage error naming ``option``."""
    fmt = report_format(path)
    if fmt is None:
        wanted = ", ".join(f".{name}" for name in REPORT_FORMATS)
        raise UsageError(f"{option} {path!r}: unknown extension (use {wanted})")
    return fmt


def openssl_text() -> str:
    """The linked OpenSSL library's version text."""
    from diagnostics.tls.recording import OPENSSL_VERSION

    return OPENSSL_VERSION


def view_of(result: ProbeResult, role: str) -> View:
    """A report view of a result at hand (with its ``s_client`` text)."""
    from diagnostics.model.jsonform import result_to_json
    from diagnostics.render.sclient import render_sclient

    return View(role, result_to_json(result), render_sclient(result))


def write_report(path: str, views: Sequence[View], fmt: str) -> None:
    """Write a report (created new, mode 0644, via a temporary file)."""
    text = render_report(views, fmt, openssl=openssl_text())
    temporary = f"{path}.tmp{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def parse_since(text: str, now: datetime.datetime) -> datetime.datetime:
    """``--since``: an ISO time (UTC if no offset) or a duration back from ``now``."""
    match = _DURATION.match(text.strip())
    if match:
        return now - datetime.timedelta(seconds=int(match[1]) * _UNITS[match[2]])
    try:
        when = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since {text!r} is neither an ISO time nor a duration like 30m, 2h, 1d"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=datetime.UTC)


def _event_time(event: dict[str, Any]) -> datetime.datetime | None:
    text = event.get("@timestamp")
    if not isinstance(text, str):
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


class Events:
    """The usable events of the log files given, and how many lines were not."""

    def __init__(self) -> None:
        self.events: list[tuple[datetime.datetime, str, dict[str, Any]]] = []
        self.malformed = 0

    def read(self, path: str) -> None:
        """Read one log file (bounded); a bad line is counted, never raised."""
        try:
            data = read_bounded(path, "log file")
        except FileError as exc:
            raise UsageError(str(exc)) from None
        if b"\0" in data[:4096]:
            raise UsageError(f"log file {path!r} is binary, not JSON lines")
        for raw in data.splitlines():
            if not raw.strip():
                continue
            try:
                event = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                self.malformed += 1
                continue
            if not isinstance(event, dict):
                self.malformed += 1
                continue
            role = _ROLE_OF_ACTION.get(str(event.get("event.action")))
            when = _event_time(event)
            result = event.get("tlsdiag")
            if role is None or when is None or not isinstance(result, dict):
                if role is not None:
                    self.malformed += 1
                continue
            self.events.append((when, role, event))

    def select(
        self, target: str | None, client: str | None, since: datetime.datetime | None
    ) -> list[tuple[datetime.datetime, str, dict[str, Any]]]:
        """The events matching the filters, oldest first."""
        chosen = []
        for when, role, event in self.events:
            if since is not None and when < since:
                continue
            if target is not None and event.get("url.full") != target:
                continue
            if client is not None and event.get("client.address") != client:
                continue
            chosen.append((when, role, event))
        return sorted(chosen, key=lambda item: item[0])


def same_endpoint(one: dict[str, Any], other: dict[str, Any]) -> bool:
    """The same server port, and the same host unless one side named it (``localhost``,
    a DNS name) where the other gives the address a listener is bound to."""
    from diagnostics.model.certificates import is_ip_literal

    if int(one.get("server.port") or 0) != int(other.get("server.port") or 0):
        return False
    hosts = (str(one.get("server.address")), str(other.get("server.address")))
    return hosts[0] == hosts[1] or not all(is_ip_literal(host) for host in hosts)


def same_connection(one: dict[str, Any], other: dict[str, Any]) -> bool | None:
    """Whether a probe's event and a listener's event are the same TCP connection: the probe's
    ``source.ip``/``source.port`` are the listener's ``client.ip``/``client.port``; None when
    an event does not say (an older log)."""
    probe, session = (one, other) if "source.port" in one else (other, one)
    if "source.port" not in probe or "client.port" not in session:
        return None
    return int(probe.get("source.port") or 0) == int(session.get("client.port") or 0) and str(
        probe.get("source.ip")
    ) == str(session.get("client.ip") or session.get("client.address"))


def pick_views(chosen: Sequence[tuple[datetime.datetime, str, dict[str, Any]]]) -> list[View]:
    """The newest event, and the other side's event of the same attempt when there is one:
    within :data:`MERGE_WINDOW_S` seconds, the same TCP connection (the probe's source
    address and port are the listener's client address and port) or, when an event does not
    record it, the same server host:port (the probe's target is the listener's bound
    address)."""
    when, role, event = chosen[-1]
    views = [View(role, event["tlsdiag"])]
    other = [
        (abs((w - when).total_seconds()), e)
        for w, r, e in chosen
        if r != role and same_endpoint(e, event) and same_connection(e, event) is not False
    ]
    close = [item for item in other if item[0] <= MERGE_WINDOW_S]
    if close:
        partner = min(close, key=lambda item: item[0])[1]
        views.append(View("server" if role == "client" else "client", partner["tlsdiag"]))
    if len(views) == 2 and views[0].role == "server":
        views.reverse()  # the client's view first: "what we saw" is the one who connected
    return views


def _searched(args: argparse.Namespace, files: Iterable[str]) -> str:
    what = [f"in {', '.join(files)}"]
    if args.target:
        what.append(f"for target {args.target}")
    if args.client:
        what.append(f"for client {args.client}")
    if args.since:
        what.append(f"since {args.since}")
    return " ".join(what)


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Read the logs, pick the event(s), write the report."""
    fmt = check_report_path(args.out, "--out")
    now = datetime.datetime.now(datetime.UTC)
    since = parse_since(args.since, now) if args.since else None
    events = Events()
    for path in args.logs:
        events.read(path)
    chosen = events.select(args.target, args.client, since)
    if not chosen:
        raise UsageError(f"no probe or listener event {_searched(args, args.logs)}")
    views = pick_views(chosen)
    try:
        write_report(args.out, views, fmt)
    except OSError as exc:
        raise UsageError(f"--out {args.out!r}: {exc.strerror or exc}") from None
    sides = " and ".join(view.role for view in views)
    note = f"; {events.malformed} malformed line(s) skipped" if events.malformed else ""
    out.write(f"wrote {args.out} ({fmt}, {sides} view){note}\n")
    return EXIT_OK


class SessionReports:
    """``listen --report-dir``: one report per accepted session, under a unique safe name."""

    def __init__(self, directory: str, fmt: str) -> None:
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self.fmt = fmt
        self.count = 0

    def name(self, result: ProbeResult) -> str:
        """``session-TIME-CLIENT-PORT-N.EXT``: only ``[A-Za-z0-9._-]``, unique by N."""
        self.count += 1
        stamp = datetime.datetime.fromtimestamp(result.started_at or 0, datetime.UTC)
        client = result.client
        who = f"{client.address}-{client.port}" if client is not None else "unknown"
        safe = re.sub(r"[^A-Za-z0-9.-]", "_", who)[:80]
        return f"session-{stamp:%Y%m%dT%H%M%S}-{safe}-{self.count}.{self.fmt}"

    def write(self, result: ProbeResult) -> str:
        """Write the report of one session; its path."""
        path = os.path.join(self.directory, self.name(result))
        write_report(path, [view_of(result, "server")], self.fmt)
        return path
