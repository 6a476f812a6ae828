# -*- test-case-name: tests.model.test_files -*-
"""The one reader of every file tlsdiag is given: bounded, regular files only, never blocking.

Pure data (the standard library and ``cryptography``).  CA lists, CRLs, certificates, keys,
``--targets`` lists, the daemon's configuration and its state all come through
:func:`read_bounded` (bytes) or :func:`read_text` (UTF-8 text), so that a device
(``/dev/zero``), a named pipe, a folder or a huge file named by mistake is refused with one
sentence instead of filling the memory or waiting forever:

- the path must name a regular file (checked before it is opened, and again on the open file,
  which is opened non-blocking so that a FIFO put in its place cannot block);
- at most :data:`MAX_FILE_BYTES` (64 MiB) are read; a larger file is refused, unread when its
  size says so, after ``limit + 1`` bytes when it grew;
- text is UTF-8, a leading byte-order mark dropped; anything else is refused naming the line.

Every refusal is a :class:`FileError`: ``WHAT 'PATH' PROBLEM`` (``CA file '/dev/zero' is a
character device, not a regular file``); the command line turns it into exit 2.
:func:`material_kind` names what a file holds when it is not what was asked for (a private
key given as a certificate, a certificate given as a key).
"""

from __future__ import annotations

import os
import re
import stat

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from diagnostics.model.errors import TlsdiagError

MAX_FILE_BYTES = 64 * 2**20
"""The most tlsdiag reads from one file: more than any CA bundle or CRL in use (the largest
public CRLs run to a few megabytes), far less than a device or a wrong file can deliver."""

_CHUNK = 2**20
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_NOT_REGULAR = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class FileError(TlsdiagError, ValueError):
    """A file that cannot be read as input, as ``WHAT 'PATH' PROBLEM``.

    ``what`` names the file's role (``CA file``, ``--targets``), ``problem`` says what is
    wrong (``cannot be read: Permission denied``, ``is a folder, not a regular file``).
    """

    def __init__(self, what: str, path: str, problem: str) -> None:
        self.what = what
        self.path = path
        self.problem = problem
        super().__init__(f"{what} {path!r} {problem}")


class EncryptedKeyError(FileError):
    """An encrypted private key that cannot be opened: no passphrase given, or a wrong one."""


def size_text(limit: int) -> str:
    """A size bound in words: ``64 MiB``, or bytes when it is no whole number of MiB."""
    return f"{limit // 2**20} MiB" if limit >= 2**20 and limit % 2**20 == 0 else f"{limit} bytes"


def _shape_problem(status: os.stat_result, limit: int) -> str | None:
    for test, kind in _NOT_REGULAR:
        if test(status.st_mode):
            return f"is {kind}, not a regular file"
    if not stat.S_ISREG(status.st_mode):
        return "is not a regular file"
    if status.st_size > limit:
        return _too_large(limit)
    return None


def _too_large(limit: int) -> str:
    return f"is larger than {size_text(limit)} (the most tlsdiag reads from one file)"


def _unreadable(exc: OSError) -> str:
    return f"cannot be read: {exc.strerror or exc}"


def read_bounded(path: str, what: str = "file", *, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them; FileError otherwise."""
    try:
        status = os.stat(path)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        why = _unreadable(exc) if isinstance(exc, OSError) else f"cannot be read: {exc}"
        raise FileError(what, path, why) from None
    problem = _shape_problem(status, limit)
    if problem is not None:
        raise FileError(what, path, problem)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise FileError(what, path, _unreadable(exc)) from None
    try:
        # The path may have been replaced since the stat: judge the file actually opened.
        problem = _shape_problem(os.fstat(fd), limit)
        if problem is not None:
            raise FileError(what, path, problem)
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, _CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise FileError(what, path, _unreadable(exc)) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise FileError(what, path, _too_large(limit))
    return data


def decode_text(data: bytes, what: str, path: str) -> str:
    """``data`` as UTF-8 text without a leading byte-order mark; FileError naming the line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FileError(
            what,
            path,
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}): "
            "a binary file, or another encoding",
        ) from None
    return text.removeprefix("\ufeff")


