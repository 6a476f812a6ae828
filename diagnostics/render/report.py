"""The partner report: one shareable document of one or two views of a connection.  Pure.

A *view* is the JSON form of a result (:func:`diagnostics.model.jsonform.result_to_json`) as
seen by one side (``client``: a probe; ``server``: a listener session), with the
``s_client``-compatible text when the result itself was at hand.  The same views render as
HTML (one self-contained file: inline CSS and SVG, no script, no external reference), as
Markdown, or as JSON (the result objects plus report metadata).

Everything the peer controls (names, replies, headers, findings quoting them) is escaped:
control characters as in every text form (:func:`diagnostics.model.escape.escape`), then HTML
special characters.  A result never holds a private key or a password, and neither does a report.
"""

from __future__ import annotations

import datetime
import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from diagnostics.model.escape import escape
from diagnostics.model.version import __version__

REPORT_FORMATS = ("html", "md", "json")
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_OTHER = {"client": "server", "server": "client"}


@attrs.frozen
class View:
    """One side's result: ``role`` is the side that observed it (``client`` or ``server``)."""

    role: str
    result: Mapping[str, Any]
    sclient: str | None = None


def report_format(path: str) -> str | None:
    """The format of a report file by its extension, or None when it is not one."""
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return {"html": "html", "htm": "html", "md": "md", "json": "json"}.get(suffix)


def render_report(views: Sequence[View], fmt: str, *, openssl: str) -> str:
    """The whole report in ``fmt`` (``html``, ``md`` or ``json``)."""
    if fmt == "json":
        return render_json(views, openssl=openssl)
    if fmt == "md":
        return render_markdown(views, openssl=openssl)
    return render_html(views, openssl=openssl)


def _t(text: object) -> str:
    """Peer-controlled text, safe for HTML: control characters, then markup, escaped."""
    return html.escape(escape(str(text)), quote=True)


def _primary(result: Mapping[str, Any]) -> Mapping[str, Any] | None:
    findings = result.get("findings") or []
    return findings[0] if findings else None


def verdict(view: View) -> str:
    """One line: status, where, and the primary finding (not escaped)."""
    result = view.result
    status = str(result.get("status", "?")).upper()
    url = (result.get("target") or {}).get("url", "?")
    primary = _primary(result)
    if primary is not None and (status != "OK" or primary.get("severity") != "info"):
        return f"{status} {url}: {primary.get('summary', '')}"
    return f"{status} {url}"


def action_line(view: View) -> str:
    """Who must act on the primary finding, addressed to the reader (not escaped).

    The report is written by ``view.role`` and usually read by the other side, so the actor
    is named by role as well as by "you" / "your partner" from the writer's point of view.
    """
    primary = _primary(view.result)
    if primary is None or view.result.get("status") == "ok":
        return "Nothing to do: the connection worked."
    side = primary.get("side", "either")
    remedy = primary.get("remedy") or "see the finding below"
    if side == "either":
        return f"Either side (client or server) can act: {remedy}"
    if side == view.role:
        who = f"You, the {side} that wrote this report, must act"
    else:
        who = f"Your partner (the {side}) must act"
    return f"{who}: {remedy}"


def observed_at(view: View) -> str:
    """The time of the observation, as recorded in the result."""
    return str(view.result.get("started_at") or "unknown")


def _parse_time(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=datetime.UTC)


@attrs.frozen
class Box:
    """One certificate of a chain diagram and what is wrong or notable about it."""

    subject: str
    issuer: str
    marks: tuple[str, ...]
    bad: bool
    missing: bool = False


