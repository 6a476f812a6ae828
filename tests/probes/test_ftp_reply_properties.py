"""Property-based tests of the FTP control channel's reply reader and the PASV/EPSV parsers.

Whatever a server sends, in whatever pieces it arrives: no exception escapes the reader,
every reply it delivers is a three-digit code with lines that hold no line break, and a
stream it cannot read ends in one classified error (:class:`FTPProtocolError`).  Well-formed
replies (RFC 959 single and multi-line) are read back exactly, however the bytes are cut.
"""

from __future__ import annotations

import ipaddress
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.testing import StringTransport

from diagnostics.probes.ftps import (
    MAX_LINE,
    MAX_REPLY_LINES,
    ControlChannel,
    FTPProtocolError,
    Reply,
    parse_epsv,
    parse_pasv,
)


def _feed(data: bytes, cuts: list[int]) -> tuple[ControlChannel, list[Reply], StringTransport]:
    """Feed ``data`` to a fresh channel in pieces cut at ``cuts``; the replies it delivered."""
    channel = ControlChannel()
    transport = StringTransport()
    channel.makeConnection(transport)
    edges = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    for start, end in itertools.pairwise(edges):
        channel.dataReceived(data[start:end])
    replies = list(channel.replies)
    return channel, replies, transport


_PIECES = st.sampled_from(
    [
        b"220",
        b"220-",
        b"220 ",
        b"\r\n",
        b"\n",
        b"\r",
        b"-",
        b" ",
        b"\x16\x03\x01",
        b"\x00",
        b"\xff\xfe",
        b"\xe2\x80\xa8",
        "٢٢٠".encode(),
        b"999 x",
        b"000 y",
        b"a" * 50,
    ]
)
HOSTILE = st.one_of(
    st.binary(max_size=2000),
    st.lists(st.one_of(_PIECES, st.binary(max_size=20)), max_size=60).map(b"".join),
)


@given(HOSTILE, st.lists(st.integers(min_value=0, max_value=4000), max_size=8))
@settings(max_examples=800, deadline=None)
def test_no_exception_escapes_and_replies_are_well_formed(data: bytes, cuts: list[int]) -> None:
    channel, replies, transport = _feed(data, cuts)
    for reply in replies:
        assert 0 <= reply.code <= 999
        assert 1 <= len(reply.lines) <= MAX_REPLY_LINES + 1
        assert all("\n" not in line and len(line) <= MAX_LINE for line in reply.lines)
    if channel.error is not None:  # the reader gave up: classified, and the connection closed
        assert isinstance(channel.error, FTPProtocolError), repr(channel.error)
        assert transport.disconnecting
        assert not channel.usable


@given(st.text(alphabet="٠١٢٣٤٥٦٧٨٩０１２３", min_size=3, max_size=3))
def test_a_reply_code_is_three_ascii_digits(digits: str) -> None:
    """Other Unicode digits are not a reply code: the greeting is not FTP."""
    channel, replies, _ = _feed(f"{digits} ready\r\n".encode(), [])
    assert replies == []
    assert isinstance(channel.error, FTPProtocolError)


_LINE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=40,
)


@st.composite
def replies(draw: st.DrawFn) -> Reply:
    code = draw(st.integers(min_value=100, max_value=599))
    middle = draw(st.lists(_LINE_TEXT.filter(lambda t: not t[:3].isdigit()), max_size=5))
    last = draw(_LINE_TEXT)
    if not middle and draw(st.booleans()):
        return Reply(code, (last,))
    return Reply(code, (draw(_LINE_TEXT), *middle, last))


def _wire(reply: Reply, newline: bytes) -> bytes:
    """``reply`` as a server writes it (RFC 959: ``CODE-`` first, ``CODE `` last)."""
    if len(reply.lines) == 1:
        return f"{reply.code} {reply.lines[0]}".encode() + newline
    first, *middle, last = reply.lines
    text = [f"{reply.code}-{first}", *middle, f"{reply.code} {last}"]
    return b"".join(line.encode() + newline for line in text)


@given(
    st.lists(replies(), min_size=1, max_size=6),
    st.sampled_from([b"\r\n", b"\n"]),
    st.lists(st.integers(min_value=0, max_value=4000), max_size=10),
)
@settings(max_examples=400, deadline=None)
def test_well_formed_replies_read_back_exactly(
    sent: list[Reply], newline: bytes, cuts: list[int]
) -> None:
    channel, received, _ = _feed(b"".join(_wire(r, newline) for r in sent), cuts)
    assert channel.error is None
    assert received == sent


@given(st.text(max_size=200))
@settings(max_examples=600, deadline=None)
def test_pasv_and_epsv_parsers_never_raise(text: str) -> None:
    pasv = parse_pasv(text)
    if pasv is not None:
        address, port = pasv
        ipaddress.IPv4Address(address)
        assert 0 < port < 65536
    epsv = parse_epsv(text)
    assert epsv is None or 0 < epsv < 65536


@given(
    st.tuples(*[st.integers(min_value=0, max_value=255)] * 6),
    st.text(alphabet="Entering Passive Mode ()", max_size=30),
)
def test_pasv_reads_back_any_address(numbers: tuple[int, ...], prefix: str) -> None:
    text = f"{prefix}({','.join(map(str, numbers))})."
    port = numbers[4] * 256 + numbers[5]
    expected = None if port == 0 else (".".join(map(str, numbers[:4])), port)
    assert parse_pasv(text) == expected
