"""The status page renderer: worst first, every peer's text escaped, a whole document."""

from __future__ import annotations

import datetime
import html.parser

from diagnostics.model.result import Failure, Finding, Phase, ProbeResult, Severity, Side, Target
from diagnostics.render.status_page import (
    PENDING,
    StatusRow,
    pending_row,
    render_page,
    row_of,
    worst_first,
)
from tests.support import pki

NOW = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.UTC)
HOSTILE = "<script>alert(1)</script>\"'&\x1b[31m\nfake line"


def row(name: str, status: str, expiry_days: int | None = None) -> StatusRow:
    """A row whose leaf expires in ``expiry_days`` (None: no leaf known)."""
    expiry = NOW + datetime.timedelta(days=expiry_days) if expiry_days is not None else None
    return StatusRow(name=name, url=f"tls://{name}:443", scheme="tls", status=status, expiry=expiry)


class Elements(html.parser.HTMLParser):
    """The tags and text of a document, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Elements:
    elements = Elements()
    elements.feed(page)
    elements.close()
    return elements


def test_worst_first_then_soonest_expiry() -> None:
    """Failed before problems before ok before pending; within a status the soonest expiry
    first, and a row without a known expiry after those with one."""
    rows = [
        row("ok-late", "ok", 300),
        pending_row("new", "tls://new:443", "tls"),
        row("ok-soon", "ok", 10),
        row("problems", "problems", 200),
        row("failed-unknown", "failed"),
        row("failed-soon", "failed", 5),
    ]
    assert [r.name for r in worst_first(rows)] == [
        "failed-soon",
        "failed-unknown",
        "problems",
        "ok-soon",
        "ok-late",
        "new",
    ]


def test_page_lists_rows_in_that_order() -> None:
    """The rendered table has the rows in the worst-first order, with their statuses."""
    page = render_page([row("b", "ok", 40), row("a", "failed")], now=NOW, version="1.0")
    assert page.index("tls://a:443") < page.index("tls://b:443")
    text = "".join(parse(page).text)
    assert "1 failed, 1 ok" in text
    assert "40 days left" in text and "2026-07-11" in text


def test_hostile_text_is_escaped_everywhere() -> None:
    """Markup, quotes and control characters from a peer reach the page as text: no element,
    attribute or line break is created, and the control characters are shown as \\XX."""
    hostile = StatusRow(
        name=HOSTILE,
        url=f"tls://x:1/{HOSTILE}",
        scheme="tls",
        status="problems",
        finding_id=HOSTILE,
        summary=HOSTILE,
        remedy=HOSTILE,
        side=HOSTILE,
        expiry=NOW,
        probed_at=NOW,
        changed_at=NOW,
    )
    page = render_page([hostile], now=NOW, version=HOSTILE)
    elements = parse(page)
    assert "script" not in elements.tags
    assert "<script>" not in page and "\x1b" not in page and "fake line" in page
    assert "\nfake line" not in page
    text = "".join(elements.text)
    assert "<script>alert(1)</script>\"'&\\1B[31m\\0Afake line" in text
    # Only the page's own attributes, none made of the hostile text.
    assert all(value is None or "alert" not in value for _, value in elements.attrs)


def test_row_of_a_result_takes_the_primary_finding() -> None:
    """The first finding is the one shown, with its remedy and the side that must act; the
    expiry is the served leaf's."""
    chain = pki.make_chain()
    target = Target(url="tls://h:443", scheme="tls", host="h", port=443)
    findings = (
        Finding("chain_incomplete", Severity.ERROR, Side.SERVER, "intermediate missing", "", "fix"),
        Finding("expiring_soon", Severity.WARNING, Side.SERVER, "soon", "", "renew"),
    )
    result = ProbeResult(target=target, served_chain=(chain.leaf.cert,), findings=findings)
    got = row_of("h", result, probed_at=NOW, changed_at=NOW)
    assert (got.status, got.finding_id, got.summary, got.remedy, got.side) == (
        "problems",
        "chain_incomplete",
        "intermediate missing",
        "fix",
        "server",
    )
    assert got.expiry == chain.leaf.cert.not_valid_after_utc


def test_failed_probe_keeps_the_known_expiry() -> None:
    """A probe that saw no certificate shows the expiry given from the last one seen."""
    target = Target(url="tls://h:443", scheme="tls", host="h", port=443)
    failed = ProbeResult(target=target, failure=Failure(Phase.CONNECT, "refused", "refused"))
    got = row_of("h", failed, probed_at=NOW, changed_at=NOW, expiry=NOW)
    assert (got.status, got.expiry) == ("failed", NOW)


def test_refresh_and_pending() -> None:
    """``refresh`` adds the meta element; a pending target says so; no script anywhere."""
    page = render_page([pending_row("p", "tls://p:1", "tls")], now=NOW, version="1", refresh=30)
    assert '<meta http-equiv="refresh" content="30">' in page
    assert PENDING in "".join(parse(page).text)
    assert "script" not in parse(page).tags
    assert "http-equiv" not in render_page([], now=NOW, version="1")
    assert "No targets are configured" in render_page([], now=NOW, version="1")


def test_no_report_link_until_there_is_a_report() -> None:
    """No row links anywhere unless it has a report address."""
    assert "<a " not in render_page([row("a", "ok", 5)], now=NOW, version="1")
    linked = StatusRow(name="a", url="tls://a:1", scheme="tls", status="ok", report="/r/a")
    assert '<a href="/r/a">' in render_page([linked], now=NOW, version="1")
