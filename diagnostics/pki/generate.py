"""Making certificate material: keys, self-signed certificates, requests, the mutual set-up.

Built with ``cryptography`` only.  Pure data apart from ``write_outputs``, which writes the
files: private keys are created with mode 0600, and nothing is overwritten without ``force``.

Names are checked before anything is made: a control character (C0, DEL, C1) in the CN, O,
OU, country or a SAN is refused, since it would reach the terminal of whoever prints the
certificate; a non-ASCII CN is used as given but never becomes a DNS SAN
(:func:`cn_san_note` says so; the ``xn--`` A-label form goes in the SANs).
"""

from __future__ import annotations

import datetime
import enum
import ipaddress
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from diagnostics.model.certificates import MIN_RSA_BITS, PrivateKey, key_pem
from diagnostics.model.errors import TlsdiagError
from diagnostics.model.escape import escape, first_control
from diagnostics.pki.iso3166 import check_country

# OpenSSL's default security level 2 (most current distributions) refuses RSA keys below this.
# X.509's upper bound for CN, O and OU (RFC 5280, ub-common-name and friends).
MAX_NAME_LENGTH = 64
DEFAULT_DAYS = 365
# Certificates start an hour in the past so that a partner whose clock runs a little behind
# does not see a certificate that is not yet valid.
BACKDATE = datetime.timedelta(hours=1)
# The last instant X.509 can express (RFC 5280's "no well-defined expiration date").
LATEST_NOT_AFTER = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)


class KeyType(enum.StrEnum):
    """The key types the tool generates."""

    EC256 = "ec256"
    EC384 = "ec384"
    RSA1024 = "rsa1024"
    RSA2048 = "rsa2048"
    RSA3072 = "rsa3072"
    RSA4096 = "rsa4096"

    @property
    def bits(self) -> int:
        """The key size in bits."""
        return int(self.value.removeprefix("ec").removeprefix("rsa"))

    @property
    def is_rsa(self) -> bool:
        """True for RSA keys."""
        return self.value.startswith("rsa")

    @property
    def is_weak(self) -> bool:
        """True when OpenSSL at security level 2 refuses the key."""
        return self.is_rsa and self.bits < MIN_RSA_BITS


class CertToolError(TlsdiagError):
    """Input or output the tool refuses; the message is one line for the user."""


class WeakKeyError(CertToolError):
    """A key type below OpenSSL's default security level, asked for without ``allow_weak``."""


class OutputExistsError(CertToolError):
    """An output file exists and ``force`` was not given; nothing was written."""


class NameProblemError(CertToolError):
    """A common name, subject alternative name or subject attribute that cannot be used."""


def generate_key(key_type: KeyType = KeyType.EC256, *, allow_weak: bool = False) -> PrivateKey:
    """A new private key of ``key_type``; weak RSA keys only with ``allow_weak``."""
    if key_type.is_weak and not allow_weak:
        raise WeakKeyError(
            f"{key_type.value} refused: OpenSSL at security level 2 (the default of most "
            f"current systems) rejects RSA keys under {MIN_RSA_BITS} bits, so peers would "
            "refuse the certificate; use ec256 or rsa2048, or allow it with --allow-weak"
        )
    if key_type is KeyType.EC256:
        return ec.generate_private_key(ec.SECP256R1())
    if key_type is KeyType.EC384:
        return ec.generate_private_key(ec.SECP384R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=key_type.bits)


# -- names ------------------------------------------------------------------------------

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")


def is_host_name(name: str) -> bool:
    """True for a DNS host name (letters, digits, hyphens; a leading ``*.`` label allowed)."""
    if not name.isascii():
        return False
    labels = name.split(".")
    if labels[0] == "*" and len(labels) > 2:
        labels = labels[1:]
    return len(name) <= 253 and all(_LABEL.match(label) for label in labels)


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _refuse_control(label: str, value: str) -> None:
    """A name with a control character in it is refused: it would reach the terminal of
    everyone who ever prints the certificate."""
    control = first_control(value)
    if control is not None:
        raise NameProblemError(
            f"the {label} '{escape(value)}' contains the control character {control}; "
            "names may not carry control characters"
        )


