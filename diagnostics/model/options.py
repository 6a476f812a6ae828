"""What a probe is asked to do: trust, identity, limits.  Pure data."""

from __future__ import annotations

import attrs

from diagnostics.model.caller import PROBE, Caller
from diagnostics.model.proxy import ProxySettings


@attrs.frozen
class TrustConfig:
    """The trust material and client identity of a probe, by file name.

    Equal configurations share one loaded, parsed trust store and one TLS context.
    """

    ca_files: tuple[str, ...] = ()
    system_trust: bool = False
    crl_files: tuple[str, ...] = ()  # CRL file names or http:// URLs
    crl_check: str = "leaf"  # "leaf" or "chain" (see diagnostics.tls.revocation.CheckMode)
    cert_file: str | None = None
    key_file: str | None = None
    key_password: str | None = attrs.field(default=None, repr=False)
    """The passphrase of an encrypted ``key_file`` (from ``--key-password-env``)."""


@attrs.frozen
class ProbeOptions:
    """Everything a probe engine needs besides the target."""

    trust: TrustConfig = TrustConfig()
    timeout: float = 10.0
    family: int | None = None  # 4, 6 or None for either
    user: str = "anonymous"
    password: str = attrs.field(default="anonymous@", repr=False)
    data_channel: bool = True
    post_handshake_wait: float = 0.5
    fetch_issuer: bool = False
    crl_from_cdp: bool = False
    warn_days: int = 30
    critical_days: int = 7
    versions: bool = False
    """Try each TLS version alone after the probe (``--versions``, ``versions = true``)."""
    followups: bool = True
    """After a handshake refused for its version or ciphers, find out what the server accepts."""
    proxy: ProxySettings | None = None
    """Tunnel every TCP connection through this HTTP proxy (``--proxy``, ``proxy = "…"``)."""
    sni_compare: bool = False
    """After the probe, one handshake without SNI to compare the leaf served (``--sni-compare``)."""
    send_sni: bool = True
    """Send SNI for a DNS name (off only for the handshake of ``--sni-compare``)."""
    caller: Caller = PROBE
    """Whose options the remedies name (``tlsdiag probe``'s, or the daemon's keys)."""
