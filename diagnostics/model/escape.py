"""Text from a peer made harmless for a terminal: control characters written as ``\\XX``.

A certificate name, an HTTP ``Server`` header, an FTP reply, a client's request path: tlsdiag
shows text that the other side chose, and a terminal obeys the control characters in it
(a line feed starts a fake line, ``ESC [ … m`` recolours, ``ESC ] 0 ; … BEL`` retitles the
window).  :func:`escape` writes every control character — C0 (U+0000 to U+001F), DEL (U+007F)
and C1 (U+0080 to U+009F) — as a backslash and two upper-case hex digits, the way OpenSSL
prints control characters in names (``\\0A`` for a line feed, ``\\1B`` for ESC, ``\\9B`` for
CSI).  The characters that reorder or break a line without being control characters — the
bidirectional marks, embeddings, overrides and isolates (U+061C, U+200E, U+200F, U+202A to
U+202E, U+2066 to U+2069) and the line and paragraph separators (U+2028, U+2029) — are
written as ``\\uXXXX``: a name holding U+202E would otherwise show its text reversed.
Everything else is kept, so ``München`` stays readable.

A backslash is left as it is: the escaped text holds no control character, so escaping it
again changes nothing, and a renderer may escape a line that already holds escaped parts.
(``--format s_client`` names follow OpenSSL exactly instead, doubling a backslash; see
:mod:`diagnostics.render.oneline`.)

Every text renderer escapes what it prints, and the listener escapes what it answers; the JSON
form keeps the exact values.  Pure: no I/O.
"""

from __future__ import annotations

import re

__all__ = ["CONTROL", "escape", "first_control", "split_lines"]

CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
"""One control character: C0, DEL or C1, or a bidirectional or line-breaking format character."""


def _hex(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\{code:02X}" if code < 0x100 else f"\\u{code:04X}"


def escape(text: str) -> str:
    """``text`` with every control character written as ``\\XX`` (``\\0A``, ``\\1B``) or
    ``\\uXXXX`` (``\\u202E``)."""
    return CONTROL.sub(_hex, text)


def first_control(text: str) -> str | None:
    """The first control character in ``text`` as ``U+XXXX``, or None when there is none."""
    match = CONTROL.search(text)
    return f"U+{ord(match[0]):04X}" if match else None


def split_lines(text: str) -> list[str]:
    """``text`` cut at its line feeds (a CR before one goes too), and nowhere else.

    :meth:`str.splitlines` also cuts at U+2028, U+001C and others, which would let a peer's
    text start a line of its own; here those stay inside the line, to be escaped or shown.
    """
    *lines, last = text.split("\n")
    return [line.removesuffix("\r") for line in lines] + [last]
