"""The plain-text report of one listener session: printed, and sent to the partner's client.

Pure: a function of the session's judged :class:`~diagnostics.model.result.ProbeResult`.
Everything the remote client controls (its certificate's names, SNI, ALPN offers, request
line, User-Agent, FTP commands) is escaped (:func:`diagnostics.model.escape.escape`), in the
report and in the FTP reply lines alike: it reaches neither the listener's terminal nor the
partner's.
"""

from __future__ import annotations

from collections.abc import Mapping

from diagnostics.explain.lint import describe
from diagnostics.model.escape import escape
from diagnostics.model.result import ProbeResult, Severity, Status, peer_name
from diagnostics.render.text import render_text


def verdict_line(result: ProbeResult) -> str:
    """One line: status, client, listener, and the primary finding or what went well (as
    given, not escaped: the report and the reply lines escape it)."""
    head = f"{result.status.value.upper()} client {peer_name(result)} at {result.target.url}"
    if result.findings:
        primary = result.findings[0]
        if result.status is not Status.OK or primary.severity is not Severity.INFO:
            # The diagnosis starts failure summaries with the client's address, already said.
            return f"{head}: {primary.summary.removeprefix(peer_name(result) + ': ')}"
    tls = result.tls
    if tls is None:
        return head
    leaf = result.leaf
    who = f"client certificate {describe(leaf)} accepted" if leaf else "no client certificate"
    return f"{head}: {tls.version}, {tls.cipher}, {who}"


def _client_lines(result: ProbeResult) -> list[str]:
    lines = []
    client = result.client
    if client is not None:
        offered = ", ".join(client.alpn_offered) or "none"
        lines.append(f"  client: sni={client.sni or '(none)'} alpn offered: {offered}")
    http = result.http
    if http and http.get("method"):
        request = f"{http.get('method')} {http.get('path')} {http.get('version') or ''}".strip()
        agent = f"  user-agent={http['user_agent']}" if http.get("user_agent") else ""
        lines.append(f"  http request: {request}{agent}")
    ftp = result.ftp
    if ftp:
        for data in ftp.get("data_connections") or []:
            tls = data.get("tls")
            state = "clear text"
            if isinstance(tls, Mapping):
                resumed = "resumed" if tls.get("session_reused") else "NOT resumed"
                state = f"{tls.get('version')}, session {resumed}"
            elif data.get("tls_error"):
                state = f"TLS failed: {data['tls_error']}"
            lines.append(f"  ftp data connection ({data.get('command')}): {state}")
    return lines


def render_session(result: ProbeResult) -> str:
    """The plain-text report of one session (printed, and sent to the client)."""
    # The generic "http:" line describes a server's answer; ours is in the client lines.
    # render_text escapes its lines; only its own line feeds separate them.
    body = [line for line in render_text(result).split("\n")[1:] if not line.startswith("  http:")]
    return "\n".join(escape(line) for line in [verdict_line(result), *_client_lines(result), *body])


def verdict_lines(result: ProbeResult) -> list[str]:
    """The verdict and every finding's summary, one per line, for reply texts."""
    lines = [verdict_line(result)]
    lines += [f"[{f.severity.value}] {f.id}: {f.summary}" for f in result.findings]
    return [escape(line) for line in lines]


class _PlainTextReports:
    """What a listener tells the partner's client, in plain text (a
    :class:`diagnostics.listener.session.SessionReports`)."""

    def report(self, result: ProbeResult) -> str:
        """The session's full report."""
        return render_session(result)

    def reply_lines(self, result: ProbeResult) -> list[str]:
        """The verdict lines of FTP replies."""
        return verdict_lines(result)


PLAIN_TEXT_REPORTS = _PlainTextReports()
