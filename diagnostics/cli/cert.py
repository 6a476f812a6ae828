"""``tlsdiag cert``: make self-signed certificates, certificate requests and the mutual set-up.

A name option holding a control character is refused (exit 2, one line); a non-ASCII ``--cn``
is used as given, with a warning on stderr that it gets no DNS SAN (the ``xn--`` form goes in
``--san``).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any, TextIO

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from diagnostics.cli.common import EXIT_OK, UsageError
from diagnostics.cli.options import positive_int
from diagnostics.model import certificates
from diagnostics.pki import generate
from diagnostics.pki.iso3166 import CountryCodeError, reserved_note

KEY_TYPES = [k.value for k in generate.KeyType]
MUTUAL_PORT = 8443


def _key_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key-type",
        choices=KEY_TYPES,
        default=generate.KeyType.EC256.value,
        help="the key: ec256 (P-256), ec384, rsa2048, rsa3072, rsa4096, or rsa1024 with "
        "--allow-weak (default %(default)s)",
    )
    parser.add_argument("--allow-weak", action="store_true", help="allow RSA keys under 2048 bits")
    parser.add_argument("--force", action="store_true", help="overwrite existing files")


def register(subparsers: Any) -> None:
    """Add ``tlsdiag cert selfsigned|csr|mutual``."""
    cert = subparsers.add_parser("cert", help="make self-signed certificates and requests")
    kinds = cert.add_subparsers(
        dest="cert_command", metavar="KIND", required=True, parser_class=type(cert)
    )

    selfsigned = kinds.add_parser("selfsigned", help="a self-signed certificate and its key")
    selfsigned.add_argument(
        "--cn",
        required=True,
        metavar="NAME",
        help="the subject CN (also the first SAN when a host)",
    )
    selfsigned.add_argument(
        "--san", action="append", default=[], metavar="NAME", help="a DNS name or IP address SAN"
    )
    selfsigned.add_argument(
        "--days",
        type=positive_int,
        default=generate.DEFAULT_DAYS,
        metavar="N",
        help="validity in days (default %(default)s)",
    )
    _key_options(selfsigned)
    selfsigned.add_argument(
        "--out-cert", required=True, type=Path, metavar="FILE", help="where the certificate goes"
    )
    selfsigned.add_argument(
        "--out-key", required=True, type=Path, metavar="FILE", help="where the key goes (0600)"
    )

    csr = kinds.add_parser("csr", help="a certificate request (PKCS#10) and its key")
    csr.add_argument("--cn", required=True, metavar="NAME", help="the subject CN")
    csr.add_argument(
        "--san", action="append", default=[], metavar="NAME", help="a DNS name or IP address SAN"
    )
    csr.add_argument("--country", metavar="CC", help="ISO 3166-1 alpha-2, e.g. DE")
    csr.add_argument("--org", metavar="ORG", help="the subject O (organisation)")
    csr.add_argument("--ou", metavar="OU", help="the subject OU (organisational unit)")
    _key_options(csr)
    csr.add_argument(
        "--out-csr", required=True, type=Path, metavar="FILE", help="where the request goes"
    )
    csr.add_argument(
        "--out-key", required=True, type=Path, metavar="FILE", help="where the key goes (0600)"
    )

    mutual = kinds.add_parser(
        "mutual", help="self-signed server and client pairs that trust each other"
    )
    mutual.add_argument(
        "--server-cn", required=True, metavar="HOST", help="the address clients connect to"
    )
    mutual.add_argument(
        "--server-san",
        action="append",
        default=[],
        metavar="NAME",
        help="another DNS name or IP address of the server",
    )
    mutual.add_argument(
        "--client-cn", required=True, metavar="ACCOUNT", help="the client's account name"
    )
    mutual.add_argument(
        "--days",
        type=positive_int,
        default=generate.DEFAULT_DAYS,
        metavar="N",
        help="validity in days (default %(default)s)",
    )
    _key_options(mutual)
    mutual.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="the folder the four files go to"
    )

    for parser in (selfsigned, csr, mutual):
        parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Make what ``args.cert_command`` asks for; refusals are usage errors (exit 2)."""
    command = {"selfsigned": _selfsigned, "csr": _csr, "mutual": _mutual}[args.cert_command]
    try:
        command(args, out)
    except (generate.CertToolError, CountryCodeError) as exc:
        raise UsageError(f"tlsdiag cert {args.cert_command}: {exc}") from None
    return EXIT_OK