def chain_boxes(result: Mapping[str, Any], chain_key: str) -> list[Box]:
    """The boxes of one chain (``served_chain`` or ``verified_chain``), leaf first, with a
    ``missing`` box where the last certificate's issuer is absent and it is not self-issued."""
    chain = result.get(chain_key) or []
    when = _parse_time(result.get("started_at")) or datetime.datetime.now(datetime.UTC)
    hostname = result.get("hostname") or {}
    boxes: list[Box] = []
    for index, cert in enumerate(chain):
        marks: list[str] = []
        not_after = _parse_time(cert.get("not_after"))
        not_before = _parse_time(cert.get("not_before"))
        if not_after is not None and not_after < when:
            marks.append(f"EXPIRED {cert.get('not_after')}")
        if not_before is not None and not_before > when:
            marks.append(f"NOT YET VALID until {cert.get('not_before')}")
        if index == 0 and hostname.get("matched") is False:
            marks.append(f"NAME MISMATCH: {hostname.get('name')} not in certificate")
        self_issued = cert.get("subject") == cert.get("issuer")
        if chain_key == "verified_chain" and index == len(chain) - 1:
            marks.append("TRUSTED ANCHOR")
        elif self_issued:
            marks.append("self-issued")
        bad = any(not m.startswith(("TRUSTED", "self")) for m in marks)
        boxes.append(Box(str(cert.get("subject")), str(cert.get("issuer")), tuple(marks), bad))
    if boxes and chain_key == "served_chain":
        subjects = {box.subject for box in boxes}
        last = boxes[-1]
        anchors = {str(c.get("subject")) for c in (result.get("verified_chain") or [])[-1:]}
        if last.issuer != last.subject and last.issuer not in subjects:
            if last.issuer in anchors:  # a root the verifier holds need not be sent
                boxes.append(Box(last.issuer, "", ("trusted anchor, not sent (normal)",), False))
            else:
                missing = ("MISSING: not sent, not found by the verifier",)
                boxes.append(Box(last.issuer, "", missing, True, True))
    return boxes


_BOX_W, _BOX_H, _GAP = 560, 58, 34


