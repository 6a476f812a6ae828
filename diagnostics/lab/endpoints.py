# -*- test-case-name: tests.lab.test_lab -*-
"""The lab's endpoints: one known fault each, over a hierarchy made at start-up.  Pure data.

:func:`build` makes a fresh throw-away PKI (nothing is kept from one start to
the next) and describes every endpoint: the port offset from the lab's base
port, what the server does, the fault in one line, the primary finding a probe
must report, and the probe options needed to see it.  The servers themselves
are started by :mod:`diagnostics.lab.servers`.
"""

from __future__ import annotations

import datetime
import enum
import ipaddress
import os
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from cryptography import x509

from diagnostics.model.certificates import PrivateKey
from diagnostics.pki.throwaway_ca import (
    CLIENT_AUTH,
    Issued,
    issue,
    make_ca,
    make_crl,
    utcnow,
)

DEFAULT_BIND = "127.0.0.1"
DEFAULT_BASE_PORT = 9400
DEFAULT_STATE_DIR = os.path.join("logs", "lab")
# Offsets from the base port the lab may use (the endpoints' offsets stay below).
PORT_SPAN = 40
# The highest base port: the lab uses ports N to N + PORT_SPAN - 1.
MAX_BASE_PORT = 65535 - (PORT_SPAN - 1)
OK = "ok"

# Files of the state folder and of the publisher (plain HTTP at the base port).
CA_BUNDLE = "ca.pem"
CLIENT_CA = "client-ca.pem"
CLIENT_CERT = "client.pem"
CLIENT_KEY = "client.key"
CRL_FILE = "issuing-ca.crl"
INTERMEDIATE_FILE = "issuing-ca.der"
MANIFEST_FILE = "manifest.json"
# What a server behind NAT names in its PASV replies when nobody told it its public address.
NAT_ADDRESS = "192.168.1.20"
# A silent endpoint costs a probe its whole timeout: keep that short.
SILENT_TIMEOUT = 3
# The silent endpoint hangs up after this long, so that nobody can hold its connections forever.
SILENT_HOLD = 60


class Kind(enum.StrEnum):
    """What kind of server an endpoint runs."""

    HTTPS = "https"
    PLAIN_HTTP = "plain-http"  # HTTP without TLS, on a port probed as https://
    SILENT = "silent"  # accepts connections, never answers
    FTPS_EXPLICIT = "ftps-explicit"  # the listener's FTPS server, AUTH TLS
    FTPS_IMPLICIT = "ftps-implicit"  # the listener's FTPS server, TLS from the first byte


EXPLICIT, IMPLICIT = Kind.FTPS_EXPLICIT, Kind.FTPS_IMPLICIT


@attrs.frozen
class Endpoint:
    """One faulty server of the lab and what a probe of it must report."""

    name: str
    offset: int  # port = base port + offset: URLs stay predictable
    kind: Kind
    fault: str  # one line for the table
    expect: str  # the primary finding id, or "ok"
    chain: tuple[x509.Certificate, ...] = ()
    key: PrivateKey | None = attrs.field(default=None, repr=False)
    client_cas: tuple[x509.Certificate, ...] = ()  # non-empty: a client certificate is required
    # OpenSSL refuses a 1024-bit RSA key at its default security level 2, even to serve it.
    security_level: int | None = None
    # Probe options beyond --ca, named like the probe's command-line options.
    options: Mapping[str, Any] = attrs.field(factory=dict)
    scheme: str = "https"
    # FTPS faults, named like the listener's FTPFaults fields.
    ftp_faults: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Hierarchy:
    """The lab's certificate authorities and the files it publishes."""

    root: Issued
    issuing: Issued  # the intermediate CA that issues the lab's leaves
    client_root: Issued  # a separate CA for client certificates
    client: Issued  # the client certificate of the mTLS endpoint
    crl: x509.CertificateRevocationList  # the issuing CA's CRL


@attrs.frozen
class Lab:
    """Everything the lab serves and writes, before any socket is opened."""

    hierarchy: Hierarchy
    endpoints: tuple[Endpoint, ...]


