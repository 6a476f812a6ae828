"""Probes through an HTTP CONNECT proxy: the test suite's own proxy on loopback, in front of a
real ``openssl s_server`` and pyftpdlib; each probe runs ``tlsdiag probe`` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from diagnostics.model.jsonform import schema
from tests.support import ftpservers, servers
from tests.support.processes import read_lines, start_tlsdiag, stop, wait_for
from tests.support.proxy import connect_proxy
from tests.support.servers import PKIFiles, ServerProcess

PASSWORD = "Pr0xy-Secret-Horse"
PASSWORD_ENV = "TLSDIAG_TEST_PROXY_PASSWORD"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> PKIFiles:
    return servers.write_pki(tmp_path_factory.mktemp("pki"), prefix="Proxy")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, files: PKIFiles) -> Iterator[ServerProcess]:
    directory = tmp_path_factory.mktemp("s_server")
    with servers.s_server(directory, files.leaf, files.key, chain=files.intermediate) as running:
        yield running


def probe(
    url: str, files: PKIFiles, *args: str, env: dict[str, str] | None = None
) -> tuple[servers.CommandRun, dict[str, Any]]:
    """``tlsdiag probe URL --ca ROOT --format json ARGS``: the run and its JSON result."""
    run = servers.run_tlsdiag("probe", url, "--ca", files.root, "--format", "json", *args, env=env)
    assert run.stdout.strip(), run.stderr
    result = json.loads(run.stdout)
    jsonschema.validate(result, schema())
    return run, result


def ids(result: dict[str, Any]) -> list[str]:
    return [finding["id"] for finding in result["findings"]]


def with_password(password: str) -> dict[str, str]:
    env = dict(os.environ)
    env[PASSWORD_ENV] = password
    return env


def test_success_is_the_direct_diagnosis_and_names_the_proxy(
    server: ServerProcess, files: PKIFiles
) -> None:
    """Through the proxy the result is the direct one (status, findings, chain), plus the
    proxy that was used; the proxy got one CONNECT for the target with its Host header."""
    _, direct = probe(server.url(), files)
    with connect_proxy() as proxy:
        run, tunnelled = probe(server.url(), files, "--proxy", proxy.url())
        connects = proxy.connects
    assert run.returncode == direct_exit(direct)
    assert tunnelled["status"] == direct["status"] == "ok"
    assert ids(tunnelled) == ids(direct)
    assert [c["sha256"] for c in tunnelled["served_chain"]] == [
        c["sha256"] for c in direct["served_chain"]
    ]
    assert tunnelled["tls"]["version"] == direct["tls"]["version"]
    assert direct["proxy"] is None
    assert tunnelled["proxy"] == {
        "url": proxy.url(),
        "status": 200,
        "reason": "Connection established",
        "authenticate": None,
        "credentials_sent": False,
        "tunnels": 1,
    }
    authority = f"127.0.0.1:{server.port}"
    assert [c.line for c in connects] == [f"CONNECT {authority} HTTP/1.1"]
    assert connects[0].headers["host"] == authority
    assert "proxy-authorization" not in connects[0].headers


def direct_exit(result: dict[str, Any]) -> int:
    return {"ok": 0, "problems": 1, "failed": 3}[result["status"]]


def test_text_output_names_the_proxy(server: ServerProcess, files: PKIFiles) -> None:
    """The text form says which proxy was used and what it answered."""
    with connect_proxy() as proxy:
        run = servers.run_tlsdiag(
            "probe", server.url(), "--ca", files.root, "--format", "text", "--proxy", proxy.url()
        )
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"proxy: {proxy.url()} (CONNECT: 200 Connection established, 1 tunnel(s))" in run.stdout


def test_407_without_credentials(server: ServerProcess, files: PKIFiles) -> None:
    """A proxy that wants a user: proxy_auth_required on the client's side, naming Basic."""
    with connect_proxy(users={"alice": PASSWORD}) as proxy:
        run, result = probe(server.url(), files, "--proxy", proxy.url())
    assert run.returncode == 3
    assert result["failed_phase"] == "connect"
    primary = result["findings"][0]
    assert primary["id"] == "proxy_auth_required"
    assert primary["side"] == "client"
    assert "Basic" in primary["summary"] and "no credentials were sent" in primary["summary"]
    assert "--proxy-password-env" in primary["remedy"]
    assert result["proxy"]["status"] == 407
    assert result["proxy"]["authenticate"] == 'Basic realm="test proxy"'
    assert result["tls"] is None


