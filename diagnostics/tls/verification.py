# -*- test-case-name: tests.tls.test_verification -*-
"""Offline verification: OpenSSL's own verdict on certificate files, as a probe result.

:func:`verify_chain` takes a leaf (or a bundle, leaf first), trust anchors,
extra intermediates and CRLs as PEM or DER bytes or ``cryptography`` objects,
and returns the same :class:`~diagnostics.model.result.ProbeResult` a probe gives:
every verify event, the chain OpenSSL built, the host-name check and the
diagnosed findings.  It never raises: input that does not parse becomes a
finding with the parser's message.

pyOpenSSL's ``X509StoreContext`` stops at the first error and its bindings
offer no store-level verify callback, so the chain is verified where OpenSSL
does call back for every event and carry on: inside a TLS 1.2 client that
receives the certificates in a server flight made up here, in memory.  No byte
leaves the process and no key is involved; the client never gets past the
Certificate message.  When that route records nothing, ``X509StoreContext``
gives at least OpenSSL's first error.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import contextlib
import datetime
import ipaddress
import re
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Literal

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL, crypto
from OpenSSL._util import ffi as _ffi
from OpenSSL._util import lib as _lib
from service_identity.hazmat import DNS_ID

from diagnostics.explain import catalogue
from diagnostics.explain.diagnose import DiagnosisContext, diagnose
from diagnostics.model import certificates, revocation
from diagnostics.model.caller import VERIFY
from diagnostics.model.result import Finding, ProbeResult, Severity, Side, Target, VerifyEvent
from diagnostics.tls.recording import HandshakeCapture, check_hostname, verify_reason

CertificateInput = bytes | x509.Certificate
CertificatesInput = CertificateInput | Sequence[CertificateInput]
CRLInput = bytes | x509.CertificateRevocationList
CRLsInput = CRLInput | Sequence[CRLInput]
Purpose = Literal["server", "client"]

SCHEME = "file"
"""``target.scheme`` of a verification result (``target.url`` names the input)."""

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL | re.IGNORECASE
)
_CERTIFICATE_LABELS = (b"CERTIFICATE", b"X509 CERTIFICATE")
_CRL_LABELS = (b"X509 CRL",)
# OpenSSL's default limit for a peer's Certificate message (SSL_MAX_CERT_LIST_DEFAULT).
_MAX_CERT_LIST = 100 * 1024
_TLS12 = 0x0303
_RENEGOTIATION_INFO = 0xFF01
_EXTENDED_MASTER_SECRET = 0x0017
_SCSV = frozenset({0x00FF, 0x5600})


@attrs.frozen
class Parsed:
    """What one input held: the certificates (or CRLs) that parse and why the others did not."""

    items: tuple[object, ...] = ()
    problems: tuple[str, ...] = ()
    empty: bool = False


# -- reading input -----------------------------------------------------------------------


def _pem_blocks(data: bytes, labels: Sequence[bytes]) -> Iterator[tuple[int, bytes | str]]:
    """The DER body of each PEM block with one of ``labels``, or why it cannot be decoded."""
    for index, match in enumerate(
        (m for m in _PEM_BLOCK.finditer(data) if m.group(1).upper() in labels), 1
    ):
        body = re.sub(rb"\s+", b"", match.group(2))
        try:
            yield index, base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            yield index, f"its base64 text does not decode: {exc}"


def _der_items(data: bytes) -> Iterator[bytes]:
    """Split concatenated DER structures; the rest goes whole to the parser when a header is off."""
    pos = 0
    while pos < len(data):
        length = _der_length(data, pos)
        if length is None or pos + length >= len(data):
            yield data[pos:]
            return
        yield data[pos : pos + length]
        pos += length


def _der_length(data: bytes, pos: int) -> int | None:
    """The total length of the DER SEQUENCE at ``pos`` (header included), or None."""
    if len(data) < pos + 2 or data[pos] != 0x30:
        return None
    first = data[pos + 1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if not 0 < count <= 4 or len(data) < pos + 2 + count:
        return None
    return 2 + count + int.from_bytes(data[pos + 2 : pos + 2 + count], "big")


def _load_certificate(der: bytes) -> x509.Certificate:
    """A certificate both parsers accept (cryptography for facts, OpenSSL for the verdict)."""
    cert = certificates.load_der(der)
    try:
        crypto.load_certificate(crypto.FILETYPE_ASN1, der)
    except crypto.Error as exc:
        raise ValueError(f"OpenSSL cannot parse it: {_openssl_text(exc)}") from None
    return cert


def _load_crl(der: bytes) -> x509.CertificateRevocationList:
    """A CRL whose every part parses (cryptography reads some only on first use)."""
    try:
        crl = x509.load_der_x509_crl(der)
        _ = (crl.issuer, crl.last_update_utc, crl.next_update_utc, crl.extensions)
        for entry in crl:
            _ = (entry.serial_number, entry.revocation_date_utc, entry.extensions)
    except certificates.PARSE_ERRORS as exc:  # not all of them are ValueErrors
        raise ValueError(str(exc)) from None
    return crl


def _openssl_text(exc: crypto.Error) -> str:
    errors = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
    texts = [str(e[2]) for e in errors if isinstance(e, tuple) and len(e) == 3 and e[2]]
    return "; ".join(texts) or str(exc) or "no reason given"


def _read(
    data: bytes, labels: Sequence[bytes], load: Callable[[bytes], object], what: str
) -> Parsed:
    """Every item of PEM or DER bytes that ``load`` accepts, and its complaint about the others."""
    found: list[object] = []
    problems: list[str] = []
    if b"-----BEGIN" in data:
        bodies: Iterable[tuple[int, bytes | str]] = _pem_blocks(data, labels)
        form = "PEM"
    else:
        bodies = enumerate(_der_items(data) if data.strip() else (), 1)
        form = "DER"
    for index, body in bodies:
        try:
            if isinstance(body, str):
                raise ValueError(body)
            found.append(load(body))
        except ValueError as exc:
            problems.append(f"{form} {what} {index}: {exc}")
    return Parsed(tuple(found), tuple(problems), empty=not found and not problems)


def read_certificates(data: bytes) -> Parsed:
    """Every certificate of PEM or DER bytes (PEM may hold many), with each parser's complaint."""
    return _read(data, _CERTIFICATE_LABELS, _load_certificate, "certificate")


