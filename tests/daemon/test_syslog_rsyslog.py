"""Syslog shipping proven with a real rsyslogd: the daemon's events arrive, parse back, and a
collector that is down costs counted drops, never the probing."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import servers
from tests.support.processes import DEADLINE, read_lines, start_tlsdiag, stop, wait_for
from tests.support.servers import free_port, s_server, write_pki

RSYSLOGD = "/usr/sbin/rsyslogd"
pytestmark = pytest.mark.skipif(
    not os.access(RSYSLOGD, os.X_OK), reason="needs rsyslogd (Debian package rsyslog)"
)
SEP = "\x1f"  # between the fields rsyslog writes: never in a header field or JSON text
FIELDS = ("pri", "syslogseverity", "app-name", "procid", "msgid", "inputname", "msg")


def free_udp_port() -> int:
    """A loopback UDP port that nobody listens on right now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rsyslog_config(work: Path, udp_port: int, tcp_port: int, out: Path) -> str:
    """An rsyslog configuration of its own: imudp and imtcp on loopback, one file out."""
    properties = "\n".join(
        f'  property(name="{name}")' + ("" if name == "msg" else f' constant(value="{SEP}")')
        for name in FIELDS
    )
    return f"""
global(workDirectory="{work}" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
template(name="fields" type="list") {{
{properties}
  constant(value="\\n")
}}
ruleset(name="tlsdiag") {{
  action(type="omfile" file="{out}" template="fields")
}}
input(type="imudp" address="127.0.0.1" port="{udp_port}" ruleset="tlsdiag")
input(type="imtcp" address="127.0.0.1" port="{tcp_port}" ruleset="tlsdiag")
"""


@contextlib.contextmanager
def rsyslogd(directory: Path) -> Iterator[tuple[int, int, Path]]:
    """A running rsyslogd with its own config, pid file and work folder: (udp, tcp, out file)."""
    work = directory / "rsyslog"
    work.mkdir()
    out = work / "received.log"
    udp_port, tcp_port = free_udp_port(), free_port()
    conf = work / "rsyslog.conf"
    conf.write_text(rsyslog_config(work, udp_port, tcp_port, out))
    command = [RSYSLOGD, "-n", "-f", str(conf), "-i", str(work / "rsyslogd.pid")]
    server = servers.start_process("rsyslogd", command, tcp_port, work / "rsyslogd.log")
    try:
        yield udp_port, tcp_port, out
    finally:
        server.stop()


def received(out: Path) -> list[dict[str, str]]:
    """The messages rsyslog wrote, as their fields."""
    if not out.exists():
        return []
    text = out.read_text(encoding="utf-8")
    lines = text.splitlines()[: text.count("\n")]
    return [dict(zip(FIELDS, line.split(SEP, len(FIELDS) - 1), strict=True)) for line in lines]


def metric(body: str, name: str, reason: str) -> float:
    match = re.search(rf'^{name}\{{reason="{reason}"\}} (\S+)$', body, re.M)
    return float(match.group(1)) if match else 0.0


def http_get(url: str) -> str:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())
    except OSError:
        return ""


def write_config(tmp_path: Path, target: str, ca: Path, syslog: str, metrics_port: int) -> Path:
    config = tmp_path / "tlsdiag.toml"
    config.write_text(
        f"""
[daemon]
log_dir = "logs"
metrics_listen = "127.0.0.1:{metrics_port}"
allowed_targets = ["tls://127.0.0.1:*"]
syslog = "{syslog}"

[defaults]
interval = 1
timeout = 5
ca = ["{ca}"]

[[target]]
url = "{target}"
servername = "localhost"
"""
    )
    return config


