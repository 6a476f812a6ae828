"""A small certificate factory for tests: CAs, intermediates and leaves with chosen flaws.

The builder lives in the package (:mod:`diagnostics.pki.throwaway_ca`, which the lab uses
too); this module is the one name the tests import it by.  Keys are generated at test time.
"""

from __future__ import annotations

from diagnostics.model.certificates import key_pem
from diagnostics.pki.throwaway_ca import (
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
    make_ca,
    make_chain,
    make_crl,
    make_key,
    name,
    pem,
    utcnow,
    with_version,
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
    "with_version",
]
