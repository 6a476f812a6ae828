# -*- test-case-name: tests.daemon.test_service -*-
"""The daemon: the one place that builds the service from a configuration.

Scheduler, metrics listener, log streams, the bridge from Twisted's own log
events into ``daemon.jsonl`` and SIGHUP reloads are wired together here; the
CLI (``tlsdiag daemon``) and any other entry point call :func:`make_service`.
"""

from __future__ import annotations

import datetime
import functools
import gc
import os
import re
import signal
import threading
from collections.abc import Callable
from typing import Any, TextIO

import attrs
from twisted.application import service
from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.logger import ILogObserver, LogLevel, formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.web import server
from zope.interface import implementer

from diagnostics.daemon.config import (
    Config,
    ConfigError,
    ListenerConfig,
    Settings,
    TargetConfig,
    load_config,
)
from diagnostics.daemon.logs import (
    RotatingFile,
    Shipped,
    StdoutLines,
    label_fields,
    log_probe,
    log_refused,
    log_session,
    make_logger,
)
from diagnostics.daemon.metrics import ProbeMetrics, new_registry, resource_tree
from diagnostics.daemon.schedule import Scheduler, in_shard
from diagnostics.daemon.state import StateError, load_state, save_state, state_location
from diagnostics.daemon.status import LatestResults, ReportPage, StatusPage, report_link
from diagnostics.daemon.syslog import SyslogShipper, dropped_counter
from diagnostics.listener.refusals import RefusedConnections
from diagnostics.model.caller import DAEMON_LISTENER
from diagnostics.model.jsonform import result_to_json
from diagnostics.model.result import ProbeResult, Target
from diagnostics.model.transitions import Tracker
from diagnostics.model.version import __version__
from diagnostics.render.console import ConsoleProgress
from diagnostics.render.status_page import StatusRow, pending_row, row_of
from diagnostics.tls.crl_sources import CRLEvent, CRLSources
from diagnostics.tls.recording import OPENSSL_VERSION

ProbeFunction = Callable[..., "defer.Deferred[ProbeResult]"]
STREAMS = ("client", "server", "daemon")
# Transition state is written at most this often (and at stop): a burst of changes after a
# restart or a network incident costs one write, not one per probe.
STATE_SAVE_DELAY = 5.0

COLLECT_EVERY = 1000
"""Probes between two full runs of Python's cycle collector.

A probe that meets a failing peer leaves its TLS connection in a reference cycle of
exceptions and frames (in Twisted's TLS layer, out of reach here); such a cycle holds
some 100 KB of OpenSSL memory that the collector does not see.  With thousands of
targets in memory its own full runs come only every few thousand probes, so the
daemon runs one itself (some 25 ms for 10,000 targets)."""


@attrs.frozen
class RunningListener:
    """A started ``[[listener]]``."""

    url: str
    listener: Any  # diagnostics.listener.service.Listener, imported when listeners start


@attrs.define
class LogStreams:
    """The three structured streams of a daemon."""

    client: Any
    server: Any
    daemon: Any


def open_streams(
    log_dir: str,
    *,
    stdout: bool = False,
    max_bytes: int,
    backups: int,
    ship: Callable[[str, str], None] | None = None,
) -> LogStreams:
    """One logger per stream: files under ``log_dir``, or all on standard output; every
    event also handed to ``ship`` (syslog) when given."""
    loggers = {}
    for stream in STREAMS:
        sink: RotatingFile | StdoutLines
        if stdout:
            sink = StdoutLines()
        else:
            path = os.path.join(log_dir, f"{stream}.jsonl")
            sink = RotatingFile(path, max_bytes=max_bytes, backups=backups)
        loggers[stream] = make_logger(sink if ship is None else Shipped(sink, stream, ship), stream)
    return LogStreams(**loggers)


_TWISTED_LEVELS = {
    LogLevel.debug: "debug",
    LogLevel.info: "info",
    LogLevel.warn: "warning",
    LogLevel.error: "error",
    LogLevel.critical: "critical",
}


