"""The capture layer: exceptions inside pyOpenSSL callbacks become a result, never vanish."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography import x509
from OpenSSL import SSL, crypto

from diagnostics.model.jsonform import dumps
from diagnostics.model.options import ProbeOptions
from diagnostics.render.text import render_text
from diagnostics.tls.creators import HandshakeCapture
from tests.support import memtls, pki


def test_exception_in_verify_callback_becomes_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug raised inside the verify callback ends the probe as an internal failure in
    the handshake phase, with the exception named, instead of being lost."""
    chain = pki.make_chain()

    def broken(self: HandshakeCapture, cert: crypto.X509, errno: int, depth: int) -> None:
        raise RuntimeError("boom in the verify callback")

    monkeypatch.setattr(HandshakeCapture, "record_verify", broken)
    result = memtls.handshake(
        chain.served, chain.leaf.key, directory=tmp_path, trust=[chain.root.cert]
    )
    assert result.failure is not None
    assert (result.failure.phase.value, result.failure.kind) == ("handshake", "internal")
    assert "boom in the verify callback" in result.failure.message
    assert result.findings[0].id == "internal_error"
    assert result.status.value == "failed"


def test_sni_is_not_sent_for_an_ip_literal(tmp_path: Path) -> None:
    """Probing by IP address sends no SNI but still checks the address against the IP SAN."""
    chain = pki.make_chain()
    result = memtls.handshake(
        chain.served, chain.leaf.key, directory=tmp_path, trust=[chain.root.cert], servername=None
    )
    assert result.tls is not None
    assert result.tls.servername_sent is None
    assert result.hostname is not None
    assert (result.hostname.name, result.hostname.matched) == ("127.0.0.1", True)


# -- a certificate cryptography refuses, served by OpenSSL ---------------------------------


def _serving_der(
    leaf_der: bytes, key: pki.PrivateKey, extra: Sequence[x509.Certificate]
) -> SSL.Context:
    """A server context for a leaf given as DER (cryptography cannot load it)."""
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.use_certificate(crypto.load_certificate(crypto.FILETYPE_ASN1, leaf_der))
    ctx.use_privatekey(crypto.PKey.from_cryptography_key(key))
    for cert in extra:
        ctx.add_extra_chain_cert(crypto.X509.from_cryptography(cert))
    return ctx


@pytest.mark.parametrize("version", [1, 10])
def test_served_certificate_with_an_invalid_version(tmp_path: Path, version: int) -> None:
    """A server certificate whose X.509 version cryptography refuses (InvalidVersion, no
    ValueError): the handshake completes and the primary finding is malformed_certificate
    with the parser's message; the issuers are not judged as if one were the leaf."""
    chain = pki.make_chain()
    leaf_der = pki.with_version(chain.leaf.cert, chain.intermediate.key, version)
    with pytest.raises(x509.InvalidVersion):
        x509.load_der_x509_certificate(leaf_der)
    context = _serving_der(leaf_der, chain.leaf.key, [chain.intermediate.cert])
    options = ProbeOptions(trust=memtls.trust_config(tmp_path, [chain.root.cert]))
    result = memtls.run_probe(
        memtls.tls_server(context), f"tls://127.0.0.1:{memtls.PORT}/", options
    )
    assert result.failure is None
    assert result.tls is not None
    assert result.served_chain == ()
    assert result.hostname is None
    primary = result.findings[0]
    assert primary.id == "malformed_certificate"
    assert f"{version} is not a valid X509 version" in primary.summary
    assert "CN = localhost" in primary.summary
    assert [f.id for f in result.findings] == ["malformed_certificate"]
    json.loads(dumps(result))
    render_text(result)


def test_unreadable_intermediate_keeps_the_rest_of_the_chain(tmp_path: Path) -> None:
    """An intermediate cryptography cannot read is left out of the served chain and named in
    a malformed_certificate finding; the server's own certificate is still judged."""
    chain = pki.make_chain()
    bad_intermediate = pki.with_version(chain.intermediate.cert, chain.root.key, 10)
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.use_certificate(crypto.X509.from_cryptography(chain.leaf.cert))
    ctx.use_privatekey(crypto.PKey.from_cryptography_key(chain.leaf.key))
    ctx.add_extra_chain_cert(crypto.load_certificate(crypto.FILETYPE_ASN1, bad_intermediate))
    options = ProbeOptions(trust=memtls.trust_config(tmp_path, [chain.root.cert]))
    result = memtls.run_probe(memtls.tls_server(ctx), f"tls://localhost:{memtls.PORT}/", options)
    assert result.failure is None
    assert result.served_chain == (chain.leaf.cert,)
    assert result.hostname is not None and result.hostname.matched is True
    malformed = [f for f in result.findings if f.id == "malformed_certificate"]
    assert len(malformed) == 1
    assert "certificate 2 of 2 ('CN = Test Intermediate CA')" in malformed[0].summary
    assert "10 is not a valid X509 version" in malformed[0].summary


def test_each_certificate_is_converted_once_per_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The verify calls, the served chain, the built chain and the staple check meet the
    same certificates: each is converted to a cryptography object once per connection."""
    from diagnostics.tls import recording

    chain = pki.make_chain()
    converted: list[bytes] = []
    original = recording.as_cryptography

    def counting(cert: crypto.X509) -> x509.Certificate:
        converted.append(crypto.dump_certificate(crypto.FILETYPE_ASN1, cert))
        return original(cert)

    monkeypatch.setattr(recording, "as_cryptography", counting)
    result = memtls.handshake(
        chain.served, chain.leaf.key, directory=tmp_path, trust=[chain.root.cert]
    )
    assert result.failure is None
    assert len(result.verify_events) >= len(result.verified_chain) == 3
    assert len(converted) == len(set(converted)) == 3
    assert {id(e.certificate) for e in result.verify_events} == {
        id(c) for c in result.verified_chain
    }
    assert result.served_chain[0] is result.verified_chain[0]
