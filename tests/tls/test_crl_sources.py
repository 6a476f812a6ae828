"""CRLs fetched over plain HTTP (bounded, no redirects) and the shared, refreshing cache,
all on a memory reactor whose clock the tests move."""

from __future__ import annotations

import datetime
import os
import time
from pathlib import Path

import pytest
from twisted.internet.testing import MemoryReactorClock

from diagnostics.model.revocation import CRLError
from diagnostics.tls.crl_sources import CRLEvent, CRLSources, FetchError, fetch_crl
from tests.support import crls, memtls, pki

PORT = 8080
BASE = f"http://127.0.0.1:{PORT}"


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    return pki.make_ca("Fetch Test CA")


@pytest.fixture
def publisher() -> crls.Publisher:
    return crls.Publisher()


@pytest.fixture
def reactor(publisher: crls.Publisher) -> MemoryReactorClock:
    """A memory reactor at the current wall time, with the publisher on port 8080."""
    clock = MemoryReactorClock()  # type: ignore[no-untyped-call]
    clock.advance(time.time())
    clock.listenTCP(PORT, publisher.factory(clock), interface="127.0.0.1")  # type: ignore[no-untyped-call]
    return clock


def _fetch_error(reactor: MemoryReactorClock, url: str, **bounds: float) -> FetchError:
    with pytest.raises(FetchError) as info:
        memtls.drive(reactor, fetch_crl(reactor, url, **bounds))  # type: ignore[arg-type]
    return info.value


# -- fetching ------------------------------------------------------------------------------


def test_der_and_pem_crls_are_fetched(
    reactor: MemoryReactorClock, publisher: crls.Publisher, ca: pki.Issued
) -> None:
    """A CRL served in DER or in PEM parses to the same CRL."""
    crl = crls.make_crl(ca)
    publisher.publish("/ca.crl", crls.der(crl))
    publisher.publish("/ca.pem", crls.pem(crl))
    got_der = memtls.drive(reactor, fetch_crl(reactor, f"{BASE}/ca.crl"))
    got_pem = memtls.drive(reactor, fetch_crl(reactor, f"{BASE}/ca.pem"))
    assert got_der == crl
    assert got_pem == crl


def test_redirect_is_refused(reactor: MemoryReactorClock, publisher: crls.Publisher) -> None:
    """A 302 is an error naming where it pointed; the new location is never asked."""
    publisher.publish("/new.crl", b"never fetched")
    publisher.publish(
        "/old.crl", b"", status=302, headers={b"location": f"{BASE}/new.crl".encode()}
    )
    exc = _fetch_error(reactor, f"{BASE}/old.crl")
    assert exc.kind == "redirect"
    assert f"{BASE}/new.crl" in str(exc)
    assert publisher.requests("/new.crl") == 0


def test_oversize_is_refused(reactor: MemoryReactorClock, publisher: crls.Publisher) -> None:
    """A body over the limit is refused, whether its length is announced or not."""
    publisher.publish("/announced.crl", b"x" * 5000)
    publisher.publish("/streamed.crl", b"x" * 5000, chunked=True)
    announced = _fetch_error(reactor, f"{BASE}/announced.crl", limit=1000)
    streamed = _fetch_error(reactor, f"{BASE}/streamed.crl", limit=1000)
    assert (announced.kind, streamed.kind) == ("too_large", "too_large")
    assert "1000" in str(announced) and "1000" in str(streamed)


def test_slow_server_times_out(reactor: MemoryReactorClock) -> None:
    """A server that accepts and never answers ends the fetch at the time bound."""
    reactor.listenTCP(8081, crls.silent(reactor), interface="127.0.0.1")  # type: ignore[no-untyped-call]
    started = reactor.seconds()
    exc = _fetch_error(reactor, "http://127.0.0.1:8081/ca.crl", timeout=7.0)
    assert exc.kind == "timeout"
    assert 7.0 <= reactor.seconds() - started < 8.0


def test_http_error_and_non_crl(reactor: MemoryReactorClock, publisher: crls.Publisher) -> None:
    """A 404 is an http_status error; an HTML page in place of a CRL says so."""
    publisher.publish("/page.crl", b"<!DOCTYPE html><html>login</html>")
    missing = _fetch_error(reactor, f"{BASE}/missing.crl")
    assert (missing.kind, str(missing)) == ("http_status", "answered 404 Not Found")
    with pytest.raises(CRLError, match="HTML page"):
        memtls.drive(reactor, fetch_crl(reactor, f"{BASE}/page.crl"))


