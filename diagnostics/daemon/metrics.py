# -*- test-case-name: tests.daemon.test_metrics -*-
"""Prometheus metrics of the probes, and the HTTP endpoints that serve them.

``/metrics`` exposes the last result of every scheduled target (``/`` shows them as a page,
:mod:`diagnostics.daemon.status`); ``/probe``
probes one allowed URL now with a configured module's settings and answers
with that probe's metrics only (the blackbox_exporter pattern); ``/healthz``
answers ``ok``.  Each daemon has its own registry, never the global one.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.web import resource, server

from diagnostics.daemon.config import Config, Settings, matches_allowed
from diagnostics.model import certificates
from diagnostics.model.result import ProbeResult, Scheme, Severity, Status, Target
from diagnostics.model.target import TargetError, parse_target


@attrs.frozen
class Sample:
    """What the metrics keep of one probe result (small: one per target)."""

    success: bool
    status: Status
    duration: float | None
    earliest_expiry: float | None
    last_chain_expiry: float | None
    tls_version: str | None
    http_status: int | None  # None: not an HTTPS target; 0: no HTTP answer
    verify_errors: tuple[tuple[int, int], ...]  # (code, count)
    findings: tuple[tuple[str, str], ...]  # (id, severity)
    versions: tuple[tuple[str, bool], ...] = ()  # (OpenSSL version name, accepted)


# Findings that are thresholds of ours, not failures: blackbox_exporter keeps probe_success at
# 1 for a certificate close to its end, and so do we (the expiry alerts cover it).
_NOT_FAILURES = frozenset({"expiring_soon"})

# OpenSSL's protocol names in blackbox_exporter's spelling of probe_tls_version_info.
_BLACKBOX_VERSIONS = {
    "TLSv1": "TLS 1.0",
    "TLSv1.1": "TLS 1.1",
    "TLSv1.2": "TLS 1.2",
    "TLSv1.3": "TLS 1.3",
}


def blackbox_version(openssl_name: str) -> str:
    """``TLSv1.3`` → ``TLS 1.3``, as blackbox_exporter labels versions (else ``unknown``)."""
    return _BLACKBOX_VERSIONS.get(openssl_name, "unknown")


def _earliest(chain: Iterable[Any]) -> float | None:
    return min((certificates.not_after(c).timestamp() for c in chain), default=None)


def sample_of(result: ProbeResult) -> Sample:
    """The metric values of one result.

    ``probe_success`` is 1 when the probe completed and no finding is an error, leaving out
    ``expiring_soon``: warnings and an approaching end date do not make an endpoint count as
    down.  ``probe_ssl_last_chain_expiry_timestamp_seconds`` is the earliest not-after of the
    verified chain, only when it verified without an error (blackbox_exporter: of the verified
    chains, the one that lasts longest).
    """
    success = result.failure is None and not any(
        f.severity is Severity.ERROR and f.id not in _NOT_FAILURES for f in result.findings
    )
    verified = bool(result.verified_chain) and not result.verify_errors
    http_status = None
    if result.target.scheme == Scheme.HTTPS.value:
        http_status = int((result.http or {}).get("status") or 0)
    codes = Counter(e.code for e in result.verify_errors)
    return Sample(
        success=success,
        status=result.status,
        duration=result.timings.total_s,
        earliest_expiry=_earliest(result.served_chain),
        last_chain_expiry=_earliest(result.verified_chain) if verified else None,
        tls_version=result.tls.version if result.tls else None,
        http_status=http_status,
        verify_errors=tuple(sorted(codes.items())),
        findings=tuple((f.id, f.severity.value) for f in result.findings),
        versions=tuple(
            (a.offered, a.accepted) for a in result.versions if a.outcome != "unsupported"
        ),
    )


class ProbeMetrics(Collector):
    """The metric families of a set of targets, built from their last samples."""

    def __init__(self, *, counters: bool = True) -> None:
        self.counters = counters
        self.samples: dict[str, Sample] = {}
        self.probes_total: dict[tuple[str, str], int] = {}
        self.chain_changes: dict[str, int] = {}

    def observe(self, url: str, result: ProbeResult) -> None:
        """Record the latest result of ``url``."""
        sample = sample_of(result)
        self.samples[url] = sample
        key = (url, sample.status.value)
        self.probes_total[key] = self.probes_total.get(key, 0) + 1

    def chain_changed(self, url: str) -> None:
        """Count a change of the served leaf of ``url``."""
        self.chain_changes[url] = self.chain_changes.get(url, 0) + 1

    def keep_only(self, urls: Iterable[str]) -> None:
        """Forget the targets not in ``urls`` (after a reload removed them)."""
        keep = set(urls)
        self.samples = {u: s for u, s in self.samples.items() if u in keep}
        self.probes_total = {k: v for k, v in self.probes_total.items() if k[0] in keep}
        self.chain_changes = {u: v for u, v in self.chain_changes.items() if u in keep}

    def collect(self) -> Iterator[Any]:
        """The metric families, as prometheus_client asks for them."""
        target = ["target"]
        success = GaugeMetricFamily(
            "probe_success",
            "1 when the last probe completed without an error finding (expiring_soon aside)",
            labels=target,
        )
        duration = GaugeMetricFamily(
            "probe_duration_seconds", "How long the last probe took, in seconds", labels=target
        )
        expiry = GaugeMetricFamily(
            "probe_ssl_earliest_cert_expiry",
            "Earliest not-after of the served chain, as a Unix time in seconds",
            labels=target,
        )
        last_chain = GaugeMetricFamily(
            "probe_ssl_last_chain_expiry_timestamp_seconds",
            "Earliest not-after of the verified chain, as a Unix time; absent unless it verified",
            labels=target,
        )
        version = GaugeMetricFamily(
            "probe_tls_version_info",
            "1 for the negotiated TLS version, spelt as blackbox_exporter does (TLS 1.3)",
            labels=[*target, "version"],
        )
        http_status = GaugeMetricFamily(
            "probe_http_status_code",
            "HTTP status code of the answer of an https:// target; 0 when none came",
            labels=target,
        )
        verify = GaugeMetricFamily(
            "tlsdiag_verify_error",
            "Verify callback errors of the last probe, by OpenSSL code",
            labels=[*target, "code"],
        )
        finding = GaugeMetricFamily(
            "tlsdiag_finding",
            "1 per finding of the last probe, by finding id and severity",
            labels=[*target, "id", "severity"],
        )
        accepted = GaugeMetricFamily(
            "tlsdiag_tls_version_accepted",
            "1 when the server accepted this TLS version alone, 0 when it refused it "
            "(targets with versions = true)",
            labels=[*target, "version"],
        )
        for url, sample in self.samples.items():
            for name, ok in sample.versions:
                accepted.add_metric([url, blackbox_version(name)], 1.0 if ok else 0.0)
            success.add_metric([url], 1.0 if sample.success else 0.0)
            if sample.duration is not None:
                duration.add_metric([url], sample.duration)
            if sample.earliest_expiry is not None:
                expiry.add_metric([url], sample.earliest_expiry)
            if sample.last_chain_expiry is not None:
                last_chain.add_metric([url], sample.last_chain_expiry)
            if sample.tls_version:
                version.add_metric([url, blackbox_version(sample.tls_version)], 1.0)
            if sample.http_status is not None:
                http_status.add_metric([url], float(sample.http_status))
            for code, count in sample.verify_errors:
                verify.add_metric([url, str(code)], float(count))
            for finding_id, severity in sample.findings:
                finding.add_metric([url, finding_id, severity], 1.0)
        yield from (success, duration, expiry, last_chain, version, http_status, verify, finding)
        yield accepted
        if not self.counters:
            return
        probes = CounterMetricFamily(
            "tlsdiag_probes", "Probes run, by status", labels=[*target, "status"]
        )
        for (url, status), count in self.probes_total.items():
            probes.add_metric([url, status], float(count))
        # Every probed target has the series from its first probe on (at 0), so that
        # increase() sees the first change too.
        changes = CounterMetricFamily(
            "tlsdiag_chain_changed",
            "Changes of the served leaf certificate since the daemon started",
            labels=target,
        )
        for url in self.samples:
            changes.add_metric([url], float(self.chain_changes.get(url, 0)))
        yield probes
        yield changes


def new_registry(collector: ProbeMetrics) -> CollectorRegistry:
    """A registry of its own holding ``collector`` (never the process-global one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format."""
    data: bytes = generate_latest(registry)
    return data


def probe_exposition(collector: ProbeMetrics) -> bytes:
    """The families of ``collector`` in the Prometheus text format (0.0.4): the same text as
    :func:`exposition` gives for them, written directly.

    Every ``/probe`` answer is one, and prometheus_client's writer, made for any collector,
    costs more than the probe's own diagnosis.  ProbeMetrics yields gauges and counters
    without ``_created`` samples, which is all this writes.
    """
    lines: list[str] = []
    for family in collector.collect():
        lines.append(_family_header(family.name, family.type, family.documentation))
        for sample in family.samples:
            value: str = floatToGoString(sample.value)  # type: ignore[no-untyped-call]
            if sample.labels:
                labels = ",".join(
                    f'{name}="{_label_value(text)}"' for name, text in sorted(sample.labels.items())
                )
                lines.append(f"{sample.name}{{{labels}}} {value}\n")
            else:
                lines.append(f"{sample.name} {value}\n")
    return "".join(lines).encode("utf-8")


@functools.lru_cache(maxsize=64)
def _family_header(name: str, kind: str, documentation: str) -> str:
    if kind not in ("gauge", "counter"):
        raise ValueError(f"metric family {name!r}: {kind} families are not written here")
    exposed = f"{name}_total" if kind == "counter" else name
    text = documentation.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {exposed} {text}\n# TYPE {exposed} {kind}\n"


def _label_value(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


# -- HTTP ---------------------------------------------------------------------------------

ProbeNow = Callable[[Target, Settings], "defer.Deferred[ProbeResult]"]


def _answer(request: Any, code: int, text: str) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    return (text + "\n").encode("utf-8")


class MetricsPage(resource.Resource):
    """``/metrics``: every scheduled target's last result."""

    isLeaf = True

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.registry = registry

    def render_GET(self, request: Any) -> bytes:
        """The exposition text."""
        request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode("ascii"))
        return exposition(self.registry)


