"""The JSON form of a result (fixed keys: see the README and ``tlsdiag schema``).  Pure."""

from __future__ import annotations

import datetime
import functools
import json
from importlib import resources
from typing import Any

import attrs
from cryptography import x509

from diagnostics.model import certificates
from diagnostics.model.result import (
    Attempt,
    Connection,
    Finding,
    OCSPFacts,
    ProbeResult,
    SNIComparison,
    VerifyEvent,
)
from diagnostics.model.version import __version__

SCHEMA_VERSION = 1


# Certificates seen again and again (a daemon probing the same partners, ``/probe`` scraped
# every few seconds) are converted once: the conversion costs more than the handshake's
# verification of them.  Bounded; a certificate is its DER bytes (equal and hashed by them).
CERT_CACHE_SIZE = 512


def cert_to_json(cert: x509.Certificate) -> dict[str, Any]:
    """The ``CERT`` object of the JSON result (fixed keys); a new dict each call."""
    facts = _cert_facts(cert)
    return {**facts, "san_dns": list(facts["san_dns"]), "san_ip": list(facts["san_ip"])}


@functools.lru_cache(maxsize=CERT_CACHE_SIZE)
def _cert_facts(cert: x509.Certificate) -> dict[str, Any]:
    """The facts of ``cert`` as JSON values (the lists as tuples: this dict is shared)."""
    key_type, key_bits = certificates.key_type_and_bits(cert)
    sans = certificates.subject_alt_names(cert)
    return {
        "subject": certificates.dn(cert.subject),
        "issuer": certificates.dn(cert.issuer),
        "serial": format(cert.serial_number, "X"),
        "not_before": certificates.iso_time(certificates.not_before(cert)),
        "not_after": certificates.iso_time(certificates.not_after(cert)),
        "sha256": certificates.sha256_hex(cert),
        "key_type": key_type,
        "key_bits": key_bits,
        "signature_algorithm": certificates.signature_algorithm(cert),
        "san_dns": tuple(sans.dns),
        "san_ip": tuple(sans.ip),
        "is_ca": certificates.is_ca(cert),
        "pem": certificates.pem(cert),
    }


def finding_to_json(finding: Finding) -> dict[str, Any]:
    """One ``FINDING`` object."""
    return {
        "id": finding.id,
        "severity": finding.severity.value,
        "side": finding.side.value,
        "summary": finding.summary,
        "detail": finding.detail,
        "remedy": finding.remedy,
    }


def attempt_to_json(attempt: Attempt) -> dict[str, Any]:
    """One entry of ``followups`` or ``versions``."""
    return {
        "purpose": attempt.purpose,
        "offered": attempt.offered,
        "security_level": attempt.security_level,
        "outcome": attempt.outcome,
        "version": attempt.version,
        "cipher": attempt.cipher,
        "reason": attempt.reason,
    }


def connection_to_json(connection: Connection) -> dict[str, Any]:
    """The ``connection`` object: the address used and those tried before it."""
    return {
        "address": connection.address,
        "family": connection.family,
        "tried": [
            {"address": t.address, "family": t.family, "error": t.error} for t in connection.tried
        ],
    }


def _sni_leaf(cert: x509.Certificate | None) -> dict[str, Any]:
    facts = _cert_facts(cert) if cert is not None else None
    return {
        "sha256": facts["sha256"] if facts else None,
        "subject": facts["subject"] if facts else None,
        "san_dns": list(facts["san_dns"]) if facts else [],
        "san_ip": list(facts["san_ip"]) if facts else [],
    }


def sni_compare_to_json(
    compared: SNIComparison, with_sni: x509.Certificate | None
) -> dict[str, Any]:
    """The ``sni_compare`` object: the leaf served with SNI beside the one served without."""
    mine, other = _sni_leaf(with_sni), _sni_leaf(compared.leaf)
    return {
        "servername": compared.servername,
        "with_sni": mine if with_sni is not None else None,
        "without_sni": {
            "outcome": compared.outcome,
            "reason": compared.reason,
            **other,
            "hostname_matched": compared.hostname_matched,
            "chain_verified": compared.chain_verified,
        },
        "differs": (
            mine["sha256"] != other["sha256"]
            if with_sni is not None and compared.leaf is not None
            else None
        ),
    }


