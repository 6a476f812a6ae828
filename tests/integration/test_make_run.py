"""``make run``: the daemon on the shipped configuration runs the lab and shows its progress.

The daemon runs as a process (the global reactor cannot run inside pytest) on a
copy of ``config/tlsdiag.toml`` with a temporary log folder and free ports; the
console printer is tested in-process with made-up results.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

from diagnostics.daemon.config import lab_targets
from diagnostics.lab.manifest import ManifestEntry
from diagnostics.model.result import (
    Failure,
    Finding,
    Phase,
    ProbeResult,
    Severity,
    Side,
    Status,
    Target,
)
from diagnostics.render.console import ConsoleProgress, describe
from tests.support.lab import SPAN, free_base_port, seen
from tests.support.processes import read_json, start_tlsdiag, stop, wait_for
from tests.support.servers import REPO, free_port


def _result(url: str, finding: str | None = None, *, failed: bool = False) -> ProbeResult:
    findings = (
        (Finding(finding, Severity.ERROR, Side.SERVER, "it broke", "", "mend it"),)
        if finding
        else ()
    )
    target = Target(url=url, scheme="https", host="127.0.0.1", port=1)
    failure = (
        Failure(phase=Phase.HANDSHAKE, kind="timeout", message="no answer") if failed else None
    )
    return ProbeResult(target=target, findings=findings, failure=failure)


def test_console_shows_first_results_and_changes_then_the_footer() -> None:
    """A target is shown once per verdict/finding; the footer follows the last first result."""
    out = _Lines()
    console = ConsoleProgress(out, footer=("look at client.jsonl",))
    a = lab_targets(
        [ManifestEntry("expired", "https://127.0.0.1:1", "ca", "expired", "", {})],
        interval=1,
        timeout=1,
    )[0]
    b = lab_targets(
        [ManifestEntry("healthy", "https://127.0.0.1:2", "ca", "ok", "", {})],
        interval=1,
        timeout=1,
    )[0]
    console.begin([a.url, b.url], "starting")
    console(a.name, _result(a.url, "expired"))
    console(a.name, _result(a.url, "expired"))
    console(b.name, _result(b.url))
    console(a.name, _result(a.url))
    blocks = out.text.split("\n")
    assert blocks[0] == "starting"
    heads = [line.split()[:2] for line in blocks if line and not line.startswith(" ")]
    assert heads == [
        ["starting"],
        ["PROBLEMS", "expired"],
        ["OK", "healthy"],
        ["look", "at"],
        ["OK", "expired"],
    ]
    assert "expired: it broke" in out.text and "fix: mend it" in out.text


def test_describe_names_url_when_the_target_has_a_name() -> None:
    """The block starts with the verdict, the name, then the URL (once, when they differ)."""
    result = _result("https://127.0.0.1:3", "timeout", failed=True)
    assert result.status is Status.FAILED
    assert describe("silent", result).splitlines()[0].split() == [
        "FAILED",
        "silent",
        "https://127.0.0.1:3",
    ]
    assert describe(result.target.url, result).splitlines()[0].split() == [
        "FAILED",
        "https://127.0.0.1:3",
    ]


class _Lines:
    """A text sink (what the console writes to)."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


# -- make run: the daemon with the lab ------------------------------------------------------------


def test_daemon_with_lab_logs_every_lab_target(tmp_path: Path) -> None:
    """``make run``'s daemon: a summary event per lab endpoint, progress on stderr, and Ctrl-C
    stops the daemon and the lab (exit 0, the lab's ports free again)."""
    base = free_base_port()
    metrics = free_port()
    while base <= metrics < base + SPAN:
        metrics = free_port()
    shipped = (REPO / "config" / "tlsdiag.toml").read_text()
    config = tmp_path / "tlsdiag.toml"
    # The shipped configuration, with a temporary log folder, free ports and a short interval.
    text = shipped
    for old, new in (
        ('log_dir = "../logs"', 'log_dir = "logs"'),
        ('"127.0.0.1:9130"', f'"127.0.0.1:{metrics}"'),
        ("base_port = 9400", f"base_port = {base}"),
        ('state_dir = "../logs/lab"', 'state_dir = "logs/lab"'),
        ("interval = 30 ", "interval = 2 "),
    ):
        assert text.count(old) == 1, old  # the shipped file changed: update this test
        text = text.replace(old, new)
    config.write_text(text)
    errors = tmp_path / "stderr.txt"
    with errors.open("wb") as sink:
        process = start_tlsdiag(
            "daemon",
            "--config",
            str(config),
            "--progress",
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    try:
        manifest = wait_for(
            "the manifest", lambda: read_json(tmp_path / "logs" / "lab" / "manifest.json"), process
        )
        wanted = {e["url"]: e["expect"] for e in manifest}

        def summaries() -> dict[str, str] | None:
            found: dict[str, str] = {}
            client = tmp_path / "logs" / "client.jsonl"
            text = client.read_text() if client.exists() else ""
            # Only whole lines: the daemon may be writing the last one right now.
            for event in map(json.loads, text.splitlines()[: text.count("\n")]):
                if event.get("event.action") == "tls-probe":
                    url = event["url.full"]
                    found[url] = seen(event["tlsdiag"], wanted.get(url, "ok"))
            return found if set(found) >= set(wanted) else None

        found = wait_for("a summary event per lab endpoint", summaries, process)
        assert {url: found[url] for url in wanted} == wanted
        wait_for("the progress footer", lambda: "metrics" in errors.read_text(), process)
    finally:
        code = stop(process, signal.SIGINT)  # Ctrl-C
    assert code == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", base + 1))  # raises if the lab still held it
    progress = errors.read_text()
    for entry in manifest:
        assert f" {entry['name']}  {entry['url']}" in progress
    assert f"http://127.0.0.1:{metrics}/metrics" in progress
    assert os.path.join("logs", "client.jsonl") in progress
    # The FTPS endpoints' passive data ports open and close at every probe, silently.
    daemon_lines = (tmp_path / "logs" / "daemon.jsonl").read_text().splitlines()
    ports = [line for line in daemon_lines if " starting on " in line or " Closed)" in line]
    assert ports == []
