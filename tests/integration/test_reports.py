"""Partner reports end to end: the lab's endpoints probed with ``--log-dir`` and
``--report``, reports built from those logs with ``tlsdiag report``, a listener's and a probe's
views merged, every form checked structurally, and the HTML opened in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from markdown_it import MarkdownIt

from diagnostics.model.jsonform import schema
from diagnostics.render.report import CSP, View, render_report, verdict
from tests.support.lab import entry_arguments, free_base_port
from tests.support.listening import start_listen, write_partner
from tests.support.processes import read_json, start_tlsdiag, stop, wait_for
from tests.support.servers import free_port, run_tlsdiag

CHROMIUM = "/usr/bin/chromium"
SVG = "{http://www.w3.org/2000/svg}"
# What CommonMark with tables makes of the report's Markdown: nothing else may appear.
MARKDOWN_TAGS = {
    "h1", "h2", "h3", "p", "strong", "em", "code", "pre", "blockquote", "ul", "li",
    "table", "thead", "tbody", "tr", "th", "td", "hr", "br",
}  # fmt: skip


def render_markdown_html(text: str) -> str:
    """The Markdown rendered to HTML by a CommonMark renderer with GFM tables."""
    return str(MarkdownIt("commonmark").enable("table").render(text))


class _Collect(HTMLParser):
    """Every start tag, its attributes, and the inline SVG sources."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def check_html(text: str) -> None:
    """HTML parses; every SVG is well-formed XML with boxes; no script, no external URL."""
    parser = _Collect()
    parser.feed(text)
    parser.close()
    names = [tag for tag, _ in parser.tags]
    assert "script" not in names
    assert names.count("svg") >= 2
    assert re.findall(r"(?:src|href)\s*=|url\(", text) == []
    for tag, attributes in parser.tags:  # no attribute refers to anything outside the file
        assert tag not in ("link", "img", "iframe", "object", "embed", "base"), tag
        for name, value in attributes.items():
            assert name == "xmlns" or "://" not in (value or ""), (tag, name, value)
    metas = [a for tag, a in parser.tags if tag == "meta" and a.get("http-equiv")]
    assert metas and metas[0]["content"] == CSP
    for svg in re.findall(r"<svg.*?</svg>", text, re.S):
        root = ET.fromstring(svg)
        assert root.tag == f"{SVG}svg"
        assert root.findall(f"{SVG}text")


def check_markdown(text: str) -> None:
    """The Markdown renders (CommonMark with tables, as a mail client or forge shows it): one
    title, the sections, the facts table, the diagrams and s_client output as code blocks,
    and no HTML element but those the Markdown itself makes."""
    lines = text.splitlines()
    assert lines[0] == "# TLS connection report"
    rendered = render_markdown_html(text)
    parser = _Collect()
    parser.feed(rendered)
    names = [tag for tag, _ in parser.tags]
    assert names.count("h1") == 1
    assert names.count("h2") >= 1 and "table" in names and "pre" in names
    assert set(names) <= MARKDOWN_TAGS, set(names) - MARKDOWN_TAGS
    assert "as served:" in rendered and "as verified:" in rendered


def check_json(text: str) -> dict[str, Any]:
    """The report JSON: metadata, and every result valid against the result schema."""
    document: dict[str, Any] = json.loads(text)
    assert document["report"]["tlsdiag_version"]
    assert document["report"]["openssl_version"]
    for view in document["views"]:
        jsonschema.validate(view["result"], schema())
    return document


