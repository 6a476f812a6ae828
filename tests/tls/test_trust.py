"""Trust material is read once per configuration, re-read when a file changes, and
unusable material is a clear TrustError."""

from __future__ import annotations

import os
from pathlib import Path

import attrs
import pytest
from cryptography.hazmat.primitives import serialization

from diagnostics.model.options import ProbeOptions, TrustConfig
from diagnostics.tls.trust import TrustCache, TrustError
from tests.support import memtls, pki
from tests.support.deadline import within


def _pem(cert: object) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)  # type: ignore[attr-defined,no-any-return]


def _key_pem(key: pki.PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def chain() -> pki.Chain:
    return pki.make_chain()


def test_loaded_once_per_configuration(tmp_path: Path, chain: pki.Chain) -> None:
    """Equal configurations share one loaded store and context."""
    ca = tmp_path / "root.pem"
    ca.write_bytes(_pem(chain.root.cert))
    cache = TrustCache()
    first = cache.get(TrustConfig(ca_files=(str(ca),)))
    second = cache.get(TrustConfig(ca_files=(str(ca),)))
    assert first is second
    assert cache.loads == 1
    assert first.trusted == (chain.root.cert,)


def test_reloaded_when_the_file_changes(tmp_path: Path, chain: pki.Chain) -> None:
    """A CA file rewritten on disk is read again on next use."""
    ca = tmp_path / "root.pem"
    ca.write_bytes(_pem(chain.root.cert))
    cache = TrustCache()
    config = TrustConfig(ca_files=(str(ca),))
    cache.get(config)
    ca.write_bytes(_pem(chain.root.cert) + _pem(chain.intermediate.cert))
    stat = ca.stat()
    os.utime(ca, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    again = cache.get(config)
    assert cache.loads == 2
    assert again.trusted == (chain.root.cert, chain.intermediate.cert)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot be read"),
        (b"hello, not a certificate\n", "neither PEM certificates nor a DER certificate"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "does not parse"),
    ],
)
def test_unusable_ca_file(tmp_path: Path, content: bytes | None, message: str) -> None:
    """A missing, non-certificate or broken CA file names the file and the reason."""
    ca = tmp_path / "ca.pem"
    if content is not None:
        ca.write_bytes(content)
    with pytest.raises(TrustError) as info:
        TrustCache().get(TrustConfig(ca_files=(str(ca),)))
    assert message in str(info.value)
    assert str(ca) in str(info.value)


def test_client_identity_key_must_match(tmp_path: Path, chain: pki.Chain) -> None:
    """A client certificate with another certificate's key is refused with both file names."""
    cert = tmp_path / "client.pem"
    key = tmp_path / "client.key"
    cert.write_bytes(_pem(chain.leaf.cert))
    key.write_bytes(_key_pem(chain.intermediate.key))
    with pytest.raises(TrustError) as info:
        TrustCache().get(TrustConfig(cert_file=str(cert), key_file=str(key)))
    assert str(key) in str(info.value)


def test_client_identity_loads(tmp_path: Path, chain: pki.Chain) -> None:
    """A matching certificate and key load into the context."""
    cert = tmp_path / "client.pem"
    key = tmp_path / "client.key"
    cert.write_bytes(_pem(chain.leaf.cert) + _pem(chain.intermediate.cert))
    key.write_bytes(_key_pem(chain.leaf.key))
    material = TrustCache().get(TrustConfig(cert_file=str(cert), key_file=str(key)))
    assert material.context is not None


def test_crl_file_that_does_not_parse(tmp_path: Path) -> None:
    """A broken CRL is a TrustError naming the file."""
    crl = tmp_path / "bad.crl"
    crl.write_bytes(b"garbage")
    with pytest.raises(TrustError) as info:
        TrustCache().get(TrustConfig(crl_files=(str(crl),)))
    assert "bad.crl" in str(info.value)


# -- bounded reads, wrong kinds and encrypted keys ------------------------------------------


def _locked(key: pki.PrivateKey, passphrase: bytes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


@pytest.mark.parametrize("field", ["ca_files", "crl_files", "cert_file"])
def test_devices_and_pipes_are_refused_unread(tmp_path: Path, field: str) -> None:
    """/dev/zero and a FIFO as a CA, CRL or client certificate file: a TrustError at once."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for path, kind in (("/dev/zero", "a character device"), (str(fifo), "a named pipe (FIFO)")):
        value: object = (path,) if field != "cert_file" else path
        extra = {"key_file": path} if field == "cert_file" else {}
        with pytest.raises(TrustError) as info:
            config = TrustConfig(**{field: value}, **extra)  # type: ignore[arg-type]
            within(lambda config=config: TrustCache().get(config))
        assert f"{path!r} is {kind}, not a regular file" in str(info.value)


def test_a_private_key_as_ca_file_says_so(tmp_path: Path, chain: pki.Chain) -> None:
    """A key where certificates belong: "is a private key, not a certificate"."""
    key = tmp_path / "leaf.key"
    key.write_bytes(_key_pem(chain.leaf.key))
    with pytest.raises(TrustError) as info:
        TrustCache().get(TrustConfig(ca_files=(str(key),)))
    assert str(info.value) == f"CA file {str(key)!r} is a private key, not a certificate"


def test_an_encrypted_client_key_is_used_with_its_passphrase(
    tmp_path: Path, chain: pki.Chain
) -> None:
    """Over a real (in-memory) handshake with a server that requires a client certificate:
    the encrypted key opened with ``key_password`` signs, the certificate is sent and
    accepted; without the passphrase the configuration is refused, saying how to give it."""
    client = pki.issue(chain.intermediate, "Client One", sans=(), ekus=(pki.CLIENT_AUTH,))
    cert = memtls.write_pem(tmp_path / "client.pem", [client.cert, chain.intermediate.cert])
    key = tmp_path / "client.key"
    key.write_bytes(_locked(client.key, b"s3cret passphrase"))
    ca = memtls.write_pem(tmp_path / "root.pem", [chain.root.cert])
    locked = TrustConfig(ca_files=(ca,), cert_file=cert, key_file=str(key))
    with pytest.raises(TrustError) as info:
        TrustCache().get(locked)
    assert "--key-password-env VAR" in str(info.value)
    assert "s3cret" not in repr(attrs.evolve(locked, key_password="s3cret passphrase"))
    server = memtls.tls_server(
        memtls.tls_context(
            chain.served, chain.leaf.key, require_client_cert=True, client_ca=[chain.root.cert]
        )
    )
    result = memtls.run_probe(
        server,
        f"tls://127.0.0.1:{memtls.PORT}",
        ProbeOptions(trust=attrs.evolve(locked, key_password="s3cret passphrase")),
        servername="localhost",
    )
    assert result.client_auth is not None and result.client_auth.sent is True
    assert result.failure is None and result.status.value == "ok", result.findings
