"""Monitoring tools the tests run for real: ``promtool``, a Prometheus server of its own, and
tlsdiag daemons probing a local ``tlsdiag listen`` server, all on loopback.

Prometheus runs with a configuration and a data folder in the test's temporary folder, on a
free port; it is stopped (process group and all) when its context ends.  Its HTTP API is read
with :func:`query`.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import yaml

from tests.support import servers
from tests.support.listening import Listening, start_listen
from tests.support.processes import start_tlsdiag, stop, wait_for

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
SHIPPED = servers.REPO / "config"


def alert_names() -> set[str]:
    """The alerts of the shipped config/alerts.yml."""
    rules = yaml.safe_load((SHIPPED / "alerts.yml").read_text())
    return {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}


def promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``promtool ARGS`` (bounded in time), from the repository."""
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args],
        cwd=servers.REPO,
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def http_get(url: str, timeout: float = 10.0) -> tuple[int, str]:
    """``GET url``: (status, body); (0, error text) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode(errors="replace")
    except OSError as error:
        return 0, str(error)


# -- the TLS server the daemons probe ----------------------------------------------------


@contextlib.contextmanager
def tls_server(directory: Path, files: servers.PKIFiles) -> Iterator[Listening]:
    """``tlsdiag listen https://127.0.0.1:PORT`` serving ``files``' leaf and intermediate:
    it answers HTTPS requests and bare TLS handshakes, many at once."""
    port = servers.free_port()
    log_dir = directory / f"listen-{port}"
    log_dir.mkdir(parents=True)
    command = ["listen", f"https://127.0.0.1:{port}", "--format", "json"]
    command += ["--cert", str(files.served), "--key", str(files.key), "--log-dir", str(log_dir)]
    with (log_dir / "reports.jsonl").open("wb") as reports:
        running = start_listen(command, port, log_dir, stdout=reports)
    try:
        yield running
    finally:
        running.stop()


# -- tlsdiag daemons ---------------------------------------------------------------------


@attrs.frozen
class Daemon:
    """A running ``tlsdiag daemon``, its metrics address and folder."""

    process: subprocess.Popen[bytes]
    address: str  # host:port of /metrics and /probe
    directory: Path


def daemon_config(directory: Path, targets: Sequence[str], ca: Path, port: int) -> Path:
    """A daemon configuration: ``targets`` every second, ``[module.local]`` for /probe."""
    lines = [
        "[daemon]",
        'log_dir = "logs"',
        'state_file = ""',
        f'metrics_listen = "127.0.0.1:{port}"',
        'allowed_targets = ["https://127.0.0.1:*", "tls://127.0.0.1:*"]',
        "[defaults]",
        "interval = 1",
        "timeout = 5",
        f"ca = [{json.dumps(str(ca))}]",
        "[module.local]",
        "timeout = 5",
        f"ca = [{json.dumps(str(ca))}]",
    ]
    for url in targets:
        lines += ["[[target]]", f"url = {json.dumps(url)}"]
    path = directory / "tlsdiag.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def healthy(daemon: Daemon) -> Callable[[], bool]:
    """A check that ``daemon`` answers ``/healthz``."""
    return lambda: http_get(f"http://{daemon.address}/healthz")[0] == 200


@contextlib.contextmanager
def daemons(
    directory: Path, targets: Sequence[str], ca: Path, shards: Sequence[str | None]
) -> Iterator[list[Daemon]]:
    """One daemon per entry of ``shards`` (``None``, or ``K/N`` for ``--shard``), all on the
    same targets, started side by side; each answers /healthz before this yields."""
    started: list[Daemon] = []
    try:
        for number, shard in enumerate(shards):
            folder = directory / f"daemon-{number}"
            folder.mkdir(parents=True)
            port = servers.free_port()
            args = ["daemon", "--config", str(daemon_config(folder, targets, ca, port))]
            args += ["--shard", shard] if shard else []
            log = (folder / "stderr.log").open("wb")
            process = start_tlsdiag(*args, stdout=subprocess.DEVNULL, stderr=log)
            log.close()
            started.append(Daemon(process, f"127.0.0.1:{port}", folder))
        for daemon in started:
            wait_for("the daemon's /healthz", healthy(daemon), daemon.process)
        yield started
    finally:
        for daemon in started:
            stop(daemon.process)


# -- Prometheus --------------------------------------------------------------------------


@attrs.frozen
class Prometheus:
    """A running Prometheus server: its base URL."""

    url: str
    server: servers.ServerProcess


@contextlib.contextmanager
def prometheus(directory: Path, config: dict[str, Any]) -> Iterator[Prometheus]:
    """Prometheus with ``config`` (written as YAML's JSON subset), its own data folder, on a
    free loopback port; ready (``/-/ready``) when this yields."""
    assert PROMETHEUS is not None
    folder = directory / "prometheus"
    (folder / "data").mkdir(parents=True)
    config_file = folder / "prometheus.yml"
    config_file.write_text(json.dumps(config, indent=2))
    port = servers.free_port()
    command = [
        PROMETHEUS,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    server = servers.start_process("prometheus", command, port, folder / "prometheus.log")
    running = Prometheus(f"http://127.0.0.1:{port}", server)
    try:
        wait_for(
            "Prometheus ready", lambda: http_get(f"{running.url}/-/ready")[0] == 200, server.process
        )
        yield running
    finally:
        server.stop()


def api(server: Prometheus, path: str, **params: str) -> Any:
    """The ``data`` of a Prometheus HTTP API answer (``None`` when it is not a success)."""
    query = urllib.parse.urlencode(params)
    status, body = http_get(f"{server.url}/api/v1/{path}?{query}")
    if status != 200:
        return None
    answer = json.loads(body)
    return answer["data"] if answer.get("status") == "success" else None


def query(server: Prometheus, expression: str) -> list[dict[str, Any]]:
    """The instant vector of ``expression`` now: ``[{"metric": labels, "value": [t, "v"]}]``."""
    data = api(server, "query", query=expression)
    return list(data["result"]) if data else []
