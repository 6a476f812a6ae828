# -*- test-case-name: tests.render.test_status_page -*-
"""The daemon's status page: one HTML table of every target, worst first.

Pure: :func:`row_of` reduces a probe result to the few facts a row shows (a :class:`StatusRow`
per target is all the daemon keeps for the page), and :func:`render_page` turns rows into a
whole HTML document — inline CSS, no script, no external asset.  Every text in a row may come
from a peer (a certificate subject, an FTP reply quoted in a finding), so each is escaped for
HTML and its control characters are written as ``\\XX`` (:mod:`diagnostics.model.escape`).
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Iterable, Sequence

import attrs

from diagnostics.model import certificates
from diagnostics.model.escape import escape
from diagnostics.model.result import ProbeResult, Status

__all__ = ["PENDING", "StatusRow", "pending_row", "render_page", "row_of", "worst_first"]

PENDING = "pending"
"""The status of a target that has not been probed yet."""

_RANK = {Status.FAILED.value: 0, Status.PROBLEMS.value: 1, Status.OK.value: 2, PENDING: 3}
_FAR = datetime.datetime.max.replace(tzinfo=datetime.UTC)


@attrs.frozen
class StatusRow:
    """What the page shows of one target."""

    name: str
    url: str
    scheme: str
    status: str  # a Status value, or PENDING
    finding_id: str = ""
    summary: str = ""
    remedy: str = ""
    side: str = ""
    expiry: datetime.datetime | None = None  # the leaf's not-after
    probed_at: datetime.datetime | None = None
    changed_at: datetime.datetime | None = None  # when the status or the leaf last changed
    # The address of the target's latest report; None shows no link.
    report: str | None = None


def row_of(
    name: str,
    result: ProbeResult,
    *,
    probed_at: datetime.datetime,
    changed_at: datetime.datetime,
    expiry: datetime.datetime | None = None,
    report: str | None = None,
) -> StatusRow:
    """The row of a target whose last probe gave ``result``.

    ``expiry`` is the leaf's not-after to show when this probe saw no leaf (a failed probe
    says nothing new about the certificate: the daemon keeps the last one seen); ``report``
    the address of the report of this result.
    """
    primary = result.findings[0] if result.findings else None
    leaf = result.leaf
    return StatusRow(
        name=name,
        url=result.target.url,
        scheme=result.target.scheme,
        status=result.status.value,
        finding_id=primary.id if primary else "",
        summary=primary.summary if primary else "",
        remedy=primary.remedy if primary else "",
        side=primary.side.value if primary else "",
        expiry=certificates.not_after(leaf) if leaf is not None else expiry,
        probed_at=probed_at,
        changed_at=changed_at,
        report=report,
    )


def pending_row(name: str, url: str, scheme: str) -> StatusRow:
    """The row of a target not probed yet."""
    return StatusRow(name=name, url=url, scheme=scheme, status=PENDING)


def worst_first(rows: Iterable[StatusRow]) -> list[StatusRow]:
    """Failed, then problems, then ok, then pending; within each, the soonest expiry first
    (no known expiry last), then by name."""
    return sorted(rows, key=lambda r: (_RANK.get(r.status, 0), r.expiry or _FAR, r.name, r.url))


def _text(value: str) -> str:
    return html.escape(escape(value), quote=True)


def _time(when: datetime.datetime | None) -> str:
    return _text(certificates.iso_time(when)) if when is not None else "—"


def _expiry(when: datetime.datetime | None, now: datetime.datetime) -> str:
    if when is None:
        return "—"
    days = (when - now).total_seconds() / 86400
    left = f"expired {int(-days)} days ago" if days < 0 else f"{int(days)} days left"
    return f"{_text(when.date().isoformat())}<br><small>{_text(left)}</small>"


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.4em;margin:0 0 .2em}
p.meta{color:#555;margin:0 0 1em}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #ccc;padding:.35em .5em;text-align:left;vertical-align:top}
th{background:#f2f2f2}
td.status{font-weight:bold;white-space:nowrap}
tr.failed td.status{background:#f8d0d0;color:#800}
tr.problems td.status{background:#fbe8b8;color:#654}
tr.ok td.status{background:#d5f0d5;color:#060}
tr.pending td.status{background:#eee;color:#555}
code{font-size:.95em;word-break:break-all}
small{color:#555}
""".strip()


def _row_html(row: StatusRow, now: datetime.datetime) -> str:
    status = row.status if row.status in _RANK else "failed"
    finding = (
        f"<code>{_text(row.finding_id)}</code><br>{_text(row.summary)}" if row.finding_id else "—"
    )
    cells = [
        f'<td class="status">{_text(row.status)}</td>',
        f"<td>{_text(row.name)}"
        + (f"<br><small><code>{_text(row.url)}</code></small>" if row.name != row.url else "")
        + (f'<br><a href="{_text(row.report)}">latest report</a>' if row.report else "")
        + "</td>",
        f"<td>{_text(row.scheme)}</td>",
        f"<td>{finding}</td>",
        f"<td>{_text(row.remedy) or '—'}</td>",
        f"<td>{_text(row.side) or '—'}</td>",
        f"<td>{_expiry(row.expiry, now)}</td>",
        f"<td>{_time(row.probed_at)}</td>",
        f"<td>{_time(row.changed_at)}</td>",
    ]
    return f'<tr class="{status}">' + "".join(cells) + "</tr>"


def render_page(
    rows: Sequence[StatusRow],
    *,
    now: datetime.datetime,
    version: str,
    refresh: int | None = None,
) -> str:
    """The whole HTML document; ``refresh`` adds a ``<meta http-equiv=refresh>`` of that many
    seconds."""
    ordered = worst_first(rows)
    counts = {s: sum(1 for r in ordered if r.status == s) for s in _RANK}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    head = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
    ]
    if refresh is not None:
        head.append(f'<meta http-equiv="refresh" content="{int(refresh)}">')
    head += [f"<title>tlsdiag status: {_text(summary or 'no targets')}</title>"]
    head += [f"<style>{_STYLE}</style></head><body>"]
    body = [
        "<h1>tlsdiag status</h1>",
        f'<p class="meta">{len(ordered)} targets: {_text(summary or "none")}. '
        f"Generated {_time(now)} by tlsdiag {_text(version)}"
        + (f"; refreshes every {int(refresh)} s" if refresh is not None else "")
        + ".</p>",
    ]
    if ordered:
        header = (
            "status",
            "target",
            "protocol",
            "primary finding",
            "remedy",
            "must act",
            "leaf expiry",
            "last probe",
            "last change",
        )
        body.append("<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>")
        body.append("</thead><tbody>")
        body += [_row_html(row, now) for row in ordered]
        body.append("</tbody></table>")
    else:
        body.append("<p>No targets are configured.</p>")
    return "\n".join([*head, *body, "</body></html>", ""])
