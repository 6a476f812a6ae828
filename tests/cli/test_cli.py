"""The ``tlsdiag`` command line end to end: real servers on loopback, real subprocesses.

Servers come from ``tests/servers.py`` (``openssl s_server``, a plain-HTTP
server, a silent listener, a closed port); every command runs as
``python -m diagnostics`` and is judged by its exit code and its output.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography.hazmat.primitives import hashes

from tests.support import servers
from tests.support.servers import CommandRun, run_tlsdiag

OPENSSL_VERIFY_20 = "unable to get local issuer certificate"
OPENSSL_VERIFY_21 = "unable to verify the first certificate"


@pytest.fixture(scope="module")
def result_schema() -> dict[str, Any]:
    """The JSON Schema printed by ``tlsdiag schema``."""
    run = run_tlsdiag("schema")
    assert run.returncode == 0, run.stderr
    loaded: dict[str, Any] = json.loads(run.stdout)
    return loaded


def probe_json(*args: str | Path, timeout: float = servers.COMMAND_TIMEOUT) -> CommandRun:
    """``tlsdiag probe ARGS --format json``."""
    return run_tlsdiag("probe", *args, "--format", "json", timeout=timeout)


def results_of(run: CommandRun, schema: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The JSON results of a probe run, one per line, each checked against ``schema``."""
    results = [json.loads(line) for line in run.lines]
    if schema is not None:
        for result in results:
            jsonschema.validate(result, schema)
    return results


def only_result(run: CommandRun, schema: dict[str, Any]) -> dict[str, Any]:
    """The single JSON result of a one-URL probe run."""
    results = results_of(run, schema)
    assert len(results) == 1, run.stdout
    return results[0]


def sha256s(certs: list[dict[str, Any]]) -> list[str]:
    """The fingerprints of a JSON chain, upper-case hex."""
    return [c["sha256"].upper().replace(":", "") for c in certs]


def fingerprints(files: servers.PKIFiles, *names: str) -> list[str]:
    """The fingerprints of the named certificates of a test PKI, upper-case hex."""
    chain = files.chain
    certs = {"leaf": chain.leaf, "intermediate": chain.intermediate, "root": chain.root}
    return [certs[n].cert.fingerprint(hashes.SHA256()).hex().upper() for n in names]


# -- verdicts against openssl s_server -----------------------------------------------------


def test_valid_chain_is_ok(
    tls_server: servers.ServerProcess,
    loopback_pki: servers.PKIFiles,
    result_schema: dict[str, Any],
) -> None:
    """A server sending leaf and intermediate, root trusted: exit 0 and a clean result."""
    run = probe_json(tls_server.url(), "--ca", loopback_pki.root)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    result = only_result(run, result_schema)
    assert result["status"] == "ok"
    assert result["failed_phase"] is None
    assert result["tls"]["openssl_version"].startswith("OpenSSL")
    assert result["tls"]["version"] == "TLSv1.3"
    assert result["verify_errors"] == []
    assert sha256s(result["served_chain"]) == fingerprints(loopback_pki, "leaf", "intermediate")
    assert sha256s(result["verified_chain"]) == fingerprints(
        loopback_pki, "leaf", "intermediate", "root"
    )
    assert result["hostname"]["matched"] is True
    assert [f for f in result["findings"] if f["severity"] in ("error", "warning")] == []


def test_missing_intermediate_with_root_only(
    leaf_only_server: servers.ServerProcess,
    loopback_pki: servers.PKIFiles,
    result_schema: dict[str, Any],
) -> None:
    """Leaf only, root trusted: exit 1, errors 20 and 21 at depth 0, the leaf still captured.

    With only the root to hand, a missing intermediate and an untrusted private root
    look the same, so the primary finding is ``unknown_issuer``.
    """
    run = probe_json(leaf_only_server.url(), "--ca", loopback_pki.root)
    assert run.returncode == 1, run.stderr
    result = only_result(run, result_schema)
    assert result["status"] == "problems"
    assert result["findings"][0]["id"] == "unknown_issuer"
    assert result["findings"][0]["severity"] == "error"
    assert [(e["depth"], e["code"], e["reason"]) for e in result["verify_errors"]] == [
        (0, 20, OPENSSL_VERIFY_20),
        (0, 21, OPENSSL_VERIFY_21),
    ]
    assert sha256s(result["served_chain"]) == fingerprints(loopback_pki, "leaf")


