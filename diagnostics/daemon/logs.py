"""Structured log streams: ``client.jsonl``, ``server.jsonl``, ``daemon.jsonl``.

Each stream is its own structlog logger (no global configuration), writing one
JSON object per line with ECS field names at the top level and the result
under ``tlsdiag``.  Files rotate by size.
"""

from __future__ import annotations

import datetime
import json
import os
import threading
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import structlog

from diagnostics.listener.refusals import RefusedConnections
from diagnostics.model import certificates
from diagnostics.model.jsonform import cert_to_json, result_to_json
from diagnostics.model.result import ProbeResult, Status
from diagnostics.model.target import parse_target

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_BACKUPS = 5


class RotatingFile:
    """Append lines to a file, rotating it to ``.1`` … ``.N`` past a size."""

    def __init__(
        self, path: str, *, max_bytes: int = DEFAULT_MAX_BYTES, backups: int = DEFAULT_BACKUPS
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)

    def _rotate(self) -> None:
        for index in range(self.backups - 1, 0, -1):
            older = f"{self.path}.{index}"
            if os.path.exists(older):
                os.replace(older, f"{self.path}.{index + 1}")
        if self.backups > 0:
            os.replace(self.path, f"{self.path}.1")
        else:
            os.remove(self.path)

    def write_line(self, line: str) -> None:
        """Append one line (a newline is added), rotating first when the file is full."""
        data = (line + "\n").encode("utf-8")
        with self._lock:
            try:
                size = os.path.getsize(self.path)
            except OSError:
                size = 0
            if size and size + len(data) > self.max_bytes:
                self._rotate()
            with open(self.path, "ab") as handle:
                handle.write(data)

    # structlog calls the method named after the level on the wrapped logger.
    def msg(self, message: str) -> None:
        """Write a rendered event."""
        self.write_line(message)

    debug = info = warning = error = critical = msg


class StdoutLines:
    """Write rendered events to standard output (``--log-stdout``, containers)."""

    def msg(self, message: str) -> None:
        """Write a rendered event."""
        print(message, flush=True)

    debug = info = warning = error = critical = msg


class Shipped:
    """A sink that also hands every rendered event to ``ship(stream, line)`` (syslog)."""

    def __init__(
        self, sink: RotatingFile | StdoutLines, stream: str, ship: Callable[[str, str], None]
    ) -> None:
        self.sink = sink
        self.stream = stream
        self.ship = ship

    def msg(self, message: str) -> None:
        """Write a rendered event, then ship it."""
        self.sink.msg(message)
        self.ship(self.stream, message)

    debug = info = warning = error = critical = msg


