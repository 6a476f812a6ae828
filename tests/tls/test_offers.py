"""Client contexts that offer one thing, and the names of cipher families."""

from __future__ import annotations

from diagnostics.tls.offers import Offer, client_context, family_of, key_exchange_of


def test_cipher_families() -> None:
    """OpenSSL cipher names sorted into families and key exchanges."""
    assert family_of("ECDHE-RSA-NULL-SHA") == "weak"
    assert family_of("ADH-AES128-SHA") == "weak"
    assert family_of("DES-CBC3-SHA") == "weak"
    assert family_of("TLS_AES_128_GCM_SHA256") == "modern AEAD"
    assert family_of("ECDHE-RSA-CHACHA20-POLY1305") == "modern AEAD"
    assert family_of("ECDHE-RSA-AES256-SHA") == "CBC"
    assert key_exchange_of("ECDHE-RSA-AES256-SHA") == "ECDHE"
    assert key_exchange_of("DHE-RSA-AES256-GCM-SHA384") == "DHE"
    assert key_exchange_of("AES128-SHA") == "RSA"


def test_an_offer_the_linked_openssl_cannot_make_is_none() -> None:
    """A cipher string that matches nothing in the linked OpenSSL gives no context."""
    assert client_context(Offer("cipher", "RC4", "TLSv1.2", "TLSv1.2", ciphers="RC4")) is None
    assert client_context(Offer("version", "TLSv1", "TLSv1", "TLSv1")) is not None
