"""The daemon: a real process against a real loopback TLS server, and its parts in-process.

The end-to-end test runs ``python -m diagnostics daemon`` (the global reactor
cannot run inside pytest) with a temporary config probing an ``openssl
s_server``, and talks to it over real HTTP and signals.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import shutil
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from diagnostics.cli.main import main
from diagnostics.daemon.config import load_config
from diagnostics.daemon.metrics import exposition
from diagnostics.daemon.service import make_service
from diagnostics.model.result import ProbeResult, Target
from diagnostics.model.transitions import Tracker
from tests.support import pki, servers
from tests.support.daemon import client_actions, daemon_config, result_with_leaf, run_service
from tests.support.ftpservers import free_port
from tests.support.processes import DEADLINE, read_lines, wait_for

ROOT = Path(__file__).resolve().parents[2]
PEM = serialization.Encoding.PEM


def write_server_files(directory: Path, chain: pki.Chain) -> tuple[Path, Path, Path]:
    """Leaf, intermediate and key files for openssl s_server."""
    directory.mkdir(parents=True, exist_ok=True)
    leaf = directory / "leaf.pem"
    inter = directory / "inter.pem"
    key = directory / "key.pem"
    leaf.write_bytes(chain.leaf.cert.public_bytes(PEM))
    inter.write_bytes(chain.intermediate.cert.public_bytes(PEM))
    key.write_bytes(
        chain.leaf.key.private_bytes(
            PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return leaf, inter, key


@contextlib.contextmanager
def s_server(directory: Path, chain: pki.Chain, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """An ``openssl s_server`` on 127.0.0.1:port serving ``chain``, once it listens (the
    daemon's first probe must find it)."""
    leaf, inter, key = write_server_files(directory, chain)
    command = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(leaf), "-key",
               str(key), "-cert_chain", str(inter), "-quiet"]  # fmt: skip
    server = servers.start_process("s_server", command, port, directory / "s_server.log")
    try:
        yield server.process
    finally:
        server.stop()


def http_get(url: str) -> tuple[int, str]:
    """Status and body of a GET (errors included)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_daemon_end_to_end(tmp_path: Path) -> None:
    """A daemon process probes a TLS server, logs, serves metrics, reloads and stops cleanly."""
    chain = pki.make_chain()
    (tmp_path / "ca.pem").write_bytes(chain.root.cert.public_bytes(PEM))
    (tmp_path / "listener.pem").write_bytes(pki.pem(chain.served))
    (tmp_path / "listener.key").write_bytes(pki.key_pem(chain.leaf.key))
    tls_port, metrics_port, listener_port = free_port(), free_port(), free_port()
    target = f"tls://127.0.0.1:{tls_port}"
    config_text = f"""
[daemon]
log_dir = "logs"
metrics_listen = "127.0.0.1:{metrics_port}"
concurrency = 10
allowed_targets = ["tls://127.0.0.1:*"]

[defaults]
interval = 1
timeout = 5
ca = ["ca.pem"]

[[target]]
url = "{target}"
servername = "localhost"
labels = {{ partner = "Loopback Ltd" }}

[module.local]
servername = "localhost"