def test_407_names_a_scheme_other_than_basic(server: ServerProcess, files: PKIFiles) -> None:
    """A proxy that asks for NTLM only: the finding says that only Basic is sent."""
    with connect_proxy(users={"alice": PASSWORD}, challenge="NTLM") as proxy:
        _, result = probe(server.url(), files, "--proxy", proxy.url())
    primary = result["findings"][0]
    assert primary["id"] == "proxy_auth_required"
    assert "NTLM" in primary["summary"] and "Basic only" in primary["detail"]


def probe_as_alice(
    server: ServerProcess, files: PKIFiles, proxy: Any, password: str, logs: Path
) -> tuple[servers.CommandRun, dict[str, Any]]:
    """Probe ``server`` through ``proxy`` as user alice, the password from the environment."""
    return probe(
        server.url(),
        files,
        "--proxy",
        proxy.url("alice"),
        "--proxy-password-env",
        PASSWORD_ENV,
        "--log-dir",
        str(logs),
        env=with_password(password),
    )


def test_407_with_wrong_credentials_never_shows_the_password(
    server: ServerProcess, files: PKIFiles, tmp_path: Path
) -> None:
    """Credentials sent and refused: proxy_auth_rejected; the password is in no output."""
    wrong = "Wr0ng-Proxy-Password"
    logs = tmp_path / "logs"
    with connect_proxy(users={"alice": PASSWORD}) as proxy:
        run, result = probe_as_alice(server, files, proxy, wrong, logs)
        sent = proxy.connects[0].headers.get("proxy-authorization")
    assert run.returncode == 3
    assert sent is not None and sent.startswith("Basic ")
    primary = result["findings"][0]
    assert (primary["id"], primary["side"]) == ("proxy_auth_rejected", "client")
    assert result["proxy"]["credentials_sent"] is True
    assert_nowhere(wrong, run, logs)


def test_credentials_from_the_environment_open_the_tunnel(
    server: ServerProcess, files: PKIFiles, tmp_path: Path
) -> None:
    """The right password (from the environment) is sent as Basic; the probe succeeds and
    neither the password nor its Base64 form appears in stdout, stderr or the log."""
    logs = tmp_path / "logs"
    with connect_proxy(users={"alice": PASSWORD}) as proxy:
        run, result = probe_as_alice(server, files, proxy, PASSWORD, logs)
        sent = proxy.connects[0].headers["proxy-authorization"]
    assert run.returncode == 0, result["findings"]
    assert result["proxy"]["status"] == 200 and result["proxy"]["credentials_sent"] is True
    assert "alice" not in result["proxy"]["url"]
    assert (logs / "client.jsonl").read_text().count('"proxy"') >= 1
    assert_nowhere(PASSWORD, run, logs)
    assert_nowhere(sent.split(" ", 1)[1], run, logs)


def assert_nowhere(secret: str, run: servers.CommandRun, logs: Path) -> None:
    assert secret not in run.stdout
    assert secret not in run.stderr
    for path in logs.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path


def test_403_refused_connect(server: ServerProcess, files: PKIFiles) -> None:
    """The proxy's policy allows port 443 only: proxy_refused, for the proxy operator."""
    with connect_proxy(allowed_ports={443}) as proxy:
        run, result = probe(server.url(), files, "--proxy", proxy.url())
    assert run.returncode == 3
    primary = result["findings"][0]
    assert (primary["id"], primary["side"]) == ("proxy_refused", "either")
    assert "403 Forbidden" in primary["summary"]
    assert result["proxy"]["status"] == 403


def test_502_upstream_down(files: PKIFiles) -> None:
    """The proxy cannot reach the target: proxy_upstream_failed, on the far side."""
    with servers.ClosedPort() as closed, connect_proxy() as proxy:
        run, result = probe(closed.url(), files, "--proxy", proxy.url())
    assert run.returncode == 3
    assert result["failed_phase"] == "connect"
    primary = result["findings"][0]
    assert (primary["id"], primary["side"]) == ("proxy_upstream_failed", "server")
    assert "502 Bad Gateway" in primary["summary"]


def test_proxy_down(server: ServerProcess, files: PKIFiles) -> None:
    """Nothing listens at the proxy's address: proxy_unreachable, our settings to check."""
    with servers.ClosedPort() as closed:
        run, result = probe(server.url(), files, "--proxy", f"http://127.0.0.1:{closed.port}")
    assert run.returncode == 3
    assert result["failed_phase"] == "connect"
    primary = result["findings"][0]
    assert (primary["id"], primary["side"]) == ("proxy_unreachable", "client")
    assert "refused the connection" in primary["detail"]
    assert result["proxy"]["status"] is None