class HealthPage(resource.Resource):
    """``/healthz``: the process answers."""

    isLeaf = True

    def render_GET(self, request: Any) -> bytes:
        """``ok``."""
        return _answer(request, 200, "ok")


# Prometheus asks for the same few targets on every scrape: each is parsed once (a Target is
# immutable; a URL that does not parse raises again every time).
@functools.lru_cache(maxsize=1024)
def _parsed_target(url: str, servername: str | None) -> Target:
    return parse_target(url, servername=servername)


class ProbePage(resource.Resource):
    """``/probe?target=URL&module=NAME``: probe an allowed URL now, answer its metrics."""

    isLeaf = True

    def __init__(self, config: Callable[[], Config], probe_now: ProbeNow) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.config = config
        self.probe_now = probe_now

    def render_GET(self, request: Any) -> bytes | int:
        """Check the request, start the probe, answer when it ends."""
        args: Mapping[bytes, list[bytes]] = request.args or {}
        url = args.get(b"target", [b""])[0].decode("utf-8", "replace")
        module = args.get(b"module", [b""])[0].decode("utf-8", "replace")
        config = self.config()
        if not url:
            return _answer(request, 400, "missing the target parameter: /probe?target=URL")
        if not module:
            return _answer(request, 400, "missing the module parameter: &module=NAME")
        settings = config.modules.get(module)
        if settings is None:
            known = ", ".join(sorted(config.modules)) or "none configured"
            return _answer(request, 400, f"unknown module {module!r} (modules: {known})")
        try:
            target = _parsed_target(url, settings.servername)
        except TargetError as exc:
            return _answer(request, 400, f"bad target: {exc}")
        if not matches_allowed(target.url, config.daemon.allowed_targets):
            return _answer(
                request,
                403,
                f"target {target.url!r} is not allowed: it matches no [daemon] allowed_targets "
                "pattern",
            )
        finished: list[bool] = []
        request.notifyFinish().addErrback(lambda _: finished.append(True))

        def respond(result: ProbeResult) -> None:
            if finished:
                return
            collector = ProbeMetrics(counters=False)
            collector.observe(target.url, result)
            body = probe_exposition(collector)
            request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode("ascii"))
            # With its length the answer goes out whole, in one write (not chunked).
            request.setHeader(b"content-length", str(len(body)).encode("ascii"))
            request.write(body)
            request.finish()

        def failed(failure: Failure) -> None:
            if not finished:
                request.write(_answer(request, 500, f"probe failed: {failure.getErrorMessage()}"))
                request.finish()

        self.probe_now(target, settings).addCallback(respond).addErrback(failed)
        return server.NOT_DONE_YET


def resource_tree(
    registry: CollectorRegistry,
    config: Callable[[], Config],
    probe_now: ProbeNow,
    pages: Mapping[bytes, resource.Resource] | None = None,
) -> resource.Resource:
    """The root of the metrics listener: /metrics, /probe, /healthz, and the daemon's own
    ``pages`` (``b""`` for the status page at /, ``b"report"``)."""
    root = resource.Resource()  # type: ignore[no-untyped-call]
    for name, page in (pages or {}).items():
        root.putChild(name, page)
    root.putChild(b"metrics", MetricsPage(registry))
    root.putChild(b"probe", ProbePage(config, probe_now))
    root.putChild(b"healthz", HealthPage())  # type: ignore[no-untyped-call]
    return root
