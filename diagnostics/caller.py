# -*- test-case-name: tests.test_diagnose -*-
"""Who asked for a diagnosis, so that its remedies name options that exist there.

Pure data.  The same diagnosis serves a probe (``tlsdiag probe`` and the daemon),
the offline verification (``tlsdiag verify``) and the listener judging a partner's
client certificate (``tlsdiag listen``); each gives its trust list, CRLs and names
with different options, or cannot give them at all.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Caller:
    """The options a remedy may point to; None where the caller has no such option."""

    trust: str
    """How a CA is added to the trust list (``--ca FILE``)."""
    crl: str | None
    """How a CRL is given (``--crl FILE or URL``)."""
    crl_urls: bool = False
    """``crl`` also takes an http:// URL, refreshed at each next update."""
    crl_from_cdp: str | None = None
    """The option that fetches CRLs from the certificates' distribution points."""
    crl_check: str | None = None
    """The option that chooses between checking the leaf only and the whole chain."""
    system_trust: str | None = None
    """The option that adds the platform's CA store to the trust list."""
    client_identity: str | None = None
    """How our own client certificate and key are given."""
    name: str | None = None
    """How the name checked against the certificate is given."""
    name_sent: bool = False
    """That name is also sent to the peer (as SNI)."""


PROBE = Caller(
    trust="--ca FILE",
    crl="--crl FILE or URL",
    crl_urls=True,
    crl_from_cdp="--crl-from-cdp",
    crl_check="--crl-check",
    system_trust="--system-trust",
    client_identity="--cert/--key",
    name="--servername NAME",
    name_sent=True,
)
"""A probe of a server: ``tlsdiag probe`` (the daemon's targets take the same options)."""

VERIFY = Caller(trust="--ca FILE", crl="--crl FILE", name="--name NAME")
"""``tlsdiag verify``: certificate files checked offline."""

LISTENER = Caller(trust="--client-ca FILE", crl="--crl FILE")
"""``tlsdiag listen``: a partner's client certificate, judged by our listener."""
