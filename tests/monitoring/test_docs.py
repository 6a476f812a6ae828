"""The README's Monitoring section names every metric the daemon serves and every alert
config/alerts.yml ships; docs/daemon.md lists the metrics too."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from diagnostics.daemon.metrics import ProbeMetrics, exposition, new_registry
from diagnostics.daemon.syslog import dropped_counter
from diagnostics.model.result import (
    Finding,
    ProbeResult,
    Severity,
    Side,
    TLSFacts,
    VerifyEvent,
)
from diagnostics.model.target import parse_target
from tests.support import pki
from tests.support.monitoring import alert_names
from tests.support.servers import REPO


def served_names() -> set[str]:
    """The names on /metrics of a daemon whose targets show every kind of value."""
    ca = pki.make_ca("Root")
    leaf = pki.issue(ca)
    tls = TLSFacts("TLSv1.3", "TLS_AES_128_GCM_SHA256", None, False, "OpenSSL")
    good = ProbeResult(
        target=parse_target("https://127.0.0.1:8443"),
        tls=tls,
        served_chain=(leaf.cert,),
        verified_chain=(leaf.cert, ca.cert),
        http={"status": 200},
    )
    bad = ProbeResult(
        target=parse_target("tls://127.0.0.1:8444"),
        tls=tls,
        served_chain=(leaf.cert,),
        verify_events=(
            VerifyEvent(0, 20, "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "", None),
        ),
        findings=(Finding("unknown_issuer", Severity.ERROR, Side.EITHER, "unknown issuer"),),
    )
    collector = ProbeMetrics()
    collector.observe(good.target.url, good)
    collector.observe(bad.target.url, bad)
    registry = new_registry(collector)
    dropped_counter(registry)
    text = exposition(registry).decode()
    names = set()
    for family in text_string_to_metric_families(text):
        names |= {s.name for s in family.samples if not s.name.endswith("_created")}
    return names


def test_every_metric_is_documented() -> None:
    """Each metric name on /metrics is in the README's metrics table and in docs/daemon.md."""
    names = served_names()
    assert "probe_ssl_last_chain_expiry_timestamp_seconds" in names
    readme = (REPO / "README.md").read_text("utf-8")
    monitoring = readme[readme.index("## Monitoring") : readme.index("### Status page")]
    rows = set(re.findall(r"^\| `([a-z_]+)` \|", monitoring, re.M))
    assert names <= rows, sorted(names - rows)
    daemon_doc = (REPO / "docs" / "daemon.md").read_text("utf-8")
    listed = set(re.findall(r"^\| `([a-z_]+)(?:\{[a-z_,]+\})?` \|", daemon_doc, re.M))
    assert names <= listed, sorted(names - listed)


def test_every_alert_is_documented() -> None:
    """Each alert of config/alerts.yml has a row in the README's alert table."""
    alerts = alert_names()
    readme = (REPO / "README.md").read_text("utf-8")
    rows = set(re.findall(r"^\| `(TLS[A-Za-z]+)` \|", readme, re.M))
    assert alerts == rows