def _timestamp(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
    event.setdefault(
        "@timestamp",
        datetime.datetime.now(datetime.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
    )
    return event


def _level(_logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
    event.setdefault("log.level", "warning" if method == "warn" else method)
    return event


def _message(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
    text = event.pop("event", None)
    if text is not None:
        event.setdefault("message", text)
    return event


def make_logger(sink: RotatingFile | StdoutLines | Shipped, stream: str) -> Any:
    """A structlog logger for one stream, with its own processor chain."""
    logger = structlog.wrap_logger(
        sink,
        processors=[
            _timestamp,
            _level,
            _message,
            structlog.processors.JSONRenderer(
                serializer=lambda obj, **kw: json.dumps(obj, default=str)
            ),
        ],
        context_class=dict,
        cache_logger_on_first_use=True,
    )
    return logger.bind(**{"log.logger": f"tlsdiag.{stream}"})


def _tls_version_ecs(version: str | None) -> tuple[str | None, str | None]:
    if not version:
        return (None, None)
    if version.startswith("TLSv"):
        return (version[4:], "tls")
    if version.startswith("SSLv"):
        return (version[4:], "ssl")
    return (version, None)


def ecs_fields(result: ProbeResult, *, peer_role: str = "server") -> dict[str, Any]:
    """The ECS top-level fields for one result (``peer_role``: whose certificate we saw)."""
    target = result.target
    status = result.status
    fields: dict[str, Any] = {
        "event.kind": "event",
        "event.category": "network",
        "event.type": "connection",
        "event.outcome": "success" if status is Status.OK else "failure",
        "url.full": target.url,
        "url.scheme": target.scheme,
        "server.address": target.host,
        "server.port": target.port,
    }
    connection = result.connection
    if connection is not None and connection.address is not None and result.proxy is None:
        # The address the name resolved to and the probe connected to (not through a proxy,
        # where the proxy resolves the name).
        fields["server.ip"] = connection.address
    if result.source is not None:
        # A probe's own end of the connection (the listener's client.address/client.port).
        fields["source.address"] = result.source.address
        fields["source.ip"] = result.source.address
        fields["source.port"] = result.source.port
    if result.timings.total_s is not None:
        fields["event.duration"] = int(result.timings.total_s * 1_000_000_000)
    tls = result.tls
    fields["tls.established"] = tls is not None and result.failure is None
    if tls is not None:
        version, protocol = _tls_version_ecs(tls.version)
        fields["tls.version"] = version
        fields["tls.version_protocol"] = protocol
        fields["tls.cipher"] = tls.cipher
        fields["tls.resumed"] = tls.session_reused
        if tls.alpn:
            fields["tls.next_protocol"] = tls.alpn.lower()
        if tls.servername_sent:
            fields["tls.client.server_name"] = tls.servername_sent
    leaf = result.leaf
    if leaf is not None:
        prefix = f"tls.{peer_role}"
        facts = cert_to_json(leaf)
        fields[f"{prefix}.subject"] = facts["subject"]
        fields[f"{prefix}.issuer"] = facts["issuer"]
        fields[f"{prefix}.not_before"] = facts["not_before"]
        fields[f"{prefix}.not_after"] = facts["not_after"]
        fields[f"{prefix}.hash.sha256"] = facts["sha256"]
    if result.findings:
        fields["event.code"] = result.findings[0].id
    if result.failure is not None:
        fields["error.code"] = result.failure.kind
        fields["error.message"] = result.failure.message
    elif result.findings and status is not Status.OK:
        fields["error.code"] = result.findings[0].id
        fields["error.message"] = result.findings[0].summary
    return fields


def label_fields(labels: Mapping[str, str]) -> dict[str, str]:
    """ECS ``labels`` as flat dotted keys (``labels.NAME``), like every other ECS field."""
    return {f"labels.{name}": value for name, value in labels.items()}


def log_probe(logger: Any, result: ProbeResult, document: dict[str, Any] | None = None) -> None:
    """Write the one summary event of a probe; ``document`` is the result's JSON form when
    the caller has it already."""
    level = {Status.OK: "info", Status.PROBLEMS: "warning", Status.FAILED: "error"}[result.status]
    summary = result.findings[0].summary if result.findings else "ok"
    getattr(logger, level)(
        f"{result.status.value} {result.target.url}: {summary}",
        **{"event.action": "tls-probe"},
        **ecs_fields(result),
        tlsdiag=document if document is not None else result_to_json(result),
    )


def log_session(logger: Any, result: ProbeResult) -> None:
    """Write the one summary event of a listener session (the client's view, server side)."""
    level = {Status.OK: "info", Status.PROBLEMS: "warning", Status.FAILED: "error"}[result.status]
    summary = result.findings[0].summary if result.findings else "ok"
    fields = ecs_fields(result, peer_role="client")
    client = result.client
    if client is not None:
        fields["client.address"] = client.address
        fields["client.port"] = client.port
        if certificates.is_ip_literal(client.address):
            fields["client.ip"] = client.address
        if client.sni:
            fields["tls.client.server_name"] = client.sni
    user = (result.ftp or {}).get("user")
    if user:
        fields["user.name"] = user
    where = f"{client.address}:{client.port}" if client is not None else "?"
    getattr(logger, level)(
        f"{result.status.value} client {where} at {result.target.url}: {summary}",
        **{"event.action": "tls-listen"},
        **fields,
        tlsdiag=result_to_json(result),
    )


def log_refused(logger: Any, report: RefusedConnections) -> None:
    """Write the event of connections a listener refused at its connection limit."""
    target = parse_target(report.url)
    finding = report.finding()
    fields: dict[str, Any] = {
        "event.action": "tls-listen-refused",
        "event.kind": "event",
        "event.category": "network",
        "event.type": "denied",
        "event.outcome": "failure",
        "event.code": finding.id,
        "url.full": report.url,
        "url.scheme": target.scheme,
        "server.address": target.host,
        "server.port": target.port,
    }
    if report.client_address is not None:
        fields["client.address"] = report.client_address
        fields["client.port"] = report.client_port
        if certificates.is_ip_literal(report.client_address):
            fields["client.ip"] = report.client_address
    logger.warning(finding.summary, **fields, tlsdiag=report.to_json())


class SessionLog:
    """The server-side stream of a log directory (``server.jsonl``)."""

    def __init__(self, log_dir: str) -> None:
        self.sink = RotatingFile(os.path.join(log_dir, "server.jsonl"))
        self.logger = make_logger(self.sink, "server")

    def write(self, result: ProbeResult) -> None:
        """Append the summary event of one listener session."""
        log_session(self.logger, result)

    def write_refused(self, report: RefusedConnections) -> None:
        """Append the event of connections refused at the connection limit."""
        log_refused(self.logger, report)


class ProbeLog:
    """The client-side stream of a log directory."""

    def __init__(self, log_dir: str) -> None:
        self.sink = RotatingFile(os.path.join(log_dir, "client.jsonl"))
        self.logger = make_logger(self.sink, "client")

    def write(self, result: ProbeResult) -> None:
        """Append the summary event of one probe."""
        log_probe(self.logger, result)
