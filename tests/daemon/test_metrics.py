"""Metrics: values taken from results, the exposition, and the /probe, /healthz endpoints."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import attrs
from prometheus_client import generate_latest
from twisted.internet import defer
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from diagnostics.daemon.config import Config, Settings, load_config
from diagnostics.daemon.metrics import (
    ProbeMetrics,
    exposition,
    new_registry,
    probe_exposition,
    resource_tree,
)
from diagnostics.model.result import (
    Failure,
    Finding,
    Phase,
    ProbeResult,
    Severity,
    Side,
    Target,
    TLSFacts,
    VerifyEvent,
)
from diagnostics.model.target import parse_target
from tests.support import pki
from tests.support.daemon import samples

URL = "tls://127.0.0.1:8443"


def problem_result() -> tuple[ProbeResult, datetime.datetime]:
    """A completed probe with an untrusted chain: a verify error and an error finding."""
    ca = pki.make_ca("Root")
    now = pki.utcnow()
    leaf = pki.issue(ca, not_after=now + datetime.timedelta(days=40))
    ends = now + datetime.timedelta(days=40)
    result = ProbeResult(
        target=parse_target(URL),
        tls=TLSFacts("TLSv1.3", "TLS_AES_256_GCM_SHA384", None, False, "OpenSSL"),
        served_chain=(leaf.cert, ca.cert),
        verify_events=(
            VerifyEvent(1, 19, "X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN", "self-signed", ca.cert),
            VerifyEvent(0, 0, "X509_V_OK", "ok", leaf.cert),
        ),
        findings=(Finding("untrusted_root", Severity.ERROR, Side.EITHER, "untrusted"),),
    )
    return result, ends


def test_metrics_of_one_result() -> None:
    """Each metric is derived from the result: success, expiry, version, codes, findings."""
    result, ends = problem_result()
    collector = ProbeMetrics()
    collector.observe(URL, result)
    collector.observe(URL, result)
    collector.chain_changed(URL)
    found = samples(exposition(new_registry(collector)))
    t = (("target", URL),)
    assert found[("probe_success", t)] == 0.0
    assert found[("probe_ssl_earliest_cert_expiry", t)] == ends.timestamp()
    assert found[("probe_tls_version_info", (*t, ("version", "TLS 1.3")))] == 1.0
    assert found[("tlsdiag_verify_error", (("code", "19"), *t))] == 1.0
    key = ("tlsdiag_finding", (("id", "untrusted_root"), ("severity", "error"), *t))
    assert found[key] == 1.0
    assert found[("tlsdiag_probes_total", (("status", "problems"), *t))] == 2.0
    assert found[("tlsdiag_chain_changed_total", t)] == 1.0
    # The chain did not verify (code 19) and a tls:// target has no HTTP answer to report.
    assert not [k for k in found if k[0] == "probe_ssl_last_chain_expiry_timestamp_seconds"]
    assert not [k for k in found if k[0] == "probe_http_status_code"]


def test_probe_exposition_is_prometheus_clients_text() -> None:
    """The /probe writer gives byte for byte what prometheus_client writes for the same
    families: every family, counters and a label value that needs escaping included."""
    result, _ = problem_result()
    odd = 'tls://127.0.0.1:8443/a"b\\c'
    collector = ProbeMetrics()
    for url in (URL, odd):
        collector.observe(url, result)
        collector.chain_changed(url)
    collector.samples[odd] = attrs.evolve(
        collector.samples[odd], http_status=200, versions=(("TLSv1.2", True), ("TLSv1", False))
    )
    text = probe_exposition(collector)
    assert text == generate_latest(new_registry(collector))
    assert b'a\\"b\\\\c' in text
    assert text.count(b"# TYPE") == 11


def test_blackbox_meanings() -> None:
    """The blackbox_exporter names keep its meaning: the last chain's expiry over the verified
    chain, the version spelt "TLS 1.2", the HTTP status (0 when none), and an approaching expiry
    is no failure while a verify error is."""
    ca = pki.make_ca("Root")
    now = pki.utcnow()
    leaf = pki.issue(ca, not_after=now + datetime.timedelta(days=3))
    url = "https://127.0.0.1:8443"
    verified = ProbeResult(
        target=parse_target(url),
        tls=TLSFacts("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256", None, False, "OpenSSL"),
        served_chain=(leaf.cert,),
        verified_chain=(leaf.cert, ca.cert),
        verify_events=(VerifyEvent(0, 0, "X509_V_OK", "ok", leaf.cert),),
        findings=(Finding("expiring_soon", Severity.ERROR, Side.SERVER, "3 days left"),),
        http={"status": 503},
    )
    refused = ProbeResult(
        target=parse_target("https://127.0.0.1:1"),
        failure=Failure(Phase.CONNECT, "connection_refused", "refused"),
        findings=(Finding("connection_refused", Severity.ERROR, Side.EITHER, "refused"),),
    )
    collector = ProbeMetrics()
    collector.observe(url, verified)
    collector.observe("https://127.0.0.1:1", refused)
    found = samples(exposition(new_registry(collector)))
    t = (("target", url),)
    ends = min(c.not_valid_after_utc for c in (leaf.cert, ca.cert)).timestamp()
    assert found[("probe_ssl_last_chain_expiry_timestamp_seconds", t)] == ends
    assert found[("probe_tls_version_info", (*t, ("version", "TLS 1.2")))] == 1.0
    assert found[("probe_http_status_code", t)] == 503.0
    assert found[("probe_success", t)] == 1.0
    other = (("target", "https://127.0.0.1:1"),)
    assert found[("probe_http_status_code", other)] == 0.0
    assert found[("probe_success", other)] == 0.0
    # Every probed target has its chain-change counter from the start, at 0.
    assert found[("tlsdiag_chain_changed_total", other)] == 0.0


def test_failed_probe_and_forgetting() -> None:
    """A failed probe has probe_success 0 and no expiry; keep_only drops removed targets."""
    collector = ProbeMetrics()
    failed = ProbeResult(
        target=parse_target(URL), failure=Failure(Phase.CONNECT, "connection_refused", "refused")
    )
    collector.observe(URL, failed)
    collector.observe("tls://127.0.0.1:1", failed)
    collector.keep_only([URL])
    found = samples(exposition(new_registry(collector)))
    assert found[("probe_success", (("target", URL),))] == 0.0
    assert not [k for k in found if k[0] == "probe_ssl_earliest_cert_expiry"]
    assert not [k for k in found if ("target", "tls://127.0.0.1:1") in k[1]]


def config(tmp_path: Path, allowed: str) -> Config:
    """A config with one module and the given allowed_targets list."""
    path = tmp_path / "tlsdiag.toml"
    path.write_text(f"[daemon]\nallowed_targets = {allowed}\n[module.fast]\ntimeout = 2\n")
    return load_config(str(path), environ={})


def get(root: Any, path: bytes, args: dict[bytes, list[bytes]]) -> DummyRequest:
    """Render GET ``path`` on the resource tree; the finished request."""
    request = DummyRequest([path])
    request.args = args
    child = root.getChildWithDefault(path, request)
    body = child.render(request)
    if body is not NOT_DONE_YET:
        request.write(body)
        request.finish()
    return request


def test_probe_endpoint_answers_with_that_probes_metrics(tmp_path: Path) -> None:
    """/probe on an allowed URL probes it with the module's settings and answers its metrics."""
    result, _ = problem_result()
    calls: list[tuple[str, Settings]] = []

    def probe_now(target: Target, settings: Settings) -> defer.Deferred[ProbeResult]:
        calls.append((target.url, settings))
        return defer.succeed(result)

    cfg = config(tmp_path, '["tls://127.0.0.1:*"]')
    root = resource_tree(new_registry(ProbeMetrics()), lambda: cfg, probe_now)
    request = get(root, b"probe", {b"target": [URL.encode()], b"module": [b"fast"]})
    assert request.responseCode in (None, 200)
    assert calls[0][0] == URL and calls[0][1].options.timeout == 2
    body = b"".join(request.written)
    found = samples(body)
    assert found[("probe_success", (("target", URL),))] == 0.0
    assert not [k for k in found if k[0].startswith("tlsdiag_probes")]
    # Sent with its length, in one write.
    assert request.responseHeaders.getRawHeaders(b"content-length") == [str(len(body)).encode()]
    assert len(request.written) == 1