[[listener]]
url = "https://127.0.0.1:{listener_port}"
cert = "listener.pem"
key = "listener.key"
"""
    config = tmp_path / "tlsdiag.toml"
    config.write_text(config_text)
    logs = tmp_path / "logs"
    base = f"http://127.0.0.1:{metrics_port}"
    success = f'probe_success{{target="{target}"}} 1.0'
    with s_server(tmp_path / "first", chain, tls_port):
        daemon = subprocess.Popen(
            [sys.executable, "-m", "diagnostics", "daemon", "--config", str(config)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for("probe_success 1", lambda: success in http_get(f"{base}/metrics")[1], daemon)
            probes = wait_for(
                "a client.jsonl line", lambda: read_lines(logs / "client.jsonl"), daemon
            )
            first = probes[0]
            assert first["event.action"] == "tls-probe"
            assert first["url.full"] == target
            assert first["tls.established"] is True
            assert first["tls.version"] in ("1.2", "1.3")
            assert first["tls.server.hash.sha256"]
            assert first["labels.partner"] == "Loopback Ltd"
            assert first["tlsdiag"]["status"] == "ok"
            _, metrics = http_get(f"{base}/metrics")
            assert f'tlsdiag_probes_total{{status="ok",target="{target}"}}' in metrics
            assert f'probe_ssl_earliest_cert_expiry{{target="{target}"}}' in metrics
            assert http_get(f"{base}/healthz") == (200, "ok\n")

            # The [[listener]] runs: a client's session is logged in server.jsonl.
            client = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
            client.check_hostname = False
            listener_url = f"https://127.0.0.1:{listener_port}/"
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(listener_url, context=client, timeout=10).close()
            sessions = wait_for(
                "a server.jsonl line", lambda: read_lines(logs / "server.jsonl"), daemon
            )
            assert sessions[0]["event.action"] == "tls-listen"
            assert sessions[0]["log.logger"] == "tlsdiag.server"
            assert sessions[0]["url.full"] == f"https://127.0.0.1:{listener_port}"
            assert sessions[0]["client.address"] == "127.0.0.1"

            code, body = http_get(f"{base}/probe?target={target}&module=local")
            assert code == 200 and success in body
            assert "tlsdiag_probes_total" not in body
            code, body = http_get(f"{base}/probe?target=tls://10.1.2.3:443&module=local")
            assert code == 403 and "not allowed" in body

            # A broken config on SIGHUP is refused; the daemon keeps probing.
            config.write_text(config_text + "\n[daemon2]\n")
            daemon.send_signal(signal.SIGHUP)
            refused = wait_for(
                "a refused reload",
                lambda: [
                    e
                    for e in read_lines(logs / "daemon.jsonl")
                    if e.get("event.action") == "reload" and e.get("event.outcome") == "failure"
                ],
                daemon,
            )
            assert "daemon2" in refused[0]["error.message"]
            count = len(read_lines(logs / "client.jsonl"))
            wait_for("more probes", lambda: len(read_lines(logs / "client.jsonl")) > count, daemon)
            config.write_text(config_text)
        except BaseException:
            daemon.kill()
            raise

    # The server's certificate changes: one chain_changed event.
    new_chain = pki.Chain(
        chain.root, chain.intermediate, pki.issue(chain.intermediate, sans=("localhost",))
    )
    with s_server(tmp_path / "second", new_chain, tls_port):
        try:
            changed = wait_for(
                "chain_changed",
                lambda: [
                    e
                    for e in read_lines(logs / "client.jsonl")
                    if e.get("event.action") == "chain_changed"
                ],
                daemon,
            )
            assert changed[0]["tlsdiag"]["old"]["sha256"] != changed[0]["tlsdiag"]["new"]["sha256"]
            wait_for(
                "the change counted",
                lambda: (
                    f'tlsdiag_chain_changed_total{{target="{target}"}} 1.0'
                    in http_get(f"{base}/metrics")[1]
                ),
                daemon,
            )
            # SIGHUP with another metrics_listen moves the listener over real sockets.
            moved_port = free_port()
            config.write_text(config_text.replace(str(metrics_port), str(moved_port)))
            daemon.send_signal(signal.SIGHUP)
            moved = f"http://127.0.0.1:{moved_port}"
            wait_for("the moved listener", lambda: http_get(f"{moved}/healthz")[0] == 200, daemon)
            assert http_get(f"{base}/healthz") == (0, "")  # the old port is closed
            assert success in http_get(f"{moved}/metrics")[1]
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                daemon.kill()
                raise
    assert daemon.returncode == 0, daemon.stderr.read() if daemon.stderr else ""
    events = read_lines(logs / "daemon.jsonl")
    actions = [e.get("event.action") for e in events if e.get("event.action") != "twisted"]
    assert actions[0] == "start" and actions[-1] == "stop"
    bridged = [e["message"] for e in events if e.get("event.action") == "twisted"]
    assert "Received SIGTERM, shutting down." in bridged
    assert not [m for m in bridged if m.startswith("Starting factory")]
    assert all("@timestamp" in e and "log.level" in e for e in events)


def test_daemon_refuses_an_invalid_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``tlsdiag daemon`` with a broken config exits 2 and prints every problem with its key."""
    config = tmp_path / "bad.toml"
    config.write_text('[daemon]\nconcurrency = "x"\n[[target]]\nurl = "tls://nohost"\n')
    assert main(["daemon", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}: daemon.concurrency: must be a whole number" in err
    assert f"{config}: target[0].url:" in err and "explicit port" in err


def test_daemon_refuses_a_bad_shard(capsys: pytest.CaptureFixture[str]) -> None:
    """--shard must be K/N."""
    assert main(["daemon", "--shard", "3/2"]) == 2
    assert "--shard" in capsys.readouterr().err


# -- in-process, with a memory reactor and a fake probe ---------------------------------


def test_transitions_once_per_change(tmp_path: Path) -> None:
    """chain_changed, expiry and status events appear once per change, not at every probe."""
    config_file = tmp_path / "tlsdiag.toml"
    config_file.write_text(
        '[daemon]\nlog_dir = "logs"\nmetrics_listen = "127.0.0.1:0"\n'
        "[defaults]\ninterval = 10\nwarn_days = 30\ncritical_days = 7\n"
        '[[target]]\nurl = "tls://127.0.0.1:1"\n'
    )
    config = load_config(str(config_file), environ={})
    ca = pki.make_ca("Root")
    now = pki.utcnow()
    far = pki.issue(ca, not_after=now + datetime.timedelta(days=300))
    other = pki.issue(ca, not_after=now + datetime.timedelta(days=300))
    soon = pki.issue(ca, not_after=now + datetime.timedelta(days=20))
    plan = [far, far, other, other, soon, soon, None, soon]
    reactor = MemoryReactorClock()
    reactor.advance(now.timestamp())

    def fake_probe(_reactor: Any, target: Target, _options: Any) -> defer.Deferred[ProbeResult]:
        leaf = plan.pop(0)
        if leaf is None:
            from diagnostics.model.result import Failure, Phase

            failed = ProbeResult(target=target, failure=Failure(Phase.CONNECT, "refused", "no"))
            return defer.succeed(failed)
        return defer.succeed(result_with_leaf(target, leaf))

    service = make_service(config, reactor=reactor, probe=fake_probe, handle_sighup=False)
    service.startService()
    for _ in range(200):
        reactor.advance(1)
        if not plan:
            break
    assert not plan
    events = read_lines(tmp_path / "logs" / "client.jsonl")
    actions = [e["event.action"] for e in events if e["event.action"] != "tls-probe"]
    assert actions == ["chain_changed", "chain_changed", "expiry_warning", "degraded", "recovered"]
    text = exposition(service.registry).decode()
    assert 'tlsdiag_chain_changed_total{target="tls://127.0.0.1:1"} 2.0' in text
    d = service.stopService()
    assert d.called
    stop = read_lines(tmp_path / "logs" / "daemon.jsonl")[-1]
    assert stop["event.action"] == "stop"


def test_reload_with_invalid_config_keeps_targets(tmp_path: Path) -> None:
    """reload() with a broken file logs every problem and keeps the running configuration."""
    config_file = tmp_path / "tlsdiag.toml"
    good = (
        '[daemon]\nlog_dir = "logs"\nmetrics_listen = "127.0.0.1:0"\n'
        '[[target]]\nurl = "tls://127.0.0.1:1"\n'
    )
    config_file.write_text(good)
    config = load_config(str(config_file), environ={})
    reactor = MemoryReactorClock()
    service = make_service(
        config,
        reactor=reactor,
        probe=lambda *a: defer.Deferred(),
        handle_sighup=False,
    )
    service.startService()
    config_file.write_text(good + '[[target]]\nurl = "ftp://x"\ncolour = 1\n')
    assert service.reload() is False
    assert [t.url for t in service.config.targets] == ["tls://127.0.0.1:1"]
    events = read_lines(tmp_path / "logs" / "daemon.jsonl")
    problems = [e for e in events if e["event.action"] == "config-error"]
    assert {e["tlsdiag"]["key"] for e in problems} == {"target[1].url", "target[1].colour"}
    config_file.write_text(good + '[[target]]\nurl = "tls://127.0.0.1:2"\n')
    assert service.reload() is True
    assert set(service.scheduler.entries) == {"tls://127.0.0.1:1", "tls://127.0.0.1:2"}


def test_tracker_ignores_failed_probes_for_chain_changes() -> None:
    """A failed probe between two probes of the same leaf is not a chain change."""
    tracker = Tracker()
    target = Target(url="tls://h:1", scheme="tls", host="h", port=1)
    leaf = pki.issue(pki.make_ca("Root"))
    now = pki.utcnow()
    from diagnostics.model.result import Failure, Phase

    seen = [
        tracker.observe(target.url, r, now, warn_days=30, critical_days=7)
        for r in (
            result_with_leaf(target, leaf),
            ProbeResult(target=target, failure=Failure(Phase.CONNECT, "refused", "no")),
            result_with_leaf(target, leaf),
        )
    ]
    assert [[t.action for t in s] for s in seen] == [[], ["degraded"], ["recovered"]]


# -- transition state across restarts, reloads that move things, log streams --------------


def test_transition_state_survives_a_restart(tmp_path: Path) -> None:
    """After a restart the daemon remembers the last leaf, expiry level and status: an expiry
    warning is not repeated, and a certificate swapped while it was down is a chain change."""
    config_file = daemon_config(tmp_path)
    ca = pki.make_ca("Root")
    soon = pki.issue(ca, not_after=pki.utcnow() + datetime.timedelta(days=20))
    later = pki.issue(ca, not_after=pki.utcnow() + datetime.timedelta(days=200))
    logs = tmp_path / "logs"

    first = run_service(config_file, [soon, soon])
    assert first.stopService().called
    assert client_actions(logs) == ["expiry_warning"]
    saved = json.loads((logs / "state.json").read_text())
    assert saved["targets"]["tls://127.0.0.1:1"]["expiry"] == "warning"
    assert saved["targets"]["tls://127.0.0.1:1"]["leaf"]["serial"] == format(
        soon.cert.serial_number, "X"
    )

    second = run_service(config_file, [soon, later])
    assert second.stopService().called
    assert client_actions(logs) == ["expiry_warning", "chain_changed"]
    changed = read_lines(logs / "client.jsonl")[-1]
    assert changed["tlsdiag"]["old"]["serial"] == format(soon.cert.serial_number, "X")
    assert changed["tlsdiag"]["new"]["serial"] == format(later.cert.serial_number, "X")
    started = [e for e in read_lines(logs / "daemon.jsonl") if e["event.action"] == "state"]
    assert started and "1 targets loaded" in started[-1]["message"]


def test_a_damaged_state_file_is_reported_and_replaced(tmp_path: Path) -> None:
    """A state file that is not ours is logged and the daemon starts afresh, then saves anew."""
    config_file = daemon_config(tmp_path)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "state.json").write_text("{not json")
    leaf = pki.issue(pki.make_ca("Root"))
    service = run_service(config_file, [leaf])
    service.stopService()
    warning = [
        e for e in read_lines(tmp_path / "logs" / "daemon.jsonl") if e["event.action"] == "state"
    ]
    assert "not JSON" in warning[0]["message"]
    saved = json.loads((tmp_path / "logs" / "state.json").read_text())
    assert set(saved["targets"]) == {"tls://127.0.0.1:1"}


