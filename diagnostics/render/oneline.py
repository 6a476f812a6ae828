# -*- test-case-name: tests.render.test_oneline -*-
"""Distinguished names exactly as ``openssl s_client`` 3.0 prints them (its default
``-nameopt``: ``oneline`` with RFC 2253 escaping).

Pure: read from the certificate's own DER bytes, so the string types, the order of the
attributes and every byte are the ones OpenSSL sees.  The rules (OpenSSL's
``X509_NAME_print_ex`` with ``XN_FLAG_ONELINE``, checked against the ``openssl`` 3.0 command by
``tests/integration/test_sclient_names.py``):

* attributes in certificate order, ``SHORTNAME = value``, separated by ``, ``; the attributes
  of one multi-valued RDN by `` + ``; an attribute OpenSSL has no name for by its dotted OID;
* the value is converted to UTF-8 (a BMPString or UniversalString by its characters, a
  PrintableString, IA5String or T61String one byte per character, as Latin-1; a UTF8String as
  its bytes), then every byte of it is written as follows: a control byte (0x00 to 0x1F, 0x7F)
  and every byte above 0x7F as ``\\XX`` (``München`` is ``M\\C3\\BCnchen``); ``"`` as ``\\"``
  and ``\\`` as ``\\\\``; a value holding ``,`` ``+`` ``<`` ``>`` or ``;``, starting with a
  space or ``#`` or ending with a space is put in double quotes (``O = "Example, Inc."``), so
  that no value can pose as another attribute;
* a value of any other ASN.1 type (a BIT STRING ``x500UniqueIdentifier``) is ``#`` and the
  upper-case hex of its DER encoding.
"""

from __future__ import annotations

from collections.abc import Iterator

from cryptography import x509

__all__ = ["issuer", "oneline", "subject"]

# OpenSSL's short names of the name attributes it knows (its objects.txt); any other is shown by
# its dotted OID, as OpenSSL shows an attribute it does not know.
_SHORT_NAMES = dict(
    line.split()
    for line in """
        2.5.4.3 CN
        2.5.4.4 SN
        2.5.4.5 serialNumber
        2.5.4.6 C
        2.5.4.7 L
        2.5.4.8 ST
        2.5.4.9 street
        2.5.4.10 O
        2.5.4.11 OU
        2.5.4.12 title
        2.5.4.13 description
        2.5.4.15 businessCategory
        2.5.4.16 postalAddress
        2.5.4.17 postalCode
        2.5.4.18 postOfficeBox
        2.5.4.20 telephoneNumber
        2.5.4.41 name
        2.5.4.42 GN
        2.5.4.43 initials
        2.5.4.44 generationQualifier
        2.5.4.45 x500UniqueIdentifier
        2.5.4.46 dnQualifier
        2.5.4.65 pseudonym
        2.5.4.72 role
        2.5.4.97 organizationIdentifier
        0.9.2342.19200300.100.1.1 UID
        0.9.2342.19200300.100.1.25 DC
        1.2.840.113549.1.9.1 emailAddress
        1.2.840.113549.1.9.2 unstructuredName
        1.2.840.113549.1.9.8 unstructuredAddress
        1.3.6.1.4.1.311.60.2.1.1 jurisdictionL
        1.3.6.1.4.1.311.60.2.1.2 jurisdictionST
        1.3.6.1.4.1.311.60.2.1.3 jurisdictionC
        1.2.643.3.131.1.1 INN
        1.2.643.100.1 OGRN
        1.2.643.100.3 SNILS
    """.strip().splitlines()
)

# Bytes per character of the string types OpenSSL converts to UTF-8 (tag: width); a UTF8String
# (tag 12) is taken byte by byte as it is; any other tag is dumped in hex.
_WIDTHS = {12: 0, 18: 1, 19: 1, 20: 1, 22: 1, 23: 1, 24: 1, 26: 1, 28: 4, 30: 2}
_QUOTED = frozenset(b",+<>;")  # a value holding one of these is put in quotes
_BACKSLASHED = {ord('"'): '\\"', ord("\\"): "\\\\"}


def subject(cert: x509.Certificate) -> str:
    """The certificate's subject as ``openssl s_client`` prints it."""
    return _name_of(cert, 4)


def issuer(cert: x509.Certificate) -> str:
    """The certificate's issuer as ``openssl s_client`` prints it."""
    return _name_of(cert, 2)