def chain_svg(boxes: Sequence[Box], title: str) -> str:
    """An inline SVG of one chain: a box per certificate, an arrow "signed by" between them."""
    height = 26 + max(1, len(boxes)) * (_BOX_H + _GAP)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chain" width="{_BOX_W + 20}" '
        f'height="{height}" viewBox="0 0 {_BOX_W + 20} {height}" role="img" '
        f'aria-label="{_t(title)}">',
        f'<text x="10" y="16" class="title">{_t(title)}</text>',
    ]
    if not boxes:
        parts.append('<text x="10" y="50">(no certificate)</text>')
    for index, box in enumerate(boxes):
        top = 26 + index * (_BOX_H + _GAP)
        kind = "missing" if box.missing else ("bad" if box.bad else "good")
        dash = ' stroke-dasharray="6 4"' if box.missing else ""
        parts.append(
            f'<rect x="10" y="{top}" width="{_BOX_W}" height="{_BOX_H}" rx="6" '
            f'class="{kind}"{dash}/>'
        )
        parts.append(f'<text x="20" y="{top + 20}" class="subj">{_t(box.subject[:80])}</text>')
        marks = "; ".join(box.marks) or "valid"
        parts.append(f'<text x="20" y="{top + 42}" class="mark">{_t(marks[:90])}</text>')
        if index + 1 < len(boxes):
            y1, y2 = top + _BOX_H, top + _BOX_H + _GAP
            parts.append(
                f'<line x1="60" y1="{y1}" x2="60" y2="{y2 - 4}" class="arrow"/>'
                f'<polygon points="54,{y2 - 8} 66,{y2 - 8} 60,{y2}" class="head"/>'
                f'<text x="74" y="{y1 + 21}" class="sig">signed by</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def chain_text(boxes: Sequence[Box], title: str) -> list[str]:
    """The same diagram as text, for Markdown (not escaped)."""
    lines = [f"{title}:"]
    for index, box in enumerate(boxes):
        marks = f"  <- {'; '.join(box.marks)}" if box.marks else ""
        lines.append(f"  [{box.subject}]{marks}")
        if index + 1 < len(boxes):
            lines.append("     | signed by")
            lines.append("     v")
    if not boxes:
        lines.append("  (no certificate)")
    return lines


def _protocol_facts(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    facts: list[tuple[str, str]] = []
    tls = result.get("tls") or {}
    if tls:
        facts.append(("TLS", f"{tls.get('version')} {tls.get('cipher')}"))
        if tls.get("alpn"):
            facts.append(("ALPN", str(tls.get("alpn"))))
    client = result.get("client") or {}
    if client:
        facts.append(("client", f"{client.get('address')}:{client.get('port')}"))
    target = result.get("target") or {}
    facts.append(("target", f"{target.get('host')}:{target.get('port')}"))
    source = result.get("source")
    if source:
        facts.append(("source", f"{source.get('address')}:{source.get('port')}"))
    proxy = result.get("proxy")
    if proxy:
        answer = f"{proxy.get('status')} {proxy.get('reason') or ''}".rstrip()
        facts.append(("proxy", f"{proxy.get('url')} (CONNECT: {answer})"))
    http = result.get("http") or {}
    if http.get("status") is not None:
        facts.append(("HTTP status", str(http.get("status"))))
    ftp = result.get("ftp") or {}
    for key, value in ftp.items():
        if isinstance(value, str | int | float | bool) and key != "password":
            facts.append((f"FTP {key}", str(value)))
        elif isinstance(value, list | dict) and value:
            facts.append((f"FTP {key}", json.dumps(value, default=str)[:600]))
    error = result.get("error") or {}
    if error:
        facts.append(("failure", f"{result.get('failed_phase')}: {error.get('message')}"))
    return facts


_CSS = """
body{font:15px/1.4 system-ui,sans-serif;margin:16px 24px;color:#111;max-width:1240px}
h1{font-size:22px;margin:0 0 6px}h2{font-size:18px;margin:18px 0 6px}
.verdict{padding:10px 14px;border-radius:6px;font-size:18px;font-weight:600}
.v-ok{background:#e3f6e3}.v-problems{background:#fff4d6}.v-failed{background:#fde2e2}
.act{border-left:6px solid #b00;padding:8px 12px;margin:10px 0;font-size:17px;background:#fafafa}
.meta{color:#555;font-size:13px}
.sides{display:flex;gap:18px;flex-wrap:wrap}.side{flex:1 1 580px;min-width:0}
pre{background:#f4f4f4;padding:8px;overflow-x:auto;font-size:12px;white-space:pre-wrap}
table{border-collapse:collapse}td{padding:2px 8px;border-bottom:1px solid #ddd;vertical-align:top}
svg.chain rect.good{fill:#eef7ee;stroke:#2a7a2a}svg.chain rect.bad{fill:#fdecec;stroke:#b00}
svg.chain rect.missing{fill:#fff;stroke:#b00}svg.chain text{font:13px sans-serif}
svg.chain .title,svg.chain .subj{font-weight:600}svg.chain .mark{fill:#700}
svg.chain .arrow{stroke:#333;stroke-width:2}svg.chain .head{fill:#333}
@media print{body{margin:0;font-size:12px}pre{white-space:pre-wrap}.side{break-inside:avoid}}
"""


def _html_view(view: View, heading: str) -> list[str]:
    result = view.result
    out = [f'<section class="side"><h2>{_t(heading)}</h2>']
    out.append(f'<p class="meta">observed {_t(observed_at(view))} by the {view.role}</p>')
    out.append(chain_svg(chain_boxes(result, "served_chain"), "Chain as served"))
    out.append(chain_svg(chain_boxes(result, "verified_chain"), "Chain as verified"))
    out.append("<h3>Findings</h3><ul>")
    for finding in result.get("findings") or []:
        out.append(
            f"<li><b>{_t(finding.get('severity'))}</b> [{_t(finding.get('id'))}] "
            f"({_t(finding.get('side'))} acts) {_t(finding.get('summary'))}"
            f"<br>{_t(finding.get('detail'))}<br><i>Remedy:</i> {_t(finding.get('remedy'))}</li>"
        )
    out.append("</ul><h3>Protocol facts</h3><table>")
    for name, value in _protocol_facts(result):
        out.append(f"<tr><td>{_t(name)}</td><td>{_t(value)}</td></tr>")
    out.append("</table><h3>s_client-compatible output</h3>")
    if view.sclient is not None:
        out.append(f"<pre>{_t_block(view.sclient)}</pre>")
    else:
        out.append("<p>(not recorded in the log this report was built from)</p>")
    out.append("<h3>Certificates (PEM)</h3>")
    for key in ("served_chain", "verified_chain"):
        for cert in result.get(key) or []:
            out.append(f"<p>{_t(key)}: {_t(cert.get('subject'))}</p>")
            out.append(f"<pre>{_t_block(cert.get('pem', ''))}</pre>")
    out.append("</section>")
    return out


def _t_block(text: str) -> str:
    """A multi-line block (kept as lines), each line escaped."""
    return "\n".join(_t(line) for line in str(text).splitlines())


def _headings(views: Sequence[View]) -> list[str]:
    if len(views) == 1:
        return [f"What the {views[0].role} saw"]
    return [f"What we saw (the {views[0].role})", f"What they saw (the {views[1].role})"]


def _anchor(name: str) -> str:
    """An element id (fixed names: ``verdict``, ``action``, ``detail``)."""
    return f'id="{name}"'


def render_html(views: Sequence[View], *, openssl: str) -> str:
    """One self-contained HTML document."""
    first = views[0]
    status = str(first.result.get("status", "failed"))
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>tlsdiag report: {_t(verdict(first))}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>TLS connection report</h1>",
        f'<div class="verdict v-{_t(status)}" {_anchor("verdict")}>{_t(verdict(first))}</div>',
        f'<div class="act" {_anchor("action")}>{_t(action_line(first))}</div>',
    ]
    primary = _primary(first.result)
    if primary is not None:
        out.append(f"<p {_anchor('detail')}>{_t(primary.get('detail', ''))}</p>")
    out.append(
        f'<p class="meta">tlsdiag {_t(__version__)}, linked {_t(openssl)}; '
        f"observed {_t(observed_at(first))}; written by the {first.role} side.</p>"
    )
    out.append('<div class="sides">')
    for view, heading in zip(views, _headings(views), strict=True):
        out += _html_view(view, heading)
    out.append("</div></body></html>")
    return "\n".join(out) + "\n"


def _md(text: object) -> str:
    """Peer text for Markdown: control characters escaped, and markup characters too."""
    return html.escape(escape(str(text)), quote=False).replace("|", "\\|").replace("`", "'")


def _md_code(line: str) -> str:
    """A line inside a fenced block: control characters escaped, no backtick to close it."""
    return escape(line).replace("`", "'")


def render_markdown(views: Sequence[View], *, openssl: str) -> str:
    """The report as Markdown, with text chain diagrams."""
    first = views[0]
    out = [
        "# TLS connection report",
        "",
        f"**{_md(verdict(first))}**",
        "",
        f"> {_md(action_line(first))}",
        "",
        f"tlsdiag {__version__}, linked {_md(openssl)}; observed {_md(observed_at(first))}; "
        f"written by the {first.role} side.",
    ]
    for view, heading in zip(views, _headings(views), strict=True):
        result = view.result
        out += ["", f"## {heading}", "", "```"]
        for key, title in (("served_chain", "as served"), ("verified_chain", "as verified")):
            out += [_md_code(line) for line in chain_text(chain_boxes(result, key), title)]
        out += ["```", "", "### Findings", ""]
        for f in result.get("findings") or []:
            out.append(
                f"- **{_md(f.get('severity'))}** `{_md(f.get('id'))}` ({_md(f.get('side'))} "
                f"acts) {_md(f.get('summary'))} — {_md(f.get('detail'))} "
                f"Remedy: {_md(f.get('remedy'))}"
            )
        out += ["", "### Protocol facts", "", "| fact | value |", "|---|---|"]
        out += [f"| {_md(n)} | {_md(v)} |" for n, v in _protocol_facts(result)]
        out += ["", "### s_client-compatible output", ""]
        if view.sclient is not None:
            out += ["```", *(_md_code(line) for line in view.sclient.splitlines()), "```"]
        else:
            out.append("(not recorded in the log this report was built from)")
        out += ["", "### Certificates (PEM)", ""]
        for cert in (result.get("served_chain") or []) + (result.get("verified_chain") or []):
            out += [f"{_md(cert.get('subject'))}:", "", "```", cert.get("pem", "").strip(), "```"]
    return "\n".join(out) + "\n"


def render_json(views: Sequence[View], *, openssl: str) -> str:
    """The result objects plus the report's metadata."""
    document = {
        "report": {
            "tlsdiag_version": __version__,
            "openssl_version": openssl,
            "written_by": views[0].role,
            "verdict": verdict(views[0]),
            "action": action_line(views[0]),
        },
        "views": [{"role": v.role, "result": dict(v.result), "s_client": v.sclient} for v in views],
    }
    return json.dumps(document, indent=2, default=str) + "\n"