_FACTORY_NOISE = frozenset({"Starting factory {factory!r}", "Stopping factory {factory!r}"})
# What a listening port says when it opens and closes, whatever its factory's ``noisy``: every
# passive FTP data port (one per FTPS probe of the lab or a listener) would add two lines. The
# daemon logs its own ports (start, lab-start, listener-start) itself.
_PORT_NOISE = re.compile(r"(?:.+ starting on \d+|\((?:TCP|UDP|UNIX) Port \S+ Closed\))")


def _is_noise(event: dict[str, Any]) -> bool:
    """A Twisted event that says nothing a reader of daemon.jsonl needs, thousands a minute."""
    if event.get("log_format") in _FACTORY_NOISE:
        return True
    text = event.get("log_text")
    return (
        event.get("log_namespace") == "log_legacy"
        and isinstance(text, str)
        and _PORT_NOISE.fullmatch(text) is not None
    )


@implementer(ILogObserver)
class TwistedLogBridge:
    """Write ``twisted.logger`` events into the daemon stream."""

    def __init__(self, logger: Any) -> None:
        self.logger = logger
        self.local = threading.local()

    def __call__(self, event: dict[str, Any]) -> None:
        """Log one Twisted event; never raises (an observer that raises is removed)."""
        if getattr(self.local, "busy", False):
            return  # an event raised while writing one: do not loop
        if _is_noise(event):
            return
        self.local.busy = True
        try:
            level = _TWISTED_LEVELS.get(event.get("log_level", LogLevel.info), "info")
            fields: dict[str, Any] = {
                "event.action": "twisted",
                "log.origin.namespace": event.get("log_namespace"),
            }
            failure = event.get("log_failure")
            if isinstance(failure, Failure):
                fields["error.type"] = failure.type.__name__ if failure.type else None
                fields["error.message"] = failure.getErrorMessage()
                fields["error.stack_trace"] = failure.getTraceback()
            getattr(self.logger, level)(formatEvent(event) or "", **fields)
        except Exception:
            pass
        finally:
            self.local.busy = False


class _QuietSite(server.Site):
    """A site that does not write an access line per request (scrapes would flood the log)."""

    noisy = False

    def log(self, request: Any) -> None:
        """Write nothing."""


