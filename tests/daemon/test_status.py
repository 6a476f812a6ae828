"""The status page of a real daemon process: over HTTP, and rendered by headless Chromium.

One daemon (``python -m diagnostics daemon``) probes three loopback targets: an ``openssl
s_server`` with a valid chain (ok), a closed port (failed) and a listener that never answers
(still pending while its first probe waits for its timeout of an hour).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from tests.support import servers
from tests.support.ftpservers import free_port
from tests.support.processes import start_tlsdiag, stop, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_TIMEOUT = 60.0
HTTP_TIMEOUT = 10.0

pytestmark = pytest.mark.skipif(servers.OPENSSL is None, reason="needs the openssl command")


@attrs.frozen
class Daemon:
    """The running daemon and the URLs of its targets."""

    base: str
    ok: str
    failed: str
    pending: str
    process: subprocess.Popen[bytes]


def get(url: str) -> tuple[int, dict[str, str], str]:
    """Status, headers (lower-case names) and body of a GET, errors included."""
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as response:
            headers = {k.lower(): v for k, v in response.headers.items()}
            return response.status, headers, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        headers = {k.lower(): v for k, v in exc.headers.items()}
        return exc.code, headers, exc.read().decode("utf-8")
    except OSError:
        return 0, {}, ""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon whose three targets have been probed, or are being probed (the pending one)."""
    directory = tmp_path_factory.mktemp("status")
    files = servers.write_pki(directory / "pki")
    metrics_port = free_port()
    with (
        servers.s_server(directory, files.leaf, files.key, chain=files.intermediate) as tls,
        servers.ClosedPort() as closed,
        servers.SilentListener() as silent,
    ):
        ok, failed, pending = tls.url("tls"), closed.url("tls"), silent.url("tls")
        config = directory / "tlsdiag.toml"
        config.write_text(
            f"""
[daemon]
log_dir = "{directory / "logs"}"
metrics_listen = "127.0.0.1:{metrics_port}"

[defaults]
interval = 1
timeout = 5
ca = ["{files.root}"]
servername = "localhost"

[[target]]
url = "{ok}"

[[target]]
url = "{failed}"

[[target]]
url = "{pending}"
timeout = 3600
"""
        )
        process = start_tlsdiag(
            "daemon", "--config", str(config), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        base = f"http://127.0.0.1:{metrics_port}"
        try:

            def probed() -> bool:
                body = get(f"{base}/")[2]
                return '<tr class="ok">' in body and '<tr class="failed">' in body

            wait_for("the ok and failed targets on the page", probed, process)
            yield Daemon(base, ok, failed, pending, process)
        finally:
            # A stopping daemon lets its probes in flight end: reset the pending one's
            # connection (closing the listener resets those in its backlog) rather than wait.
            silent.close()
            stop(process)


def rows(page: str) -> list[tuple[str, str]]:
    """(class, target URL) of every table row, in page order."""
    return [
        (m[1], m[2])
        for m in re.finditer(r'<tr class="([a-z]+)">.*?(tls://127\.0\.0\.1:\d+)', page, re.S)
    ]


def test_page_over_http(daemon: Daemon) -> None:
    """``/`` answers HTML listing every target worst first, the unprobed one as pending, with a
    strict content security policy and nosniff."""
    code, headers, page = get(f"{daemon.base}/")
    assert code == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["content-security-policy"].startswith(
        "default-src 'none'; style-src 'unsafe-inline'"
    )
    assert headers["x-content-type-options"] == "nosniff"
    assert rows(page) == [
        ("failed", daemon.failed),
        ("ok", daemon.ok),
        ("pending", daemon.pending),
    ]
    assert "connection_refused" in page or "refused" in page
    assert "days left" in page  # the ok target's leaf expiry
    assert "<script" not in page and "http-equiv" not in page


def test_refresh_parameter(daemon: Daemon) -> None:
    """``/?refresh=30`` adds the reload; a bad value is a 400 with a one-line reason."""
    assert '<meta http-equiv="refresh" content="30">' in get(f"{daemon.base}/?refresh=30")[2]
    code, _, body = get(f"{daemon.base}/?refresh=1")
    assert code == 400 and body.count("\n") == 1 and "refresh must be" in body
    assert get(f"{daemon.base}/metrics")[0] == 200  # the other endpoints are unchanged
    assert get(f"{daemon.base}/nothing-here")[0] == 404


def report_links(page: str) -> dict[str, str]:
    """The "latest report" link of each row, by target URL."""
    links = {}
    for row in re.findall(r"<tr class=.*?</tr>", page, re.S):
        url = re.search(r"tls://127\.0\.0\.1:\d+", row)
        link = re.search(r'<a href="([^"]+)">latest report</a>', row)
        if url and link:
            links[url[0]] = html.unescape(link[1])
    return links


def test_latest_report_per_target(daemon: Daemon) -> None:
    """Every probed target links to the report of its latest result; the link serves the
    partner report (HTML with the verdict, the chain diagram and the PEM of the served chain;
    JSON and Markdown too); a target not probed yet has no link, and bad queries are refused."""
    links = report_links(get(f"{daemon.base}/")[2])
    assert set(links) == {daemon.ok, daemon.failed}  # pending: no result, no link
    assert links[daemon.ok] == "report?" + urllib.parse.urlencode({"target": daemon.ok})

    code, headers, page = get(f"{daemon.base}/{links[daemon.ok]}")
    assert code == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert "<svg" in page and "-----BEGIN CERTIFICATE-----" in page
    assert re.search(r'id="verdict">[^<]*\bOK\b', page, re.I), page[:2000]
    assert "PRIVATE KEY" not in page

    code, _, page = get(f"{daemon.base}/{links[daemon.failed]}")
    assert code == 200 and "refused" in page

    code, headers, text = get(f"{daemon.base}/{links[daemon.ok]}&format=json")
    assert code == 200 and headers["content-type"] == "application/json"
    document = json.loads(text)
    (view,) = document["views"]
    assert view["role"] == "client" and view["result"]["target"]["url"] == daemon.ok
    assert view["result"]["status"] == "ok" and view["result"]["served_chain"]
    assert document["report"]["openssl_version"].startswith("OpenSSL")
    code, headers, text = get(f"{daemon.base}/{links[daemon.ok]}&format=md")
    assert code == 200 and headers["content-type"].startswith("text/markdown")
    assert text.startswith("#")

    pending = urllib.parse.urlencode({"target": daemon.pending})
    assert get(f"{daemon.base}/report?{pending}")[0] == 404
    assert get(f"{daemon.base}/report?target=tls://127.0.0.1:1")[0] == 404
    code, _, body = get(f"{daemon.base}/report")
    assert code == 400 and "target" in body
    code, _, body = get(f"{daemon.base}/{links[daemon.ok]}&format=pdf")
    assert code == 400 and "format must be one of" in body


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with an empty profile, bounded in time, killed when late."""
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=CHROMIUM_TIMEOUT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.communicate()
    return subprocess.CompletedProcess(command, process.returncode, out, err)


@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason="needs /usr/bin/chromium")
def test_rendered_in_headless_chromium(daemon: Daemon) -> None:
    """Chromium renders the page to a PNG, and its DOM lists the targets with their verdicts in
    the worst-first order."""
    with tempfile.TemporaryDirectory(prefix="tlsdiag-chromium-") as folder:
        work = Path(folder)
        shot = work / "status.png"
        done = chromium(
            f"--screenshot={shot}",
            "--window-size=1280,900",
            f"{daemon.base}/",
            profile=work / "profile-1",
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 1000
        dom = chromium("--dump-dom", f"{daemon.base}/", profile=work / "profile-2")
        shutil.rmtree(work / "profile-1", ignore_errors=True)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "tlsdiag status" in dom.stdout
    assert rows(dom.stdout) == [
        ("failed", daemon.failed),
        ("ok", daemon.ok),
        ("pending", daemon.pending),
    ]
    assert "1 failed, 1 ok, 1 pending" in dom.stdout