def test_silent_proxy_times_out_within_the_probe_timeout(
    server: ServerProcess, files: PKIFiles
) -> None:
    """A proxy that accepts and never answers: proxy_timeout when the probe's timeout ends."""
    with connect_proxy(mode="silent") as proxy:
        run, result = probe(server.url(), files, "--proxy", proxy.url(), "--timeout", "1.5")
        seen = len(proxy.connects)
    assert run.returncode == 3
    assert seen == 1
    primary = result["findings"][0]
    assert (primary["id"], primary["side"]) == ("proxy_timeout", "either")
    assert result["failed_phase"] == "connect"
    assert 1.4 <= result["timings"]["total_s"] < 2.5


def test_not_an_http_proxy(server: ServerProcess, files: PKIFiles) -> None:
    """An SSH banner instead of an HTTP answer: proxy_bad_answer, quoting what came."""
    with connect_proxy(mode="not_http") as proxy:
        run, result = probe(server.url(), files, "--proxy", proxy.url())
    assert run.returncode == 3
    primary = result["findings"][0]
    assert (primary["id"], primary["side"]) == ("proxy_bad_answer", "client")
    assert "SSH-2.0" in primary["detail"]


def test_endless_answer_head_is_cut_off(server: ServerProcess, files: PKIFiles) -> None:
    """A proxy that never ends its answer head: refused after 16 KiB, not read forever."""
    with connect_proxy(mode="endless_head") as proxy:
        run, result = probe(server.url(), files, "--proxy", proxy.url())
    assert run.returncode == 3
    primary = result["findings"][0]
    assert primary["id"] == "proxy_bad_answer"
    assert "over 16 KiB" in primary["detail"]
    assert result["timings"]["total_s"] < 5


def test_proxy_from_env_with_no_proxy(server: ServerProcess, files: PKIFiles) -> None:
    """HTTPS_PROXY is used only with --proxy-from-env; NO_PROXY exempts a host."""
    with connect_proxy() as proxy:
        env = dict(os.environ)
        for name in ("https_proxy", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
            env.pop(name, None)
        env["HTTPS_PROXY"] = proxy.url()
        _, implicit = probe(server.url(), files, env=env)
        assert proxy.connects == []
        _, from_env = probe(server.url(), files, "--proxy-from-env", env=env)
        assert len(proxy.connects) == 1
        env["NO_PROXY"] = "example.com, 127.0.0.0/8"
        _, exempt = probe(server.url(), files, "--proxy-from-env", env=env)
        assert len(proxy.connects) == 1
    assert implicit["proxy"] is None and implicit["status"] == "ok"
    assert from_env["proxy"]["url"] == proxy.url() and from_env["status"] == "ok"
    assert exempt["proxy"] is None and exempt["status"] == "ok"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("socks5://127.0.0.1:1080", "only http:// proxies"),
        ("http://127.0.0.1", "give the proxy's port"),
        ("http://alice:hunter22@127.0.0.1:3128", "does not belong in the URL"),
        ("http://127.0.0.1:3128/path", "no path"),
        ("127.0.0.1:3128", "only http:// proxies"),
    ],
)
def test_bad_proxy_url_is_one_line_exit_2(url: str, words: str, files: PKIFiles) -> None:
    """A proxy URL that cannot be used: one line on stderr, exit 2, the password not echoed."""
    run = servers.run_tlsdiag("probe", "tls://127.0.0.1:1", "--ca", files.root, "--proxy", url)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], run.stderr
    assert "hunter22" not in run.stderr and run.stdout == ""


def test_proxy_password_needs_a_user(files: PKIFiles) -> None:
    """--proxy-password-env without a user in the URL, or without a proxy: exit 2."""
    env = with_password(PASSWORD)
    for extra in (["--proxy", "http://127.0.0.1:3128"], []):
        run = servers.run_tlsdiag(
            "probe", "tls://127.0.0.1:1", "--proxy-password-env", PASSWORD_ENV, *extra, env=env
        )
        assert run.returncode == 2, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1


@pytest.fixture
def ftp_server(tmp_path: Path, files: PKIFiles) -> Iterator[ServerProcess]:
    directory = tmp_path / "pyftpdlib"
    directory.mkdir()
    running = ftpservers.start_pyftpdlib(directory, files)
    try:
        yield running
    finally:
        running.stop()