def read_text(path: str, what: str = "file", *, limit: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of the regular file ``path`` (see :func:`read_bounded`); FileError."""
    return decode_text(read_bounded(path, what, limit=limit), what, path)


# -- what a file holds ------------------------------------------------------------------------

_PEM_LABEL = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,40})-----")
_PEM_KINDS = (
    ("PRIVATE KEY", "a private key"),
    ("CERTIFICATE REQUEST", "a certificate request (CSR)"),
    ("X509 CRL", "a CRL"),
    ("CERTIFICATE", "a certificate"),
    ("PUBLIC KEY", "a public key"),
    ("PKCS7", "a PKCS#7 bundle"),
)


def material_kind(data: bytes) -> str | None:
    """What certificate material ``data`` holds, in words (``a private key``), or None.

    PEM by the label of its first block; DER by what parses.  Used to say what was given
    when a file is not what its option asks for.
    """
    found = _PEM_LABEL.search(data)
    if found is not None:
        label = found.group(1).decode("ascii")
        for part, kind in _PEM_KINDS:
            if part in label:
                return kind
        return None
    if not data.strip():
        return "empty"
    return _der_kind(data)


def wrong_material(data: bytes, wanted: str) -> str | None:
    """``is a private key, not a certificate`` (or ``is empty``) when ``data`` holds other
    known material than ``wanted`` (``a certificate``, ``a private key``, ``a CRL``)."""
    kind = material_kind(data)
    if kind == "empty":
        return "is empty"
    return None if kind in (None, wanted) else f"is {kind}, not {wanted}"


def _der_kind(data: bytes) -> str | None:
    try:
        x509.load_der_x509_certificate(data)
        return "a certificate"
    except ValueError:
        pass
    try:
        serialization.load_der_private_key(data, password=None)
        return "a private key"
    except TypeError:
        return "a private key"  # an encrypted one
    except (ValueError, UnsupportedAlgorithm):
        pass
    try:
        x509.load_der_x509_crl(data)
        return "a CRL"
    except ValueError:
        return None


def load_private_key(
    path: str, what: str, password: str | None, *, passphrase_option: str
) -> PrivateKeyTypes:
    """The private key in ``path`` (PEM or DER), decrypted with ``password`` when encrypted.

    Never prompts (OpenSSL's own loader would ask on the terminal for a passphrase).
    FileError says what is wrong: the file, an encrypted key without a passphrase (and
    ``passphrase_option``, how to give one), a wrong passphrase, a certificate given instead.
    """
    data = read_bounded(path, what)
    secret = None if password is None else password.encode("utf-8")
    load = (
        serialization.load_pem_private_key
        if b"-----BEGIN" in data
        else serialization.load_der_private_key
    )
    try:
        return load(data, None)
    except TypeError:
        pass  # encrypted: try the passphrase below
    except UnsupportedAlgorithm as exc:
        raise FileError(what, path, f"holds a key of an unsupported algorithm: {exc}") from None
    except ValueError:
        wrong = wrong_material(data, "a private key")
        why = wrong or "is not a private key that parses (PEM or DER expected)"
        raise FileError(what, path, why) from None
    if secret is None:
        raise EncryptedKeyError(
            what,
            path,
            "is an encrypted private key and no passphrase was given: put the passphrase in "
            f"an environment variable and name it with {passphrase_option}",
        )
    try:
        return load(data, secret)
    except (TypeError, ValueError, UnsupportedAlgorithm):
        raise EncryptedKeyError(
            what,
            path,
            f"is an encrypted private key that the passphrase given ({passphrase_option}) "
            "does not decrypt",
        ) from None
