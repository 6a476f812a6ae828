"""A small certificate factory for tests: CAs, intermediates and leaves with chosen flaws.

The builder lives in the package (:mod:`diagnostics.issuing`, which the lab uses
too); this module keeps the names the tests know.  Keys are generated at test time.
"""

from __future__ import annotations

from diagnostics.issuing import (
    CA_DAYS,
    CLIENT_AUTH,
    LEAF_DAYS,
    SERVER_AUTH,
    Chain,
    HashName,
    Issued,
    KeyType,
    PrivateKey,
    cross_sign,
    issue,
    key_pem,
    make_ca,
    make_chain,
    make_crl,
    make_key,
    name,
    pem,
    utcnow,
)

__all__ = [
    "CA_DAYS",
    "CLIENT_AUTH",
    "LEAF_DAYS",
    "SERVER_AUTH",
    "Chain",
    "HashName",
    "Issued",
    "KeyType",
    "PrivateKey",
    "cross_sign",
    "issue",
    "key_pem",
    "make_ca",
    "make_chain",
    "make_crl",
    "make_key",
    "name",
    "pem",
    "utcnow",
]