def test_labels_are_flat_dotted_ecs_keys(tmp_path: Path) -> None:
    """A target's labels appear as ``labels.NAME`` top-level keys (ECS, flat dotted like every
    other field) in its probe summaries, its transition events and its daemon.jsonl errors."""
    config_file = daemon_config(tmp_path, 'labels = { lab = "expired", team = "ops" }')
    ca = pki.make_ca("Root")
    soon = pki.issue(ca, not_after=pki.utcnow() + datetime.timedelta(days=20))
    service = run_service(config_file, [soon])

    def failing(*_args: Any) -> defer.Deferred[ProbeResult]:
        return defer.fail(RuntimeError("boom"))

    service.probe_function = failing
    service.reactor.advance(20)
    service.stopService()
    logs = tmp_path / "logs"
    client = read_lines(logs / "client.jsonl")
    assert {e["event.action"] for e in client} == {"tls-probe", "expiry_warning"}
    errors = [e for e in read_lines(logs / "daemon.jsonl") if e["event.action"] == "probe-error"]
    assert errors
    for event in client + errors:
        assert "labels" not in event
        assert (event["labels.lab"], event["labels.team"]) == ("expired", "ops")


def test_listening_ports_opening_and_closing_are_not_logged() -> None:
    """What a Twisted port says when it opens and closes (a passive FTP data port per FTPS
    probe) does not reach daemon.jsonl; other Twisted events still do."""
    from twisted.internet.protocol import Factory, Protocol
    from twisted.internet.selectreactor import SelectReactor
    from twisted.logger import globalLogPublisher
    from twisted.python import log as legacy

    from diagnostics.daemon.service import TwistedLogBridge

    class Lines:
        def __init__(self) -> None:
            self.messages: list[str] = []

        def info(self, message: str, **_fields: Any) -> None:
            self.messages.append(message)

    lines = Lines()
    bridge = TwistedLogBridge(lines)
    seen: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(seen.append)
    globalLogPublisher.addObserver(bridge)
    reactor = SelectReactor()  # a private reactor: its port closes on runUntilCurrent()
    try:
        factory = Factory.forProtocol(Protocol)
        factory.noisy = False
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        number = port.getHost().port
        closed = port.stopListening()
        reactor.runUntilCurrent()
        legacy.msg("a data connection starting on the new moon")
    finally:
        globalLogPublisher.removeObserver(bridge)
        globalLogPublisher.removeObserver(seen.append)
    assert closed is not None and closed.called
    said = [e.get("log_text") for e in seen]
    assert f"Factory starting on {number}" in said  # Twisted did say it ...
    assert f"(TCP Port {number} Closed)" in said
    assert lines.messages == ["a data connection starting on the new moon"]  # ... not to us


