"""Renderers: pure functions of a result, one module per output form.

:func:`render` picks the form of ``--format``: ``text`` (:mod:`.text`), ``s_client``
(:mod:`.sclient`) or ``json`` (one JSON object, :mod:`diagnostics.model.jsonform`).  Nothing
here imports Twisted or pyOpenSSL, and nothing reads anything but the result it is given.
Every text form escapes the control characters of what it prints
(:func:`diagnostics.model.escape.escape`); the JSON form keeps the exact values.
"""

from __future__ import annotations

from diagnostics.model.result import ProbeResult


def render(result: ProbeResult, fmt: str, *, colour: bool = False) -> str:
    """A result in one of the output formats."""
    if fmt == "json":
        from diagnostics.model.jsonform import dumps

        return dumps(result)
    if fmt == "s_client":
        from diagnostics.render.sclient import render_sclient

        return render_sclient(result)
    from diagnostics.render.text import render_text

    return render_text(result, colour=colour)