class DaemonService(service.Service):
    """Scheduled probes, their logs and metrics, the HTTP endpoints; reloads on SIGHUP."""

    def __init__(
        self,
        config: Config,
        *,
        reactor: Any,
        shard: tuple[int, int] | None = None,
        log_stdout: bool = False,
        probe: ProbeFunction | None = None,
        handle_sighup: bool = True,
        environ: dict[str, str] | None = None,
        progress: Callable[[TargetConfig, ProbeResult], None] | None = None,
    ) -> None:
        self.config = config
        self.progress = progress
        self.lab: Any = None  # the running lab, when [lab] is enabled
        self.lab_targets: list[TargetConfig] = []
        self.reactor = reactor
        self.shard = shard
        self.log_stdout = log_stdout
        self.handle_sighup = handle_sighup
        self.environ = environ
        # One CRL cache for every target: a URL is fetched once, refreshed in the background.
        self.crl_sources = CRLSources(
            refresh_interval=config.daemon.crl_refresh, on_event=self._crl_event
        )
        if probe is None:
            from diagnostics.probes.dispatch import probe as real_probe

            probe = functools.partial(real_probe, crl_sources=self.crl_sources)
        self.probe_function = probe
        self.metrics = ProbeMetrics()
        self.registry = new_registry(self.metrics)
        self.syslog = SyslogShipper(reactor, dropped_counter(self.registry))
        self.tracker = Tracker()
        self.status_rows: dict[str, StatusRow] = {}  # the status page's row of each target
        self.latest = LatestResults()  # each target's latest result, for /report
        self.streams: LogStreams | None = None
        self.bridge: TwistedLogBridge | None = None
        self.port: Any = None
        self.site: server.Site | None = None
        self.metrics_address: tuple[str, int] | None = None  # as configured, once bound
        self.save_call: Any = None
        self.state_path: str | None = None  # None: no transition state is kept
        self.state_off: str | None = None  # why not, as last logged
        self.state_save_failed = False  # a failed save is logged once, not every few seconds
        self.listeners: dict[ListenerConfig, RunningListener] = {}
        self.previous_sighup: Any = None
        self.on_demand = defer.DeferredSemaphore(config.daemon.concurrency)
        self.collect_every = COLLECT_EVERY
        self.probes_since_collection = 0
        self.scheduler = Scheduler(
            reactor,
            self._probe_target,
            on_result=self._on_result,
            on_error=self._on_error,
            concurrency=config.daemon.concurrency,
        )

    # -- life ---------------------------------------------------------------------------

    def startService(self) -> None:
        """Open the logs, listen for metrics, start scheduling."""
        daemon = self.config.daemon
        self.syslog.configure(daemon.syslog)
        self.streams = open_streams(
            daemon.log_dir,
            stdout=self.log_stdout,
            max_bytes=daemon.log_max_bytes,
            backups=daemon.log_backups,
            ship=self.syslog.ship,
        )
        self.bridge = TwistedLogBridge(self.streams.daemon)
        globalLogPublisher.addObserver(self.bridge)
        pages = {
            b"": StatusPage(self._status_page_rows, self._now),
            b"report": ReportPage(self.latest, OPENSSL_VERSION),
        }
        tree = resource_tree(self.registry, lambda: self.config, self._probe_now, pages)
        self.site = _QuietSite(tree)  # type: ignore[no-untyped-call]
        self.port = self._listen(daemon.metrics_host, daemon.metrics_port)
        self.metrics_address = (daemon.metrics_host, daemon.metrics_port)
        address = self.port.getHost()
        self._start_lab()
        targets = in_shard(self.config.targets, self.shard) + self.lab_targets
        self.streams.daemon.info(
            f"tlsdiag {__version__} started: {len(targets)} targets, metrics on "
            f"{address.host}:{address.port}",
            **{
                "event.action": "start",
                "service.version": __version__,
                "process.pid": os.getpid(),
                "file.path": self.config.path,
                "tlsdiag": {
                    "targets": len(targets),
                    "configured_targets": len(self.config.targets),
                    "shard": f"{self.shard[0]}/{self.shard[1]}" if self.shard else None,
                    "metrics_listen": f"{address.host}:{address.port}",
                },
            },
        )
        self._set_listeners(self.config)
        self._locate_state()
        self._load_state([t.url for t in targets])
        self.crl_sources.watch(self.reactor, _crl_entries(self.config, targets))
        self.scheduler.start(targets)
        if self.handle_sighup:
            self.previous_sighup = signal.signal(signal.SIGHUP, self._sighup)
        super().startService()  # type: ignore[no-untyped-call]

    def stopService(self) -> defer.Deferred[None]:
        """Stop scheduling, let probes in flight end, log the stop."""
        super().stopService()  # type: ignore[no-untyped-call]
        if self.save_call is not None and self.save_call.active():
            self.save_call.cancel()
        self.save_call = None
        self.crl_sources.stop()
        if self.handle_sighup and self.previous_sighup is not None:
            signal.signal(signal.SIGHUP, self.previous_sighup)
        listening = (
            defer.maybeDeferred(self.port.stopListening) if self.port else defer.succeed(None)
        )
        in_flight = self.scheduler.running

        def stopped(_: Any) -> defer.Deferred[None]:
            self._save_state()
            if self.streams is not None:
                self.streams.daemon.info(
                    f"tlsdiag stopped ({in_flight} probes were in flight)",
                    **{"event.action": "stop", "process.pid": os.getpid()},
                )
            if self.bridge is not None:
                globalLogPublisher.removeObserver(self.bridge)
            return self.syslog.stop()

        lab = self.lab.stop() if self.lab is not None else defer.succeed(None)
        done: defer.Deferred[Any] = defer.gatherResults(
            [listening, lab, self._stop_listeners(), self.scheduler.stop()], consumeErrors=True
        )
        return done.addBoth(stopped)

    def _sighup(self, _signum: int, _frame: Any) -> None:
        self.reactor.callFromThread(self.reload)

    def reload(self) -> bool:
        """Read the configuration again; keep the running one when the new one is invalid."""
        assert self.streams is not None
        log = self.streams.daemon
        try:
            new = load_config(self.config.path, environ=self.environ)
        except ConfigError as exc:
            log.error(
                f"reload refused, still running the previous configuration: "
                f"{len(exc.problems)} problems in {self.config.path}",
                **{
                    "event.action": "reload",
                    "event.outcome": "failure",
                    "file.path": self.config.path,
                    "error.message": str(exc),
                    "tlsdiag": {"problems": [str(p) for p in exc.problems]},
                },
            )
            for problem in exc.problems:
                log.error(
                    str(problem),
                    **{"event.action": "config-error", "file.path": problem.file},
                    tlsdiag={"key": problem.key, "problem": problem.message},
                )
            return False
        self._apply_daemon_settings(new)
        log = self.streams.daemon  # the streams may have moved
        self.config = new
        self._locate_state()
        targets = in_shard(new.targets, self.shard) + self.lab_targets
        urls = [t.url for t in targets]
        if new.daemon.concurrency != self.scheduler.concurrency:
            self.scheduler.concurrency = new.daemon.concurrency
            # Requests holding a slot of the old limit finish under it.
            self.on_demand = defer.DeferredSemaphore(new.daemon.concurrency)
        self.crl_sources.refresh_interval = new.daemon.crl_refresh
        self.crl_sources.watch(self.reactor, _crl_entries(new, targets))
        self.scheduler.set_targets(targets)
        self.metrics.keep_only(urls)
        self.tracker.keep_only(urls)
        self.status_rows = {u: r for u, r in self.status_rows.items() if u in set(urls)}
        self.latest.keep_only(urls)
        self._state_changed()
        log.info(
            f"configuration reloaded: {len(targets)} targets",
            **{
                "event.action": "reload",
                "event.outcome": "success",
                "file.path": new.path,
                "tlsdiag": {"targets": len(targets)},
            },
        )
        self._set_listeners(new)
        return True

    def _start_lab(self) -> None:
        """Start the lab of [lab] and make a target of each of its endpoints."""
        settings = self.config.lab
        if settings is None:
            return
        from diagnostics.daemon.config import lab_targets
        from diagnostics.lab.servers import start_lab

        self.lab = start_lab(
            self.reactor,
            bind=settings.bind,
            base_port=settings.base_port,
            state_dir=settings.state_dir,
        )
        self.lab_targets = lab_targets(
            self.lab.manifest, interval=settings.interval, timeout=settings.timeout
        )
        assert self.streams is not None
        self.streams.daemon.info(
            f"lab started: {len(self.lab_targets)} endpoints on {settings.bind}, "
            f"files in {settings.state_dir}",
            **{"event.action": "lab-start", "file.directory": settings.state_dir},
            tlsdiag={"endpoints": [e.to_json() for e in self.lab.manifest]},
        )

    # -- what a reload changes in place --------------------------------------------------

    def _listen(self, host: str, port: int) -> Any:
        return self.reactor.listenTCP(port, self.site, interface=host)

    def _apply_daemon_settings(self, new: Config) -> None:
        """Re-open the log streams and re-bind the metrics listener when their keys changed."""
        assert self.streams is not None
        old = self.config.daemon
        self.syslog.configure(new.daemon.syslog)
        if (old.log_dir, old.log_max_bytes, old.log_backups) != (
            new.daemon.log_dir,
            new.daemon.log_max_bytes,
            new.daemon.log_backups,
        ):
            if old.log_dir != new.daemon.log_dir:
                self.streams.daemon.info(
                    f"log streams move to {new.daemon.log_dir}",
                    **{"event.action": "reload", "file.directory": new.daemon.log_dir},
                )
                self.tracker.dirty = True  # the state file moves with the logs
            self.streams = open_streams(
                new.daemon.log_dir,
                stdout=self.log_stdout,
                max_bytes=new.daemon.log_max_bytes,
                backups=new.daemon.log_backups,
                ship=self.syslog.ship,
            )
            if self.bridge is not None:
                self.bridge.logger = self.streams.daemon
            self._state_changed()
        wanted = (new.daemon.metrics_host, new.daemon.metrics_port)
        if wanted != self.metrics_address:
            self._move_metrics(*wanted)

    def _move_metrics(self, host: str, port: int) -> None:
        """Listen on ``host:port`` instead; on failure keep the old listener and say why."""
        old_port, old_address = self.port, self.metrics_address
        try:
            self._moved(self._listen(host, port), old_port, (host, port))
            return
        except CannotListenError as exc:
            first_error = exc
        if not (old_address and old_address[1] == port and port):
            self._metrics_not_moved(host, port, first_error)
            return

        # The same port on another address: the old listener holds it; free it, then retry.
        def retry(_: Any) -> None:
            assert old_address is not None
            try:
                self._moved(self._listen(host, port), None, (host, port))
                return
            except CannotListenError as exc:
                error = exc
            try:
                self.port = self._listen(*old_address)
            except CannotListenError as exc:
                self.port = None
                error = exc
            self._metrics_not_moved(host, port, error)

        defer.maybeDeferred(old_port.stopListening).addCallback(retry)

    def _moved(self, new_port: Any, old_port: Any, configured: tuple[str, int]) -> None:
        self.port = new_port
        self.metrics_address = configured
        if old_port is not None:
            old_port.stopListening()
        assert self.streams is not None
        where = _address(new_port.getHost())
        self.streams.daemon.info(
            f"metrics now on {where}",
            **{"event.action": "reload", "tlsdiag": {"metrics_listen": where}},
        )

    def _metrics_not_moved(self, host: str, port: int, error: Exception) -> None:
        assert self.streams is not None
        where = _address(self.port.getHost()) if self.port is not None else None
        self.streams.daemon.error(
            f"metrics_listen {host}:{port} cannot be bound ({error}); metrics stay on {where}"
            if where
            else f"metrics_listen {host}:{port} cannot be bound ({error}); no metrics listener",
            **{
                "event.action": "reload",
                "event.outcome": "failure",
                "error.message": str(error),
                "tlsdiag": {"metrics_listen": where},
            },
        )

    # -- transition state across restarts ------------------------------------------------

    def _locate_state(self) -> None:
        """Where the state goes under the current configuration; say once when nowhere."""
        daemon = self.config.daemon
        path, why = state_location(daemon.log_dir, daemon.state_file, log_stdout=self.log_stdout)
        self.state_path = path
        if why is not None and why != self.state_off:
            self._daemon_log(
                "info" if daemon.state_file == "" else "warning",
                f"transition state is not kept ({why}): transition events (expiry_warning, "
                "expiry_critical, chain_changed, degraded, recovered) will repeat after a restart",
                **{"event.action": "state"},
            )
        self.state_off = why

    def _load_state(self, urls: list[str]) -> None:
        assert self.streams is not None
        if self.state_path is None:
            return
        try:
            loaded = self.tracker.load_json(load_state(self.state_path))
        except StateError as exc:
            self.streams.daemon.warning(
                f"transition state not loaded, starting afresh: {exc}",
                **{"event.action": "state", "file.path": self.state_path},
            )
            return
        self.tracker.keep_only(urls)
        self.tracker.dirty = False
        if loaded:
            self.streams.daemon.info(
                f"transition state of {len(self.tracker.seen)} targets loaded",
                **{"event.action": "state", "file.path": self.state_path},
            )

    def _state_changed(self) -> None:
        if self.state_path is None:
            return
        if self.tracker.dirty and self.save_call is None and self.running:
            self.save_call = self.reactor.callLater(STATE_SAVE_DELAY, self._save_state)

    def _save_state(self) -> None:
        if self.save_call is not None and self.save_call.active():
            self.save_call.cancel()
        self.save_call = None
        if not self.tracker.dirty or self.state_path is None:
            return
        try:
            save_state(self.state_path, self.tracker.to_json())
        except OSError as exc:
            if not self.state_save_failed:
                self._daemon_log(
                    "warning",
                    f"transition state not saved: {exc} (tried again at each change, "
                    "not said again until a save succeeds)",
                    **{"event.action": "state", "file.path": self.state_path},
                )
            self.state_save_failed = True
            return
        if self.state_save_failed:
            self._daemon_log(
                "info",
                "transition state saved again",
                **{"event.action": "state", "file.path": self.state_path},
            )
        self.state_save_failed = False
        self.tracker.dirty = False

    # -- [[listener]] -------------------------------------------------------------------

    def _set_listeners(self, config: Config) -> None:
        """Stop the listeners no longer configured, then start the new ones.

        At start a listener that cannot start stops the daemon (exit 2, like the metrics
        port); at a reload it is logged and the rest of the configuration applies.
        """
        wanted = set(config.listeners)
        removed = [self.listeners.pop(c) for c in list(self.listeners) if c not in wanted]
        for running in removed:
            self._daemon_log(
                "info",
                f"listener {running.url} stopped",
                **{"event.action": "listener-stop", "url.full": running.url},
            )
        new = [c for c in config.listeners if c not in self.listeners]
        if not removed:
            self._start_listeners(new, strict=not self.running)
            return
        # A changed listener may keep its port: start the new ones once the old ones let go.
        stopped = defer.gatherResults([r.listener.stop() for r in removed], consumeErrors=True)
        stopped.addBoth(lambda _: self._start_listeners(new, strict=False))

    def _start_listeners(self, configs: list[ListenerConfig], *, strict: bool) -> None:
        from diagnostics.listener.service import listen
        from diagnostics.render.session import PLAIN_TEXT_REPORTS

        for config in configs:
            try:
                material, capacity = self._listener_material(config)
                listener = listen(
                    self.reactor,
                    material,
                    self._on_session,
                    reports=PLAIN_TEXT_REPORTS,
                    on_refused=self._on_refused,
                )
            except Exception as exc:
                if strict:
                    raise
                self._daemon_log(
                    "error",
                    f"listener {config.url} cannot start: {exc}",
                    **{
                        "event.action": "listener-start",
                        "event.outcome": "failure",
                        "url.full": config.url,
                        "error.message": str(exc),
                    },
                )
                continue
            self.listeners[config] = RunningListener(config.url, listener)
            where = _address(listener.address)
            self._daemon_log(
                "warning" if capacity.lowered else "info",
                f"listener {config.url} started on {where}; {capacity.message()}",
                **{"event.action": "listener-start", "event.outcome": "success"},
                **{"url.full": config.url, "tlsdiag": {"address": where, **capacity.to_json()}},
            )

    def _listener_material(self, config: ListenerConfig) -> tuple[Any, Any]:
        """A listener's set-up, its CRLs (files and URLs) as the shared CRL cache holds them,
        and its :class:`~diagnostics.listener.service.Capacity`: the open-file limit raised as
        far as allowed, and ``max_connections`` lowered to what it leaves once the probes
        (two files each, the scheduler's and /probe's) and the running listeners are served.
        """
        from diagnostics.listener.service import (
            RESERVED_FILES,
            crl_material,
            files_needed,
            fit_limits,
            raise_open_files,
        )
        from diagnostics.listener.session import Limits, ListenerOptions

        assert config.cert is not None and config.key is not None  # a valid config
        options = ListenerOptions(
            url=config.url,
            cert_file=config.cert,
            key_file=config.key,
            client_ca_files=config.client_ca,
            crl_files=config.crl,
            require_client_cert=config.require_client_cert,
            expect_cn=config.expect_cn,
            caller=DAEMON_LISTENER,
            key_password=config.key_password,
            limits=Limits(
                **{
                    name: value
                    for name in ("max_connections", "max_per_address")
                    if (value := getattr(config, name)) is not None
                }
            ),
        )
        busy = sum(
            files_needed(r.listener.factory.material.options) for r in self.listeners.values()
        )
        reserved = RESERVED_FILES + 4 * self.config.daemon.concurrency + busy
        options, capacity = fit_limits(
            options, raise_open_files(), reserved=reserved, option="max_connections"
        )
        return crl_material(self.reactor, options, self.crl_sources), capacity

    def _stop_listeners(self) -> defer.Deferred[Any]:
        running = list(self.listeners.values())
        self.listeners.clear()
        return defer.gatherResults([r.listener.stop() for r in running], consumeErrors=True)

    def _on_session(self, result: ProbeResult) -> None:
        """One finished listener session: its summary event in server.jsonl."""
        if self.streams is not None:
            log_session(self.streams.server, result)

    def _on_refused(self, report: RefusedConnections) -> None:
        """Connections a listener refused at its limit: one event a second at most."""
        if self.streams is not None:
            log_refused(self.streams.server, report)

    def _daemon_log(self, level: str, message: str, **fields: Any) -> None:
        if self.streams is not None:
            getattr(self.streams.daemon, level)(message, **fields)

    def _crl_event(self, event: CRLEvent) -> None:
        """A CRL loaded, kept after a failed reload, or unavailable: into daemon.jsonl."""
        if self.streams is None:
            return
        fields: dict[str, Any] = {"event.action": event.action}
        fields["url.full" if "://" in event.source else "file.path"] = event.source
        if event.error is not None:
            fields["error.message"] = event.error
        getattr(self.streams.daemon, event.level)(
            event.message,
            **fields,
            tlsdiag={"crl_issuer": event.issuer, "crl_next_update": event.next_update},
        )
        for running in self.listeners.values():
            running.listener.factory.crl_changed(self.crl_sources, event)

    # -- probes ---------------------------------------------------------------------------

    def _probe_target(self, config: TargetConfig) -> defer.Deferred[ProbeResult]:
        return self.probe_function(self.reactor, config.target, config.settings.options)

    def _now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.reactor.seconds(), datetime.UTC)

    def _probe_ended(self) -> None:
        """Count a finished probe; every :data:`COLLECT_EVERY` run the cycle collector."""
        self.probes_since_collection += 1
        if self.probes_since_collection >= self.collect_every:
            self.probes_since_collection = 0
            gc.collect()

    def _on_result(self, config: TargetConfig, result: ProbeResult) -> None:
        assert self.streams is not None
        self._probe_ended()
        url = config.url
        self.metrics.observe(url, result)
        client = self.streams.client
        if config.settings.labels:
            client = client.bind(**label_fields(config.settings.labels))
        document = result_to_json(result)
        log_probe(client, result, document)
        self.latest.keep(url, document)
        if self.progress is not None:
            self.progress(config, result)
        options = config.settings.options
        now = self._now()
        changes = self.tracker.observe(
            url, result, now, warn_days=options.warn_days, critical_days=options.critical_days
        )
        self._update_status_row(config, result, now, changed=bool(changes))
        for change in changes:
            if change.action == "chain_changed":
                self.metrics.chain_changed(url)
            getattr(client, change.level)(
                change.message,
                **{
                    "event.action": change.action,
                    "event.kind": "event",
                    "url.full": url,
                    "server.address": config.target.host,
                    "server.port": config.target.port,
                },
                tlsdiag=change.fields,
            )
        self._state_changed()

    def _update_status_row(
        self, config: TargetConfig, result: ProbeResult, now: datetime.datetime, *, changed: bool
    ) -> None:
        """The target's row from its new result; its last change moves when a transition
        was reported or the status differs from the row's."""
        before = self.status_rows.get(config.url)
        changed_at = now
        if not changed and before is not None and before.status == result.status.value:
            changed_at = before.changed_at or now
        self.status_rows[config.url] = row_of(
            config.name,
            result,
            probed_at=now,
            changed_at=changed_at,
            expiry=before.expiry if before is not None else None,
            report=report_link(config.url),
        )

    def _status_page_rows(self) -> list[StatusRow]:
        """A row per scheduled target; "pending" for those not probed yet."""
        return [
            self.status_rows.get(url)
            or pending_row(entry.config.name, url, entry.config.target.scheme)
            for url, entry in self.scheduler.entries.items()
        ]

    def _on_error(self, config: TargetConfig, failure: Failure) -> None:
        self._probe_ended()
        if self.streams is None:
            return
        self.streams.daemon.error(
            f"probe of {config.url} ended with an internal error: {failure.getErrorMessage()}",
            **{
                "event.action": "probe-error",
                "url.full": config.url,
                "error.type": failure.type.__name__ if failure.type else None,
                "error.message": failure.getErrorMessage(),
                "error.stack_trace": failure.getTraceback(),
                **label_fields(config.settings.labels),
            },
        )

    def _probe_now(self, target: Target, settings: Settings) -> defer.Deferred[ProbeResult]:
        """Probe ``target`` now for /probe (parsed and allowed there), within the on-demand
        concurrency."""

        def logged(result: ProbeResult) -> ProbeResult:
            self._probe_ended()
            # The summary line is written on the next turn of the reactor, once the answer
            # is on its way: Prometheus waits for the answer, not for the log.
            self.reactor.callLater(0, self._log_on_demand, result, settings)
            return result

        d: defer.Deferred[ProbeResult] = self.on_demand.run(
            self.probe_function, self.reactor, target, settings.options
        )
        return d.addCallback(logged)

    def _log_on_demand(self, result: ProbeResult, settings: Settings) -> None:
        """The ``tls-probe`` summary of a /probe result."""
        if self.streams is not None:
            fields = {"event.reason": "/probe", **label_fields(settings.labels)}
            log_probe(self.streams.client.bind(**fields), result)


