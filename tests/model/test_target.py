"""URLs become targets, or a clear TargetError; nothing that reaches the network unchecked."""

from __future__ import annotations

import contextlib
import string
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnostics.model.result import SCHEMES
from diagnostics.model.target import TargetError, parse_target, servername_problem


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "path"),
    [
        ("https://example.test", "https", "example.test", 443, "/"),
        ("https://example.test:8443/health?x=1", "https", "example.test", 8443, "/health?x=1"),
        ("ftps://ftp.example.test", "ftps", "ftp.example.test", 990, "/"),
        ("ftpes://ftp.example.test", "ftpes", "ftp.example.test", 21, "/"),
        ("tls://127.0.0.1:636", "tls", "127.0.0.1", 636, "/"),
        ("tls://[::1]:993", "tls", "::1", 993, "/"),
        ("HTTPS://Example.Test", "https", "example.test", 443, "/"),
    ],
)
def test_valid(url: str, scheme: str, host: str, port: int, path: str) -> None:
    """Schemes, default ports, IPv6 literals and paths are understood."""
    target = parse_target(url)
    assert (target.scheme, target.host, target.port, target.path) == (scheme, host, port, path)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("", "empty"),
        ("example.test:443", "no scheme"),
        ("gopher://example.test", "unsupported scheme"),
        ("tls://example.test", "explicit port"),
        ("https://exa mple.test", "contains a space at position 12"),
        ("https://ex_ample!.test", "not a valid host name"),
        ("https://example.test:99999", "not a valid URL"),
        ("ftps://user:pw@example.test", "credentials"),
        ("ftps://example.test/dir", "path"),
        ("https://[not-ipv6]:443", "not"),
    ],
)
def test_invalid(url: str, fragment: str) -> None:
    """Every bad URL is refused with a sentence that says why."""
    with pytest.raises(TargetError) as info:
        parse_target(url)
    assert fragment in str(info.value)


def test_servername_overrides_the_name_checked() -> None:
    """--servername is what gets verified and sent as SNI."""
    target = parse_target("tls://127.0.0.1:443", servername="ftp.example.test")
    assert target.verify_name == "ftp.example.test"
    assert parse_target("tls://127.0.0.1:443").verify_name == "127.0.0.1"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("https://example.test/a b", "contains a space at position 23"),
        ("https://example.test/a\rb", "contains a carriage return (CR)"),
        ("https://example.test/a\nHost: evil", "contains a line feed (LF)"),
        ("https://example.test/\tx", "contains a tab"),
        ("https://example.test/\x1b[31m", "U+001B"),
        ("https://example.test/\u200bx", "U+200B (zero width space)"),
        ("https://example.test/?q=\x00", "U+0000"),
        ("https://example.test/\u00fcber", "the path is not ASCII: percent-encode"),
        ("https://b\u00fccher.test/", "write an internationalised name as its A-label"),
        ("https://2130706433", "neither a host name nor an IPv4 address in dotted form"),
        ("https://127.1/", "neither a host name nor an IPv4 address in dotted form"),
        ("tls://0x7f000001:443", "neither a host name nor an IPv4 address in dotted form"),
        ("tls://example.0x1F:443", "neither a host name nor an IPv4 address"),
        ("https://1.2.3.4.5", "neither a host name nor an IPv4 address"),
    ],
)
def test_what_would_reach_the_network_is_refused(url: str, fragment: str) -> None:
    """A space, CR, LF or other control character anywhere, a non-ASCII path, and a host
    that resolvers read as a number in another form: a TargetError that says which."""
    with pytest.raises(TargetError) as info:
        parse_target(url)
    assert fragment in str(info.value)
    assert "\r" not in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.test/a%20b?x=%0A",
        "https://127.0.0.1/",
        "https://xn--bcher-kva.test/",
        "tls://host-1.example.123abc:443",
        "https://example.test/#part",
    ],
)
def test_encoded_and_dotted_forms_pass(url: str) -> None:
    """Percent-encoded paths, dotted IPv4, A-labels and a label that is not all digits pass."""
    parse_target(url)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("a b", "contains a space"),
        ("", "must not be empty"),
        ("host\r\n", "contains a carriage return (CR)"),
        ("2130706433", "neither a host name nor an IPv4 address"),
        ("exa!mple", "not a valid host name"),
    ],
)
def test_bad_servername(name: str, fragment: str) -> None:
    """``--servername`` is one host name or IP address, checked before any connection."""
    with pytest.raises(TargetError) as info:
        parse_target("tls://127.0.0.1:443", servername=name)
    assert str(info.value).startswith(f"--servername {name!r} ")
    assert fragment in str(info.value)


@pytest.mark.parametrize("name", ["example.test", "127.0.0.1", "::1", "FTP.Example.Test."])
def test_good_servername(name: str) -> None:
    """Host names (any case, a final dot) and IPv4/IPv6 addresses are servernames."""
    assert servername_problem(name) is None
    assert parse_target("tls://127.0.0.1:443", servername=name).verify_name == name


# -- properties ------------------------------------------------------------------------------

_URL_ALPHABET = (
    string.ascii_letters + string.digits + ":/[]@.-_%?#=&!~ \t\r\n\x00\x1b\x7f\x85\u00fc"
)


def _no_forbidden(text: str) -> bool:
    return not any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in text)


@given(
    scheme=st.sampled_from([*SCHEMES, "http", "HTTPS", ""]),
    rest=st.text(alphabet=_URL_ALPHABET, max_size=60),
    servername=st.none() | st.text(max_size=20),
)
@settings(max_examples=600, deadline=None)
def test_any_text_is_a_target_or_a_target_error(
    scheme: str, rest: str, servername: str | None
) -> None:
    """Whatever the text: a Target whose host and path carry nothing unsafe, or TargetError."""
    try:
        target = parse_target(f"{scheme}://{rest}", servername=servername)
    except TargetError as exc:
        assert str(exc)
        return
    assert _no_forbidden(target.url) and target.path.isascii() and _no_forbidden(target.path)
    assert target.host and _no_forbidden(target.host)
    assert 0 < target.port < 65536
    if target.servername is not None:
        assert servername_problem(target.servername) is None


@given(st.text(max_size=80))
@settings(max_examples=400, deadline=None)
def test_any_unicode_is_a_target_or_a_target_error(text: str) -> None:
    """Arbitrary Unicode, with or without a scheme: never another exception."""
    with contextlib.suppress(TargetError):
        parse_target(text)
