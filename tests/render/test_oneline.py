"""Names as ``openssl s_client`` 3.0 prints them: the escaping and quoting rules, pure.

Each expected string below is what ``openssl x509 -noout -subject`` (OpenSSL 3.0.19) printed
for the same name; ``tests/integration/test_sclient_names.py`` checks the same rules against
the ``openssl`` command itself, over many more names.
"""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from diagnostics.render.oneline import issuer, oneline, subject
from tests.support import pki

A = x509.NameAttribute
CN, ORG, OU = NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME


def _name(*pairs: tuple[x509.ObjectIdentifier, str]) -> bytes:
    return x509.Name([A(oid, value) for oid, value in pairs]).public_bytes()


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([(ORG, "Example, Inc."), (CN, "a+b")], 'O = "Example, Inc.", CN = "a+b"'),
        ([(CN, "München")], r"CN = M\C3\BCnchen"),
        ([(CN, 'q"uo"te'), (ORG, "back\\slash")], r"CN = q\"uo\"te, O = back\\slash"),
        ([(CN, "ctl\n\r\x07\x1b[31m\x7f")], r"CN = ctl\0A\0D\07\1B[31m\7F"),
        ([(CN, "x\x00y"), (ORG, "tab\tx")], r"CN = x\00y, O = tab\09x"),
        ([(CN, "\u0085\u009b"), (ORG, "")], r"CN = \C2\85\C2\9B, O = "),
        (
            [(CN, " lead#"), (ORG, "#hash"), (OU, "trail ")],
            'CN = " lead#", O = "#hash", OU = "trail "',
        ),
        ([(CN, "#"), (ORG, " "), (OU, "  ")], 'CN = #, O = " ", OU = "  "'),
        ([(CN, "<>;=/"), (ORG, 'x, y"z')], r'CN = "<>;=/", O = "x, y\"z"'),
        ([(CN, "a=b"), (ORG, "/x"), (OU, "a#b")], "CN = a=b, O = /x, OU = a#b"),
        ([(CN, "a\\,b")], r'CN = "a\\,b"'),
        ([(ORG, "x, CN = admin")], 'O = "x, CN = admin"'),
        ([(CN, "\U0001f600")], r"CN = \F0\9F\98\80"),
    ],
)
def test_values_are_escaped_and_quoted_as_openssl_does(
    pairs: list[tuple[x509.ObjectIdentifier, str]], expected: str
) -> None:
    """Quotes around a value with , + < > ; or a leading/trailing space or leading #;
    backslash before " and \\; \\XX for control characters and each byte above 0x7F."""
    assert oneline(_name(*pairs)) == expected


def test_string_types_are_converted_to_utf8_first() -> None:
    """A UniversalString and a BMPString by their characters; a T61String byte by byte as
    Latin-1 (its 0xFC is ü, printed \\C3\\BC)."""
    universal = x509.Name([A(CN, "Mün\U0001f600", _type=_ASN1Type.UniversalString)])
    assert oneline(universal.public_bytes()) == r"CN = M\C3\BCn\F0\9F\98\80"
    bmp = x509.Name([A(CN, "München, AG", _type=_ASN1Type.BMPString)])
    assert oneline(bmp.public_bytes()) == r'CN = "M\C3\BCnchen, AG"'
    value = b"M\xfcnchen"
    attribute = b"\x06\x03\x55\x04\x03\x14" + bytes([len(value)]) + value  # CN, T61String
    pair = b"\x30" + bytes([len(attribute)]) + attribute
    rdn = b"\x31" + bytes([len(pair)]) + pair
    assert oneline(b"\x30" + bytes([len(rdn)]) + rdn) == r"CN = M\C3\BCnchen"


def test_other_types_are_dumped_in_hex() -> None:
    """A value that is no string (a BIT STRING) is # and the hex of its DER encoding."""
    name = x509.Name([A(NameOID.X500_UNIQUE_IDENTIFIER, b"\x01\x02", _type=_ASN1Type.BitString)])
    assert oneline(name.public_bytes()) == "x500UniqueIdentifier = #03020102"


def test_multi_valued_rdns_unknown_oids_and_the_short_names() -> None:
    """`` + `` inside one RDN; OpenSSL's short names; a dotted OID where it has none."""
    multi = x509.Name(
        [
            x509.RelativeDistinguishedName([A(CN, "b"), A(ORG, "a")]),
            x509.RelativeDistinguishedName([A(NameOID.COUNTRY_NAME, "DE")]),
        ]
    )
    assert oneline(multi.public_bytes()) == "CN = b + O = a, C = DE"
    names = _name(
        (x509.ObjectIdentifier("1.2.3.4.5"), "x"),
        (NameOID.BUSINESS_CATEGORY, "b"),
        (NameOID.JURISDICTION_COUNTRY_NAME, "DE"),
        (NameOID.UNSTRUCTURED_NAME, "u"),
    )
    assert (
        oneline(names)
        == "1.2.3.4.5 = x, businessCategory = b, jurisdictionC = DE, unstructuredName = u"
    )
    assert oneline(x509.Name([]).public_bytes()) == ""


def test_subject_and_issuer_come_from_the_certificate_bytes() -> None:
    """A certificate's subject and issuer, each in its own form."""
    root = pki.make_ca("Root, the first", organization="Zürich AG")
    leaf = pki.issue(root, "host+1", organization='A "B" C')
    assert subject(leaf.cert) == r'O = A \"B\" C, CN = "host+1"'
    assert issuer(leaf.cert) == r'O = Z\C3\BCrich AG, CN = "Root, the first"'
    assert subject(root.cert) == issuer(root.cert)


def test_a_name_that_is_no_der_name_is_refused() -> None:
    """oneline() reads DER Names only: anything else is a ValueError, not garbage."""
    with pytest.raises(ValueError):
        oneline(b"\x31\x00")
    for cut_short in (b"\x30\x05\x31", b"\x30", b"\x1f\x81", b"\x30\x84\x01"):
        with pytest.raises(ValueError):
            oneline(cut_short)
