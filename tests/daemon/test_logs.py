"""The ``client.jsonl`` log stream: ECS keys at the top, the result under ``tlsdiag``, rotation."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from diagnostics.daemon.logs import RotatingFile
from tests.support import servers
from tests.support.servers import run_tlsdiag


@pytest.fixture(scope="module")
def result_schema() -> dict[str, Any]:
    """The JSON Schema printed by ``tlsdiag schema``."""
    run = run_tlsdiag("schema")
    assert run.returncode == 0, run.stderr
    loaded: dict[str, Any] = json.loads(run.stdout)
    return loaded


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSON-lines file, parsed (each must be one JSON object)."""
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        assert isinstance(event, dict)
        events.append(event)
    return events


def parse_time(text: str) -> datetime.datetime:
    """A UTC ISO 8601 time written with a ``Z``."""
    assert text.endswith("Z"), text
    return datetime.datetime.fromisoformat(text)


def test_one_line_per_probe_with_ecs_fields(
    tmp_path: Path,
    tls_server: servers.ServerProcess,
    closed_port: servers.ClosedPort,
    loopback_pki: servers.PKIFiles,
    result_schema: dict[str, Any],
) -> None:
    """``--log-dir``: one summary event per probe, ECS keys on top, the result under ``tlsdiag``."""
    log_dir = tmp_path / "logs" / "nested"  # created on demand
    before = datetime.datetime.now(datetime.UTC)
    good, bad = tls_server.url(), closed_port.url()
    run = run_tlsdiag(
        "probe", good, bad, "--ca", loopback_pki.root, "--log-dir", log_dir, "--format", "json"
    )
    after = datetime.datetime.now(datetime.UTC)
    assert run.returncode == 3, run.stderr
    printed = [json.loads(line) for line in run.lines]
    ok, failed = read_lines(log_dir / "client.jsonl")

    for event, result in zip((ok, failed), printed, strict=True):
        assert before - datetime.timedelta(seconds=1) <= parse_time(event["@timestamp"]) <= after
        assert event["event.action"] == "tls-probe"
        assert event["server.address"] == "127.0.0.1"
        # The log carries exactly the result that was printed.
        assert event["tlsdiag"] == result
        jsonschema.validate(event["tlsdiag"], result_schema)

    assert ok["url.full"] == good
    assert ok["server.port"] == tls_server.port
    assert ok["server.ip"] == ok["tlsdiag"]["connection"]["address"] == "127.0.0.1"
    assert ok["log.level"] == "info"
    assert ok["event.outcome"] == "success"
    assert ok["tlsdiag"]["status"] == "ok"
    assert ok["tls.version"] == "1.3"
    assert ok["tls.version_protocol"] == "tls"
    assert ok["tls.cipher"] == ok["tlsdiag"]["tls"]["cipher"]
    assert ok["tls.cipher"].startswith("TLS_")
    assert ok["tls.established"] is True
    assert ok["tls.resumed"] is False
    assert ok["tls.server.hash.sha256"] == loopback_pki.leaf_sha256
    leaf = loopback_pki.chain.leaf.cert
    assert parse_time(ok["tls.server.not_after"]) == leaf.not_valid_after_utc
    assert "localhost" in ok["tls.server.subject"]
    assert "Test Intermediate CA" in ok["tls.server.issuer"]
    assert "error.code" not in ok

    assert failed["url.full"] == bad
    assert failed["server.port"] == closed_port.port
    assert "server.ip" not in failed  # no address answered
    assert failed["log.level"] == "error"
    assert failed["event.outcome"] == "failure"
    assert failed["tlsdiag"]["status"] == "failed"
    assert failed["tls.established"] is False
    assert failed["error.code"] == "connection_refused"
    assert failed["error.message"]
    assert "tls.server.hash.sha256" not in failed