def test_only_http_urls(reactor: MemoryReactorClock) -> None:
    """An https:// or ftp:// URL is refused without connecting."""
    for url in ("https://127.0.0.1/ca.crl", "ftp://127.0.0.1/ca.crl"):
        assert _fetch_error(reactor, url).kind == "url"
    assert reactor.tcpClients == []


# -- the shared cache ----------------------------------------------------------------------


def _sources(events: list[CRLEvent], **settings: float) -> CRLSources:
    return CRLSources(on_event=events.append, **settings)  # type: ignore[arg-type]


def test_one_fetch_per_url_for_every_caller(
    reactor: MemoryReactorClock, publisher: crls.Publisher, ca: pki.Issued
) -> None:
    """Many probes asking for the same URL at once cause one request; later asks use the cache."""
    publisher.publish("/ca.crl", crls.der(crls.make_crl(ca)))
    sources = CRLSources()
    waits = [sources.get(reactor, [f"{BASE}/ca.crl"]) for _ in range(5)]
    sets = [memtls.drive(reactor, d) for d in waits]
    again = memtls.drive(reactor, sources.get(reactor, [f"{BASE}/ca.crl"]))
    assert publisher.requests("/ca.crl") == 1
    assert all(s.crls == again.crls for s in sets)
    assert [k.source for k in again.crls] == [f"{BASE}/ca.crl"]


def test_refreshed_at_next_update(
    reactor: MemoryReactorClock, publisher: crls.Publisher, ca: pki.Issued
) -> None:
    """A CRL whose next update comes before the interval is fetched again at its next update."""
    now = pki.utcnow()
    first = crls.make_crl(ca, this_update=now, next_update=now + datetime.timedelta(hours=1))
    publisher.publish("/ca.crl", crls.der(first))
    sources = CRLSources(refresh_interval=4 * 3600)
    url = f"{BASE}/ca.crl"
    memtls.drive(reactor, sources.get(reactor, [url]))
    reactor.advance(1800)
    memtls.drive(reactor, sources.get(reactor, [url]))
    assert publisher.requests("/ca.crl") == 1
    second = crls.make_crl(ca, this_update=now + datetime.timedelta(hours=1))
    publisher.publish("/ca.crl", crls.der(second))
    reactor.advance(1801)
    got = memtls.drive(reactor, sources.get(reactor, [url]))
    assert publisher.requests("/ca.crl") == 2
    assert got.crls[0].crl == second


def test_refreshed_at_interval_when_sooner(
    reactor: MemoryReactorClock, publisher: crls.Publisher, ca: pki.Issued
) -> None:
    """With a CRL valid for a day and a 10-minute interval, the refetch comes after 10 minutes."""
    publisher.publish("/ca.crl", crls.der(crls.make_crl(ca)))
    sources = CRLSources(refresh_interval=600)
    url = f"{BASE}/ca.crl"
    memtls.drive(reactor, sources.get(reactor, [url]))
    reactor.advance(599)
    memtls.drive(reactor, sources.get(reactor, [url]))
    assert publisher.requests("/ca.crl") == 1
    reactor.advance(2)
    memtls.drive(reactor, sources.get(reactor, [url]))
    assert publisher.requests("/ca.crl") == 2


def test_failed_reload_keeps_the_crl_until_it_expires(
    reactor: MemoryReactorClock, publisher: crls.Publisher, ca: pki.Issued
) -> None:
    """A failed refetch keeps the old CRL (and says so) until its next update; then the
    source is unavailable, with the reason."""
    now = pki.utcnow()
    crl = crls.make_crl(ca, this_update=now, next_update=now + datetime.timedelta(hours=2))
    publisher.publish("/ca.crl", crls.der(crl))
    events: list[CRLEvent] = []
    sources = _sources(events, refresh_interval=3600, retry_interval=600)
    url = f"{BASE}/ca.crl"
    memtls.drive(reactor, sources.get(reactor, [url]))
    publisher.unpublish("/ca.crl")
    reactor.advance(3601)
    kept = memtls.drive(reactor, sources.get(reactor, [url]))
    assert [k.crl for k in kept.crls] == [crl]
    assert [e.action for e in events] == ["crl-loaded", "crl-reload-failed"]
    failed = events[-1]
    assert failed.level == "warning"
    assert (
        "CRL reload failed, keeping the CRL of 'CN = Fetch Test CA' valid until" in failed.message
    )
    assert failed.next_update == crl.next_update_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "404" in (failed.error or "")
    reactor.advance(3600)
    gone = memtls.drive(reactor, sources.get(reactor, [url]))
    assert gone.crls == ()
    assert "expired" in gone.errors[url] and "404" in gone.errors[url]
    assert events[-1].action == "crl-unavailable"