def test_state_is_saved_after_a_delay_not_at_every_probe(tmp_path: Path) -> None:
    """Changes are written a few seconds later in one go; probes that change nothing write
    nothing."""
    from diagnostics.daemon.service import STATE_SAVE_DELAY

    config_file = daemon_config(tmp_path)
    leaf = pki.issue(pki.make_ca("Root"))
    reactor = MemoryReactorClock()
    service = run_service(config_file, [leaf], reactor=reactor)
    state = tmp_path / "logs" / "state.json"
    assert not state.exists()
    reactor.advance(STATE_SAVE_DELAY)
    assert state.exists()
    written = state.stat().st_mtime_ns
    state.unlink()
    service.probe_function = lambda _r, target, _o: defer.succeed(result_with_leaf(target, leaf))
    reactor.advance(30)  # more probes of the same leaf
    assert not state.exists() and written
    service.stopService()


def test_reload_moves_logs_and_metrics_listener(tmp_path: Path) -> None:
    """SIGHUP with a new log_dir, rotation size and metrics_listen applies them: the streams
    continue in the new folder and the metrics are served on the new address only."""
    config_file = daemon_config(tmp_path, metrics_listen="127.0.0.1:9131")
    reactor = MemoryReactorClock()
    leaf = pki.issue(pki.make_ca("Root"))
    service = run_service(config_file, [leaf], reactor=reactor)
    old_port = service.port
    daemon_config(tmp_path, log_dir="moved", metrics_listen="127.0.0.1:9132", log_max_bytes=2048)
    assert service.reload() is True
    assert [(p, i) for p, _f, _b, i in reactor.tcpServers] == [
        (9131, "127.0.0.1"),
        (9132, "127.0.0.1"),
    ]
    assert service.port is not old_port
    old = read_lines(tmp_path / "logs" / "daemon.jsonl")
    assert old[-1]["message"] == f"log streams move to {tmp_path / 'moved'}"
    new = read_lines(tmp_path / "moved" / "daemon.jsonl")
    assert [e["message"] for e in new][:2] == [
        "metrics now on 0.0.0.0:9132",  # the memory reactor reports 0.0.0.0
        "configuration reloaded: 1 targets",
    ]
    assert service.streams.client._logger.sink.max_bytes == 2048
    service.probe_function = lambda _r, target, _o: defer.succeed(result_with_leaf(target, leaf))
    reactor.advance(20)
    assert read_lines(tmp_path / "moved" / "client.jsonl")
    service.stopService()
    assert json.loads((tmp_path / "moved" / "state.json").read_text())["targets"]


