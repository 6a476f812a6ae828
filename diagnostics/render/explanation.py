"""The text ``tlsdiag explain`` prints for one catalogue entry.  Pure; its lines are escaped
(:func:`diagnostics.model.escape.escape`) like every other text form's."""

from __future__ import annotations

import textwrap

from diagnostics.explain.catalogue import Explanation
from diagnostics.model.escape import escape
from diagnostics.model.result import Side

_WHO_ACTS = {
    Side.CLIENT: "the client side (the program or machine that opens the connection)",
    Side.SERVER: "the server side (its operator, or the CA behind its certificate)",
    Side.EITHER: "either side, depending on which cause applies",
}
_REASON_LABELS = {"ftp": "Standard text", "connection": "Failure"}
_WIDTH = 88


def render_explanation(e: Explanation) -> str:
    """The text ``tlsdiag explain`` prints for one entry."""
    wrap = textwrap.TextWrapper(width=_WIDTH, break_on_hyphens=False)
    bullet = textwrap.TextWrapper(
        width=_WIDTH, initial_indent="  - ", subsequent_indent="    ", break_on_hyphens=False
    )
    label = _REASON_LABELS.get(e.kind, "OpenSSL says")
    # Escaped before wrapping: textwrap would make a line feed a space, not \0A.
    lines = [e.title, f"{label}: {e.reason}", "", *wrap.wrap(escape(e.summary))]
    if e.causes:
        lines += ["", "Likely causes:"]
        for cause in e.causes:
            lines += bullet.wrap(escape(cause))
    lines += ["", *wrap.wrap(f"Who acts: {_WHO_ACTS[e.side]}.")]
    lines += ["", "Fix:", *wrap.wrap(escape(e.remedy))]
    lines += ["", f"Severity: {e.severity.value}; finding id: {e.finding_id}"]
    return "\n".join(escape(line) for line in lines)