def test_probe_endpoint_refuses(tmp_path: Path) -> None:
    """Targets outside allowed_targets get 403, unknown modules and bad URLs 400; no probe."""
    calls: list[str] = []

    def probe_now(target: Target, settings: Settings) -> defer.Deferred[ProbeResult]:
        calls.append(target.url)
        return defer.Deferred()

    cfg = config(tmp_path, "[]")
    root = resource_tree(new_registry(ProbeMetrics()), lambda: cfg, probe_now)
    refused = get(root, b"probe", {b"target": [URL.encode()], b"module": [b"fast"]})
    assert refused.responseCode == 403
    assert b"not allowed" in b"".join(refused.written)
    unknown = get(root, b"probe", {b"target": [URL.encode()], b"module": [b"slow"]})
    assert unknown.responseCode == 400 and b"fast" in b"".join(unknown.written)
    bad = get(root, b"probe", {b"target": [b"gopher://x"], b"module": [b"fast"]})
    assert bad.responseCode == 400
    assert calls == []


def test_healthz(tmp_path: Path) -> None:
    """/healthz answers ok."""
    cfg = config(tmp_path, "[]")
    root = resource_tree(new_registry(ProbeMetrics()), lambda: cfg, lambda u, s: defer.Deferred())
    request = get(root, b"healthz", {})
    assert b"".join(request.written) == b"ok\n"