class BusyPortReactor(MemoryReactorClock):
    """A memory reactor on which some ports are taken by someone else."""

    def __init__(self, busy: set[int]) -> None:
        super().__init__()
        self.busy = busy

    def listenTCP(self, port: int, factory: Any, backlog: int = 50, interface: str = "") -> Any:
        """Refuse the busy ports as the real reactor does."""
        from twisted.internet.error import CannotListenError

        if port in self.busy:
            raise CannotListenError(interface, port, OSError(98, "Address already in use"))
        return super().listenTCP(port, factory, backlog, interface)


def test_reload_to_a_busy_metrics_port_keeps_the_old_listener(tmp_path: Path) -> None:
    """When the new metrics_listen cannot be bound the old listener stays, and the reason is
    logged; the rest of the new configuration still applies."""
    config_file = daemon_config(tmp_path, metrics_listen="127.0.0.1:9131")
    reactor = BusyPortReactor({9999})
    service = run_service(config_file, [pki.issue(pki.make_ca("Root"))], reactor=reactor)
    port = service.port
    daemon_config(
        tmp_path, 'interval = 20\n[[target]]\nurl = "tls://127.0.0.1:2"',
        metrics_listen="127.0.0.1:9999",
    )  # fmt: skip
    assert service.reload() is True
    assert service.port is port
    events = read_lines(tmp_path / "logs" / "daemon.jsonl")
    failed = [e for e in events if e.get("event.outcome") == "failure"]
    assert "metrics_listen 127.0.0.1:9999 cannot be bound" in failed[0]["message"]
    assert "Address already in use" in failed[0]["error.message"]
    assert set(service.scheduler.entries) == {"tls://127.0.0.1:1", "tls://127.0.0.1:2"}
    service.stopService()


