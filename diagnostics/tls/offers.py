"""Client contexts that offer one thing on purpose: a single TLS version, a cipher family.

The follow-up handshakes and the version matrix use them to learn what a server
accepts.  Each context lowers the OpenSSL security level only for its own attempt.
"""

from __future__ import annotations

import attrs
from OpenSSL import SSL

__all__ = ["DEFAULT_LEVEL", "VERSIONS", "Offer", "client_context", "family_of", "key_exchange_of"]

DEFAULT_LEVEL = 2
"""OpenSSL's default security level (TLS 1.2 at least, 2048-bit DH and RSA, no SHA-1)."""

VERSIONS: dict[str, int] = {
    "TLSv1.3": SSL.TLS1_3_VERSION,
    "TLSv1.2": SSL.TLS1_2_VERSION,
    "TLSv1.1": SSL.TLS1_1_VERSION,
    "TLSv1": SSL.TLS1_VERSION,
}
"""The versions tried, newest first, by OpenSSL's names."""

EVERY_CIPHER = "ALL:COMPLEMENTOFALL"  # the NULL ciphers too: a version test must not pick


@attrs.frozen
class Offer:
    """What one attempt offers: a version range, a TLS 1.2 cipher string, a security level."""

    purpose: str
    label: str
    lowest: str
    highest: str
    ciphers: str = EVERY_CIPHER
    level: int = 0


def client_context(offer: Offer) -> SSL.Context | None:
    """A client context offering exactly ``offer``; None when the linked OpenSSL cannot."""
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_verify(SSL.VERIFY_NONE)
    try:
        context.set_min_proto_version(VERSIONS[offer.lowest])
        context.set_max_proto_version(VERSIONS[offer.highest])
        context.set_cipher_list(f"{offer.ciphers}:@SECLEVEL={offer.level}".encode("ascii"))
    except SSL.Error:
        return None
    return context


def family_of(cipher: str) -> str:
    """The family of an OpenSSL cipher name: ``weak``, ``modern AEAD`` or ``CBC``."""
    name = cipher.upper()
    weak = ("NULL", "ADH", "AECDH", "ANON", "EXP", "RC4", "DES-CBC3", "3DES", "-DES-", "IDEA")
    if any(part in name for part in weak) or name.startswith("DES-"):
        return "weak"
    if name.startswith("TLS_") or any(p in name for p in ("GCM", "CHACHA20", "CCM")):
        return "modern AEAD"
    return "CBC"


def key_exchange_of(cipher: str) -> str:
    """The TLS 1.2 key exchange of an OpenSSL cipher name: ``ECDHE``, ``DHE`` or ``RSA``."""
    name = cipher.upper()
    if name.startswith(("ECDHE", "AECDH")):
        return "ECDHE"
    if name.startswith(("DHE", "EDH", "ADH")):
        return "DHE"
    return "RSA"
