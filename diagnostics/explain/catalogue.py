# -*- test-case-name: tests.explain.test_catalogue -*-
"""The explanation catalogue's front: one lookup over every table of explanations.

Pure data: :func:`explain` finds the entry for a verify code (by number, macro name,
text or a log line that carries it), a TLS alert (``alert:N`` or its name), an FTP
reply (``ftp:NNN``), a handshake reason text or a connection failure kind;
:func:`catalogue_ids` lists every finding id an entry can carry.  The tables are in
:mod:`~diagnostics.explain.verify_codes`, :mod:`~diagnostics.explain.alerts`
(alerts and handshake reasons), :mod:`~diagnostics.explain.connections` and
:mod:`~diagnostics.explain.ftp_replies`; their public names are re-exported here.
"""

from __future__ import annotations

import re

from diagnostics.explain.alerts import (
    ALERTS,
    REASONS,
    alert,
    alert_view,
    classify,
    classify_tls_error,
)
from diagnostics.explain.connections import CONNECTIONS, connection_error
from diagnostics.explain.entries import C, Explanation, S, VerifyCode
from diagnostics.explain.ftp_replies import FTP_CLASSES, FTP_ROWS, ftp_reply
from diagnostics.explain.verify_codes import (
    UNKNOWN_VERIFY_ID,
    VERIFY_CODES,
    verify_code,
    verify_name,
)

__all__ = [
    "VERIFY_CODES",
    "Explanation",
    "VerifyCode",
    "alert",
    "catalogue_ids",
    "classify_tls_error",
    "connection_error",
    "explain",
    "ftp_reply",
    "verify_code",
    "verify_name",
]

# -- explain ----------------------------------------------------------------------------

# Macro names without their prefix, for explain().
_MACROS = {
    entry.macro.removeprefix("X509_V_ERR_").removeprefix("X509_V_"): entry.code
    for entry in VERIFY_CODES.values()
}

# Verify texts to code, with the wording of older OpenSSL versions that logs still carry.
_VERIFY_TEXTS = {
    "certificate is not yet valid": 9,
    "self signed certificate": 18,
    "self signed certificate in certificate chain": 19,
} | {entry.reason.lower(): entry.code for entry in VERIFY_CODES.values()}

# Alert names, with the spelling user_cancelled next to TLS's user_canceled.
_ALERT_NAMES = {a.name: a.number for a in ALERTS.values()} | {"user_cancelled": 90}

_NUMBERED = re.compile(r"^(alert|ftp)\s*:\s*(\S+)$")
_DIGITS = re.compile(r"[0-9]+")
# "verify error:num=20:…" (s_client) and "error 20 at 0 depth lookup: …" (openssl verify)
_VERIFY_IN_LOG = re.compile(r"num=([0-9]{1,3})\b|error ([0-9]{1,3}) at [0-9]+ depth")


def _name(query: str) -> str:
    return re.sub(r"[\s-]+", "_", query.strip().lower())


def explain(query: str) -> Explanation | None:
    """Explain a verify code, ``alert:N`` or alert name, ``ftp:NNN``, reason text or failure kind.

    Reason texts are explained from the client side.  ``None`` when nothing matches.
    """
    try:
        return _explain(str(query).strip())
    except ValueError:  # a number too long for int()
        return None


def _explain(query: str) -> Explanation | None:
    if not query:
        return None
    if _DIGITS.fullmatch(query):
        return VERIFY_CODES.get(int(query))
    macro = _name(query).upper().removeprefix("X509_V_ERR_").removeprefix("X509_V_")
    if macro in _MACROS:
        return VERIFY_CODES[_MACROS[macro]]
    numbered = _NUMBERED.match(query.lower())
    if numbered is not None:
        what, value = numbered.groups()
        if what == "ftp":
            # Reply codes run from 100 to 699; ftp_reply explains any (a peer's garbled one).
            valid = _DIGITS.fullmatch(value) and 100 <= int(value) <= 699
            return ftp_reply(int(value)) if valid else None
        if _DIGITS.fullmatch(value):
            return alert(int(value)) if int(value) <= 255 else None
        number = _ALERT_NAMES.get(_name(value))
        return alert(number) if number is not None else None
    name = _name(query)
    if name in _ALERT_NAMES:
        return alert(_ALERT_NAMES[name])
    if name in CONNECTIONS:
        return connection_error(name)
    return _verify_text(query.lower()) or classify(query, C)


def _verify_text(text: str) -> Explanation | None:
    """A verify code named by its text or by a log line such as ``verify error:num=20:…``."""
    text = " ".join(text.split())
    if text in _VERIFY_TEXTS:
        return VERIFY_CODES[_VERIFY_TEXTS[text]]
    logged = _VERIFY_IN_LOG.search(text)
    if logged is not None:
        return VERIFY_CODES.get(int(logged.group(1) or logged.group(2)))
    return None


# -- rendering and ids ------------------------------------------------------------------


def catalogue_ids() -> frozenset[str]:
    """Every finding id an entry of this catalogue can carry."""
    ids = {entry.finding_id for entry in VERIFY_CODES.values()}
    ids.add(UNKNOWN_VERIFY_ID)
    for entry in ALERTS.values():
        ids.add(f"tls_alert_{entry.name}")
        ids.update(alert_view(entry, side).finding_id for side in (C, S))
    ids.add("tls_alert_unknown")
    for reason in REASONS:
        ids.add(reason.client.finding_id)
        if reason.server is not None:
            ids.add(reason.server.finding_id)
    ids.add("handshake_failed")
    ids.update(CONNECTIONS)
    ids.update(reply.finding_id for reply in FTP_ROWS if reply.finding_id)
    ids.update(class_id for class_id, _, _ in FTP_CLASSES.values())
    ids.add("ftp_reply_invalid")
    return frozenset(ids)