def read_crls(data: bytes) -> Parsed:
    """Every CRL of PEM or DER bytes (PEM may hold many), with each parser's complaint."""
    return _read(data, _CRL_LABELS, _load_crl, "CRL")


def looks_like(data: bytes, kind: Literal["certificate", "crl"]) -> bool:
    """True when ``data`` is at least shaped like a certificate (or CRL) file: PEM or DER."""
    labels = _CERTIFICATE_LABELS if kind == "certificate" else _CRL_LABELS
    if any(m.group(1).upper() in labels for m in _PEM_BLOCK.finditer(data)):
        return True
    return b"-----BEGIN" not in data and data[:1] == b"\x30"


def _as_list(value: object, single: tuple[type, ...]) -> list[object]:
    if isinstance(value, single):
        return [value]
    if isinstance(value, Iterable):
        return list(value)
    return [value]


# -- the verdict ---------------------------------------------------------------------------


@attrs.frozen
class _Request:
    """Everything the OpenSSL verification needs, already parsed."""

    leaf: x509.Certificate
    untrusted: tuple[x509.Certificate, ...]
    trusted: tuple[x509.Certificate, ...]
    crls: tuple[x509.CertificateRevocationList, ...]
    crl_check: bool
    name: str | None
    at: datetime.datetime | None
    purpose: Purpose


@attrs.frozen
class _Verdict:
    events: tuple[VerifyEvent, ...]
    verified_chain: tuple[x509.Certificate, ...]
    crl_problems: tuple[str, ...] = ()


