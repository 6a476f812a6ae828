"""The daemon's store of each target's latest result, behind ``/report``."""

from __future__ import annotations

from diagnostics.daemon.status import LatestResults, report_link


def test_keeps_the_latest_exactly_and_forgets_removed_targets() -> None:
    """The JSON form comes back as it was kept (the latest one wins); a reload's keep_only
    drops the targets that went, and an unknown target has nothing."""
    store = LatestResults()
    store.keep("tls://a:1", {"status": "failed", "findings": [{"id": "x", "summary": "é\x1b"}]})
    store.keep("tls://a:1", {"status": "ok", "findings": []})
    store.keep("tls://b:2", {"status": "problems", "served_chain": [{"pem": "P" * 5000}]})
    assert store.get("tls://a:1") == {"status": "ok", "findings": []}
    assert store.get("tls://b:2") == {"status": "problems", "served_chain": [{"pem": "P" * 5000}]}
    assert len(store.packed["tls://b:2"]) < 500  # kept compressed
    store.keep_only(["tls://b:2"])
    assert store.get("tls://a:1") is None and store.get("tls://b:2") is not None


def test_the_link_quotes_the_url() -> None:
    """A URL with a query-like path stays one parameter."""
    assert (
        report_link("https://h:8443/a?b=c&d")
        == "report?target=https%3A%2F%2Fh%3A8443%2Fa%3Fb%3Dc%26d"
    )
