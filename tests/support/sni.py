"""Certificates for the SNI comparison tests: a root, one for localhost, a default one."""

from __future__ import annotations

from pathlib import Path

import attrs

from diagnostics.model.certificates import key_pem
from tests.support import pki


@attrs.frozen
class Certs:
    """A root, the certificate for localhost and a default one for another name, as files."""

    root: Path
    named: Path
    named_key: Path
    default: Path
    default_key: Path


def _write(directory: Path, stem: str, issued: pki.Issued) -> tuple[Path, Path]:
    cert, key = directory / f"{stem}.pem", directory / f"{stem}.key"
    cert.write_bytes(pki.pem([issued.cert]))
    key.write_bytes(key_pem(issued.key))
    key.chmod(0o600)
    return cert, key


def write_certs(directory: Path) -> Certs:
    """A fresh root with a localhost certificate and a default.example one, as files."""
    directory.mkdir(parents=True, exist_ok=True)
    root = pki.make_ca("SNI Test Root CA")
    root_file = directory / "root.pem"
    root_file.write_bytes(pki.pem([root.cert]))
    named = pki.issue(root, "localhost", sans=("localhost",))
    default = pki.issue(root, "default.example", sans=("default.example",))
    return Certs(
        root_file, *_write(directory, "named", named), *_write(directory, "default", default)
    )