def general_names(names: Iterable[str]) -> list[x509.GeneralName]:
    """Subject alternative names: IP addresses as IP SANs, host names as DNS SANs.

    Duplicates are dropped, first occurrence kept.
    """
    out: list[x509.GeneralName] = []
    for name in names:
        _refuse_control("SAN", name)
        address = _ip(name)
        entry: x509.GeneralName
        if address is not None:
            entry = x509.IPAddress(address)
        elif is_host_name(name):
            entry = x509.DNSName(name)
        elif not name.isascii():
            raise NameProblemError(
                f"{name!r} is not an ASCII host name: give it in its xn-- (A-label) form"
            )
        else:
            raise NameProblemError(f"{name!r} is neither an IP address nor a DNS host name")
        if entry not in out:
            out.append(entry)
    return out


def _is_name_or_address(text: str) -> bool:
    return _ip(text) is not None or is_host_name(text)


def _checked(label: str, value: str) -> str:
    _refuse_control(label, value)
    if not value.strip():
        raise NameProblemError(f"the {label} is empty")
    if len(value) > MAX_NAME_LENGTH:
        raise NameProblemError(
            f"the {label} {value!r} has {len(value)} characters; X.509 allows at most "
            f"{MAX_NAME_LENGTH}"
        )
    return value


def subject_name(
    cn: str, *, country: str | None = None, org: str | None = None, ou: str | None = None
) -> x509.Name:
    """A subject ``C, O, OU, CN`` (absent parts left out); the country is checked."""
    attributes = []
    if country is not None:
        _refuse_control("country code", country)
        attributes.append(x509.NameAttribute(NameOID.COUNTRY_NAME, check_country(country)))
    if org is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, _checked("O", org)))
    if ou is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, _checked("OU", ou)))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, _checked("CN", cn)))
    return x509.Name(attributes)


def cn_san_note(cn: str) -> str | None:
    """Why a common name gets no DNS SAN although it may be meant as a host name: a
    non-ASCII CN (an internationalised name) is not made a SAN; None for any other CN.

    The tool does not convert it to its A-label itself (IDNA 2008 and the older IDNA 2003
    differ, ``straße`` among others): the user gives the ``xn--`` form with ``--san``.
    """
    if cn.isascii():
        return None
    return (
        f"the CN '{escape(cn)}' is not ASCII, so it is not added as a DNS SAN and clients "
        "that check host names will not match it; if it is a host name, give its xn-- "
        "(A-label) form with --san"
    )


def _all_sans(cn: str, sans: Sequence[str], cn_as_san: bool) -> list[x509.GeneralName]:
    # A client matches the SANs only, never the CN, once any SAN is present.
    first = [cn] if cn_as_san and _is_name_or_address(cn) else []
    return general_names([*first, *sans])


def _digest(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


def _key_usage(key: PrivateKey) -> x509.KeyUsage:
    # RSA keys may also encrypt the TLS 1.2 pre-master secret (RSA key exchange).
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=isinstance(key, rsa.RSAPrivateKey),
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


# -- certificates and requests ----------------------------------------------------------


def self_signed(
    key: PrivateKey,
    cn: str,
    *,
    sans: Sequence[str] = (),
    days: int = DEFAULT_DAYS,
    cn_as_san: bool = True,
    now: datetime.datetime | None = None,
) -> x509.Certificate:
    """A self-signed end-entity certificate for TLS servers and clients.

    The CN is also a SAN when it is a host name or an IP address (and ``cn_as_san``).
    """
    if days < 1:
        raise CertToolError(f"a certificate must be valid for at least one day, not {days}")
    start = (now or datetime.datetime.now(datetime.UTC)) - BACKDATE
    try:
        end = start + BACKDATE + datetime.timedelta(days=days)
    except OverflowError:
        end = None
    if end is None or end > LATEST_NOT_AFTER:
        raise CertToolError(
            f"{days} days would end after {LATEST_NOT_AFTER:%Y-%m-%d}, the last date a "
            "certificate can carry"
        )
    subject = subject_name(cn)
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(key), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
    )
    names = _all_sans(cn, sans, cn_as_san)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, _digest(key))


