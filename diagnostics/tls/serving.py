"""Server-side TLS contexts: serve a given chain, exactly as given."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from OpenSSL import SSL, crypto
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
from zope.interface import implementer

from diagnostics.model.certificates import PrivateKey


def server_context(
    chain: Sequence[x509.Certificate],
    key: PrivateKey,
    *,
    security_level: int | None = None,
    client_cas: Sequence[x509.Certificate] = (),
) -> SSL.Context:
    """A TLS server context serving ``chain`` (leaf first) in the given order.

    ``security_level`` sets OpenSSL's (below the default 2 only to serve a weak key on
    purpose); ``client_cas`` makes a client certificate issued by one of them mandatory.
    """
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    if security_level is not None:
        # Before the certificate: at the default level OpenSSL refuses to load a weak key.
        ctx.set_cipher_list(f"DEFAULT:@SECLEVEL={security_level}".encode("ascii"))
    if client_cas:
        store = ctx.get_cert_store()
        assert store is not None
        for ca in client_cas:
            store.add_cert(crypto.X509.from_cryptography(ca))
            ctx.add_client_ca(crypto.X509.from_cryptography(ca))
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, None)
        # A resumed session of a verifying server needs an id context, or resumption fails.
        ctx.set_session_id(b"tlsdiag")
    ctx.use_certificate(crypto.X509.from_cryptography(chain[0]))
    ctx.use_privatekey(crypto.PKey.from_cryptography_key(key))
    ctx.check_privatekey()
    for extra in chain[1:]:
        ctx.add_extra_chain_cert(crypto.X509.from_cryptography(extra))
    return ctx


def staple_ocsp(context: SSL.Context, response: bytes) -> None:
    """Staple ``response`` (a DER OCSP response) whenever a client asks for one.

    Call before the context serves its first connection; ``b""`` staples nothing.
    """
    context.set_ocsp_server_callback(lambda _conn, _data: response)


@implementer(IOpenSSLServerConnectionCreator)
class ServerCreator:
    """Server connections from one prepared context."""

    def __init__(self, context: SSL.Context) -> None:
        self.context = context

    def serverConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:
        """A new server-side connection."""
        return SSL.Connection(self.context, None)