def test_missing_intermediate_known_to_the_trust_list(
    leaf_only_server: servers.ServerProcess,
    loopback_pki: servers.PKIFiles,
    result_schema: dict[str, Any],
) -> None:
    """Leaf only, but the trust list holds the intermediate: ``missing_intermediate``, exit 1."""
    run = probe_json(leaf_only_server.url(), "--ca", loopback_pki.bundle)
    assert run.returncode == 1, run.stderr
    result = only_result(run, result_schema)
    assert result["status"] == "problems"
    assert result["findings"][0]["id"] == "missing_intermediate"
    assert result["findings"][0]["side"] == "server"


def test_untrusted_root(
    tls_server: servers.ServerProcess,
    other_pki: servers.PKIFiles,
    loopback_pki: servers.PKIFiles,
    result_schema: dict[str, Any],
) -> None:
    """A chain from a root we do not trust: exit 1, ``untrusted_root``, error 20 at depth 1."""
    run = probe_json(tls_server.url(), "--ca", other_pki.root)
    assert run.returncode == 1, run.stderr
    result = only_result(run, result_schema)
    assert result["status"] == "problems"
    assert result["findings"][0]["id"] == "untrusted_root"
    assert (1, 20) in [(e["depth"], e["code"]) for e in result["verify_errors"]]
    assert sha256s(result["served_chain"]) == fingerprints(loopback_pki, "leaf", "intermediate")


# -- failures --------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["tls", "https"])
def test_plain_http_server_is_not_tls(
    plain_http_server: servers.ServerProcess, scheme: str, result_schema: dict[str, Any]
) -> None:
    """A plain-HTTP server answers the ClientHello in clear text: exit 3 in the handshake."""
    run = probe_json(plain_http_server.url(scheme), "--timeout", "10")
    assert run.returncode == 3, run.stderr
    result = only_result(run, result_schema)
    assert result["status"] == "failed"
    assert result["failed_phase"] == "handshake"
    assert result["error"]["kind"] == "tls_error"
    assert result["error"]["reason"] == "wrong version number"
    assert result["findings"][0]["id"] == "not_tls"
    assert result["served_chain"] == []


def test_closed_port_is_refused(
    closed_port: servers.ClosedPort, result_schema: dict[str, Any]
) -> None:
    """Nobody listens: exit 3, failed in the connect phase as ``connection_refused``."""
    run = probe_json(closed_port.url(), "--timeout", "10")
    assert run.returncode == 3, run.stderr
    result = only_result(run, result_schema)
    assert result["failed_phase"] == "connect"
    assert result["error"]["kind"] == "connection_refused"
    assert result["findings"][0]["id"] == "connection_refused"
    assert result["timings"]["connect_s"] is None


def test_silent_listener_times_out_in_the_handshake(
    silent_listener: servers.SilentListener, result_schema: dict[str, Any]
) -> None:
    """A peer that accepts and never answers: exit 3, a handshake timeout, bounded in time."""
    run = probe_json(silent_listener.url(), "--timeout", "1")
    assert run.returncode == 3, run.stderr
    result = only_result(run, result_schema)
    assert result["failed_phase"] == "handshake"
    assert result["error"]["kind"] == "timeout"
    assert result["findings"][0]["id"] == "timeout"
    assert silent_listener.drain() == 1
    # The timeout is honoured (not a premature failure) and ends the probe.
    assert 1.0 <= result["timings"]["total_s"] < 2.0
    assert run.elapsed < 10.0


# -- several targets -------------------------------------------------------------------------


def test_results_come_in_input_order(
    silent_listener: servers.SilentListener,
    tls_server: servers.ServerProcess,
    loopback_pki: servers.PKIFiles,
    result_schema: dict[str, Any],
) -> None:
    """The slowest target first: its line still comes first; the exit code is the worst."""
    slow, fast = silent_listener.url(), tls_server.url()
    run = probe_json(slow, fast, "--ca", loopback_pki.root, "--timeout", "1")
    assert run.returncode == 3, run.stderr
    results = results_of(run, result_schema)
    assert [r["target"]["url"] for r in results] == [slow, fast]
    assert [r["status"] for r in results] == ["failed", "ok"]
    # Probed side by side: the fast one did not wait for the slow one to give up.
    assert results[1]["timings"]["total_s"] < 0.9
    assert run.elapsed < 10.0


