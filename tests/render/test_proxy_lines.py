"""The proxy in the text form: its URL and answer on one line, the proxy's words escaped."""

from __future__ import annotations

from diagnostics.explain.diagnose import DiagnosisContext, diagnose
from diagnostics.model.result import Failure, Phase, ProbeResult, ProxyFacts
from diagnostics.model.target import parse_target
from diagnostics.render.text import render_text


def test_a_hostile_reason_phrase_is_escaped() -> None:
    """A reason phrase with an escape sequence reaches the terminal as \\1B, in the proxy line
    and in the finding that quotes it."""
    result = ProbeResult(
        target=parse_target("tls://files.example:990"),
        failure=Failure(
            phase=Phase.CONNECT,
            kind="proxy_refused",
            message="http://proxy.example:3128 answered CONNECT with 403 No\x1b[2J way",
        ),
        proxy=ProxyFacts(url="http://proxy.example:3128", status=403, reason="No\x1b[2J way"),
    )
    text = render_text(diagnose(result, DiagnosisContext()))
    assert "\x1b" not in text
    assert "proxy: http://proxy.example:3128 (CONNECT: 403 No\\1B[2J way, 0 tunnel(s))" in text
    assert "proxy_refused (who acts: either)" in text
