"""Parse and validate probe URLs into :class:`~diagnostics.model.result.Target` objects.

Pure data.  Every URL is validated before anything is probed; a bad URL raises
:class:`TargetError` with one clear sentence.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse

from diagnostics.model.errors import TlsdiagError
from diagnostics.model.result import SCHEMES, Scheme, Target

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


class TargetError(TlsdiagError, ValueError):
    """A URL that cannot be probed, with the reason in words."""


def _valid_hostname(host: str) -> bool:
    if len(host) > 253:
        return False
    labels = host.rstrip(".").split(".")
    return all(_HOST_LABEL.match(label) for label in labels)


def parse_target(url: str, *, servername: str | None = None) -> Target:
    """Turn an https://, tls://, ftps:// or ftpes:// URL into a Target."""
    text = url.strip()
    if not text:
        raise TargetError("empty URL")
    if "://" not in text:
        raise TargetError(
            f"{url!r} has no scheme: write it as https://, tls://, ftps:// or ftpes://"
        )
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"{url!r} is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise TargetError(f"{url!r}: unsupported scheme {scheme!r} (use https, tls, ftps or ftpes)")
    host = parts.hostname
    if not host:
        raise TargetError(f"{url!r} has no host")
    if parts.username or parts.password:
        raise TargetError(
            f"{url!r}: credentials do not belong in the URL (use --user and --password-env)"
        )
    if "[" in parts.netloc:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise TargetError(f"{url!r}: {host!r} is not an IPv6 address") from None
    else:
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            if not _valid_hostname(host):
                raise TargetError(f"{url!r}: {host!r} is not a valid host name") from None
    if port is None:
        default = Scheme(scheme).default_port
        if default is None:
            raise TargetError(f"{url!r}: {scheme}:// needs an explicit port ({scheme}://host:port)")
        port = default
    if not 0 < port < 65536:
        raise TargetError(f"{url!r}: port {port} is out of range")
    if scheme != "https" and parts.path not in ("", "/"):
        raise TargetError(f"{url!r}: a path only makes sense for https://")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    if servername is not None and not servername.strip():
        raise TargetError("--servername must not be empty")
    return Target(
        url=text,
        scheme=scheme,
        host=host,
        port=port,
        path=path,
        servername=servername.strip() if servername else None,
    )