@pytest.mark.parametrize(
    ("kinds", "code"),
    [
        (("valid", "valid"), 0),
        (("leaf_only", "valid"), 1),
        (("valid", "leaf_only"), 1),
        (("closed", "leaf_only", "valid"), 3),
        (("leaf_only", "closed"), 3),
    ],
)
def test_exit_code_is_the_worst(
    kinds: tuple[str, ...],
    code: int,
    request: pytest.FixtureRequest,
    loopback_pki: servers.PKIFiles,
) -> None:
    """Several targets: exit 3 if any failed, else 1 if any has problems, else 0."""
    urls = {
        "valid": lambda: request.getfixturevalue("tls_server").url(),
        "leaf_only": lambda: request.getfixturevalue("leaf_only_server").url(),
        "closed": lambda: request.getfixturevalue("closed_port").url(),
    }
    targets = [urls[kind]() for kind in kinds]
    run = probe_json(*targets, "--ca", loopback_pki.root)
    assert run.returncode == code, run.stderr
    assert [r["target"]["url"] for r in results_of(run)] == targets


def test_targets_file(
    tmp_path: Path,
    tls_server: servers.ServerProcess,
    leaf_only_server: servers.ServerProcess,
    closed_port: servers.ClosedPort,
    loopback_pki: servers.PKIFiles,
) -> None:
    """``--targets FILE``: comments and blank lines skipped, its URLs after the positional ones."""
    listed = tmp_path / "targets.txt"
    listed.write_text(
        "# endpoints to check\n"
        "\n"
        f"  {leaf_only_server.url()}  \n"
        "   # an indented comment\n"
        f"{closed_port.url()}\n"
        "\n"
    )
    run = probe_json(tls_server.url(), "--targets", listed, "--ca", loopback_pki.root)
    assert run.returncode == 3, run.stderr
    results = results_of(run)
    assert [r["target"]["url"] for r in results] == [
        tls_server.url(),
        leaf_only_server.url(),
        closed_port.url(),
    ]
    assert [r["status"] for r in results] == ["ok", "problems", "failed"]


# -- usage errors ----------------------------------------------------------------------------


def _not_pem(tmp_path: Path) -> Path:
    path = tmp_path / "notes.pem"
    path.write_text("this is not a certificate\n")
    return path


@pytest.mark.parametrize(
    ("name", "make_args", "mentions"),
    [
        ("malformed URL", lambda d: ["tls://127.0.0.1:notaport"], "notaport"),
        ("host with a space", lambda d: ["https://exa mple.com"], "exa mple.com"),
        ("no scheme", lambda d: ["127.0.0.1:443"], "127.0.0.1:443"),
        ("unknown scheme", lambda d: ["gopher://127.0.0.1:70"], "gopher"),
        ("tls without port", lambda d: ["tls://localhost"], "tls://localhost"),
        ("missing --ca", lambda d: ["tls://127.0.0.1:9", "--ca", d / "none.pem"], "none.pem"),
        (
            "directory as --ca",
            lambda d: ["tls://127.0.0.1:9", "--ca", d / "ca-folder"],
            "ca-folder",
        ),
        ("non-PEM --ca", lambda d: ["tls://127.0.0.1:9", "--ca", _not_pem(d)], "notes.pem"),
        ("--cert without --key", lambda d: ["tls://127.0.0.1:9", "--cert", d / "c.pem"], "--key"),
        (
            "unset --password-env",
            lambda d: ["ftps://127.0.0.1", "--password-env", "TLSDIAG_TEST_UNSET_VAR"],
            "TLSDIAG_TEST_UNSET_VAR",
        ),
        ("missing --targets", lambda d: ["--targets", d / "nope.txt"], "nope.txt"),
        ("no URL", lambda d: [], "URL"),
        ("bad --timeout", lambda d: ["tls://127.0.0.1:9", "--timeout", "soon"], "--timeout"),
    ],
)
def test_usage_errors(name: str, make_args: Any, mentions: str, tmp_path: Path) -> None:
    """Bad arguments or configuration: exit 2, one line on stderr naming the problem."""
    (tmp_path / "ca-folder").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "TLSDIAG_TEST_UNSET_VAR"}
    run = run_tlsdiag("probe", *make_args(tmp_path), "--format", "json", env=env)
    assert run.returncode == 2, (name, run.stdout, run.stderr)
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert mentions in run.stderr
    assert run.stdout == ""


