"""URLs become targets, or a clear TargetError."""

from __future__ import annotations

import pytest

from diagnostics.model.target import TargetError, parse_target


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
        ("https://exa mple.test", "not a valid host name"),
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