def test_background_refresh(
    reactor: MemoryReactorClock, publisher: crls.Publisher, ca: pki.Issued
) -> None:
    """Watched sources are refreshed by the clock alone; stop() ends it."""
    publisher.publish("/ca.crl", crls.der(crls.make_crl(ca)))
    sources = CRLSources(refresh_interval=600)
    url = f"{BASE}/ca.crl"
    sources.watch(reactor, [url])
    memtls.drive(reactor, sources.get(reactor, [url]))
    assert publisher.requests("/ca.crl") == 1
    pending = [call.getTime() - reactor.seconds() for call in reactor.getDelayedCalls()]
    assert pending and 599 <= min(pending) <= 600
    reactor.advance(600)
    memtls.drive(reactor, sources.get(reactor, [url]))
    assert publisher.requests("/ca.crl") == 2
    sources.stop()
    reactor.advance(1200)
    assert publisher.requests("/ca.crl") == 2


def test_file_reloaded_when_replaced(
    reactor: MemoryReactorClock, ca: pki.Issued, tmp_path: Path
) -> None:
    """A CRL file rewritten on disk is read again on the next ask."""
    path = tmp_path / "ca.crl"
    first, second = crls.make_crl(ca), crls.make_crl(ca, revoked=[(ca.cert, None)])
    path.write_bytes(crls.pem(first))
    sources = CRLSources()
    assert memtls.drive(reactor, sources.get(reactor, [str(path)])).crls[0].crl == first
    path.write_bytes(crls.der(second))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert memtls.drive(reactor, sources.get(reactor, [str(path)])).crls[0].crl == second


def test_unreadable_file_is_an_error(reactor: MemoryReactorClock, tmp_path: Path) -> None:
    """A CRL file that does not parse is unavailable, with the file and the parser's reason."""
    path = tmp_path / "bad.crl"
    path.write_bytes(b"garbage")
    got = memtls.drive(reactor, CRLSources().get(reactor, [str(path)]))
    assert got.crls == ()
    assert "bad.crl" in got.errors[str(path)] and "does not parse" in got.errors[str(path)]


def test_daemon_logs_a_failed_reload(
    reactor: MemoryReactorClock, publisher: crls.Publisher, ca: pki.Issued, tmp_path: Path
) -> None:
    """The daemon loads its targets' CRL URLs in the background and writes a failed reload
    (the previous CRL kept, with its end) into daemon.jsonl."""
    from twisted.internet import defer

    from diagnostics.daemon.config import load_config
    from diagnostics.daemon.service import make_service
    from tests.support.processes import read_lines

    url = f"{BASE}/ca.crl"
    publisher.publish("/ca.crl", crls.der(crls.make_crl(ca)))
    config_file = tmp_path / "tlsdiag.toml"
    config_file.write_text(
        '[daemon]\nlog_dir = "logs"\nmetrics_listen = "127.0.0.1:0"\ncrl_refresh = 60\n'
        f'[[target]]\nurl = "tls://127.0.0.1:1"\ninterval = 86400\ncrl = ["{url}"]\n'
    )
    config = load_config(str(config_file), environ={})
    service = make_service(
        config, reactor=reactor, probe=lambda *a: defer.Deferred(), handle_sighup=False
    )
    service.startService()
    memtls.drive(reactor, service.crl_sources.get(reactor, [url]))
    publisher.unpublish("/ca.crl")
    reactor.advance(61)
    memtls.drive(reactor, service.crl_sources.get(reactor, [url]))
    assert publisher.requests("/ca.crl") == 2
    service.stopService()
    events = [
        e for e in read_lines(tmp_path / "logs" / "daemon.jsonl") if "crl" in e["event.action"]
    ]
    assert [(e["event.action"], e["log.level"]) for e in events] == [
        ("crl-loaded", "info"),
        ("crl-reload-failed", "warning"),
    ]
    failed = events[1]
    assert failed["url.full"] == url
    assert failed["message"].startswith(
        "CRL reload failed, keeping the CRL of 'CN = Fetch Test CA' valid until "
    )
    assert failed["error.message"] == "answered 404 Not Found"
