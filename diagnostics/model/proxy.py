# -*- test-case-name: tests.model.test_proxy -*-
"""HTTP CONNECT proxies: the proxy URL, the environment's proxy variables, ``NO_PROXY``.

Pure data.  A :class:`Proxy` is where a probe's TCP connections are tunnelled
through (``CONNECT host:port``); :class:`ProxySettings` says which proxy a target
uses, if any (``NO_PROXY`` exceptions).  The password is never part of a repr,
of :attr:`Proxy.url` or of an error message.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import urllib.parse
from collections.abc import Mapping

import attrs

from diagnostics.model.certificates import is_ip_literal
from diagnostics.model.errors import TlsdiagError
from diagnostics.model.result import Target

__all__ = [
    "ENVIRONMENT_VARIABLES",
    "Proxy",
    "ProxySettings",
    "ProxyURLError",
    "parse_proxy_url",
    "proxy_from_environment",
]

ENVIRONMENT_VARIABLES = ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
"""The variables ``--proxy-from-env`` reads, the first one set wins (lower case first, as curl)."""

_NO_PROXY_VARIABLES = ("no_proxy", "NO_PROXY")
_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})$")


class ProxyURLError(TlsdiagError, ValueError):
    """A proxy URL that cannot be used (the message never holds a password)."""


@attrs.frozen
class Proxy:
    """An HTTP proxy that tunnels TCP connections with ``CONNECT``."""

    host: str
    port: int
    user: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    origin: str = "--proxy"
    """Where the proxy was configured: the option, the key or the environment variable."""

    @property
    def url(self) -> str:
        """``http://host:port``, without the user name or password."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def sends_credentials(self) -> bool:
        """True when ``CONNECT`` carries ``Proxy-Authorization``."""
        return self.user is not None

    def authorization(self) -> bytes | None:
        """The ``Proxy-Authorization`` header value (Basic), or None without a user."""
        if self.user is None:
            return None
        pair = f"{self.user}:{self.password or ''}".encode()
        return b"Basic " + base64.b64encode(pair)

    def with_password(self, password: str | None) -> Proxy:
        """The same proxy with the password from the environment."""
        return attrs.evolve(self, password=password)


def parse_proxy_url(
    text: str, *, origin: str = "--proxy", from_environment: bool = False, label: str | None = None
) -> Proxy:
    """The proxy of ``http://[user@]host:port``; :class:`ProxyURLError` with one line otherwise.

    A password in the URL is refused on the command line and in configuration files
    (it would show in process lists and in files): it comes from an environment
    variable.  Proxy variables of the environment may hold ``user:password@`` (the
    environment is where passwords belong) and may leave out ``http://``.
    """
    shown = _without_password(text)
    where = f"{origin} {shown!r}"
    if not text or any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        raise ProxyURLError(f"{where}: not a URL (empty, or holds spaces or control characters)")
    if from_environment and "://" not in text:
        text = f"http://{text}"
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ProxyURLError(f"{where}: {exc}") from None
    if parts.scheme.lower() != "http":
        scheme = parts.scheme or "(none)"
        raise ProxyURLError(
            f"{where}: the scheme is {scheme}; only http:// proxies (HTTP CONNECT) are "
            "supported, for example http://proxy.example:3128"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ProxyURLError(f"{where}: a proxy URL has no path, query or fragment")
    host = parts.hostname or ""
    if not host or not (is_ip_literal(host) or _HOST.match(host)):
        raise ProxyURLError(f"{where}: no valid host name or address")
    if port is None or port == 0:
        raise ProxyURLError(f"{where}: give the proxy's port, for example http://{host}:3128")
    user = urllib.parse.unquote(parts.username) if parts.username is not None else None
    password = None
    if parts.password is not None:
        if not from_environment:
            raise ProxyURLError(
                f"{where}: the password does not belong in the URL; give only the user "
                "(http://user@host:port) and put the password in an environment variable "
                "(--proxy-password-env VAR, or proxy_password_env in the configuration)"
            )
        password = urllib.parse.unquote(parts.password)
    if user == "":
        raise ProxyURLError(f"{where}: the user name before @ is empty")
    return Proxy(host=host, port=port, user=user, password=password, origin=origin)


def _without_password(text: str) -> str:
    """``text`` with any ``user:password@`` written as ``user:****@``."""
    return re.sub(r"(//[^/@:]*):[^/@]*@", r"\1:****@", text)


@attrs.frozen
class ProxySettings:
    """Which proxy the probes use: one for every target, except the ``NO_PROXY`` ones."""

    proxy: Proxy
    no_proxy: tuple[str, ...] = ()
    """``NO_PROXY`` entries: host names (``example.com`` matches its sub-domains too),
    ``.example.com``, addresses, networks (``10.0.0.0/8``), ``host:port`` and ``*``."""

    def for_target(self, target: Target) -> Proxy | None:
        """The proxy for ``target``, or None when it is to be reached directly."""
        if any(_bypasses(entry, target.host, target.port) for entry in self.no_proxy):
            return None
        return self.proxy


def _bypasses(entry: str, host: str, port: int) -> bool:
    """True when the ``NO_PROXY`` entry ``entry`` covers ``host:port``."""
    entry = entry.strip().lower()
    host = host.lower().rstrip(".")
    if not entry:
        return False
    if entry == "*":
        return True
    name, want_port = entry, None
    bracketed = re.match(r"^\[([^\]]+)\](?::(\d+))?$", entry)
    if bracketed:
        name, want_port = bracketed.group(1), bracketed.group(2)
    elif entry.count(":") == 1:
        name, _, want_port = entry.partition(":")
    if want_port is not None and want_port.isdigit() and int(want_port) != port:
        return False
    if "/" in name and is_ip_literal(host):
        try:
            return ipaddress.ip_address(host) in ipaddress.ip_network(name, strict=False)
        except ValueError:
            return False
    if is_ip_literal(name) or is_ip_literal(host):
        try:
            return ipaddress.ip_address(name) == ipaddress.ip_address(host)
        except ValueError:
            return False
    name = name.lstrip("*").lstrip(".").rstrip(".")
    return host == name or host.endswith(f".{name}")


def proxy_from_environment(environ: Mapping[str, str]) -> ProxySettings | None:
    """The proxy the environment names (``https_proxy``, ``HTTPS_PROXY``, ``all_proxy``,
    ``ALL_PROXY``, the first set) with its ``NO_PROXY`` exceptions; None when none is set."""
    for name in ENVIRONMENT_VARIABLES:
        value = environ.get(name, "").strip()
        if value:
            proxy = parse_proxy_url(value, origin=name, from_environment=True)
            break
    else:
        return None
    exceptions: tuple[str, ...] = ()
    for name in _NO_PROXY_VARIABLES:
        value = environ.get(name, "").strip()
        if value:
            exceptions = tuple(e.strip() for e in value.split(",") if e.strip())
            break
    return ProxySettings(proxy, exceptions)