def _warn_about_cn(args: argparse.Namespace) -> None:
    """Say on stderr that a non-ASCII ``--cn`` gets no DNS SAN (the files are still made)."""
    note = generate.cn_san_note(args.cn)
    if note is not None:
        print(f"tlsdiag cert {args.cert_command}: warning: {note}", file=sys.stderr)


def _key(args: argparse.Namespace) -> certificates.PrivateKey:
    return generate.generate_key(generate.KeyType(args.key_type), allow_weak=args.allow_weak)


def _sans_line(extensions: x509.Extensions) -> str:
    try:
        names = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "none"
    listed = [f"DNS:{n}" for n in names.get_values_for_type(x509.DNSName)]
    listed += [f"IP:{n}" for n in names.get_values_for_type(x509.IPAddress)]
    return ", ".join(listed)


def _describe_cert(path: Path, cert: x509.Certificate) -> str:
    key_type, bits = certificates.key_type_and_bits(cert)
    return (
        f"wrote {path}: self-signed certificate {certificates.dn(cert.subject)}\n"
        f"  SAN: {_sans_line(cert.extensions)}\n"
        f"  key: {key_type} {bits} bits; valid until "
        f"{certificates.iso_time(certificates.not_after(cert))}\n"
        f"  SHA-256: {certificates.sha256_hex(cert)}\n"
    )


def _describe_key(path: Path) -> str:
    return f"wrote {path}: private key (mode 0600; it never leaves this machine)\n"


def _selfsigned(args: argparse.Namespace, out: TextIO) -> None:
    key = _key(args)
    cert = generate.self_signed(key, args.cn, sans=args.san, days=args.days)
    pem = cert.public_bytes(Encoding.PEM)
    generate.write_outputs(
        [
            generate.Output(args.out_cert, pem),
            generate.Output(args.out_key, certificates.key_pem(key), private=True),
        ],
        force=args.force,
    )
    out.write(_describe_cert(args.out_cert, cert) + _describe_key(args.out_key))
    _warn_about_cn(args)


def _csr(args: argparse.Namespace, out: TextIO) -> None:
    key = _key(args)
    request = generate.certificate_request(
        key, args.cn, sans=args.san, country=args.country, org=args.org, ou=args.ou
    )
    pem = request.public_bytes(Encoding.PEM)
    generate.write_outputs(
        [
            generate.Output(args.out_csr, pem),
            generate.Output(args.out_key, certificates.key_pem(key), private=True),
        ],
        force=args.force,
    )
    out.write(
        f"wrote {args.out_csr}: certificate request {certificates.dn(request.subject)}\n"
        f"  SAN: {_sans_line(request.extensions)}\n" + _describe_key(args.out_key)
    )
    note = reserved_note(args.country) if args.country else None
    if note:
        out.write(f"note: {note}\n")
    _warn_about_cn(args)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _mutual(args: argparse.Namespace, out: TextIO) -> None:
    setup = generate.mutual_setup(
        args.server_cn,
        args.client_cn,
        server_sans=args.server_san,
        days=args.days,
        key_type=generate.KeyType(args.key_type),
        allow_weak=args.allow_weak,
    )
    outputs = generate.write_mutual(setup, args.out, force=args.force)
    for output in outputs:
        mode = " (private key, mode 0600)" if output.private else ""
        out.write(f"wrote {output.path}{mode}\n")
    files = {output.path.name: shlex.quote(str(output.path)) for output in outputs}
    url = f"https://{_url_host(args.server_cn)}:{MUTUAL_PORT}"
    out.write(
        "\nThe server uses server_cert.pem with server_key.pem and accepts client_cert.pem as "
        "its CA;\nthe client uses client_cert.pem with client_key.pem and accepts "
        "server_cert.pem as its CA.\nExchange only the *_cert.pem files; the keys stay where "
        "they are used.\n\nTest the set-up end to end (two terminals):\n"
        f"  tlsdiag listen {url} --cert {files['server_cert.pem']} "
        f"--key {files['server_key.pem']} --client-ca {files['client_cert.pem']} "
        f"--expect-cn {shlex.quote(args.client_cn)}\n"
        f"  tlsdiag probe {url} --ca {files['server_cert.pem']} "
        f"--cert {files['client_cert.pem']} --key {files['client_key.pem']}\n"
    )
