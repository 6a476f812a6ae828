"""The one bounded file reader: regular files only, a size cap, never blocking, UTF-8 text,
and private keys opened without a prompt."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from diagnostics.model import files
from diagnostics.model.files import (
    MAX_FILE_BYTES,
    EncryptedKeyError,
    FileError,
    load_private_key,
    material_kind,
    read_bounded,
    read_text,
)
from tests.support import pki
from tests.support.deadline import within


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A named pipe nobody writes to: opening it for reading the usual way blocks forever."""
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    """Bytes up to the cap are returned as they are."""
    path = tmp_path / "data.bin"
    path.write_bytes(b"\x00\x01abc" * 1000)
    assert read_bounded(str(path)) == b"\x00\x01abc" * 1000


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda d: "/dev/zero", "is a character device, not a regular file"),
        (lambda d: str(d), "is a folder, not a regular file"),
        (lambda d: str(d / "absent"), "cannot be read: No such file or directory"),
        (lambda d: "bad\0path", "cannot be read"),
    ],
)
def test_not_a_regular_file(tmp_path: Path, make: Callable[[Path], str], problem: str) -> None:
    """A device, a folder, a missing file: one sentence, WHAT 'PATH' PROBLEM, at once."""
    path = make(tmp_path)
    with pytest.raises(FileError) as caught:
        within(lambda: read_bounded(path, "CA file"))
    assert caught.value.problem.startswith(problem)
    assert str(caught.value) == f"CA file {path!r} {caught.value.problem}"


def test_a_fifo_is_refused_without_blocking(fifo: Path) -> None:
    """A named pipe with no writer is refused at once (a plain open would wait forever)."""
    started = time.monotonic()
    with pytest.raises(FileError, match=r"is a named pipe \(FIFO\), not a regular file"):
        within(lambda: read_bounded(str(fifo), "--targets"))
    assert time.monotonic() - started < 5


def test_a_file_over_the_cap_is_refused_unread(tmp_path: Path) -> None:
    """A (sparse) file one byte over 64 MiB is refused from its size, without reading it."""
    path = tmp_path / "huge.pem"
    with path.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    started = time.monotonic()
    with pytest.raises(FileError, match="is larger than 64 MiB"):
        read_bounded(str(path))
    assert time.monotonic() - started < 1
    exact = tmp_path / "exact.bin"
    exact.write_bytes(b"x" * 100)
    assert len(read_bounded(str(exact), limit=100)) == 100
    with pytest.raises(FileError, match="is larger than 99 bytes"):
        read_bounded(str(exact), limit=99)


def test_a_file_that_grows_is_read_no_further_than_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file whose size said it fits but that delivers more (a /proc file, a file being
    written) is read to cap + 1 bytes, then refused."""
    path = tmp_path / "growing"
    path.write_bytes(b"y" * 50)
    real_stat, real_fstat = os.stat, os.fstat

    def sizeless(status: os.stat_result) -> os.stat_result:
        return os.stat_result((*status[:6], 0, *status[7:]))  # st_size 0, as /proc reports

    monkeypatch.setattr(files.os, "stat", lambda p: sizeless(real_stat(p)))
    monkeypatch.setattr(files.os, "fstat", lambda fd: sizeless(real_fstat(fd)))
    reads: list[int] = []
    real_read = os.read
    monkeypatch.setattr(files.os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    with pytest.raises(FileError, match="is larger than 10 bytes"):
        read_bounded(str(path), limit=10)
    assert sum(reads) <= 11


def test_text_is_utf8_without_its_byte_order_mark(tmp_path: Path) -> None:
    """UTF-8 (a BOM dropped); other bytes are refused naming the line, not a traceback."""
    good = tmp_path / "good.txt"
    good.write_bytes(b"\xef\xbb\xbfhttps://example.test\r\n")
    assert read_text(str(good)) == "https://example.test\r\n"
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"[daemon]\n\xff\xfe\x00binary")
    with pytest.raises(FileError) as caught:
        read_text(str(binary), "file")
    assert caught.value.problem.startswith("is not UTF-8 text (byte 0xff on line 2)")


def test_material_kind_names_what_a_file_holds() -> None:
    """Certificates, keys, CRLs and CSRs by PEM label or by what DER parses."""
    ca = pki.make_ca("Kinds Root")
    der = ca.cert.public_bytes(serialization.Encoding.DER)
    key_der = ca.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    crl = pki.make_crl(ca)
    assert material_kind(pki.pem([ca.cert])) == "a certificate"
    assert material_kind(pki.key_pem(ca.key)) == "a private key"
    assert material_kind(der) == "a certificate"
    assert material_kind(key_der) == "a private key"
    assert material_kind(crl.public_bytes(serialization.Encoding.PEM)) == "a CRL"
    assert material_kind(crl.public_bytes(serialization.Encoding.DER)) == "a CRL"
    assert material_kind(b"-----BEGIN CERTIFICATE REQUEST-----\n") == "a certificate request (CSR)"
    assert material_kind(b" \n") == "empty"
    assert material_kind(b"hello") is None


def _encrypted(key: pki.PrivateKey, passphrase: bytes, encoding: Any) -> bytes:
    return key.private_bytes(
        encoding,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


@pytest.mark.parametrize("encoding", [serialization.Encoding.PEM, serialization.Encoding.DER])
def test_an_encrypted_key_is_opened_with_its_passphrase_never_prompted(
    tmp_path: Path, encoding: Any
) -> None:
    """Without a passphrase: EncryptedKeyError saying how to give one; a wrong one says so;
    the right one opens it.  The passphrase itself never appears in a message."""
    key = pki.make_key()
    path = tmp_path / "locked.key"
    path.write_bytes(_encrypted(key, b"open sesame", encoding))
    with pytest.raises(EncryptedKeyError) as caught:
        load_private_key(str(path), "client key", None, passphrase_option="--key-password-env VAR")
    assert "is an encrypted private key and no passphrase was given" in str(caught.value)
    assert "--key-password-env VAR" in str(caught.value)
    with pytest.raises(EncryptedKeyError) as wrong:
        load_private_key(str(path), "client key", "guess", passphrase_option="--key-password-env")
    assert "does not decrypt" in str(wrong.value) and "guess" not in str(wrong.value)
    opened = load_private_key(str(path), "key", "open sesame", passphrase_option="-")
    assert opened.public_key() == key.public_key()


def test_a_certificate_given_as_a_key_says_so(tmp_path: Path) -> None:
    """A certificate file where a key belongs: 'is a certificate, not a private key'."""
    ca = pki.make_ca("Not A Key")
    path = tmp_path / "cert.pem"
    path.write_bytes(pki.pem([ca.cert]))
    with pytest.raises(FileError) as caught:
        load_private_key(str(path), "client key", None, passphrase_option="-")
    assert str(caught.value) == f"client key {str(path)!r} is a certificate, not a private key"
    garbage = tmp_path / "garbage.key"
    garbage.write_bytes(b"\x30\x03\x02\x01\x00")
    with pytest.raises(FileError, match="is not a private key that parses"):
        load_private_key(str(garbage), "client key", None, passphrase_option="-")