def test_rotation_under_a_running_daemon(tmp_path: Path) -> None:
    """With a small log_max_bytes the running daemon's client.jsonl rotates: at most
    log_backups old files stay, no line is split, and the newest lines are kept in order."""
    config_file = daemon_config(tmp_path, log_max_bytes=4096, log_backups=2)
    leaf = pki.issue(pki.make_ca("Root"))
    run_service(config_file, [leaf] * 40).stopService()
    logs = tmp_path / "logs"
    names = sorted(p.name for p in logs.iterdir() if p.name.startswith("client"))
    assert names == ["client.jsonl", "client.jsonl.1", "client.jsonl.2"]
    kept: list[dict[str, Any]] = []
    for name in reversed(names):
        lines = read_lines(logs / name)  # every line parses: none was split
        assert (logs / name).stat().st_size <= 4096 or len(lines) == 1
        kept += lines
    times = [e["@timestamp"] for e in kept]
    assert times == sorted(times)
    assert all(e["event.action"] == "tls-probe" for e in kept)
    assert 1 < len(kept) < 40


def test_log_stdout_writes_every_stream_to_standard_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--log-stdout: the streams are JSON lines on standard output, each naming its stream in
    log.logger; no log file is written (and, the log folder being absent, no state either)."""
    config_file = daemon_config(tmp_path)
    leaf = pki.issue(pki.make_ca("Root"))
    run_service(config_file, [leaf], log_stdout=True).stopService()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_stream = {e["log.logger"]: e["event.action"] for e in lines}
    assert by_stream["tlsdiag.client"] == "tls-probe"
    assert [e["event.action"] for e in lines if e["log.logger"] == "tlsdiag.daemon"] == [
        "start",
        "state",
        "stop",
    ]
    assert all("@timestamp" in e and "log.level" in e for e in lines)
    assert not list((tmp_path / "logs").glob("*.jsonl"))


# -- twistd -----------------------------------------------------------------------------------

TWISTD = Path(sys.executable).parent / "twistd"


@pytest.mark.skipif(not TWISTD.exists(), reason="needs twistd next to the interpreter")
def test_twistd_plugin_runs_the_daemon(tmp_path: Path) -> None:
    """``twistd -n tlsdiag --config FILE`` runs the same daemon: it probes, writes its streams
    and metrics, and SIGTERM ends it with exit 0 after the stop event."""
    listed = subprocess.run([str(TWISTD), "--help"], capture_output=True, text=True, check=True)
    assert "tlsdiag" in listed.stdout
    metrics_port = free_port()
    closed = free_port()  # nobody listens: every probe fails fast with connection_refused
    config = tmp_path / "tlsdiag.toml"
    config.write_text(
        f'[daemon]\nlog_dir = "logs"\nmetrics_listen = "127.0.0.1:{metrics_port}"\n'
        f'[defaults]\ninterval = 1\n[[target]]\nurl = "tls://127.0.0.1:{closed}"\n'
    )
    logs = tmp_path / "logs"
    daemon = subprocess.Popen(
        [str(TWISTD), "-n", "--pidfile=", "tlsdiag", "--config", str(config)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        probes = wait_for("a probe", lambda: read_lines(logs / "client.jsonl"), daemon)
        assert probes[0]["error.code"] == "connection_refused"
        assert probes[0]["log.logger"] == "tlsdiag.client"
        failed = f'probe_success{{target="tls://127.0.0.1:{closed}"}} 0.0'
        wait_for(
            "metrics",
            lambda: failed in http_get(f"http://127.0.0.1:{metrics_port}/metrics")[1],
            daemon,
        )
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            output = daemon.communicate(timeout=DEADLINE)[0].decode()
        except subprocess.TimeoutExpired:
            daemon.kill()
            raise
    assert daemon.returncode == 0, output
    events = read_lines(logs / "daemon.jsonl")
    actions = [e["event.action"] for e in events if e["event.action"] != "twisted"]
    assert actions[0] == "start" and actions[-1] == "stop"
    bridged = [e["message"] for e in events if e["event.action"] == "twisted"]
    assert "Received SIGTERM, shutting down." in bridged


@pytest.mark.skipif(not TWISTD.exists(), reason="needs twistd next to the interpreter")
def test_twistd_plugin_refuses_an_invalid_config(tmp_path: Path) -> None:
    """Under twistd too an invalid configuration ends with exit 2 and every problem."""
    config = tmp_path / "bad.toml"
    config.write_text('[daemon]\nconcurrency = 0\n[[target]]\nurl = "tls://x"\n')
    done = subprocess.run(
        [str(TWISTD), "-n", "--pidfile=", "tlsdiag", "--config", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{config}: daemon.concurrency: must be at least 1, not 0" in done.stderr
    assert f"{config}: target[0].url:" in done.stderr


# -- memory of a long-running daemon --------------------------------------------------------


def test_a_finished_probe_connection_can_be_freed() -> None:
    """Nothing global keeps a client connection alive once its probe is dropped (a
    connection refers to its capture weakly; a daemon makes millions)."""
    import gc
    import weakref

    from OpenSSL import SSL

    from diagnostics.tls.creators import RecordingClientCreator, RecordingServerCreator

    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    client = RecordingClientCreator(context, "localhost")
    server = RecordingServerCreator(SSL.Context(SSL.TLS_SERVER_METHOD))
    connections = [
        weakref.ref(client.clientConnectionForTLS(None)),
        weakref.ref(server.serverConnectionForTLS(None)),
    ]
    assert client.capture.connection is connections[0]()  # the capture holds its connection
    del client, server
    gc.collect()
    assert [ref() for ref in connections] == [None, None]


class _Cycle:
    """An object that refers to itself: freed only by the cycle collector."""

    def __init__(self) -> None:
        self.itself = self


def test_the_daemon_collects_the_cycles_probes_leave(tmp_path: Path) -> None:
    """Every ``collect_every`` probes the daemon runs the cycle collector itself: what
    probes left in reference cycles (a failed TLS connection, in Twisted's TLS layer) is
    freed then, not whenever Python's own thresholds come round."""
    import gc
    import weakref

    leaf = pki.issue(pki.make_ca("Root"))
    gc.collect()
    gc.disable()
    try:
        service = run_service(daemon_config(tmp_path), [leaf])
        service.collect_every, service.probes_since_collection = 3, 0
        left: list[weakref.ref[_Cycle]] = []

        def leaky(_r: Any, target: Target, _o: Any) -> defer.Deferred[ProbeResult]:
            left.append(weakref.ref(_Cycle()))
            return defer.succeed(result_with_leaf(target, leaf))

        service.probe_function = leaky
        for _ in range(100):
            if len(left) == 4:
                break
            service.reactor.advance(1)
        assert len(left) == 4
        assert [ref() is None for ref in left] == [True, True, True, False]
        service.stopService()
    finally:
        gc.enable()


def test_probe_contexts_do_not_store_every_session(tmp_path: Path) -> None:
    """The shared client context keeps no internal session cache: it would hold the session
    and peer chain of up to 20,480 probes (sessions are taken from their own connection)."""
    from OpenSSL import SSL

    from diagnostics.model.options import TrustConfig
    from diagnostics.tls.trust import TrustCache

    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki.pem([pki.make_ca("Root").cert]))
    context = TrustCache().get(TrustConfig(ca_files=(str(ca),))).context
    assert context.get_session_cache_mode() & SSL.SESS_CACHE_NO_INTERNAL_STORE


