# -*- test-case-name: tests.lab.test_lab -*-
"""Readable progress of a running daemon: one block per target as its results arrive.

A target is shown at its first result and again whenever its verdict or its
primary finding changes, so a steady daemon stays quiet.  When every target has
been shown once, a footer says where to look next.  A target's name, URL and findings are
escaped (:func:`diagnostics.model.escape.escape`): a finding quoting a hostile server's
certificate name or greeting cannot drive the terminal.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from typing import TextIO

from diagnostics.model.escape import escape
from diagnostics.model.result import ProbeResult

_INDENT = " " * 10
_WIDTH = 100


def describe(name: str, result: ProbeResult) -> str:
    """A result in a few lines: verdict, name and URL, primary finding, its remedy."""
    head = f"{result.status.value.upper():<9} {name}"
    if name != result.target.url:
        head += f"  {result.target.url}"
    lines = [escape(head)]
    if result.findings:
        primary = result.findings[0]
        lines += _wrapped(f"{primary.id}: {primary.summary}")
        if primary.remedy:
            lines += _wrapped(f"fix: {primary.remedy}")
    return "\n".join(lines)


def _wrapped(text: str) -> list[str]:
    # Escaped before wrapping: textwrap would turn a line feed into a space, not into \0A.
    return textwrap.wrap(
        escape(text), _WIDTH, initial_indent=_INDENT, subsequent_indent=_INDENT + "  "
    ) or [_INDENT]


class ConsoleProgress:
    """Write each target's outcome to ``out`` when it is new or has changed."""

    def __init__(self, out: TextIO, *, footer: Sequence[str] = ()) -> None:
        self.out = out
        self.footer = tuple(footer)
        self.expected: set[str] = set()
        self.shown: dict[str, tuple[str, str | None]] = {}
        self.footer_written = False

    def begin(self, urls: Iterable[str], header: str) -> None:
        """Say what is coming; ``urls`` are the targets the footer waits for."""
        self.expected = set(urls)
        self._write(header)

    def __call__(self, name: str, result: ProbeResult) -> None:
        """Show ``result`` (of the target called ``name``) if its target is new or its
        verdict or primary finding changed."""
        url = result.target.url
        key = (result.status.value, result.findings[0].id if result.findings else None)
        if self.shown.get(url) == key:
            return
        self.shown[url] = key
        self._write(describe(name, result))
        if not self.footer_written and self.expected <= set(self.shown):
            self.footer_written = True
            self._write("\n".join(self.footer))

    def _write(self, text: str) -> None:
        if text:
            self.out.write(text + "\n")
            self.out.flush()