def test_ftps_control_and_data_through_the_proxy(
    ftp_server: ServerProcess, files: PKIFiles
) -> None:
    """Explicit FTPS through the proxy: the control connection and the protected data
    connection (to the passive port) are both tunnels; the listing is read over TLS."""
    with connect_proxy() as proxy:
        run, result = probe(ftp_server.url("ftpes"), files, "--proxy", proxy.url())
        connects = proxy.connects
    assert result["failed_phase"] is None, (result["error"], run.stderr)
    ftp = result["ftp"]
    assert ftp["login"] == "ok"
    assert ftp["data_channel"]["ok"] is True
    assert ftp["data_channel"]["tls"]["version"] is not None
    ports = [c.port for c in connects]
    assert ports[0] == ftp_server.port
    data_ports = [p for p in ports if p != ftp_server.port]
    assert ftp["data_channel"]["port"] in data_ports
    assert all(c.authority.startswith("localhost:") for c in connects)
    assert result["proxy"]["tunnels"] == len(connects) >= 2
    # Through a proxy the server's address is not known here: no PASV address verdict.
    assert "ftps_pasv_address" not in ids(result)


def test_partner_report_names_the_proxy(
    server: ServerProcess, files: PKIFiles, tmp_path: Path
) -> None:
    """The partner report's facts hold the proxy and its answer."""
    report = tmp_path / "report.md"
    with connect_proxy() as proxy:
        run = servers.run_tlsdiag(
            "probe", server.url(), "--ca", files.root, "--proxy", proxy.url(), "--report", report
        )
    assert run.returncode == 0, run.stderr
    assert f"{proxy.url()} (CONNECT: 200 Connection established)" in report.read_text()


def test_version_matrix_connections_are_tunnels_too(server: ServerProcess, files: PKIFiles) -> None:
    """--versions makes one more connection per TLS version: each one is a CONNECT."""
    with connect_proxy() as proxy:
        run, result = probe(server.url(), files, "--proxy", proxy.url(), "--versions")
        connects = proxy.connects
    assert run.returncode in (0, 1), result["findings"]
    assert len(result["versions"]) == 4
    assert len(connects) == 1 + sum(v["outcome"] != "unsupported" for v in result["versions"])
    assert {c.port for c in connects} == {server.port}
    assert result["proxy"]["tunnels"] == 1  # the main probe's own; each attempt has its own


def test_daemon_target_probes_through_the_proxy(
    server: ServerProcess, files: PKIFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daemon target with proxy and proxy_password_env: the proxy gets the CONNECT with the
    credentials, client.jsonl holds the proxy facts, no log holds the password."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    logs = tmp_path / "logs"
    with connect_proxy(users={"alice": PASSWORD}) as proxy:
        config = tmp_path / "tlsdiag.toml"
        config.write_text(
            f"""
[daemon]
log_dir = "{logs}"
metrics_listen = "127.0.0.1:{servers.free_port()}"
[[target]]
url = "{server.url()}"
ca = ["{files.root}"]
interval = 1
proxy = "{proxy.url("alice")}"
proxy_password_env = "{PASSWORD_ENV}"
"""
        )
        daemon = start_tlsdiag(
            "daemon", "--config", str(config), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            events = wait_for(
                "a probe in client.jsonl",
                lambda: [e for e in read_lines(logs / "client.jsonl") if "tlsdiag" in e],
                daemon,
            )
        finally:
            assert stop(daemon) == 0
        connects = proxy.connects
    result = events[0]["tlsdiag"]
    assert result["status"] == "ok", result["findings"]
    assert result["proxy"]["status"] == 200 and result["proxy"]["credentials_sent"] is True
    assert connects[0].authority == f"127.0.0.1:{server.port}"
    assert connects[0].headers["proxy-authorization"].startswith("Basic ")
    for path in logs.rglob("*"):
        if path.is_file():
            assert PASSWORD not in path.read_text(errors="replace"), path


@pytest.mark.skipif(not ftpservers.vsftpd_available(), reason="vsftpd is not installed")
def test_implicit_ftps_with_session_reuse_through_the_proxy(
    files: PKIFiles, tmp_path: Path
) -> None:
    """vsftpd (implicit, require_ssl_reuse): the data tunnel's handshake resumes the control
    tunnel's TLS session, so the listing is accepted through the proxy too."""
    directory = tmp_path / "vsftpd"
    directory.mkdir()
    ftp_server = ftpservers.start_vsftpd(directory, files, implicit=True)
    try:
        with connect_proxy() as proxy:
            _, result = probe(ftp_server.url("ftps"), files, "--proxy", proxy.url())
            connects = proxy.connects
    finally:
        ftp_server.stop()
    assert result["failed_phase"] is None, result["error"]
    data = result["ftp"]["data_channel"]
    assert data["ok"] is True and data["resumed"] is True
    assert connects[0].port == ftp_server.port
    assert data["port"] in [c.port for c in connects[1:]]