def _name_of(cert: x509.Certificate, index: int) -> str:
    """Name ``index`` of the TBSCertificate (past the version: 2 is the issuer, 4 the
    subject), read from the certificate's bytes; cryptography's encoding of the name when
    those do not parse."""
    try:
        tbs = _elements(cert.tbs_certificate_bytes)
        content = next(tbs)[3]
        fields = list(_elements(content))
        if fields and fields[0][0] == 0xA0:  # the [0] version
            fields = fields[1:]
        tag, _, _, name = fields[index]
        if tag != 0x30:
            raise ValueError("not a Name")
        return _oneline_content(name)
    except (ValueError, IndexError, StopIteration):
        return oneline((cert.subject if index == 4 else cert.issuer).public_bytes())


def oneline(name_der: bytes) -> str:
    """A DER ``Name`` the way OpenSSL 3.0 prints it by default (``C = DE, O = "A, B"``)."""
    tag, _, _, content = next(_elements(name_der))
    if tag != 0x30:
        raise ValueError("not a DER Name")
    return _oneline_content(content)


def _oneline_content(content: bytes) -> str:
    rdns = []
    for _, _, _, rdn in _elements(content):
        attributes = []
        for _, _, _, pair in _elements(rdn):
            (_, _, _, oid), (tag, start, end, value) = list(_elements(pair))[:2]
            key = _SHORT_NAMES.get(_dotted(oid)) or _dotted(oid)
            attributes.append(f"{key} = {_value(tag, pair[start:end], value)}")
        rdns.append(" + ".join(attributes))
    return ", ".join(rdns)


def _elements(data: bytes) -> Iterator[tuple[int, int, int, bytes]]:
    """The DER elements in ``data``, one after the other: (tag, start, end, content), where
    ``data[start:end]`` is the whole element."""
    at = 0
    while at < len(data):
        start = at
        tag = data[at]
        at += 1
        if tag & 0x1F == 0x1F:  # a high tag number: base-128 digits follow
            while at < len(data) and data[at] & 0x80:
                at += 1
            at += 1
        if at >= len(data):
            raise ValueError("DER element cut short")
        length = data[at]
        at += 1
        if length & 0x80:
            count = length & 0x7F
            if not 0 < count <= 4 or at + count > len(data):
                raise ValueError("bad DER length")
            length = int.from_bytes(data[at : at + count], "big")
            at += count
        end = at + length
        if end > len(data):
            raise ValueError("DER element runs past its container")
        yield tag, start, end, data[at:end]
        at = end


def _dotted(oid: bytes) -> str:
    """A DER OBJECT IDENTIFIER's content as a dotted string."""
    numbers: list[int] = []
    value = 0
    for byte in oid:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            numbers.append(value)
            value = 0
    if not numbers:
        raise ValueError("empty OID")
    first = min(numbers[0] // 40, 2)
    return ".".join(map(str, [first, numbers[0] - 40 * first, *numbers[1:]]))


def _value(tag: int, element: bytes, content: bytes) -> str:
    """One attribute value, escaped and quoted as OpenSSL does."""
    width = _WIDTHS.get(tag)
    if width is None:
        return "#" + element.hex().upper()
    if width == 0:
        chars = [bytes([b]) for b in content]
    else:
        codes = [
            int.from_bytes(content[i : i + width], "big") for i in range(0, len(content), width)
        ]
        chars = [chr(min(c, 0x10FFFF)).encode("utf-8", "surrogatepass") for c in codes]
    last = len(chars) - 1
    quoted = any(_needs_quotes(char, index, last) for index, char in enumerate(chars))
    text = "".join(_byte(b) for char in chars for b in char)
    return f'"{text}"' if quoted else text


def _needs_quotes(char: bytes, index: int, last: int) -> bool:
    """True for a character that makes OpenSSL quote the value: one of ``,+<>;`` anywhere,
    a space first or last, ``#`` first (unless it is also the last: one check per place, and
    the last position's wins)."""
    if len(char) != 1:
        return False  # a multi-byte character is escaped byte by byte anyway
    code = char[0]
    if index == last:
        return code in _QUOTED or code == 0x20
    if index == 0:
        return code in _QUOTED or code in (0x20, 0x23)
    return code in _QUOTED


def _byte(code: int) -> str:
    if code < 0x20 or code >= 0x7F:
        return f"\\{code:02X}"
    return _BACKSLASHED.get(code) or chr(code)
