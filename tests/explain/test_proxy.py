"""The proxy's answer as a finding: id, who acts, and remedies naming the caller's options."""

from __future__ import annotations

import pytest

from diagnostics.explain.proxy import proxy_finding
from diagnostics.model.caller import DAEMON_PROBE, PROBE
from diagnostics.model.result import Failure, Phase, ProxyFacts, Severity, Side

WHERE = "ftp.partner.example:990"


def facts(status: int | None, *, credentials_sent: bool = False, reason: str = "") -> ProxyFacts:
    return ProxyFacts(
        url="http://proxy.example:3128",
        status=status,
        reason=reason,
        credentials_sent=credentials_sent,
    )


@pytest.mark.parametrize(
    ("kind", "record", "finding_id", "side"),
    [
        ("proxy_auth_required", facts(407), "proxy_auth_required", Side.CLIENT),
        (
            "proxy_auth_required",
            facts(407, credentials_sent=True),
            "proxy_auth_rejected",
            Side.CLIENT,
        ),
        ("proxy_refused", facts(403, reason="Forbidden"), "proxy_refused", Side.EITHER),
        ("proxy_upstream_failed", facts(504), "proxy_upstream_failed", Side.SERVER),
        ("proxy_unreachable", facts(None), "proxy_unreachable", Side.CLIENT),
        ("proxy_timeout", facts(None), "proxy_timeout", Side.EITHER),
        ("proxy_bad_answer", facts(None), "proxy_bad_answer", Side.CLIENT),
    ],
)
def test_each_kind_has_its_finding_and_side(
    kind: str, record: ProxyFacts, finding_id: str, side: Side
) -> None:
    """Every tunnel failure is an error with the proxy's URL and the target in the summary."""
    failure = Failure(phase=Phase.CONNECT, kind=kind, message="what the tunnel saw")
    finding = proxy_finding(failure, record, WHERE)
    assert (finding.id, finding.side, finding.severity) == (finding_id, side, Severity.ERROR)
    assert "http://proxy.example:3128" in finding.summary and WHERE in finding.summary
    assert (
        finding.detail.startswith("What the tunnel saw") or "what the tunnel saw" in finding.detail
    )
    assert finding.remedy


def test_remedies_name_the_daemon_keys() -> None:
    """In the daemon, a 407 remedy names proxy and proxy_password_env, not the options."""
    failure = Failure(phase=Phase.CONNECT, kind="proxy_auth_required", message="407")
    daemon = proxy_finding(failure, facts(407), WHERE, DAEMON_PROBE)
    probe = proxy_finding(failure, facts(407), WHERE, PROBE)
    assert "proxy_password_env" in daemon.remedy and "--proxy" not in daemon.remedy
    assert "--proxy-password-env" in probe.remedy


def test_upstream_statuses_are_told_apart() -> None:
    """502, 503 and 504 each say what the proxy met on its way to the target."""
    failure = Failure(phase=Phase.CONNECT, kind="proxy_upstream_failed", message="x")
    details = {s: proxy_finding(failure, facts(s), WHERE).detail for s in (502, 503, 504)}
    assert "failed" in details[502] and "unavailable" in details[503]
    assert "timed out" in details[504]