def _configure(store: crypto.X509Store, request: _Request) -> list[str]:
    """Trust anchors, CRLs, flags, purpose, time and name on a store; CRLs OpenSSL refused."""
    for cert in request.trusted:
        try:
            store.add_cert(crypto.X509.from_cryptography(cert))
        except crypto.Error:
            continue  # the same certificate given twice
    refused = []
    for index, crl in enumerate(request.crls, 1):
        try:
            store.add_crl(crl)
        except Exception as exc:  # OpenSSL's parser is stricter than cryptography's
            refused.append(
                f"CRL {index} ('{certificates.dn(crl.issuer)}'): OpenSSL refused it: {exc}"
            )
    param = _ffi.gc(_lib.X509_VERIFY_PARAM_new(), _lib.X509_VERIFY_PARAM_free)
    if request.crl_check:
        _lib.X509_VERIFY_PARAM_set_flags(
            param, crypto.X509StoreFlags.CRL_CHECK | crypto.X509StoreFlags.CRL_CHECK_ALL
        )
    if request.at is not None:
        _lib.X509_VERIFY_PARAM_set_time(param, calendar.timegm(request.at.utctimetuple()))
    if request.name is not None:
        if certificates.is_ip_literal(request.name):
            packed = ipaddress.ip_address(request.name).packed
            _lib.X509_VERIFY_PARAM_set1_ip(param, packed, len(packed))
        else:
            encoded = request.name.encode("idna")
            _lib.X509_VERIFY_PARAM_set1_host(param, encoded, len(encoded))
    _lib.X509_STORE_set1_param(store._store, param)
    purpose = _lib.X509_PURPOSE_SSL_SERVER
    if request.purpose == "client":
        purpose = _lib.X509_PURPOSE_SSL_CLIENT
    _lib.X509_STORE_set_purpose(store._store, purpose)
    return refused


def _records(body: bytes) -> bytes:
    """TLS handshake records (plaintext, TLS 1.2) carrying ``body``."""
    out = bytearray()
    for start in range(0, len(body), 16384):
        chunk = body[start : start + 16384]
        out += struct.pack("!BHH", 22, _TLS12, len(chunk)) + chunk
    return bytes(out)