@pytest.fixture(scope="module")
def lab_logs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[Any]]]:
    """Every lab endpoint probed once with ``--log-dir``: the log folder and the manifest."""
    folder = tmp_path_factory.mktemp("reports-lab")
    base = free_base_port()
    copy, output = folder / "copy.json", folder / "lab.out"
    with output.open("wb") as sink:
        process = start_tlsdiag(
            "lab",
            "--base-port",
            str(base),
            "--state-dir",
            str(folder / "state"),
            "--manifest",
            str(copy),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        manifest = wait_for("the manifest", lambda: read_json(copy), process)
        logs = folder / "logs"

        def probe(entry: dict[str, Any]) -> None:
            arguments = entry_arguments(entry)
            run = run_tlsdiag("probe", *arguments, "--format", "json", "--log-dir", logs)
            assert run.returncode in (0, 1, 3), run.stderr

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(probe, manifest))
        yield logs, manifest
    finally:
        stop(process)


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_every_lab_scenario_renders_in_every_form(lab_logs: tuple[Path, list[Any]]) -> None:
    """A report per lab endpoint: HTML, Markdown and JSON all check out, verdict on top."""
    logs, manifest = lab_logs
    events = _events(logs / "client.jsonl")
    assert len(events) == len(manifest)
    for event in events:
        view = View("client", event["tlsdiag"])
        page = render_report([view], "html", openssl="OpenSSL 3")
        check_html(page)
        top = page.split('<div class="sides">')[0]
        assert 'id="verdict"' in top and 'id="action"' in top
        check_markdown(render_report([view], "md", openssl="OpenSSL 3"))
        svg = " ".join(re.findall(r"<svg.*?</svg>", page, re.S))
        first = (event["tlsdiag"]["findings"] or [{"id": "ok"}])[0]["id"]
        marks = {
            "missing_intermediate": "MISSING",
            "expired": "EXPIRED",
            "hostname_mismatch": "NAME MISMATCH",
        }
        if first in marks:  # the diagram shows where the chain breaks
            assert marks[first] in svg, (first, svg)
        if event["tlsdiag"]["status"] == "ok":
            assert "TRUSTED ANCHOR" in svg and "MISSING" not in svg
        check_json(render_report([view], "json", openssl="OpenSSL 3"))


def test_report_command_filters_and_writes(
    lab_logs: tuple[Path, list[Any]], tmp_path: Path
) -> None:
    """``tlsdiag report --target`` picks that endpoint's event; the file names its finding."""
    logs, manifest = lab_logs
    entry = next(e for e in manifest if e["expect"] != "ok")
    out = tmp_path / "one.json"
    run = run_tlsdiag("report", logs / "client.jsonl", "--target", entry["url"], "--out", out)
    assert run.returncode == 0, run.stderr
    document = check_json(out.read_text())
    result = document["views"][0]["result"]
    assert result["target"]["url"] == entry["url"]
    assert result["findings"][0]["id"] == entry["expect"]
    md = tmp_path / "one.md"
    run = run_tlsdiag("report", logs / "client.jsonl", "--since", "1h", "--out", md)
    assert run.returncode == 0, run.stderr
    check_markdown(md.read_text())


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["nowhere.jsonl"], "cannot be read"),
        (["BINARY"], "binary"),
        (["LOG", "--target", "https://nothing.invalid:1/"], "no probe or listener event"),
        (["LOG", "--since", "yesterday"], "--since"),
        (["LOG", "--out-ext", "x.pdf"], "unknown extension"),
    ],
)
def test_bad_report_input_is_one_line_exit_2(
    lab_logs: tuple[Path, list[Any]], tmp_path: Path, arguments: list[str], says: str
) -> None:
    """Missing, binary, unmatched, bad --since, unknown format: exit 2, one line."""
    logs, _ = lab_logs
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(b"\0\1\2garbage")
    out = str(tmp_path / "r.html")
    args = []
    for item in arguments:
        if item == "BINARY":
            args.append(str(binary))
        elif item == "LOG":
            args.append(str(logs / "client.jsonl"))
        elif item == "--out-ext":
            out = ""
        elif item == "x.pdf":
            out = str(tmp_path / item)
        else:
            args.append(item)
    run = run_tlsdiag("report", *args, "--out", out)
    assert run.returncode == 2, run.stdout
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], run.stderr
    assert "Traceback" not in run.stderr