def test_reload_starts_and_stops_listeners(tmp_path: Path) -> None:
    """A reload stops a removed [[listener]] and starts a new one; one that cannot bind is
    logged as a failed start while the rest of the configuration applies."""
    chain = pki.make_chain()
    (tmp_path / "listener.pem").write_bytes(pki.pem(chain.served))
    (tmp_path / "listener.key").write_bytes(pki.key_pem(chain.leaf.key))

    def listener(port: int) -> str:
        return (
            f'[[listener]]\nurl = "https://127.0.0.1:{port}"\n'
            'cert = "listener.pem"\nkey = "listener.key"\n'
        )

    config_file = daemon_config(tmp_path, listener(9441))
    reactor = BusyPortReactor({9443})
    service = run_service(config_file, [pki.issue(pki.make_ca("Root"))], reactor=reactor)
    assert [r.url for r in service.listeners.values()] == ["https://127.0.0.1:9441"]
    daemon_config(tmp_path, listener(9442) + listener(9443))
    assert service.reload() is True
    assert [r.url for r in service.listeners.values()] == ["https://127.0.0.1:9442"]
    assert [p for p, *_ in reactor.tcpServers if p > 9000] == [9441, 9442]
    events = [
        (e["event.action"], e.get("event.outcome"), e.get("url.full"))
        for e in read_lines(tmp_path / "logs" / "daemon.jsonl")
        if e["event.action"].startswith("listener")
    ]
    assert events == [
        ("listener-start", "success", "https://127.0.0.1:9441"),
        ("listener-stop", None, "https://127.0.0.1:9441"),
        ("listener-start", "success", "https://127.0.0.1:9442"),
        ("listener-start", "failure", "https://127.0.0.1:9443"),
    ]
    service.stopService()
    assert service.listeners == {}