def _handshake_message(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


@attrs.frozen
class _Hello:
    cipher_suites: tuple[int, ...]
    extensions: frozenset[int]


def _parse_client_hello(data: bytes) -> _Hello:
    """The cipher suites and extension types of OpenSSL's own ClientHello (one record)."""
    pos = 5 + 4 + 2 + 32  # record header, handshake header, version, random
    pos += 1 + data[pos]  # session id
    (length,) = struct.unpack_from("!H", data, pos)
    suites = struct.unpack_from(f"!{length // 2}H", data, pos + 2)
    pos += 2 + length
    pos += 1 + data[pos]  # compression methods
    extensions = set()
    if pos + 2 <= len(data):
        (total,) = struct.unpack_from("!H", data, pos)
        pos += 2
        end = min(len(data), pos + total)
        while pos + 4 <= end:
            kind, size = struct.unpack_from("!HH", data, pos)
            extensions.add(kind)
            pos += 4 + size
    return _Hello(tuple(suites), frozenset(extensions))


def _server_flight(hello: _Hello, chain: Sequence[bytes]) -> bytes:
    """A ServerHello answering ``hello`` and a Certificate message carrying ``chain``."""
    suite = next(s for s in hello.cipher_suites if s >> 8 != 0x13 and s not in _SCSV)
    extensions = b""
    if _RENEGOTIATION_INFO in hello.extensions or 0x00FF in hello.cipher_suites:
        extensions += struct.pack("!HHB", _RENEGOTIATION_INFO, 1, 0)
    if _EXTENDED_MASTER_SECRET in hello.extensions:
        extensions += struct.pack("!HH", _EXTENDED_MASTER_SECRET, 0)
    server_hello = (
        struct.pack("!H", _TLS12)
        + bytes(32)  # random: nothing is ever derived from it
        + b"\x00"  # no session id
        + struct.pack("!HB", suite, 0)
        + struct.pack("!H", len(extensions))
        + extensions
    )
    certificates = b"".join(len(der).to_bytes(3, "big") + der for der in chain)
    certificate = len(certificates).to_bytes(3, "big") + certificates
    body = _handshake_message(2, server_hello) + _handshake_message(11, certificate)
    return _records(body)


def _issuer_closure(
    leaf: x509.Certificate, pool: Sequence[x509.Certificate]
) -> list[x509.Certificate]:
    """The certificates of ``pool`` that could be on a path above ``leaf`` (by name), in order."""
    wanted = {leaf.issuer}
    chosen: set[int] = set()
    grew = True
    while grew:
        grew = False
        for index, cert in enumerate(pool):
            if index not in chosen and cert.subject in wanted:
                chosen.add(index)
                wanted.add(cert.issuer)
                grew = True
    return [cert for index, cert in enumerate(pool) if index in chosen]


def _verify_in_handshake(request: _Request) -> _Verdict:
    """OpenSSL's verification of the chain with every verify callback call recorded."""
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_max_proto_version(SSL.TLS1_2_VERSION)
    capture = HandshakeCapture()

    def on_verify(
        _conn: SSL.Connection, cert: crypto.X509, errno: int, depth: int, _ok: int
    ) -> bool:
        try:
            capture.record_verify(cert, errno, depth)
        except Exception as exc:  # keep going: a lost event is reported below
            capture.callback_errors.append(exc)
        return True  # never stop: every event is wanted

    ctx.set_verify(SSL.VERIFY_PEER, on_verify)
    store = ctx.get_cert_store()
    assert store is not None
    refused = _configure(store, request)
    untrusted = [request.leaf, *_issuer_closure(request.leaf, request.untrusted)]
    chain = [c.public_bytes(serialization.Encoding.DER) for c in untrusted]
    while len(chain) > 1 and sum(len(der) + 3 for der in chain) > _MAX_CERT_LIST - 3:
        chain.pop()
    conn = SSL.Connection(ctx, None)
    conn.set_connect_state()
    with contextlib.suppress(SSL.WantReadError):
        conn.do_handshake()
    conn.bio_write(_server_flight(_parse_client_hello(conn.bio_read(65536)), chain))
    # The client stops after the Certificate message: nothing more was sent.
    with contextlib.suppress(SSL.Error):
        conn.do_handshake()
    verified = conn.get_verified_chain(as_cryptography=True) or []
    if capture.callback_errors:
        raise capture.callback_errors[0]
    return _Verdict(tuple(capture.events), tuple(verified), tuple(refused))


def _verify_first_error(request: _Request) -> _Verdict:
    """OpenSSL's verdict through ``X509StoreContext``: the first error only."""
    store = crypto.X509Store()
    refused = _configure(store, request)
    untrusted = [crypto.X509.from_cryptography(c) for c in request.untrusted]
    context = crypto.X509StoreContext(store, crypto.X509.from_cryptography(request.leaf), untrusted)
    try:
        built = context.get_verified_chain()
    except crypto.X509StoreContextError as exc:
        code, depth = int(exc.errors[0]), int(exc.errors[1])
        event = VerifyEvent(
            depth=depth,
            code=code,
            name=catalogue.verify_name(code),
            reason=verify_reason(code),
            certificate=exc.certificate.to_cryptography(),
        )
        return _Verdict((event,), (), tuple(refused))
    return _Verdict((), tuple(c.to_cryptography() for c in built), tuple(refused))


def _verdict(request: _Request) -> _Verdict:
    verdict = _verify_in_handshake(request)
    if verdict.events:
        return verdict
    return _verify_first_error(request)


# -- findings about the input -----------------------------------------------------------


def _malformed_certificate(what: str, problem: str, side: Side) -> Finding:
    return Finding(
        "malformed_certificate",
        Severity.ERROR,
        side,
        f"{what[0].upper()}{what[1:]} cannot be used: {problem}",
        "The bytes are not a well-formed X.509 certificate (DER), or PEM text around one: "
        "a damaged copy, a file cut short, a certificate edited by hand, or a tool that "
        "writes invalid encodings.",
        "Get a fresh copy of the certificate from its source (the CA or the partner), in "
        "PEM or DER, and check it with 'tlsdiag inspect'.",
    )


_CRL_PROBLEM = "A CRL cannot be used: "


def _malformed_crl(problem: str) -> Finding:
    return Finding(
        "malformed_crl",
        Severity.ERROR,
        Side.CLIENT,
        f"{_CRL_PROBLEM}{problem}",
        "The bytes are not a well-formed certificate revocation list: a download cut short, "
        "an HTML error page saved as a CRL, or a file in another format. Certificates whose "
        "issuer has no other CRL then cannot be checked.",
        "Download the CRL again from the CA's distribution point (PEM or DER).",
    )


def _extension_problem(cert: x509.Certificate) -> str | None:
    """Why the certificate's extensions do not parse, if they do not."""
    try:
        cert.extensions  # noqa: B018 - parsing is the check
    except certificates.PARSE_ERRORS as exc:
        return str(exc)
    return None


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be checked against a certificate, if it cannot."""
    if certificates.is_ip_literal(name):
        return None
    try:
        DNS_ID(name)
        name.encode("idna")
    except (ValueError, UnicodeError) as exc:
        return str(exc) or "not a valid host name"
    return None


# -- the entry point ------------------------------------------------------------------------


def verify_chain(
    leaf: CertificatesInput,
    *,
    trusted: CertificatesInput,
    untrusted: CertificatesInput = (),
    crls: CRLsInput = (),
    name: str | None = None,
    at: datetime.datetime | None = None,
    purpose: Purpose = "server",
    label: str = "certificate",
    crl_names: Sequence[str] = (),
) -> ProbeResult:
    """Verify ``leaf`` with OpenSSL against ``trusted``; the diagnosed result, never raising.

    ``leaf`` is PEM or DER bytes (a bundle: the leaf first, the others count as
    ``untrusted``), a ``cryptography`` certificate, or a sequence of those.
    ``trusted`` and ``untrusted`` take the same forms; ``crls`` takes PEM or DER
    bytes or ``cryptography`` CRLs, and turns on CRL checking for the whole chain.
    ``name`` (a DNS name or IP address) is checked against the leaf, ``at`` replaces
    the current time, ``purpose`` is the TLS role the leaf is checked for.
    ``label`` names the input in the result (``target.url``) and in findings;
    ``crl_names`` names the CRL inputs (file names, in order) in findings.
    """
    target = Target(url=label, scheme=SCHEME, host=name or "", port=0, path="", servername=name)
    role: Purpose = "client" if purpose == "client" else "server"
    when = at if at is None or at.tzinfo else at.replace(tzinfo=datetime.UTC)
    result = ProbeResult(target=target)
    context = DiagnosisContext(role=role, now=when, peer=f"'{label}'", caller=VERIFY)
    try:
        crl_inputs = _CRLInputs(crls, tuple(crl_names))
        result, context = _verify(result, context, leaf, trusted, untrusted, crl_inputs, name)
    except Exception as exc:  # a bug of ours must still give a result
        result = attrs.evolve(
            result,
            findings=(
                *result.findings,
                Finding(
                    "internal_error",
                    Severity.ERROR,
                    Side.CLIENT,
                    f"tlsdiag could not verify {label}: {type(exc).__name__}: {exc}",
                    "The inputs may still be fine; the verification itself failed.",
                    "This is a bug in tlsdiag; please report it with the input files "
                    "(certificates and CRLs only, never private keys).",
                ),
            ),
        )
    return diagnose(result, context)


class _Inputs:
    """The inputs parsed, and a finding for each part that does not parse."""

    def __init__(self, role: Purpose) -> None:
        self.findings: list[Finding] = []
        self.crl_errors: dict[str, str] = {}
        self.owner = Side.SERVER if role == "server" else Side.CLIENT
        self.judge = Side.CLIENT if role == "server" else Side.SERVER

    def _parse(
        self,
        value: object,
        kind: type,
        read: Callable[[bytes], Parsed],
        load: Callable[[bytes], object],
        complain: Callable[[str], Finding],
    ) -> list[object]:
        """Every item of ``kind`` in ``value`` (objects re-read, bytes parsed), and findings."""
        out: list[object] = []
        noun = "certificate" if kind is x509.Certificate else "CRL"
        for item in _as_list(value, (bytes, bytearray, memoryview, kind)):
            if isinstance(item, kind) and isinstance(
                item, x509.Certificate | x509.CertificateRevocationList
            ):
                try:
                    out.append(load(item.public_bytes(serialization.Encoding.DER)))
                except ValueError as exc:
                    self.findings.append(complain(str(exc)))
            elif isinstance(item, bytes | bytearray | memoryview):
                parsed = read(bytes(item))
                if parsed.empty:
                    self.findings.append(complain(f"the input holds no {noun}"))
                self.findings.extend(complain(p) for p in parsed.problems)
                out.extend(parsed.items)
            else:
                problem = f"a {type(item).__name__} is neither bytes nor a {noun}"
                self.findings.append(complain(problem))
        return out

    def certificates(self, value: CertificatesInput, what: str) -> list[x509.Certificate]:
        """Every certificate in ``value``; ``what`` names them in findings ("a CA certificate")."""
        side = self.judge if "CA" in what else self.owner

        def complain(problem: str) -> Finding:
            return _malformed_certificate(what, problem, side)

        items = self._parse(value, x509.Certificate, read_certificates, _load_certificate, complain)
        return [c for c in items if isinstance(c, x509.Certificate)]

    def crls(self, value: CRLsInput, names: Sequence[str] = ()) -> list[revocation.KnownCRL]:
        """Every CRL in ``value``, named by ``names`` (one per input) or by its position.

        ``crl_errors`` maps each input that does not (wholly) parse to the parser's message.
        """
        kind = x509.CertificateRevocationList
        found: list[revocation.KnownCRL] = []
        inputs = _as_list(value, (bytes, bytearray, memoryview, kind))
        for index, one in enumerate(inputs):
            source = names[index] if index < len(names) else f"CRL input {index + 1}"
            before = len(self.findings)
            items = self._parse([one], kind, read_crls, _load_crl, _malformed_crl)
            found.extend(revocation.KnownCRL(c, source) for c in items if isinstance(c, kind))
            problems = [f.summary.removeprefix(_CRL_PROBLEM) for f in self.findings[before:]]
            if problems:
                self.crl_errors[source] = "; ".join(problems)
        return found

    def usable_name(self, name: str | None) -> str | None:
        """``name`` when it can be matched against a certificate; else None and a finding."""
        problem = name_problem(name) if name is not None else None
        if problem is None:
            return name
        self.findings.append(
            Finding(
                "configuration_error",
                Severity.ERROR,
                self.judge,
                f"The name {name!r} cannot be checked against a certificate: {problem}",
                "Only host names and IP addresses can be matched.",
                "Give a host name or an IP address.",
            )
        )
        return None

    def extensions(self, chain: Sequence[x509.Certificate], skip_leaf: bool) -> None:
        """A finding for each certificate whose extensions do not parse."""
        for cert in chain[1:] if skip_leaf else chain:
            problem = _extension_problem(cert)
            if problem is not None:
                what = (
                    f"the extensions of '{certificates.dn(cert.subject)}' do not parse: {problem}"
                )
                self.findings.append(
                    _malformed_certificate("a given certificate", what, self.owner)
                )


@attrs.frozen
class _CRLInputs:
    """The CRLs as given, and the names of the inputs (file names) for findings."""

    value: CRLsInput
    names: tuple[str, ...] = ()


def _verify(
    result: ProbeResult,
    context: DiagnosisContext,
    leaf: CertificatesInput,
    trusted: CertificatesInput,
    untrusted: CertificatesInput,
    crls: _CRLInputs,
    name: str | None,
) -> tuple[ProbeResult, DiagnosisContext]:
    """The verified result, and the context (trust anchors, CRLs) its diagnosis needs."""
    role = context.role
    inputs = _Inputs(role)
    given = inputs.certificates(leaf, "a given certificate")
    extra = inputs.certificates(untrusted, "an untrusted certificate")
    anchors = tuple(inputs.certificates(trusted, "a trusted CA certificate"))
    loaded = inputs.crls(crls.value, crls.names)
    name = inputs.usable_name(name)
    context = attrs.evolve(
        context, trusted=anchors, crls=tuple(loaded), crl_errors=inputs.crl_errors
    )
    if not given:
        if not inputs.findings or inputs.findings[0].id != "malformed_certificate":
            problem = "there is no certificate"
            inputs.findings.insert(
                0, _malformed_certificate("the certificate", problem, inputs.owner)
            )
        return attrs.evolve(result, findings=tuple(inputs.findings)), context
    # A certificate given in two inputs is no flaw of either (a duplicate within one is).
    chain = (*given, *(c for c in extra if c not in given))
    hostname = check_hostname(chain[0], name) if name is not None else None
    # A leaf whose names do not parse is reported by the host-name check.
    inputs.extensions(chain, skip_leaf=hostname is not None and hostname.error is not None)
    request = _Request(
        leaf=chain[0],
        untrusted=chain[1:],
        trusted=anchors,
        crls=tuple(k.crl for k in loaded),
        crl_check=bool(
            _as_list(crls.value, (bytes, bytearray, memoryview, x509.CertificateRevocationList))
        ),
        name=name,
        at=context.now,
        purpose=role,
    )
    verdict = _verdict(request)
    inputs.findings.extend(_malformed_crl(p) for p in verdict.crl_problems)
    result = attrs.evolve(
        result,
        served_chain=chain,
        verified_chain=verdict.verified_chain,
        verify_events=verdict.events,
        hostname=hostname,
        findings=tuple(inputs.findings),
    )
    return result, context