def leaf_names(bind: str) -> tuple[str, ...]:
    """The names every healthy lab leaf holds: loopback names and the bind address."""
    names = ["localhost", "127.0.0.1", "::1"]
    if bind not in names and not _unspecified(bind):
        names.append(bind)
    return tuple(names)


def url_host(bind: str) -> str:
    """The host to put in URLs for a bind address (loopback for a wildcard address)."""
    if _unspecified(bind):
        return "127.0.0.1"
    return f"[{bind}]" if ":" in bind else bind


def _unspecified(bind: str) -> bool:
    try:
        return ipaddress.ip_address(bind).is_unspecified
    except ValueError:
        return False


def base_port_problem(base_port: int) -> str | None:
    """Why the lab cannot use ``base_port`` (None when it can): one rule for CLI and config."""
    if 1 <= base_port <= MAX_BASE_PORT:
        return None
    return (
        f"must be between 1 and {MAX_BASE_PORT} (the lab uses ports N to N+{PORT_SPAN - 1}), "
        f"not {base_port}"
    )


def publisher_url(bind: str, base_port: int, file: str) -> str:
    """The http:// URL at which the lab publishes ``file`` (AIA issuer, CRL, CA bundle)."""
    return f"http://{url_host(bind)}:{base_port}/{file}"


