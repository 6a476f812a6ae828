"""Small pieces of wording the findings builders share.  Pure."""

from __future__ import annotations

import datetime


def sentence(text: str) -> str:
    """``text`` stripped and ending with a full stop (unless it ends with . ! or ? already)."""
    text = text.strip()
    return text if not text or text[-1] in ".!?" else text + "."


def ago(delta: datetime.timedelta, *, hours: bool = False) -> str:
    """How long ago, in whole days (``3 days ago``) — or, with ``hours``, in whole hours when
    under a day; empty when less than that unit."""
    if delta.days >= 1:
        return f"{delta.days} day{'s' if delta.days != 1 else ''} ago"
    count = int(delta.total_seconds() // 3600)
    return f"{count} hour{'s' if count != 1 else ''} ago" if hours and count >= 1 else ""
