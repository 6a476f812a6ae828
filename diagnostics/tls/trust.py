"""Trust material: CA lists, CRLs and client identities, loaded once and shared.

A daemon runs thousands of probes on the same few trust configurations, so each
distinct :class:`~diagnostics.model.options.TrustConfig` is read, parsed and turned
into an ``SSL.Context`` once.  A file that changes on disk (size or mtime) is
read again on next use.  Every file is read by :func:`diagnostics.model.files.read_bounded`
(a regular file, 64 MiB at most) and parsed here with ``cryptography``, never by OpenSSL's
own file loaders, so that an encrypted key never makes OpenSSL prompt for its passphrase.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Sequence

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from OpenSSL import SSL, crypto

from diagnostics.model.errors import TlsdiagError
from diagnostics.model.files import FileError, load_private_key, read_bounded, wrong_material
from diagnostics.model.options import TrustConfig
from diagnostics.model.revocation import CheckMode, CRLError, is_url, parse_crl
from diagnostics.tls.stapling import record_staples

_SHA256 = hashes.SHA256()
KEY_PASSWORD_OPTION = "--key-password-env VAR"
"""How the passphrase of an encrypted ``--key`` is given on the command line."""


class TrustError(TlsdiagError, ValueError):
    """Trust or identity material that cannot be used, with the file and the reason."""


def read_file(path: str, what: str) -> bytes:
    """A whole file, bounded (:func:`~diagnostics.model.files.read_bounded`); TrustError."""
    try:
        return read_bounded(path, what)
    except FileError as exc:
        raise TrustError(str(exc)) from None


def _not_certificates(path: str, what: str, data: bytes, fallback: str) -> TrustError:
    return TrustError(f"{what} {path!r} {wrong_material(data, 'a certificate') or fallback}")


def load_certificates(path: str, what: str = "CA file") -> tuple[x509.Certificate, ...]:
    """Every certificate of a PEM bundle (or one DER certificate); TrustError when none."""
    data = read_file(path, what)
    if b"-----BEGIN" in data:
        try:
            certs = tuple(x509.load_pem_x509_certificates(data))
        except ValueError as exc:
            raise _not_certificates(
                path, what, data, f"holds a PEM block that does not parse: {exc}"
            ) from None
        return certs
    try:
        return (x509.load_der_x509_certificate(data),)
    except ValueError:
        raise _not_certificates(
            path, what, data, "is neither PEM certificates nor a DER certificate"
        ) from None


def load_key(path: str, what: str, password: str | None, option: str) -> PrivateKeyTypes:
    """The private key of ``path`` (PEM or DER, decrypted with ``password``); TrustError.

    ``option`` says how a passphrase is given (``--key-password-env VAR``); nothing prompts.
    """
    try:
        return load_private_key(path, what, password, passphrase_option=option)
    except FileError as exc:
        raise TrustError(str(exc)) from None


def load_crl(path: str) -> x509.CertificateRevocationList:
    """One CRL from a PEM or DER file; TrustError when it does not parse."""
    data = read_file(path, "CRL file")
    try:
        return parse_crl(data)
    except CRLError as exc:
        raise TrustError(f"CRL file {path!r} does not parse: {exc}") from None


def crl_flags(mode: str) -> int:
    """The OpenSSL store flags for a CRL check mode (``leaf`` or ``chain``)."""
    flags = crypto.X509StoreFlags.CRL_CHECK
    if CheckMode(mode) is CheckMode.CHAIN:
        flags |= crypto.X509StoreFlags.CRL_CHECK_ALL
    return flags


def add_anchors(store: crypto.X509Store, certificates: Iterable[x509.Certificate]) -> None:
    """Trust ``certificates`` in ``store``; a certificate listed twice is trusted once."""
    for cert in certificates:
        try:
            store.add_cert(crypto.X509.from_cryptography(cert))
        except crypto.Error:
            continue  # already in the store


def apply_crls(
    store: crypto.X509Store,
    crls: Sequence[x509.CertificateRevocationList],
    mode: str = CheckMode.LEAF,
) -> None:
    """Add CRLs to a store and switch CRL checking on (even with none: then code 3 says so)."""
    for crl in crls:
        store.add_crl(crl)
    store.set_flags(crl_flags(mode))


@attrs.frozen
class TrustMaterial:
    """A loaded trust configuration: the parsed certificates and the ready TLS context."""

    config: TrustConfig
    trusted: tuple[x509.Certificate, ...]
    crls: tuple[x509.CertificateRevocationList, ...]
    context: SSL.Context


def _signature(
    config: TrustConfig, crls: Sequence[x509.CertificateRevocationList] | None
) -> tuple[object, ...]:
    crl_files = config.crl_files if crls is None else ()
    paths = [*config.ca_files, *crl_files, config.cert_file or "", config.key_file or ""]
    stats: list[object] = []
    for path in paths:
        try:
            st = os.stat(path) if path else None
        except OSError:
            st = None
        stats.append((path, st.st_mtime_ns, st.st_size) if st else (path, None, None))
    # CRLs handed in (fetched, refreshed) count by their contents.
    contents = tuple(crl.fingerprint(_SHA256) for crl in crls or ())
    return (config, tuple(stats), contents)


def _build(
    config: TrustConfig, given: Sequence[x509.CertificateRevocationList] | None
) -> TrustMaterial:
    if not config.ca_files and not config.system_trust:
        trusted: tuple[x509.Certificate, ...] = ()
    else:
        trusted = tuple(cert for path in config.ca_files for cert in load_certificates(path))
    if given is None:
        urls = [entry for entry in config.crl_files if is_url(entry)]
        if urls:
            raise TrustError(
                f"the CRL at {urls[0]} must be fetched first (diagnostics.tls.crl_sources)"
            )
        crls = tuple(load_crl(path) for path in config.crl_files)
    else:
        crls = tuple(given)
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    # The verify callback is installed per connection (it records events); the
    # context-level mode only asks OpenSSL to verify.
    ctx.set_verify(SSL.VERIFY_PEER, None)
    # Sessions are taken from their connection (FTPS data channels) and never looked up in
    # OpenSSL's own client cache, which would keep every session (and its peer chain) of a
    # daemon's probes, up to 20,480 of them.
    ctx.set_session_cache_mode(SSL.SESS_CACHE_CLIENT | SSL.SESS_CACHE_NO_INTERNAL_STORE)
    # A connection's record buffers (about 34 KB) are freed whenever they are empty: a daemon
    # with a hundred probes in flight holds only those that are moving bytes.
    ctx.set_mode(SSL.MODE_RELEASE_BUFFERS)
    # Every probe asks for a stapled OCSP response; this records the answer.
    record_staples(ctx)
    store = ctx.get_cert_store()
    assert store is not None
    add_anchors(store, trusted)
    if config.system_trust:
        ctx.set_default_verify_paths()
    if config.crl_files:
        apply_crls(store, crls, config.crl_check)
    if config.cert_file or config.key_file:
        if not (config.cert_file and config.key_file):
            raise TrustError("a client certificate needs both --cert and --key")
        chain = _client_chain(config.cert_file)
        key = load_key(config.key_file, "client key", config.key_password, KEY_PASSWORD_OPTION)
        try:
            ctx.use_certificate(chain[0])
            for extra in chain[1:]:
                ctx.add_extra_chain_cert(extra)
        except (SSL.Error, crypto.Error) as exc:
            raise TrustError(
                f"client certificate {config.cert_file!r} cannot be used: {ssl_reason(exc)}"
            ) from None
        try:
            ctx.use_privatekey(crypto.PKey.from_cryptography_key(key))  # type: ignore[arg-type]
            ctx.check_privatekey()
        except (SSL.Error, crypto.Error, TypeError, ValueError) as exc:
            raise TrustError(
                f"client key {config.key_file!r} cannot be used with {config.cert_file!r}: "
                f"{ssl_reason(exc)}"
            ) from None
    return TrustMaterial(config=config, trusted=trusted, crls=crls, context=ctx)


_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", re.DOTALL
)


def _client_chain(path: str) -> list[crypto.X509]:
    """Our client certificate and the chain after it, read by OpenSSL from the bounded bytes.

    OpenSSL, not ``cryptography``, parses them: a probe presents what the file holds, even a
    certificate that ``cryptography`` refuses (tests present such malformed certificates).
    """
    what = "client certificate"
    data = read_file(path, what)
    blocks = _PEM_CERTIFICATE.findall(data)
    try:
        if blocks:
            return [crypto.load_certificate(crypto.FILETYPE_PEM, block) for block in blocks]
        if b"-----BEGIN" not in data:
            return [crypto.load_certificate(crypto.FILETYPE_ASN1, data)]
    except crypto.Error as exc:
        raise _not_certificates(
            path, what, data, f"holds a certificate that does not parse: {ssl_reason(exc)}"
        ) from None
    raise _not_certificates(path, what, data, "holds no PEM certificate and is not DER")


def ssl_reason(exc: BaseException) -> str:
    """The last OpenSSL reason string held by a pyOpenSSL error (``wrong version number``)."""
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], list) and args[0]:
        last = args[0][-1]
        if isinstance(last, tuple) and len(last) == 3:
            return str(last[2])
    if args and isinstance(args[0], list):
        return "unspecified TLS error (empty OpenSSL error queue)"
    return str(exc) or type(exc).__name__


class TrustCache:
    """Loaded trust material, one entry per distinct configuration."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[TrustConfig, tuple[tuple[object, ...], TrustMaterial]] = {}
        self.loads = 0

    def get(
        self,
        config: TrustConfig,
        crls: Sequence[x509.CertificateRevocationList] | None = None,
    ) -> TrustMaterial:
        """The material for ``config``, loading it when new or when a file changed.

        ``crls``, when given, are the current CRLs of ``config.crl_files`` (files
        and URLs, as :mod:`diagnostics.tls.crl_sources` holds them); otherwise the
        CRL files are read here, and a CRL URL is an error.
        """
        signature = _signature(config, crls)
        with self._lock:
            entry = self._entries.get(config)
            if entry is not None and entry[0] == signature:
                return entry[1]
            material = _build(config, crls)
            self.loads += 1
            self._entries[config] = (signature, material)
            return material


DEFAULT_CACHE = TrustCache()