def _crl_entries(config: Config, targets: list[TargetConfig]) -> list[str]:
    """Every CRL file and URL the targets, modules and listeners use (files too: they may be
    replaced)."""
    settings = [t.settings for t in targets] + list(config.modules.values())
    names = [name for s in settings for name in s.options.trust.crl_files]
    names += [name for listener in config.listeners for name in listener.crl]
    return list(dict.fromkeys(names))


def _address(address: Any) -> str:
    host = address.host
    return f"[{host}]:{address.port}" if ":" in host else f"{host}:{address.port}"


def make_service(
    config: Config,
    *,
    reactor: Any,
    shard: tuple[int, int] | None = None,
    log_stdout: bool = False,
    probe: ProbeFunction | None = None,
    handle_sighup: bool = True,
    progress: Callable[[TargetConfig, ProbeResult], None] | None = None,
) -> DaemonService:
    """The daemon's service tree from a valid configuration (the composition root)."""
    return DaemonService(
        config,
        reactor=reactor,
        shard=shard,
        log_stdout=log_stdout,
        probe=probe,
        handle_sighup=handle_sighup,
        progress=progress,
    )


def load_or_report(config_path: str, err: TextIO) -> Config | None:
    """The configuration, or None after writing every problem to ``err``."""
    try:
        return load_config(config_path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"tlsdiag daemon: {problem}", file=err)
        if len(exc.problems) > 1:
            print(f"tlsdiag daemon: {len(exc.problems)} configuration problems", file=err)
        return None