def test_malformed_lines_are_counted(lab_logs: tuple[Path, list[Any]], tmp_path: Path) -> None:
    """A rotated log with broken lines: the report is written, the count is said."""
    logs, _ = lab_logs
    rotated = tmp_path / "client.jsonl.1"
    rotated.write_text((logs / "client.jsonl").read_text() + "{not json\n[1]\n")
    run = run_tlsdiag("report", rotated, "--out", tmp_path / "r.html")
    assert run.returncode == 0, run.stderr
    assert "2 malformed line(s) skipped" in run.stdout


def test_probe_and_listener_views_merge(tmp_path: Path) -> None:
    """A probe of a listener: probe --report, listen --report-dir, and the merged report."""
    files = write_partner(tmp_path / "pki")
    port = free_port()
    server_logs, client_logs, reports = tmp_path / "srv", tmp_path / "cli", tmp_path / "reports"
    arguments = ["listen", f"https://127.0.0.1:{port}", "--cert", str(files.server.served)]
    arguments += ["--key", str(files.server.key), "--format", "json"]
    arguments += ["--log-dir", str(server_logs), "--report-dir", str(reports)]
    listener = start_listen(arguments, port, server_logs)
    try:
        single = tmp_path / "probe.html"
        run = run_tlsdiag(
            "probe",
            f"https://localhost:{port}/",
            "--ca",
            files.server.root,
            "--log-dir",
            client_logs,
            "--report",
            single,
        )
        assert run.returncode in (0, 1), run.stderr
        listener.report()
    finally:
        assert listener.stop() == 0
    check_html(single.read_text())
    assert "BEGIN CERTIFICATE" in single.read_text()
    written = sorted(reports.iterdir())
    assert len(written) == 1 and re.fullmatch(r"session-[\w.-]+\.html", written[0].name)
    check_html(written[0].read_text())
    # The probe's own end of the connection is the listener's client: one TCP connection.
    probe_event = json.loads((client_logs / "client.jsonl").read_text().splitlines()[-1])
    session_event = json.loads((server_logs / "server.jsonl").read_text().splitlines()[-1])
    assert probe_event["source.ip"] == session_event["client.ip"] == "127.0.0.1"
    assert probe_event["source.port"] == session_event["client.port"] > 0
    assert probe_event["tlsdiag"]["source"]["port"] == session_event["client.port"]
    merged = tmp_path / "merged.html"
    run = run_tlsdiag(
        "report", client_logs / "client.jsonl", server_logs / "server.jsonl", "--out", merged
    )
    assert run.returncode == 0, run.stderr
    assert "client and server view" in run.stdout
    page = merged.read_text()
    check_html(page)
    assert "What we saw (the client)" in page and "What they saw (the server)" in page
    several = run_tlsdiag(
        "probe", "https://127.0.0.1:1/", "https://127.0.0.1:2/", "--report", merged
    )
    assert several.returncode == 2 and "one URL" in several.stderr


@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason="chromium is not installed")
def test_html_report_in_headless_chromium(lab_logs: tuple[Path, list[Any]], tmp_path: Path) -> None:
    """Chromium renders a single-fault report: a screenshot, the verdict and finding in the
    DOM text."""
    logs, _ = lab_logs
    event = next(e for e in _events(logs / "client.jsonl") if e["tlsdiag"]["status"] != "ok")
    view = View("client", event["tlsdiag"])
    page = tmp_path / "report.html"
    page.write_text(render_report([view], "html", openssl="OpenSSL 3"))
    profile = tmp_path / "profile"
    profile.mkdir()
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic"]
    base += ["--no-first-run", "--disable-background-networking", "--disable-component-update"]
    base += ["--disable-sync", f"--user-data-dir={profile}", "--window-size=1280,900"]
    shot = tmp_path / "shot.png"
    _chromium([*base, f"--screenshot={shot}", page.as_uri()])
    assert shot.stat().st_size > 1000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dom = _chromium([*base, "--dump-dom", page.as_uri()])
    summary = event["tlsdiag"]["findings"][0]["summary"]
    assert verdict(view).split(":")[0] in dom
    assert _squash(summary) in _squash(dom)


def _squash(text: str) -> str:
    import html

    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def _chromium(command: list[str]) -> str:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        out, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    return out.decode("utf-8", "replace")