def verify_error_to_json(event: VerifyEvent) -> dict[str, Any]:
    """One entry of ``verify_errors``."""
    return {
        "depth": event.depth,
        "code": event.code,
        "name": event.name,
        "reason": event.reason,
        "subject": certificates.dn(event.certificate.subject) if event.certificate else None,
    }


def _iso(when: datetime.datetime | None) -> str | None:
    return certificates.iso_time(when) if when is not None else None


def ocsp_to_json(facts: OCSPFacts) -> dict[str, Any]:
    """The ``ocsp`` object: what the server stapled in answer to the probe's request."""
    return {
        "stapled": facts.stapled,
        "response_status": facts.response_status,
        "cert_status": facts.cert_status,
        "this_update": _iso(facts.this_update),
        "next_update": _iso(facts.next_update),
        "produced_at": _iso(facts.produced_at),
        "revocation_time": _iso(facts.revocation_time),
        "revocation_reason": facts.revocation_reason,
        "responder": facts.responder,
        "serial": f"{facts.serial_number:X}" if facts.serial_number is not None else None,
        "error": facts.error,
    }


def result_to_json(result: ProbeResult) -> dict[str, Any]:
    """The whole result as a JSON-ready dict."""
    target = result.target
    tls = result.tls
    failure = result.failure
    return {
        "status": result.status.value,
        "failed_phase": failure.phase.value if failure else None,
        "error": (
            {
                "kind": failure.kind,
                "message": failure.message,
                "reason": failure.reason,
            }
            if failure
            else None
        ),
        "target": {
            "url": target.url,
            "scheme": target.scheme,
            "host": target.host,
            "port": target.port,
            "servername": target.verify_name,
        },
        "tls": (
            {
                "version": tls.version,
                "cipher": tls.cipher,
                "alpn": tls.alpn,
                "session_reused": tls.session_reused,
                "openssl_version": tls.openssl_version,
                "client_ca_names": list(tls.client_ca_names),
                "sni": tls.servername_sent,
            }
            if tls
            else None
        ),
        "served_chain": [cert_to_json(c) for c in result.served_chain],
        "verified_chain": [cert_to_json(c) for c in result.verified_chain],
        "verify_errors": [verify_error_to_json(e) for e in result.verify_errors],
        "hostname": (
            {
                "name": result.hostname.name,
                "matched": result.hostname.matched,
                "names_in_cert": list(result.hostname.names_in_cert),
                "error": result.hostname.error,
            }
            if result.hostname
            else None
        ),
        "client_auth": (
            {
                "requested": result.client_auth.requested,
                "sent": result.client_auth.sent,
                "ca_names": list(result.client_auth.ca_names),
            }
            if result.client_auth
            else None
        ),
        "client": (
            {
                "address": result.client.address,
                "port": result.client.port,
                "sni": result.client.sni,
                "alpn_offered": list(result.client.alpn_offered),
            }
            if result.client
            else None
        ),
        "source": (
            {"address": result.source.address, "port": result.source.port}
            if result.source
            else None
        ),
        "proxy": attrs.asdict(result.proxy) if result.proxy is not None else None,
        "connection": (
            connection_to_json(result.connection) if result.connection is not None else None
        ),
        "sni_compare": (
            sni_compare_to_json(result.sni_compare, result.leaf)
            if result.sni_compare is not None
            else None
        ),
        "findings": [finding_to_json(f) for f in result.findings],
        "followups": [attempt_to_json(a) for a in result.followups],
        "versions": [attempt_to_json(a) for a in result.versions],
        "ocsp": ocsp_to_json(result.ocsp) if result.ocsp is not None else None,
        "http": dict(result.http) if result.http is not None else None,
        "ftp": dict(result.ftp) if result.ftp is not None else None,
        "timings": {
            "connect_s": result.timings.connect_s,
            "handshake_s": result.timings.handshake_s,
            "total_s": result.timings.total_s,
        },
        "started_at": (
            datetime.datetime.fromtimestamp(result.started_at, datetime.UTC).isoformat(
                timespec="milliseconds"
            )
            if result.started_at
            else None
        ),
        "tlsdiag_version": __version__,
    }


def dumps(result: ProbeResult) -> str:
    """One line of JSON for a result."""
    return json.dumps(result_to_json(result), sort_keys=False, default=str)


def schema() -> dict[str, Any]:
    """The JSON Schema of a result, as shipped in the package."""
    text = resources.files("diagnostics.model").joinpath("result.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded
