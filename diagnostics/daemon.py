# -*- test-case-name: tests.test_daemon -*-
"""The daemon: the one place that builds the service from a configuration.

Scheduler, metrics listener, log streams, the bridge from Twisted's own log
events into ``daemon.jsonl`` and SIGHUP reloads are wired together here; the
CLI (``tlsdiag daemon``) and any other entry point call :func:`make_service`.
"""

from __future__ import annotations

import datetime
import os
import signal
import threading
from collections.abc import Callable
from typing import Any, TextIO

import attrs
from twisted.application import service
from twisted.internet import defer
from twisted.logger import ILogObserver, LogLevel, formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.web import server
from zope.interface import implementer

from diagnostics import __version__
from diagnostics.config import Config, ConfigError, Settings, TargetConfig, load_config
from diagnostics.logs import RotatingFile, StdoutLines, log_probe, make_logger
from diagnostics.metrics import ProbeMetrics, new_registry, resource_tree
from diagnostics.model import ProbeResult
from diagnostics.schedule import Scheduler, in_shard
from diagnostics.target import parse_target
from diagnostics.transitions import Tracker

ProbeFunction = Callable[..., "defer.Deferred[ProbeResult]"]
STREAMS = ("client", "server", "daemon")


@attrs.define
class LogStreams:
    """The three structured streams of a daemon."""

    client: Any
    server: Any
    daemon: Any


def open_streams(log_dir: str, *, stdout: bool = False, max_bytes: int, backups: int) -> LogStreams:
    """One logger per stream: files under ``log_dir``, or all on standard output."""
    loggers = {}
    for stream in STREAMS:
        sink: RotatingFile | StdoutLines
        if stdout:
            sink = StdoutLines()
        else:
            path = os.path.join(log_dir, f"{stream}.jsonl")
            sink = RotatingFile(path, max_bytes=max_bytes, backups=backups)
        loggers[stream] = make_logger(sink, stream)
    return LogStreams(**loggers)


_TWISTED_LEVELS = {
    LogLevel.debug: "debug",
    LogLevel.info: "info",
    LogLevel.warn: "warning",
    LogLevel.error: "error",
    LogLevel.critical: "critical",
}


_FACTORY_NOISE = frozenset({"Starting factory {factory!r}", "Stopping factory {factory!r}"})


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
        if event.get("log_format") in _FACTORY_NOISE:
            return  # every probe's connection factory says so: thousands a minute
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
    ) -> None:
        self.config = config
        self.reactor = reactor
        self.shard = shard
        self.log_stdout = log_stdout
        self.handle_sighup = handle_sighup
        self.environ = environ
        if probe is None:
            from diagnostics.probe import probe as real_probe

            probe = real_probe
        self.probe_function = probe
        self.metrics = ProbeMetrics()
        self.registry = new_registry(self.metrics)
        self.tracker = Tracker()
        self.streams: LogStreams | None = None
        self.bridge: TwistedLogBridge | None = None
        self.port: Any = None
        self.previous_sighup: Any = None
        self.on_demand = defer.DeferredSemaphore(config.daemon.concurrency)
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
        self.streams = open_streams(
            daemon.log_dir,
            stdout=self.log_stdout,
            max_bytes=daemon.log_max_bytes,
            backups=daemon.log_backups,
        )
        self.bridge = TwistedLogBridge(self.streams.daemon)
        globalLogPublisher.addObserver(self.bridge)
        site = _QuietSite(resource_tree(self.registry, lambda: self.config, self._probe_now))  # type: ignore[no-untyped-call]
        self.port = self.reactor.listenTCP(daemon.metrics_port, site, interface=daemon.metrics_host)
        address = self.port.getHost()
        targets = in_shard(self.config.targets, self.shard)
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
        self._note_listeners(self.config)
        self.scheduler.start(targets)
        if self.handle_sighup:
            self.previous_sighup = signal.signal(signal.SIGHUP, self._sighup)
        super().startService()  # type: ignore[no-untyped-call]

    def stopService(self) -> defer.Deferred[None]:
        """Stop scheduling, let probes in flight end, log the stop."""
        super().stopService()  # type: ignore[no-untyped-call]
        if self.handle_sighup and self.previous_sighup is not None:
            signal.signal(signal.SIGHUP, self.previous_sighup)
        listening = (
            defer.maybeDeferred(self.port.stopListening) if self.port else defer.succeed(None)
        )
        in_flight = self.scheduler.running

        def stopped(_: Any) -> None:
            if self.streams is not None:
                self.streams.daemon.info(
                    f"tlsdiag stopped ({in_flight} probes were in flight)",
                    **{"event.action": "stop", "process.pid": os.getpid()},
                )
            if self.bridge is not None:
                globalLogPublisher.removeObserver(self.bridge)

        done: defer.Deferred[Any] = defer.gatherResults(
            [listening, self.scheduler.stop()], consumeErrors=True
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
        old = self.config.daemon
        fixed = {
            "log_dir": (old.log_dir, new.daemon.log_dir),
            "metrics_listen": (
                (old.metrics_host, old.metrics_port),
                (new.daemon.metrics_host, new.daemon.metrics_port),
            ),
        }
        for key, (before, after) in fixed.items():
            if before != after:
                log.warning(
                    f"[daemon] {key} changed; it takes effect at the next restart",
                    **{"event.action": "reload", "file.path": new.path},
                )
        new = attrs.evolve(
            new,
            daemon=attrs.evolve(
                new.daemon,
                log_dir=old.log_dir,
                metrics_host=old.metrics_host,
                metrics_port=old.metrics_port,
            ),
        )
        self.config = new
        targets = in_shard(new.targets, self.shard)
        urls = [t.url for t in targets]
        self.scheduler.concurrency = new.daemon.concurrency
        self.scheduler.set_targets(targets)
        self.metrics.keep_only(urls)
        self.tracker.keep_only(urls)
        log.info(
            f"configuration reloaded: {len(targets)} targets",
            **{
                "event.action": "reload",
                "event.outcome": "success",
                "file.path": new.path,
                "tlsdiag": {"targets": len(targets)},
            },
        )
        self._note_listeners(new)
        return True

    def _note_listeners(self, config: Config) -> None:
        assert self.streams is not None
        for listener in config.listeners:
            self.streams.daemon.warning(
                f"listener {listener.url} is configured but listeners are not started by "
                "this version",
                **{"event.action": "listener-not-started", "url.full": listener.url},
            )

    # -- probes ---------------------------------------------------------------------------

    def _probe_target(self, config: TargetConfig) -> defer.Deferred[ProbeResult]:
        return self.probe_function(self.reactor, config.target, config.settings.options)

    def _now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.reactor.seconds(), datetime.UTC)

    def _on_result(self, config: TargetConfig, result: ProbeResult) -> None:
        assert self.streams is not None
        url = config.url
        self.metrics.observe(url, result)
        client = self.streams.client
        if config.settings.labels:
            client = client.bind(labels=dict(config.settings.labels))
        log_probe(client, result)
        options = config.settings.options
        for change in self.tracker.observe(
            url,
            result,
            self._now(),
            warn_days=options.warn_days,
            critical_days=options.critical_days,
        ):
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

    def _on_error(self, config: TargetConfig, failure: Failure) -> None:
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
            },
        )

    def _probe_now(self, url: str, settings: Settings) -> defer.Deferred[ProbeResult]:
        target = parse_target(url, servername=settings.servername)

        def logged(result: ProbeResult) -> ProbeResult:
            if self.streams is not None:
                log_probe(self.streams.client.bind(**{"event.reason": "/probe"}), result)
            return result

        d: defer.Deferred[ProbeResult] = self.on_demand.run(
            self.probe_function, self.reactor, target, settings.options
        )
        return d.addCallback(logged)


def make_service(
    config: Config,
    *,
    reactor: Any,
    shard: tuple[int, int] | None = None,
    log_stdout: bool = False,
    probe: ProbeFunction | None = None,
    handle_sighup: bool = True,
) -> DaemonService:
    """The daemon's service tree from a valid configuration (the composition root)."""
    return DaemonService(
        config,
        reactor=reactor,
        shard=shard,
        log_stdout=log_stdout,
        probe=probe,
        handle_sighup=handle_sighup,
    )


def run(
    config_path: str,
    *,
    shard: tuple[int, int] | None = None,
    log_stdout: bool = False,
    err: TextIO,
) -> int:
    """Run the daemon under the global reactor until SIGTERM/SIGINT; the exit code."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(str(problem), file=err)
        print(f"tlsdiag daemon: {len(exc.problems)} configuration problems", file=err)
        return 2
    from twisted.internet import reactor as global_reactor
    from twisted.logger import globalLogBeginner

    reactor: Any = global_reactor
    daemon = make_service(config, reactor=reactor, shard=shard, log_stdout=log_stdout)
    startup_error: list[str] = []

    def start() -> None:
        try:
            daemon.startService()
        except Exception as exc:
            startup_error.append(f"tlsdiag daemon: cannot start: {exc}")
            reactor.stop()
            return
        reactor.addSystemEventTrigger("before", "shutdown", daemon.stopService)

    # Twisted buffers its log events until logging begins; ours go to daemon.jsonl.
    globalLogBeginner.beginLoggingTo([], redirectStandardIO=False, discardBuffer=True)
    reactor.callWhenRunning(start)
    reactor.run()
    if startup_error:
        print(startup_error[0], file=err)
        return 2
    return 0
