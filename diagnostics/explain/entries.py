# -*- test-case-name: tests.explain.test_catalogue -*-
"""What every table of the explanation catalogue is made of.

Pure data: the :class:`Explanation` every lookup returns and its
:class:`VerifyCode` variant, the :class:`View` type of one side's reading, the
side and severity shorthands the tables use, the OpenSSL version whose texts the
tables record, and :func:`words`, the whole-word pattern the text tables search with.

Sides: ``client`` is the side that opens the connection (the probe, or a partner's
client at a listener), ``server`` the side that accepts it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

import attrs

from diagnostics.model.result import Severity, Side

# The OpenSSL whose texts this catalogue records (pyOpenSSL's bundled library).
OPENSSL = "OpenSSL 4.0.3"

C, S, E = Side.CLIENT, Side.SERVER, Side.EITHER
ERROR, WARNING, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO


@attrs.frozen
class Explanation:
    """What one code, alert, reason or reply means and what to do about it."""

    kind: str
    key: str
    title: str
    reason: str
    summary: str
    causes: tuple[str, ...]
    remedy: str
    side: Side
    severity: Severity
    finding_id: str


@attrs.frozen
class VerifyCode(Explanation):
    """An ``X509_V_ERR_*`` certificate verification code."""

    code: int
    macro: str


class View(NamedTuple):
    """One side's reading of a handshake error or alert."""

    finding_id: str
    side: Side
    summary: str
    causes: tuple[str, ...]
    remedy: str


def words(texts: Iterable[str]) -> re.Pattern[str]:
    """A pattern finding any of the texts as whole words, the longest first."""
    ordered = sorted(texts, key=len, reverse=True)
    return re.compile(r"(?<![a-z0-9])(" + "|".join(map(re.escape, ordered)) + r")(?![a-z0-9])")
