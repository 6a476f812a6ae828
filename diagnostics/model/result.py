"""The result model: what a probe or a listener session captured, as plain data.

Pure data: no Twisted, no sockets.  Certificates are ``cryptography`` objects,
converted once at capture time.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Mapping
from typing import Any

import attrs
from cryptography import x509


class Status(enum.StrEnum):
    """The verdict of one probe (fixed interface: the JSON ``status`` key)."""

    OK = "ok"
    PROBLEMS = "problems"
    FAILED = "failed"

    @property
    def exit_code(self) -> int:
        """The process exit code for this verdict: 0 ok, 1 problems, 3 failed."""
        return {Status.OK: 0, Status.PROBLEMS: 1, Status.FAILED: 3}[self]


class Phase(enum.StrEnum):
    """Where a probe stopped when it could not complete."""

    RESOLVE = "resolve"
    CONNECT = "connect"
    STARTTLS = "starttls"
    HANDSHAKE = "handshake"
    APPLICATION = "application"


class Severity(enum.StrEnum):
    """How bad a finding is."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Sort key: the most severe first."""
        return {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}[self]


class Side(enum.StrEnum):
    """Who must act on a finding."""

    CLIENT = "client"
    SERVER = "server"
    EITHER = "either"


class Scheme(enum.StrEnum):
    """The kinds of endpoint tlsdiag knows, by URL scheme: the one registry of them.

    The probe engines (:data:`diagnostics.probes.dispatch.ENGINES`) and the listener's
    protocols (:data:`diagnostics.listener.service.GATES`) are keyed by it; a test checks
    that both cover every scheme they should.
    """

    HTTPS = "https"
    TLS = "tls"  # TLS from the first byte, no application protocol
    FTPS = "ftps"  # implicit FTPS
    FTPES = "ftpes"  # explicit FTPS (AUTH TLS)

    @property
    def default_port(self) -> int | None:
        """The port used when the URL names none; None when a port must be given."""
        return _DEFAULT_PORTS.get(self)

    @property
    def tls_first(self) -> bool:
        """True when the first bytes are TLS (not ``ftpes``, where TLS follows AUTH TLS)."""
        return self is not Scheme.FTPES

    @property
    def listenable(self) -> bool:
        """True when ``tlsdiag listen`` can serve it (plain TLS has nothing to answer with)."""
        return self is not Scheme.TLS


_DEFAULT_PORTS = {Scheme.HTTPS: 443, Scheme.FTPS: 990, Scheme.FTPES: 21}
SCHEMES = tuple(s.value for s in Scheme)
LISTEN_SCHEMES = tuple(s.value for s in Scheme if s.listenable)


@attrs.frozen
class Target:
    """One endpoint to probe, parsed and validated from a URL."""

    url: str
    scheme: str
    host: str
    port: int
    path: str = "/"
    servername: str | None = None

    @property
    def verify_name(self) -> str:
        """The name checked against the certificate (and sent as SNI when it is a DNS name)."""
        return self.servername or self.host


@attrs.frozen
class VerifyEvent:
    """One call of OpenSSL's verify callback, as it happened."""

    depth: int
    code: int
    name: str
    reason: str
    certificate: x509.Certificate | None


@attrs.frozen
class TLSFacts:
    """What the handshake negotiated."""

    version: str | None
    cipher: str | None
    alpn: str | None
    session_reused: bool
    openssl_version: str
    client_ca_names: tuple[str, ...] = ()
    servername_sent: str | None = None


@attrs.frozen
class ClientAuth:
    """Whether the peer asked for a client certificate, and whether one was sent."""

    requested: bool
    sent: bool
    ca_names: tuple[str, ...] = ()


@attrs.frozen
class ClientInfo:
    """The client of a listener session: where it came from and what it asked for."""

    address: str
    port: int
    sni: str | None = None
    alpn_offered: tuple[str, ...] = ()


@attrs.frozen
class SourceAddress:
    """Where a probe's (first, control) connection came from: our side's address and port."""

    address: str
    port: int


@attrs.frozen
class ProxyFacts:
    """The HTTP proxy a probe's connections went through, and its answer to ``CONNECT``.

    ``url`` is ``http://host:port`` without credentials; ``status`` and ``reason`` are
    the status line of the proxy's last answer (None when it gave none);
    ``authenticate`` is its ``Proxy-Authenticate`` challenge, as sent (407 only);
    ``tunnels`` counts the tunnels it opened for this probe (control and data
    connections, side checks).
    """

    url: str
    status: int | None = None
    reason: str | None = None
    authenticate: str | None = None
    credentials_sent: bool = False
    tunnels: int = 0


@attrs.frozen
class AddressTried:
    """An address of the target that was tried and did not answer, and why."""

    address: str
    family: int  # 4 or 6
    error: str


@attrs.frozen
class Connection:
    """Which of the target's addresses the probe's (first) connection used.

    ``tried`` lists the addresses tried before it, in order, with their errors;
    ``address`` is None when none answered.
    """

    address: str | None
    family: int | None
    tried: tuple[AddressTried, ...] = ()


@attrs.frozen
class SNIComparison:
    """The leaf served without SNI, beside the one served with it (``--sni-compare``).

    ``outcome`` is ``accepted`` (the handshake without SNI completed; ``leaf`` is
    what it served), ``refused`` (the server ended the handshake; ``reason`` says
    how), ``failed`` (no handshake: the connection failed or timed out) or
    ``skipped`` (not attempted; ``reason`` says why).  ``hostname_matched`` and
    ``chain_verified`` tell whether that certificate would verify for the name.
    """

    servername: str | None
    outcome: str
    leaf: x509.Certificate | None = None
    reason: str | None = None
    hostname_matched: bool | None = None
    chain_verified: bool | None = None


