"""Server-side TLS contexts: serve a given chain, exactly as given."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from OpenSSL import SSL, crypto
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
from zope.interface import implementer

from diagnostics.issuing import PrivateKey


def server_context(chain: Sequence[x509.Certificate], key: PrivateKey) -> SSL.Context:
    """A TLS server context serving ``chain`` (leaf first) in the given order."""
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.use_certificate(crypto.X509.from_cryptography(chain[0]))
    ctx.use_privatekey(crypto.PKey.from_cryptography_key(key))
    ctx.check_privatekey()
    for extra in chain[1:]:
        ctx.add_extra_chain_cert(crypto.X509.from_cryptography(extra))
    return ctx


@implementer(IOpenSSLServerConnectionCreator)
class ServerCreator:
    """Server connections from one prepared context."""

    def __init__(self, context: SSL.Context) -> None:
        self.context = context

    def serverConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:
        """A new server-side connection."""
        return SSL.Connection(self.context, None)
