"""``--format s_client`` names against the real ``openssl`` 3 command: byte for byte.

``openssl x509 -noout -subject -issuer`` prints names with the same default ``-nameopt`` as
``s_client``; it is asked about every short name tlsdiag knows and about many seeded random
names full of the characters that need quoting or escaping.  Then a real ``openssl s_server``
serves a chain whose names hold a comma, a plus, quotes, a backslash, ``München`` and control
characters (a forged ``Verify return code`` line among them), and the subject and issuer lines
of the real ``openssl s_client`` and of ``tlsdiag probe --format s_client`` must be equal,
without normalising anything.  Skipped without an ``openssl`` command.
"""

from __future__ import annotations

import random
import re
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from diagnostics.model.escape import CONTROL
from diagnostics.render import oneline
from tests.support import memtls, pki, servers

needs_openssl = pytest.mark.skipif(servers.OPENSSL is None, reason="no openssl command")
pytestmark = needs_openssl


def _openssl_names(cert: x509.Certificate) -> str:
    """What ``openssl x509 -noout -subject -issuer`` prints for ``cert`` (bytes as Latin-1,
    so that nothing is decoded away)."""
    assert servers.OPENSSL is not None
    done = subprocess.run(
        [servers.OPENSSL, "x509", "-noout", "-subject", "-issuer"],
        input=cert.public_bytes(serialization.Encoding.PEM),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.decode("latin-1")


def _ours(cert: x509.Certificate) -> str:
    return f"subject={oneline.subject(cert)}\nissuer={oneline.issuer(cert)}\n"


def _self_signed(name: x509.Name) -> x509.Certificate:
    issued = pki.issue(None, "x", sans=())
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(issued.cert.public_key())
        .serial_number(1)
        .not_valid_before(issued.cert.not_valid_before_utc)
        .not_valid_after(issued.cert.not_valid_after_utc)
    )
    return builder.sign(issued.key, issued.cert.signature_hash_algorithm)


def test_every_short_name_is_openssls() -> None:
    """Each attribute in the short-name table, in one name, printed as OpenSSL prints it."""
    from diagnostics.render.oneline import _SHORT_NAMES

    attributes = [
        x509.NameAttribute(x509.ObjectIdentifier(dotted), "DE" if short.endswith("C") else "v")
        for dotted, short in _SHORT_NAMES.items()
    ]
    attributes.append(x509.NameAttribute(x509.ObjectIdentifier("1.2.3.4.5"), "unknown"))
    cert = _self_signed(x509.Name(attributes))
    assert _ours(cert) == _openssl_names(cert)


_ALPHABET = [chr(c) for c in range(1, 128)] + list('ü€😀 #",+<>;=\\/') * 3
_OIDS = (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME)
_TYPES = (None, _ASN1Type.BMPString, _ASN1Type.UniversalString)


def _random_name(rnd: random.Random) -> x509.Name:
    attributes = []
    for _ in range(rnd.randint(1, 3)):
        value = "".join(rnd.choice(_ALPHABET) for _ in range(rnd.randint(1, 6)))
        kind = rnd.choice(_TYPES)
        if kind is _ASN1Type.BMPString:
            value = value.replace("😀", "x")  # beyond the BMP: OpenSSL refuses the certificate
        extra = {"_type": kind} if kind else {}
        attributes.append(x509.NameAttribute(rnd.choice(_OIDS), value, **extra))  # type: ignore[arg-type]
    return x509.Name(attributes)


@pytest.mark.parametrize("seed", range(4))
def test_random_names_match_openssl(seed: int) -> None:
    """Seeded random names of control characters, specials, quotes, backslashes and
    non-ASCII text, as UTF8String, BMPString and UniversalString: all as OpenSSL prints them."""
    rnd = random.Random(seed)
    for _ in range(25):
        cert = _self_signed(_random_name(rnd))
        assert _ours(cert) == _openssl_names(cert), [a.value for a in cert.subject]


# -- s_server and s_client ----------------------------------------------------------------

ROOT_O = 'Example, Inc. "Root" + \\ München'
ROOT_CN = "Root\x1b]0;owned\x07 CA"
LEAF_O = "Leaf, Ltd\nVerify return code: 0 (ok)"
LEAF_CN = "localhost\r\x1b[31m+red"
_NAME_LINE = re.compile(r"^(depth=\d+ | *\d+ s:| +i:|subject=|issuer=)")


def _name_lines(text: str) -> list[str]:
    """The lines that carry a name: depth=, s:, i:, subject= and issuer=."""
    return [line for line in text.split("\n") if _NAME_LINE.match(line)]


def test_subject_and_issuer_lines_match_real_s_client(tmp_path: Path) -> None:
    """Against one real s_server, every name line of tlsdiag equals s_client's, and none of
    tlsdiag's lines holds a raw control character or poses as s_client's verdict."""
    root = pki.make_ca(ROOT_CN, organization=ROOT_O, key_type="rsa")
    leaf = pki.issue(root, LEAF_CN, organization=LEAF_O, sans=("localhost",), key_type="rsa")
    cert = Path(memtls.write_pem(tmp_path / "leaf.pem", [leaf.cert]))
    key = Path(memtls.write_key(tmp_path / "leaf.key", leaf.key))
    ca = memtls.write_pem(tmp_path / "root.pem", [root.cert])
    assert servers.OPENSSL is not None
    with servers.s_server(tmp_path, cert, key) as server:
        theirs = subprocess.run(
            [
                *(servers.OPENSSL, "s_client", "-connect", f"127.0.0.1:{server.port}"),
                *("-servername", "localhost", "-CAfile", ca),
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
        )
        ours = servers.run_tlsdiag(
            "probe",
            f"tls://127.0.0.1:{server.port}",
            *("--servername", "localhost", "--ca", ca, "--format", "s_client"),
        )
    assert theirs.returncode == 0, theirs.stderr
    their_text = (theirs.stderr + theirs.stdout).decode("latin-1")
    assert ours.returncode == 0, ours.stdout + ours.stderr
    assert _name_lines(ours.stdout) == _name_lines(their_text)
    assert len(_name_lines(ours.stdout)) == 6  # depth 1, depth 0, s:, i:, subject=, issuer=
    assert r'O = "Leaf, Ltd\0AVerify return code: 0 (ok)", CN = "localhost\0D\1B[31m+red"' in (
        ours.stdout
    )
    assert r'O = "Example, Inc. \"Root\" + \\ M\C3\BCnchen"' in ours.stdout
    assert CONTROL.search(ours.stdout.replace("\n", "")) is None
    verdicts = [line for line in ours.stdout.split("\n") if line.startswith("Verify return")]
    assert verdicts == ["Verify return code: 0 (ok)"]