@attrs.frozen
class HostnameCheck:
    """The result of checking the name used against the leaf certificate."""

    name: str
    matched: bool | None
    names_in_cert: tuple[str, ...] = ()
    error: str | None = None


@attrs.frozen
class OCSPFacts:
    """The OCSP response the server stapled to its certificate, or that it stapled none.

    ``response_status`` is the response's own status (``successful``,
    ``unauthorized``, …); the certificate fields describe its single response
    for the leaf (or its first one when none names the leaf).  ``error`` holds
    the parser's message when the stapled bytes are not an OCSP response.
    """

    stapled: bool
    response_status: str | None = None
    cert_status: str | None = None
    this_update: datetime.datetime | None = None
    next_update: datetime.datetime | None = None
    produced_at: datetime.datetime | None = None
    revocation_time: datetime.datetime | None = None
    revocation_reason: str | None = None
    responder: str | None = None
    hash_algorithm: str | None = None
    issuer_name_hash: bytes | None = None
    issuer_key_hash: bytes | None = None
    serial_number: int | None = None
    responses: int = 0
    signature_algorithm: str | None = None
    signature: bytes | None = None
    error: str | None = None


@attrs.frozen
class Failure:
    """Why a probe could not complete."""

    phase: Phase
    kind: str
    message: str
    reason: str | None = None


@attrs.frozen
class Finding:
    """One explained problem (or noteworthy fact), with who must act and how."""

    id: str
    severity: Severity
    side: Side
    summary: str
    detail: str = ""
    remedy: str = ""


@attrs.frozen
class Attempt:
    """One extra handshake made to learn what a server accepts (a follow-up or the matrix).

    ``purpose`` says what the attempt tests (``version``, ``cipher``, ``key_exchange``);
    ``offered`` names what it offered (``TLSv1``, ``modern AEAD``, ``DHE``…) and
    ``security_level`` the OpenSSL security level it ran at.  ``outcome`` is
    ``accepted``, ``refused`` or ``unsupported`` (the linked OpenSSL cannot offer it);
    an accepted attempt has the negotiated version and cipher, a refused one the
    linked OpenSSL's reason.
    """

    purpose: str
    offered: str
    security_level: int
    outcome: str
    version: str | None = None
    cipher: str | None = None
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        """True when the server completed the handshake."""
        return self.outcome == "accepted"


@attrs.frozen
class Timings:
    """Wall-clock durations of the probe's phases, in seconds."""

    connect_s: float | None = None
    handshake_s: float | None = None
    total_s: float | None = None


@attrs.frozen
class ProbeResult:
    """Everything one probe (or one accepted connection) captured.

    ``findings`` is filled by :func:`diagnostics.explain.diagnose.diagnose`; the
    status follows from the failure and the findings.
    """

    target: Target
    tls: TLSFacts | None = None
    served_chain: tuple[x509.Certificate, ...] = ()
    verified_chain: tuple[x509.Certificate, ...] = ()
    verify_events: tuple[VerifyEvent, ...] = ()
    hostname: HostnameCheck | None = None
    client_auth: ClientAuth | None = None
    failure: Failure | None = None
    findings: tuple[Finding, ...] = ()
    http: Mapping[str, Any] | None = None
    ftp: Mapping[str, Any] | None = None
    timings: Timings = Timings()
    started_at: float = 0.0
    client: ClientInfo | None = None
    ocsp: OCSPFacts | None = None
    source: SourceAddress | None = None
    followups: tuple[Attempt, ...] = ()
    """Handshakes made after a refused one to find its cause (none when it succeeded)."""
    versions: tuple[Attempt, ...] = ()
    """The version matrix (``--versions``): one attempt per TLS version, when asked for."""
    proxy: ProxyFacts | None = None
    """The HTTP proxy the probe went through (``--proxy``), or None for a direct probe."""
    connection: Connection | None = None
    """The address used and those tried before it (None when nothing was resolved)."""
    sni_compare: SNIComparison | None = None
    """The handshake without SNI (``--sni-compare``), when asked for."""

    @property
    def status(self) -> Status:
        """``failed`` when the probe could not complete, else ``problems`` or ``ok``."""
        if self.failure is not None:
            return Status.FAILED
        if any(f.severity in (Severity.ERROR, Severity.WARNING) for f in self.findings):
            return Status.PROBLEMS
        return Status.OK

    @property
    def verify_errors(self) -> tuple[VerifyEvent, ...]:
        """The verify callback calls that reported an error, in callback order."""
        return tuple(e for e in self.verify_events if e.code != 0)

    @property
    def leaf(self) -> x509.Certificate | None:
        """The peer's own certificate, when one was seen."""
        if self.served_chain:
            return self.served_chain[0]
        if self.verified_chain:
            return self.verified_chain[0]
        return None


def peer_name(result: ProbeResult) -> str:
    """The client as ``address:port`` (IPv6 in brackets), or the listener when unknown."""
    client = result.client
    if client is None:
        target = result.target
        return f"{target.host}:{target.port}"
    host = f"[{client.address}]" if ":" in client.address else client.address
    return f"{host}:{client.port}"