@pytest.mark.parametrize("scheme", ["udp", "tcp"])
def test_events_reach_rsyslog_and_parse_back(tmp_path: Path, scheme: str) -> None:
    """Every stream's events arrive as RFC 5424 with the JSON event as the message."""
    files = write_pki(tmp_path)
    with (
        rsyslogd(tmp_path) as (udp_port, tcp_port, out),
        s_server(tmp_path, files.leaf, files.key, chain=files.intermediate) as server,
    ):
        port = udp_port if scheme == "udp" else tcp_port
        config = write_config(
            tmp_path, server.url(), files.root, f"{scheme}://127.0.0.1:{port}", free_port()
        )
        daemon = start_tlsdiag(
            "daemon", "--config", str(config), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            probes = wait_for(
                "a probe event at rsyslog",
                lambda: [m for m in received(out) if m["msgid"] == "tls-probe"],
                daemon,
            )
            message = probes[0]
            client = read_lines(tmp_path / "logs" / "client.jsonl")
            event = json.loads(message["msg"])
            assert event in client
            assert message["app-name"] == "tlsdiag"
            assert message["procid"] == str(daemon.pid)
            assert message["inputname"] == f"im{scheme}"
            level = {"info": "6", "warning": "4", "error": "3"}[event["log.level"]]
            assert message["syslogseverity"] == level
            assert message["pri"] == str(16 * 8 + int(level))
            assert event["event.outcome"] == "success"
            starts = [m for m in received(out) if m["msgid"] == "start"]
            assert starts and json.loads(starts[0]["msg"])["log.logger"] == "tlsdiag.daemon"
        finally:
            assert stop(daemon, signal.SIGTERM) == 0
        deadline = time.monotonic() + DEADLINE
        while not any(m["msgid"] == "stop" for m in received(out)):
            assert time.monotonic() < deadline, "the stop event never reached rsyslog"
            time.sleep(0.05)  # polling interval, not a wait for an outcome


@pytest.mark.parametrize("scheme", ["udp", "tcp"])
def test_collector_down_costs_counted_drops_not_probes(tmp_path: Path, scheme: str) -> None:
    """Nothing listening: the daemon keeps probing; TCP drops are counted on /metrics."""
    files = write_pki(tmp_path)
    metrics_port = free_port()
    with s_server(tmp_path, files.leaf, files.key, chain=files.intermediate) as server:
        closed = free_udp_port() if scheme == "udp" else free_port()
        config = write_config(
            tmp_path, server.url(), files.root, f"{scheme}://127.0.0.1:{closed}", metrics_port
        )
        daemon = start_tlsdiag(
            "daemon", "--config", str(config), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        base = f"http://127.0.0.1:{metrics_port}/metrics"
        logs = tmp_path / "logs" / "client.jsonl"
        try:
            wait_for("three probes", lambda: len(read_lines(logs)) >= 3, daemon)
            body = wait_for("metrics", lambda: http_get(base), daemon)
            assert "tlsdiag_syslog_dropped_total" in body
            if scheme == "tcp":
                wait_for(
                    "counted drops",
                    lambda: (
                        metric(http_get(base), "tlsdiag_syslog_dropped_total", "disconnected") > 0
                    ),
                    daemon,
                )
            count = len(read_lines(logs))
            deadline = time.monotonic() + DEADLINE
            wait_for("more probes", lambda: len(read_lines(logs)) > count, daemon)
            assert time.monotonic() < deadline
        finally:
            assert stop(daemon, signal.SIGTERM) == 0


def test_reload_points_syslog_at_a_collector_that_came_up(tmp_path: Path) -> None:
    """Drops while nothing listens; after SIGHUP with rsyslog's address the events arrive."""
    files = write_pki(tmp_path)
    metrics_port = free_port()
    with s_server(tmp_path, files.leaf, files.key, chain=files.intermediate) as server:
        config = write_config(
            tmp_path, server.url(), files.root, f"tcp://127.0.0.1:{free_port()}", metrics_port
        )
        daemon = start_tlsdiag(
            "daemon", "--config", str(config), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        base = f"http://127.0.0.1:{metrics_port}/metrics"
        try:
            wait_for(
                "counted drops",
                lambda: metric(http_get(base), "tlsdiag_syslog_dropped_total", "disconnected") > 0,
                daemon,
            )
            with rsyslogd(tmp_path) as (_udp_port, tcp_port, out):
                text = config.read_text()
                config.write_text(re.sub(r"tcp://127\.0\.0\.1:\d+", f"tcp://127.0.0.1:{tcp_port}",
                                         text))  # fmt: skip
                daemon.send_signal(signal.SIGHUP)
                wait_for(
                    "the reload event at rsyslog",
                    lambda: [m for m in received(out) if m["msgid"] == "reload"],
                    daemon,
                )
                wait_for(
                    "a probe event at rsyslog",
                    lambda: [m for m in received(out) if m["msgid"] == "tls-probe"],
                    daemon,
                )
        finally:
            assert stop(daemon, signal.SIGTERM) == 0