def certificate_request(
    key: PrivateKey,
    cn: str,
    *,
    sans: Sequence[str] = (),
    country: str | None = None,
    org: str | None = None,
    ou: str | None = None,
) -> x509.CertificateSigningRequest:
    """A certificate signing request (PKCS#10) with the subject and the SANs asked for."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        subject_name(cn, country=country, org=org, ou=ou)
    )
    names = _all_sans(cn, sans, cn_as_san=True)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, _digest(key))


# -- writing files ----------------------------------------------------------------------


@attrs.frozen
class Output:
    """One file to write; ``private`` files get mode 0600."""

    path: Path
    data: bytes
    private: bool = False

    @property
    def mode(self) -> int:
        """The permission bits the file is created with."""
        return 0o600 if self.private else 0o644


def _problems(outputs: Sequence[Output], force: bool) -> tuple[list[str], list[str]]:
    """(existing files, other problems) of a set of outputs."""
    existing, other = [], []
    seen: set[Path] = set()
    for output in outputs:
        path = output.path
        resolved = path.resolve()
        if resolved in seen:
            other.append(f"{path} is given for two outputs")
        seen.add(resolved)
        if path.is_dir():
            other.append(f"{path} is a directory")
        elif path.exists() or path.is_symlink():
            existing.append(str(path))
        if not path.parent.is_dir():
            other.append(f"the directory of {path} does not exist")
    return ([] if force else existing), other


def _create(output: Output, *, replace: bool) -> None:
    path = output.path
    target = path
    if replace:
        # Write beside the old file and rename over it: the old file's mode never applies.
        target = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, output.mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(output.data)
        if replace:
            os.replace(target, path)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def write_outputs(outputs: Sequence[Output], *, force: bool = False) -> None:
    """Write every output, or none: all are checked before the first is written.

    Without ``force`` an existing file is an ``OutputExistsError``.  Private files are
    created with mode 0600 (never loosened then tightened).
    """
    existing, other = _problems(outputs, force)
    if other:
        raise CertToolError("; ".join(other))
    if existing:
        raise OutputExistsError(
            f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
            "nothing was written (--force overwrites)"
        )
    created: list[Path] = []
    try:
        for output in outputs:
            replace = force and output.path.exists()
            _create(output, replace=replace)
            if not replace:
                created.append(output.path)
    except OSError as exc:
        for path in created:
            path.unlink(missing_ok=True)
        raise CertToolError(f"{exc.filename or 'output'}: {exc.strerror or exc}") from None


# -- the mutual self-signed set-up ------------------------------------------------------

MUTUAL_FILES = ("server_key.pem", "server_cert.pem", "client_key.pem", "client_cert.pem")


@attrs.frozen
class MutualSetup:
    """Two self-signed pairs: each side trusts the other's certificate as its CA."""

    server_key: PrivateKey
    server_cert: x509.Certificate
    client_key: PrivateKey
    client_cert: x509.Certificate

    def outputs(self, directory: Path) -> list[Output]:
        """The four files, named as in ``MUTUAL_FILES``, in ``directory``."""
        pem = serialization.Encoding.PEM
        data = (
            (key_pem(self.server_key), True),
            (self.server_cert.public_bytes(pem), False),
            (key_pem(self.client_key), True),
            (self.client_cert.public_bytes(pem), False),
        )
        return [
            Output(directory / name, content, private)
            for name, (content, private) in zip(MUTUAL_FILES, data, strict=True)
        ]


def mutual_setup(
    server_cn: str,
    client_cn: str,
    *,
    server_sans: Sequence[str] = (),
    days: int = DEFAULT_DAYS,
    key_type: KeyType = KeyType.EC256,
    allow_weak: bool = False,
) -> MutualSetup:
    """The server's pair (CN and SAN: its address) and the client's (CN: the account name)."""
    _refuse_control("server CN", server_cn)
    _refuse_control("client CN", client_cn)
    if not _is_name_or_address(server_cn):
        alabel = "; give a non-ASCII host name in its xn-- (A-label) form"
        raise NameProblemError(
            f"the server CN {server_cn!r} must be the address clients connect to "
            f"(a host name or an IP address){'' if server_cn.isascii() else alabel}"
        )
    server_key = generate_key(key_type, allow_weak=allow_weak)
    client_key = generate_key(key_type, allow_weak=allow_weak)
    return MutualSetup(
        server_key=server_key,
        server_cert=self_signed(server_key, server_cn, sans=server_sans, days=days),
        client_key=client_key,
        # The account name is matched against the subject CN; it is no host name.
        client_cert=self_signed(client_key, client_cn, days=days, cn_as_san=False),
    )


def write_mutual(setup: MutualSetup, directory: Path, *, force: bool = False) -> list[Output]:
    """Write the set-up's four files into ``directory`` (created when missing)."""
    made = not directory.exists()
    if made:
        try:
            directory.mkdir(parents=True)
        except OSError as exc:
            raise CertToolError(f"{directory}: {exc.strerror or exc}") from None
    outputs = setup.outputs(directory)
    try:
        write_outputs(outputs, force=force)
    except CertToolError:
        if made:
            directory.rmdir()
        raise
    return outputs