def run(
    config_path: str,
    *,
    shard: tuple[int, int] | None = None,
    log_stdout: bool = False,
    progress: bool = False,
    err: TextIO,
) -> int:
    """Run the daemon under the global reactor until SIGTERM/SIGINT; the exit code.

    ``progress`` writes a readable block per target to ``err`` as results arrive.
    """
    config = load_or_report(config_path, err)
    if config is None:
        return 2
    from twisted.internet import reactor as global_reactor
    from twisted.logger import globalLogBeginner

    reactor: Any = global_reactor
    console = console_for(config, err) if progress else None
    daemon = make_service(
        config,
        reactor=reactor,
        shard=shard,
        log_stdout=log_stdout,
        progress=None if console is None else lambda target, result: console(target.name, result),
    )
    startup_error: list[str] = []

    def start() -> None:
        try:
            daemon.startService()
        except Exception as exc:
            startup_error.append(f"tlsdiag daemon: cannot start: {exc}")
            reactor.stop()
            return
        reactor.addSystemEventTrigger("before", "shutdown", daemon.stopService)
        if console is not None:
            urls = list(daemon.scheduler.entries)
            console.begin(urls, f"tlsdiag daemon: probing {len(urls)} targets; Ctrl-C stops.")

    # Twisted buffers its log events until logging begins; ours go to daemon.jsonl.
    globalLogBeginner.beginLoggingTo([], redirectStandardIO=False, discardBuffer=True)
    reactor.callWhenRunning(start)
    reactor.run()
    if startup_error:
        print(startup_error[0], file=err)
        return 2
    return 0


def console_for(config: Config, err: TextIO) -> ConsoleProgress:
    """The ``--progress`` printer, its footer naming the logs and the metrics address."""
    daemon = config.daemon
    host = f"[{daemon.metrics_host}]" if ":" in daemon.metrics_host else daemon.metrics_host
    log_dir = os.path.relpath(daemon.log_dir)
    return ConsoleProgress(
        err,
        footer=(
            "Every target has been probed once; from now on only changes are shown.",
            f"  one JSON event per probe:  {os.path.join(log_dir, 'client.jsonl')}",
            f"  the daemon's own events:   {os.path.join(log_dir, 'daemon.jsonl')}",
            f"  Prometheus metrics:        http://{host}:{daemon.metrics_port}/metrics",
        ),
    )
