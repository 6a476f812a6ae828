"""Proxy URLs, the environment's proxy variables and NO_PROXY (pure data)."""

from __future__ import annotations

import base64

import pytest

from diagnostics.model.proxy import (
    Proxy,
    ProxySettings,
    ProxyURLError,
    parse_proxy_url,
    proxy_from_environment,
)
from diagnostics.model.target import parse_target


def test_parse_a_proxy_url() -> None:
    """Host, port and a percent-encoded user; the URL shown never carries the user."""
    proxy = parse_proxy_url("http://d%40main@proxy.example:3128/")
    assert (proxy.host, proxy.port, proxy.user, proxy.password) == (
        "proxy.example",
        3128,
        "d@main",
        None,
    )
    assert proxy.url == "http://proxy.example:3128"
    assert parse_proxy_url("http://[::1]:8080").url == "http://[::1]:8080"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("https://proxy:3128", "only http:// proxies"),
        ("socks5h://proxy:1080", "only http:// proxies"),
        ("http://proxy", "give the proxy's port"),
        ("http://proxy:0", "give the proxy's port"),
        ("http://proxy:99999", "out of range"),
        ("http://proxy:3128/x", "no path"),
        ("http://proxy:3128?x=1", "no path"),
        ("http://@proxy:3128", "user name before @ is empty"),
        ("http://pro xy:3128", "control characters"),
        ("http://-bad_name:3128", "no valid host"),
        ("", "not a URL"),
    ],
)
def test_bad_proxy_urls(text: str, words: str) -> None:
    """Each refusal says what is wrong, on one line."""
    with pytest.raises(ProxyURLError) as caught:
        parse_proxy_url(text)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_password_in_the_url() -> None:
    """Refused from the command line (and masked in the message); taken from the environment."""
    with pytest.raises(ProxyURLError) as caught:
        parse_proxy_url("http://alice:hunter22@proxy:3128")
    assert "hunter22" not in str(caught.value) and "alice:****@" in str(caught.value)
    proxy = parse_proxy_url("alice:hunter%2022@proxy:3128", from_environment=True)
    assert (proxy.user, proxy.password) == ("alice", "hunter 22")
    assert "hunter" not in repr(proxy) and "hunter" not in proxy.url


def test_basic_authorization() -> None:
    """``Proxy-Authorization: Basic base64(user:password)``, and none without a user."""
    proxy = Proxy("proxy", 3128, user="alice", password="pw:with colon")
    header = proxy.authorization()
    assert header is not None and header.startswith(b"Basic ")
    assert base64.b64decode(header[6:]) == b"alice:pw:with colon"
    assert Proxy("proxy", 3128).authorization() is None


def test_environment_variables_in_order() -> None:
    """https_proxy before HTTPS_PROXY before all_proxy/ALL_PROXY; none set gives None."""
    assert proxy_from_environment({}) is None
    assert proxy_from_environment({"HTTP_PROXY": "http://p:1"}) is None
    both = {"https_proxy": "http://low:1", "HTTPS_PROXY": "http://up:2", "ALL_PROXY": "x:3"}
    settings = proxy_from_environment(both)
    assert settings is not None and settings.proxy.host == "low"
    assert settings.proxy.origin == "https_proxy"
    settings = proxy_from_environment({"ALL_PROXY": "fallback:3"})
    assert settings is not None and settings.proxy.url == "http://fallback:3"
    with pytest.raises(ProxyURLError, match="HTTPS_PROXY"):
        proxy_from_environment({"HTTPS_PROXY": "socks5://p:1"})


@pytest.mark.parametrize(
    ("no_proxy", "url", "bypassed"),
    [
        ("example.com", "tls://example.com:443", True),
        ("example.com", "tls://ftp.example.com:990", True),
        (".example.com", "tls://ftp.example.com:990", True),
        ("example.com", "tls://notexample.com:443", False),
        ("example.com:990", "tls://example.com:443", False),
        ("example.com:990", "tls://example.com:990", True),
        ("10.0.0.0/8", "tls://10.1.2.3:443", True),
        ("10.0.0.0/8", "tls://192.0.2.1:443", False),
        ("127.0.0.1", "tls://127.0.0.1:1", True),
        ("::1", "tls://[::1]:443", True),
        ("[::1]:443", "tls://[::1]:443", True),
        ("*", "tls://anything.example:1", True),
        ("", "tls://example.com:443", False),
    ],
)
def test_no_proxy(no_proxy: str, url: str, bypassed: bool) -> None:
    """NO_PROXY entries: names with their sub-domains, ports, addresses, networks, '*'."""
    settings = proxy_from_environment({"HTTPS_PROXY": "http://p:1", "NO_PROXY": no_proxy})
    assert settings is not None
    chosen = settings.for_target(parse_target(url))
    assert (chosen is None) is bypassed


def test_explicit_proxy_has_no_exceptions() -> None:
    settings = ProxySettings(parse_proxy_url("http://p:1"))
    assert settings.for_target(parse_target("tls://127.0.0.1:1")) is settings.proxy