def test_runs_append(
    tmp_path: Path,
    tls_server: servers.ServerProcess,
    leaf_only_server: servers.ServerProcess,
    loopback_pki: servers.PKIFiles,
) -> None:
    """Two runs of two URLs leave four lines, oldest first, in input order within a run."""
    urls = [leaf_only_server.url(), tls_server.url()]
    for _ in range(2):
        run = run_tlsdiag(
            "probe", *urls, "--ca", loopback_pki.root, "--log-dir", tmp_path, "--format", "json"
        )
        assert run.returncode == 1, run.stderr
    events = read_lines(tmp_path / "client.jsonl")
    assert [e["url.full"] for e in events] == urls * 2
    assert [e["tlsdiag"]["status"] for e in events] == ["problems", "ok"] * 2
    problems = events[0]
    assert problems["log.level"] == "warning"
    assert problems["error.code"] == problems["tlsdiag"]["findings"][0]["id"]
    times = [parse_time(e["@timestamp"]) for e in events]
    assert max(times[:2]) <= min(times[2:])


# -- rotation --------------------------------------------------------------------------------


def written_lines(path: Path, backups: int) -> list[str]:
    """Every retained line, oldest file first."""
    files = [Path(f"{path}.{i}") for i in range(backups, 0, -1)] + [path]
    lines: list[str] = []
    for file in files:
        if file.exists():
            lines += file.read_text().splitlines()
    return lines


def test_rotation_keeps_a_bounded_number_of_files(tmp_path: Path) -> None:
    """Past ``max_bytes`` the file moves to ``.1``, ``.1`` to ``.2``…; at most ``backups`` stay."""
    path = tmp_path / "client.jsonl"
    sink = RotatingFile(str(path), max_bytes=200, backups=2)
    lines = [json.dumps({"n": n, "pad": "x" * 20}) for n in range(60)]
    for line in lines:
        sink.write_line(line)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "client.jsonl",
        "client.jsonl.1",
        "client.jsonl.2",
    ]
    for file in tmp_path.iterdir():
        assert 0 < file.stat().st_size <= 200
    kept = written_lines(path, 2)
    # What survives is the newest lines, whole and in order.
    assert kept == lines[-len(kept) :]
    assert len(kept) >= 2 * 200 // (len(lines[0]) + 1)


def test_rotation_without_backups(tmp_path: Path) -> None:
    """With ``backups=0`` a full file is started afresh and no numbered files appear."""
    path = tmp_path / "server.jsonl"
    sink = RotatingFile(str(path), max_bytes=100, backups=0)
    for n in range(20):
        sink.write_line(f'{{"n": {n}}}')
    assert [p.name for p in tmp_path.iterdir()] == ["server.jsonl"]
    assert path.read_text().splitlines()[-1] == '{"n": 19}'
    assert path.stat().st_size <= 100


def test_a_line_larger_than_the_limit_is_kept_whole(tmp_path: Path) -> None:
    """A single event bigger than ``max_bytes`` is written whole, never split or dropped."""
    path = tmp_path / "client.jsonl"
    sink = RotatingFile(str(path), max_bytes=50, backups=3)
    big = json.dumps({"chain": "y" * 200})
    sink.write_line("{}")
    sink.write_line(big)
    sink.write_line("{}")
    assert written_lines(path, 3) == ["{}", big, "{}"]


def test_stream_name_is_a_top_level_key(tmp_path: Path) -> None:
    """Each line names its stream in a top-level ``log.logger`` (how --log-stdout tells
    the streams apart), not nested under another key."""
    from diagnostics.daemon.logs import RotatingFile, make_logger

    sink = RotatingFile(str(tmp_path / "daemon.jsonl"))
    make_logger(sink, "daemon").info("start", **{"event.action": "start"})
    line = json.loads((tmp_path / "daemon.jsonl").read_text().splitlines()[0])
    assert line["log.logger"] == "tlsdiag.daemon"
    assert "initial_values" not in line
    assert line["message"] == "start"