def build(bind: str = DEFAULT_BIND, base_port: int = DEFAULT_BASE_PORT) -> Lab:
    """A fresh hierarchy and the lab's endpoints (keys made now, in memory)."""
    now = utcnow()
    day = datetime.timedelta(days=1)
    names = leaf_names(bind)
    org = "tlsdiag lab"
    root = make_ca("tlsdiag lab Root CA", organization=org)
    issuing = make_ca("tlsdiag lab Issuing CA", parent=root, path_length=1, organization=org)

    def leaf(ca: Issued | None = issuing, **options: Any) -> Issued:
        options.setdefault("sans", names)
        options.setdefault("organization", org)
        return issue(ca, "localhost", **options)

    good = leaf()
    expired = leaf(not_before=now - 400 * day, not_after=now - 3 * day)
    future = leaf(not_before=now + 30 * day, not_after=now + 400 * day)
    wrong = issue(issuing, "www.example.test", sans=("www.example.test",), organization=org)
    own = leaf(None)
    private_root = make_ca("Private Root CA", organization="Somebody Else")
    private_issuing = make_ca(
        "Private Issuing CA", parent=private_root, path_length=0, organization="Somebody Else"
    )
    private = leaf(private_issuing)
    orphan = leaf(ca_issuers=(publisher_url(bind, base_port, INTERMEDIATE_FILE),))
    # A second tier under the issuing CA, so that an out-of-order chain is possible.
    tier = make_ca("tlsdiag lab Tier-2 CA", parent=issuing, path_length=0, organization=org)
    tiered = leaf(tier)
    old_issuing = make_ca(
        "tlsdiag lab Retired CA",
        parent=root,
        path_length=0,
        organization=org,
        not_before=now - 800 * day,
        not_after=now - 2 * day,
    )
    under_old = leaf(old_issuing, not_before=now - 30 * day, not_after=now + 300 * day)
    weak = leaf(key_type="rsa", key_size=1024)
    revoked = leaf(crl_urls=(publisher_url(bind, base_port, CRL_FILE),))
    client_root = make_ca("tlsdiag lab Client CA", organization=org)
    client = issue(client_root, "lab-client", sans=(), ekus=(CLIENT_AUTH,), organization=org)
    crl = make_crl(issuing, [revoked.cert])

    def https(
        name: str,
        offset: int,
        fault: str,
        expect: str,
        served: Issued,
        chain: Sequence[x509.Certificate] = (issuing.cert,),
        **extra: Any,
    ) -> Endpoint:
        return Endpoint(
            name,
            offset,
            Kind.HTTPS,
            fault,
            expect,
            chain=(served.cert, *chain),
            key=served.key,
            **extra,
        )

    def ftps(
        name: str, offset: int, fault: str, expect: str, kind: Kind, scheme: str, **faults: Any
    ) -> Endpoint:
        return Endpoint(
            name,
            offset,
            kind,
            fault,
            expect,
            chain=(good.cert, issuing.cert),
            key=good.key,
            scheme=scheme,
            ftp_faults=faults,
        )

    client_files = {"cert": CLIENT_CERT, "key": CLIENT_KEY}
    endpoints = (
        https("healthy", 1, "nothing wrong: leaf and intermediate, valid, right name", OK, good),
        https("expired", 2, "the leaf expired 3 days ago", "expired", expired),
        https("not-yet-valid", 3, "the leaf becomes valid in 30 days", "not_yet_valid", future),
        https(
            "wrong-host", 4, "the certificate is for www.example.test", "hostname_mismatch", wrong
        ),
        https("self-signed", 5, "a self-signed leaf", "self_signed", own, ()),
        https(
            "untrusted-root",
            6,
            "the chain ends at a private root the client does not trust",
            "untrusted_root",
            private,
            (private_issuing.cert,),
        ),
        https(
            "missing-intermediate",
            7,
            "sends its leaf only; the leaf names its issuer's URL (AIA)",
            "missing_intermediate",
            orphan,
            (),
            options={"fetch_issuer": True},
        ),
        https(
            "chain-order",
            8,
            "sends the intermediates in the wrong order",
            "chain_order",
            tiered,
            (issuing.cert, tier.cert),
        ),
        https(
            "expired-intermediate",
            9,
            "the intermediate CA expired 2 days ago",
            "expired",
            under_old,
            (old_issuing.cert,),
        ),
        https(
            "weak-key",
            10,
            "a 1024-bit RSA leaf key (server at OpenSSL security level 0)",
            "weak_key",
            weak,
            security_level=0,
        ),
        https(
            "client-cert-required",
            11,
            "requires a client certificate; the probe sends none",
            "client_certificate_required",
            good,
            client_cas=(client_root.cert,),
        ),
        https(
            "client-cert",
            12,
            "requires a client certificate; the probe sends the lab's",
            OK,
            good,
            client_cas=(client_root.cert,),
            options=client_files,
        ),
        https(
            "revoked",
            13,
            "the leaf is on the issuing CA's CRL (published by the lab)",
            "revoked",
            revoked,
            options={"crl": CRL_FILE},
        ),
        Endpoint("plain-http", 14, Kind.PLAIN_HTTP, "plain HTTP on a TLS port", "not_tls"),
        Endpoint(
            "silent",
            15,
            Kind.SILENT,
            "accepts connections and never answers",
            "timeout",
            options={"timeout": SILENT_TIMEOUT},
        ),
        ftps("ftps-explicit", 20, "explicit FTPS (AUTH TLS), nothing wrong", OK, EXPLICIT, "ftpes"),
        ftps("ftps-implicit", 21, "implicit FTPS, nothing wrong", OK, IMPLICIT, "ftps"),
        ftps(
            "ftps-session-reuse",
            22,
            "data connections must resume the control connection's TLS session",
            "ftps_session_reuse_required",
            EXPLICIT,
            "ftpes",
            require_session_reuse=True,
        ),
        ftps(
            "ftps-no-tls",
            23,
            "explicit FTP port without TLS: AUTH TLS is refused",
            "ftps_no_tls",
            EXPLICIT,
            "ftpes",
            refuse_auth=True,
        ),
        ftps(
            "ftps-pasv-address",
            24,
            f"PASV names {NAT_ADDRESS}, an address behind NAT",
            "ftps_pasv_address",
            EXPLICIT,
            "ftpes",
            pasv_address=NAT_ADDRESS,
        ),
        ftps(
            "ftps-explicit-port",
            25,
            "an explicit FTPS port probed as implicit (ftps://)",
            "ftps_explicit_port",
            EXPLICIT,
            "ftps",
        ),
    )
    hierarchy = Hierarchy(
        root=root, issuing=issuing, client_root=client_root, client=client, crl=crl
    )
    return Lab(hierarchy=hierarchy, endpoints=endpoints)
