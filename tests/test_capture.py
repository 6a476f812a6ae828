"""The capture layer: exceptions inside pyOpenSSL callbacks become a result, never vanish."""

from __future__ import annotations

from pathlib import Path

import pytest
from OpenSSL import crypto

from diagnostics.capture import HandshakeCapture
from tests import memtls, pki


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
