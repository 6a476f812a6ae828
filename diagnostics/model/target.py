# -*- test-case-name: tests.model.test_target -*-
"""Parse and validate probe URLs into :class:`~diagnostics.model.result.Target` objects.

Pure data.  Every URL is validated before anything is probed; a bad URL raises
:class:`TargetError` with one clear sentence.  What reaches the network is checked here:

- no whitespace and no control character anywhere in the URL (a space, CR or LF in a path
  would break the HTTP request line); a path or query must be ASCII (percent-encode the rest);
- a host is an IPv4 address in dotted form, an IPv6 literal in brackets, or a host name of
  ASCII letters, digits, ``-`` and ``_`` whose last label is not a number (``2130706433``,
  ``127.1`` and ``0x7f.1`` are IPv4 addresses in forms that resolvers read differently);
- ``--servername`` (the SNI and the name verified) is such a host name or an IP address.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
import urllib.parse

from diagnostics.model.errors import TlsdiagError
from diagnostics.model.result import SCHEMES, Scheme, Target

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
# A last label that URL parsers take for a number (WHATWG "ends in a number").
_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0[xX][0-9A-Fa-f]*)$")


class TargetError(TlsdiagError, ValueError):
    """A URL that cannot be probed, with the reason in words."""


def _character(char: str) -> str:
    """A character that must not appear, named (``a space``, ``CR (U+000D)``)."""
    names = {
        " ": "a space",
        "\t": "a tab",
        "\r": "a carriage return (CR)",
        "\n": "a line feed (LF)",
    }
    if char in names:
        return names[char]
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name.lower()})" if name else " (a control character)")


def _forbidden(text: str) -> tuple[int, str] | None:
    """The first whitespace or control character of ``text`` and its position, or None."""
    for index, char in enumerate(text):
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            return index, char
    return None


def host_problem(host: str) -> str | None:
    """Why ``host`` (no brackets) is neither an IP address nor a valid host name, or None."""
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if not host.isascii():
        return (
            "is not an ASCII host name: write an internationalised name as its A-label "
            "(xn--…, as `idn2` prints it)"
        )
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        return "is not a valid host name"
    if _NUMERIC_LABEL.match(labels[-1]):
        return (
            "is neither a host name nor an IPv4 address in dotted form "
            "(write an address as four numbers, 127.0.0.1)"
        )
    return None


def servername_problem(name: str) -> str | None:
    """Why ``name`` cannot be a ``--servername`` (SNI and the name verified), or None."""
    if not name.strip():
        return "must not be empty"
    found = _forbidden(name)
    if found is not None:
        return f"contains {_character(found[1])}: give one host name or IP address"
    return host_problem(name)


def sni_compare_problem(scheme: str) -> str | None:
    """Why the handshake without SNI (``--sni-compare``) is not made for ``scheme``, or None."""
    if scheme not in SCHEMES or Scheme(scheme).tls_first:
        return None
    return (
        f"is not made for {scheme}:// URLs (TLS starts only after AUTH TLS there): compare "
        "on the implicit FTPS port (ftps://) or leave it out"
    )


def parse_target(url: str, *, servername: str | None = None) -> Target:
    """Turn an https://, tls://, ftps:// or ftpes:// URL into a Target."""
    text = url.strip()
    if not text:
        raise TargetError("empty URL")
    found = _forbidden(text)
    if found is not None:
        index, char = found
        raise TargetError(
            f"{url!r} contains {_character(char)} at position {index + 1}: a URL has no "
            "whitespace or control characters (write a space in a path as %20)"
        )
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
    elif (problem := host_problem(host)) is not None:
        raise TargetError(f"{url!r}: {host!r} {problem}")
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
    if not path.isascii():
        raise TargetError(
            f"{url!r}: the path is not ASCII: percent-encode its other characters (ü as %C3%BC)"
        )
    if servername is not None and (problem := servername_problem(servername)) is not None:
        raise TargetError(f"--servername {servername!r} {problem}")
    return Target(
        url=text,
        scheme=scheme,
        host=host,
        port=port,
        path=path,
        servername=servername.strip() if servername else None,
    )
