# -*- test-case-name: tests.explain.test_diagnose -*-
"""Who asked for a diagnosis, so that its remedies name options that exist there.

Pure data.  The same diagnosis serves a probe (``tlsdiag probe``), the offline
verification (``tlsdiag verify``), the listener judging a partner's client
certificate (``tlsdiag listen``) and the daemon's targets and ``[[listener]]``
sections; each gives its trust list, CRLs and names with different options or
configuration keys, or cannot give them at all.
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
    crl_url: str | None = None
    """How a CRL's http:// URL is given instead (refreshed at each next update)."""
    crl_from_cdp: str | None = None
    """The option that fetches CRLs from the certificates' distribution points."""
    crl_check: str | None = None
    """The option that chooses between checking the leaf only and the whole chain, with
    ``{mode}`` where ``leaf`` or ``chain`` goes."""
    system_trust: str | None = None
    """The option that adds the platform's CA store to the trust list."""
    client_identity: str | None = None
    """How our own client certificate and key are given."""
    name: str | None = None
    """How the name checked against the certificate is given."""
    name_sent: bool = False
    """That name is also sent to the peer (as SNI)."""
    idle_timeout: str | None = None
    """How a listener's idle bound is raised."""
    proxy: str = "--proxy http://USER@HOST:PORT"
    """How the HTTP proxy (and its user) is given."""
    proxy_password: str = "--proxy-password-env VAR"
    """How the proxy's password is given."""

    def crl_mode(self, mode: str) -> str:
        """The ``crl_check`` option set to ``mode`` (``leaf`` or ``chain``)."""
        assert self.crl_check is not None
        return self.crl_check.format(mode=mode)


PROBE = Caller(
    trust="--ca FILE",
    crl="--crl FILE or URL",
    crl_url="--crl URL",
    crl_from_cdp="--crl-from-cdp",
    crl_check="--crl-check {mode}",
    system_trust="--system-trust",
    client_identity="--cert/--key",
    name="--servername NAME",
    name_sent=True,
)
"""A probe of a server: ``tlsdiag probe``."""

VERIFY = Caller(trust="--ca FILE", crl="--crl FILE", name="--name NAME")
"""``tlsdiag verify``: certificate files checked offline."""

LISTENER = Caller(
    trust="--client-ca FILE",
    crl="--crl FILE or URL",
    crl_url="--crl URL",
    idle_timeout="--idle-timeout",
)
"""``tlsdiag listen``: a partner's client certificate, judged by our listener."""

DAEMON_PROBE = Caller(
    trust='ca = ["FILE"]',
    crl='crl = ["FILE or URL"]',
    crl_url='crl = ["URL"]',
    crl_from_cdp="crl_from_cdp = true",
    crl_check='crl_check = "{mode}"',
    system_trust="system_trust = true",
    client_identity='cert = "FILE" and key = "FILE"',
    name='servername = "NAME"',
    name_sent=True,
    proxy='proxy = "http://USER@HOST:PORT"',
    proxy_password='proxy_password_env = "VAR"',
)
"""A daemon's probe (a ``[[target]]`` or a ``/probe`` module): its configuration keys."""

DAEMON_LISTENER = Caller(
    trust='client_ca = ["FILE"]', crl='crl = ["FILE or URL"]', crl_url='crl = ["URL"]'
)
"""A daemon's ``[[listener]]``: its configuration keys."""