def test_a_listeners_refused_connections_go_to_server_jsonl(tmp_path: Path) -> None:
    """Connections a [[listener]] refuses at its connection limit are one event in
    server.jsonl with the finding id."""
    from diagnostics.listener.refusals import RefusedConnections

    chain = pki.make_chain()
    (tmp_path / "listener.pem").write_bytes(pki.pem(chain.served))
    (tmp_path / "listener.key").write_bytes(pki.key_pem(chain.leaf.key))
    config_file = daemon_config(
        tmp_path,
        '[[listener]]\nurl = "https://127.0.0.1:9441"\n'
        'cert = "listener.pem"\nkey = "listener.key"\n',
    )
    service = run_service(config_file, [pki.issue(pki.make_ca("Root"))])
    (running,) = service.listeners.values()
    report = RefusedConnections(running.url, 7, 100, "127.0.0.1", 50000)
    running.listener.factory.on_refused(report)
    service.stopService()
    (event,) = [
        e
        for e in read_lines(tmp_path / "logs" / "server.jsonl")
        if e["event.action"] == "tls-listen-refused"
    ]
    assert (event["event.code"], event["tlsdiag"]["refused"]) == ("listener_connection_limit", 7)
    assert (event["url.full"], event["client.port"]) == ("https://127.0.0.1:9441", 50000)
