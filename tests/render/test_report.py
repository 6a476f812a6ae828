"""The partner report renderer: who is told to act, and peer text kept inert."""

from __future__ import annotations

import json
from typing import Any

from markdown_it import MarkdownIt

from diagnostics.render.report import View, action_line, chain_boxes, render_report

HOSTILE = '<script>alert(1)</script>\x1b[31m"><img src=x>'


def _result(side: str = "server", status: str = "problems") -> dict[str, Any]:
    leaf = {
        "subject": f"CN = {HOSTILE}",
        "issuer": "CN = Missing CA",
        "not_before": "2020-01-01T00:00:00+00:00",
        "not_after": "2021-01-01T00:00:00+00:00",
        "pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    }
    finding = {
        "id": "expired",
        "severity": "error",
        "side": side,
        "summary": f"summary {HOSTILE}",
        "detail": "detail",
        "remedy": "renew the certificate",
    }
    return {
        "status": status,
        "target": {"url": "https://example.test:443/", "host": "example.test", "port": 443},
        "served_chain": [leaf],
        "verified_chain": [],
        "findings": [finding],
        "ftp": {"greeting": HOSTILE},
        "started_at": "2026-01-01T00:00:00.000+00:00",
    }


def test_action_is_addressed_to_the_side_that_must_act() -> None:
    """A client's report tells the server it must act, and the client when it is its turn."""
    assert action_line(View("client", _result("server"))).startswith(
        "Your partner (the server) must act: renew"
    )
    assert action_line(View("client", _result("client"))).startswith("You, the client")
    assert action_line(View("server", _result("client"))).startswith("Your partner (the client)")
    assert action_line(View("server", _result("either"))).startswith("Either side")
    assert action_line(View("client", {**_result(), "status": "ok", "findings": []})).startswith(
        "Nothing to do"
    )


def test_diagram_marks_the_expired_leaf_and_the_missing_issuer() -> None:
    """The served chain: the leaf is expired, its issuer a dashed missing box."""
    boxes = chain_boxes(_result(), "served_chain")
    assert any(mark.startswith("EXPIRED") for mark in boxes[0].marks)
    assert boxes[-1].missing and boxes[-1].subject == "CN = Missing CA"


def test_peer_text_is_escaped_in_every_form() -> None:
    """No tag, no control character from the peer reaches HTML or Markdown; JSON keeps it."""
    view = View("client", _result(), sclient=f"depth=0 {HOSTILE}\n")
    page = render_report([view], "html", openssl="OpenSSL 3")
    assert "<script" not in page and "<img" not in page and "\x1b" not in page
    assert "&lt;script&gt;" in page and "\\1B" in page
    markdown = render_report([view], "md", openssl="OpenSSL 3")
    outside_code = "".join(markdown.split("```")[0::2])  # fenced blocks show text, not HTML
    assert "<script" not in outside_code and "\x1b" not in markdown
    rendered = MarkdownIt("commonmark").enable("table").render(markdown)
    assert "<script" not in rendered and "<img" not in rendered
    assert "&lt;script&gt;" in rendered
    assert markdown.count("```") % 2 == 0
    document = json.loads(render_report([view], "json", openssl="OpenSSL 3"))
    assert document["views"][0]["result"]["findings"][0]["summary"].endswith(HOSTILE)
    assert document["report"]["action"].startswith("Your partner (the server)")