def test_invalid_url_among_valid_ones_probes_nothing(
    silent_listener: servers.SilentListener, tls_server: servers.ServerProcess
) -> None:
    """One bad URL after good ones: exit 2 before any connection is made."""
    run = probe_json(
        silent_listener.url(), tls_server.url(), "tls://no-port.example", "--timeout", "5"
    )
    assert run.returncode == 2, run.stderr
    assert "no-port.example" in run.stderr
    assert run.stdout == ""
    assert silent_listener.drain() == 0
    assert run.elapsed < 5.0


# -- explain and schema ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("20", ["X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY", OPENSSL_VERIFY_20]),
        ("CERT_HAS_EXPIRED", ["X509_V_ERR_CERT_HAS_EXPIRED", "(10)", "certificate has expired"]),
        ("X509_V_ERR_CERT_HAS_EXPIRED", ["(10)"]),
        ("alert:48", ["unknown_ca", "48"]),
        ("unknown_ca", ["unknown_ca", "48"]),
        ("ftp:522", ["522", "TLS"]),
        ("wrong version number", ["wrong version number", "not_tls"]),
    ],
)
def test_explain(query: str, expected: list[str]) -> None:
    """``tlsdiag explain`` knows verify codes, alerts, FTP replies and OpenSSL reason texts."""
    run = run_tlsdiag("explain", query)
    assert run.returncode == 0, run.stderr
    for text in expected:
        assert text in run.stdout
    # More than a title: an explanation and a remedy.
    assert len(run.lines) >= 4


def test_explain_unknown_gives_a_hint() -> None:
    """An unknown code: exit 2 and one line that shows what would be understood."""
    run = run_tlsdiag("explain", "nonsense-xyz")
    assert run.returncode == 2
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "nonsense-xyz" in lines[0]
    assert "alert:" in lines[0]


def test_schema_is_a_valid_draft_2020_12_schema(
    result_schema: dict[str, Any], closed_port: servers.ClosedPort
) -> None:
    """``tlsdiag schema`` prints a JSON Schema (2020-12) requiring the fixed top-level keys."""
    assert result_schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(result_schema)
    fixed = {
        "status",
        "failed_phase",
        "target",
        "tls",
        "served_chain",
        "verified_chain",
        "verify_errors",
        "hostname",
        "findings",
        "ocsp",
        "timings",
    }
    assert fixed <= set(result_schema["required"])
    # It accepts a real result and rejects one with a status outside the closed set
    # or without its findings.
    result = only_result(probe_json(closed_port.url()), result_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**result, "status": "broken"}, result_schema)
    del result["findings"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(result, result_schema)


# -- output formats --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "verdict"),
    [("tls_server", "OK"), ("leaf_only_server", "PROBLEMS"), ("closed_port", "FAILED")],
)
def test_text_format_verdict_first(
    fixture: str, verdict: str, request: pytest.FixtureRequest, loopback_pki: servers.PKIFiles
) -> None:
    """``--format text``: the first line is the verdict, then the URL."""
    url = request.getfixturevalue(fixture).url()
    run = run_tlsdiag("probe", url, "--ca", loopback_pki.root, "--format", "text")
    assert run.returncode in (0, 1, 3), run.stderr
    first = run.lines[0]
    assert first.split()[0] == verdict
    assert url in first
    assert "\x1b[" not in run.stdout  # no colour when not on a terminal


def test_s_client_format(tls_server: servers.ServerProcess, loopback_pki: servers.PKIFiles) -> None:
    """``--format s_client`` ends the way ``openssl s_client`` does, with the verify result."""
    run = run_tlsdiag("probe", tls_server.url(), "--ca", loopback_pki.root, "--format", "s_client")
    assert run.returncode == 0, run.stderr
    assert "Certificate chain" in run.stdout
    assert re.search(r"^ *Verify return code: 0 \(ok\)$", run.stdout, re.MULTILINE)
