"""promtool accepts what tlsdiag ships and serves: config/prometheus.yml, config/alerts.yml
and its unit tests (tests/monitoring/alerts_test.yml), and the exposition of a running
daemon's /metrics and of a /probe answer (``promtool check metrics`` prints nothing)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support import monitoring, servers
from tests.support.monitoring import Daemon, http_get, promtool
from tests.support.processes import wait_for

pytestmark = pytest.mark.skipif(
    monitoring.PROMTOOL is None, reason="needs promtool (Debian package prometheus)"
)
HERE = Path(__file__).parent
RULE_TESTS = HERE / "alerts_test.yml"

# Every family /metrics serves once its targets were probed (the blackbox_exporter names
# first), and the ones a /probe answer of a healthy https:// target holds.
METRICS = (
    "probe_success",
    "probe_duration_seconds",
    "probe_ssl_earliest_cert_expiry",
    "probe_ssl_last_chain_expiry_timestamp_seconds",
    "probe_tls_version_info",
    "probe_http_status_code",
    "tlsdiag_verify_error",
    "tlsdiag_finding",
    "tlsdiag_probes",
    "tlsdiag_chain_changed",
    "tlsdiag_syslog_dropped",
)
PROBE = METRICS[:6]


def passes(*args: str, stdin: bytes | None = None) -> str:
    """Run promtool; fail with its output unless it exits 0; its output."""
    run = promtool(*args, stdin=stdin)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout + run.stderr


def test_shipped_prometheus_config() -> None:
    """promtool accepts config/prometheus.yml and the rule file it names."""
    out = passes("check", "config", "config/prometheus.yml")
    assert "SUCCESS: 1 rule files found" in out


def test_shipped_alert_rules() -> None:
    """promtool accepts config/alerts.yml."""
    assert "SUCCESS" in passes("check", "rules", "config/alerts.yml")


def test_alert_rule_unit_tests() -> None:
    """The rule unit tests pass, and they show every shipped alert firing and not firing."""
    passes("test", "rules", str(RULE_TESTS))
    alerts = monitoring.alert_names()
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    checks = [check for case in cases for check in case["alert_rule_test"]]
    firing = {c["alertname"] for c in checks if c["exp_alerts"]}
    quiet = {c["alertname"] for c in checks if not c["exp_alerts"]}
    assert firing == alerts
    assert quiet == alerts


def test_rule_unit_tests_can_fail(tmp_path: Path) -> None:
    """The same unit tests against a rule file whose warning threshold is wrong fail."""
    broken = (monitoring.SHIPPED / "alerts.yml").read_text().replace("< 30 * 86400", "< 10 * 86400")
    (tmp_path / "alerts.yml").write_text(broken)
    tests = RULE_TESTS.read_text().replace("../../config/alerts.yml", str(tmp_path / "alerts.yml"))
    (tmp_path / "alerts_test.yml").write_text(tests)
    run = promtool("test", "rules", str(tmp_path / "alerts_test.yml"))
    assert run.returncode != 0
    assert "TLSCertificateExpiringSoon" in run.stdout + run.stderr


# -- the exposition of a running daemon ---------------------------------------------------


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, list[str]]]:
    """A daemon probing a healthy https:// and tls:// endpoint, one whose chain does not
    verify (another CA), and a closed port; (the daemon, its target URLs)."""
    tmp_path = tmp_path_factory.mktemp("metrics")
    files = servers.write_pki(tmp_path / "pki")
    other = servers.write_pki(tmp_path / "other", prefix="Other")
    with (
        monitoring.tls_server(tmp_path, files) as good,
        monitoring.tls_server(tmp_path, other) as untrusted,
        servers.ClosedPort() as closed,
    ):
        urls = [
            f"https://127.0.0.1:{good.port}",
            f"tls://127.0.0.1:{good.port}",
            f"https://127.0.0.1:{untrusted.port}",
            closed.url(),
        ]
        with monitoring.daemons(tmp_path, urls, files.root, [None]) as (running,):
            yield running, urls


def families(text: str) -> dict[str, Any]:
    """The metric families of an exposition that have samples, by name."""
    return {f.name: f for f in text_string_to_metric_families(text) if f.samples}


def test_metrics_pass_promtool(daemon: tuple[Daemon, list[str]]) -> None:
    """/metrics, once every target was probed, holds every family and promtool says nothing."""
    running, urls = daemon
    metrics = f"http://{running.address}/metrics"

    def probed() -> str:
        status, body = http_get(metrics)
        seen = families(body) if status == 200 else {}
        every = "tlsdiag_probes" in seen and {
            s.labels["target"] for s in seen["tlsdiag_probes"].samples
        } == set(urls)
        return body if every and set(METRICS) <= set(seen) else ""

    body = wait_for("every target probed", probed, running.process)
    run = promtool("check", "metrics", stdin=body.encode())
    assert (run.returncode, run.stdout + run.stderr) == (0, "")
    found = families(body)
    good, tls, untrusted, closed = urls
    versions = {
        s.labels["target"]: s.labels["version"] for s in found["probe_tls_version_info"].samples
    }
    assert versions[good] == versions[tls] == "TLS 1.3"
    codes = {s.labels["target"]: s.value for s in found["probe_http_status_code"].samples}
    assert codes == {good: 200.0, untrusted: 200.0}
    verified = {
        s.labels["target"] for s in found["probe_ssl_last_chain_expiry_timestamp_seconds"].samples
    }
    assert verified == {good, tls}
    assert {s.labels["target"] for s in found["tlsdiag_verify_error"].samples} == {untrusted}
    success = {s.labels["target"]: s.value for s in found["probe_success"].samples}
    assert success == {good: 1.0, tls: 1.0, untrusted: 0.0, closed: 0.0}


def test_probe_answer_passes_promtool(daemon: tuple[Daemon, list[str]]) -> None:
    """A /probe answer holds the blackbox_exporter families and promtool says nothing."""
    running, urls = daemon
    status, body = http_get(f"http://{running.address}/probe?target={urls[0]}&module=local")
    assert status == 200, body
    run = promtool("check", "metrics", stdin=body.encode())
    assert (run.returncode, run.stdout + run.stderr) == (0, "")
    found = families(body)
    assert set(PROBE) <= set(found)
    assert found["probe_http_status_code"].samples[0].value == 200.0
    assert found["probe_success"].samples[0].value == 1.0
