"""Listener sessions judged: in-memory handshakes of the probe (as the partner's client)
against the listener, on a fake reactor, for the many client-certificate variants."""

from __future__ import annotations

import datetime
import json
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.test.iosim import ConnectionCompleter, IOPump

from diagnostics.listener.service import ListenerFactory
from diagnostics.listener.session import Limits, ListenerOptions, load_material
from diagnostics.listener.verdict import SessionPolicy, judge, refused
from diagnostics.model import certificates
from diagnostics.model.jsonform import dumps
from diagnostics.model.options import ProbeOptions
from diagnostics.model.result import ClientInfo, ProbeResult, Target
from diagnostics.model.target import parse_target
from diagnostics.probes.dispatch import probe
from diagnostics.render.session import PLAIN_TEXT_REPORTS, render_session
from diagnostics.tls.trust import TrustCache
from tests.support import crls, memtls, pki

PORT = 4433


@attrs.frozen
class Partner:
    """The listener's files and a partner PKI: an accepted CA and another one."""

    directory: Path
    server: pki.Chain
    server_cert: str
    server_key: str
    client_root: pki.Issued
    client_ca: str
    other_root: pki.Issued


@pytest.fixture(scope="module")
def partner(tmp_path_factory: pytest.TempPathFactory) -> Partner:
    """Files for a listener whose client CA is the partner's root."""
    directory = tmp_path_factory.mktemp("listen")
    server = pki.make_chain()
    client_root = pki.make_ca("Partner Root CA")
    return Partner(
        directory=directory,
        server=server,
        server_cert=memtls.write_pem(directory / "server.pem", server.served),
        server_key=memtls.write_key(directory / "server.key", server.leaf.key),
        client_root=client_root,
        client_ca=memtls.write_pem(directory / "client_ca.pem", [client_root.cert]),
        other_root=pki.make_ca("Other Root CA"),
    )


def _session(
    partner: Partner,
    tmp_path: Path,
    identity: pki.Issued | None,
    *,
    scheme: str = "https",
    presented: Sequence[bytes] = (),
    **listener: Any,
) -> tuple[ProbeResult, ProbeResult]:
    """The partner's probe against an in-memory listener: (client's result, session).

    The listener serves ``scheme``; the probe speaks it too, except for plain TLS against
    an HTTPS listener (the default).  ``presented`` is a DER certificate the client sends
    are the DER certificates the client sends instead of the identity's own (with the
    identity's key).
    """
    options = ListenerOptions(
        url=f"{scheme}://127.0.0.1:{PORT}",
        cert_file=partner.server_cert,
        key_file=partner.server_key,
        **listener,
    )
    material = load_material(options)
    reactor = MemoryReactorClock()  # type: ignore[no-untyped-call]
    session: Deferred[ProbeResult] = Deferred()
    factory = ListenerFactory(reactor, material, session.callback, reports=PLAIN_TEXT_REPORTS)
    reactor.listenTCP(PORT, factory, interface="127.0.0.1")  # type: ignore[no-untyped-call]
    chain = [identity.cert] if identity else []
    trust = memtls.trust_config(
        tmp_path, [partner.server.root.cert], chain, identity.key if identity else None
    )
    if presented:
        assert trust.cert_file is not None
        Path(trust.cert_file).write_text("".join(map(ssl.DER_cert_to_PEM_cert, presented)))
    client_scheme = "tls" if scheme == "https" else scheme
    client = probe(
        reactor,
        parse_target(f"{client_scheme}://127.0.0.1:{PORT}", servername="localhost"),
        ProbeOptions(trust=trust),
        cache=TrustCache(),
    )
    both = gatherResults([client, session])
    done: list[list[ProbeResult]] = []
    both.addCallback(done.append)
    completer = ConnectionCompleter(reactor)
    pumps: list[IOPump] = []
    for _ in range(10_000):
        if done:
            return done[0][0], done[0][1]
        pump = completer.succeedOnce()
        if pump is not None:
            pumps.append(pump)
        if pump is not None or any([p.flush() for p in pumps]):  # type: ignore[no-untyped-call]
            continue
        reactor.advance(min(c.getTime() for c in reactor.getDelayedCalls()) - reactor.seconds())
    raise AssertionError("the session did not end")


def _client(root: pki.Issued, name: str = "JohnD", **options: Any) -> pki.Issued:
    return pki.issue(root, name, sans=(), ekus=(pki.CLIENT_AUTH,), **options)


def test_accepted_certificate_with_the_expected_cn_is_ok(partner: Partner, tmp_path: Path) -> None:
    """A client certificate from the accepted CA with the right CN: ok, not refused, the
    client's chain as sent and as verified, its SNI recorded."""
    client, session = _session(
        partner,
        tmp_path,
        _client(partner.client_root),
        client_ca_files=(partner.client_ca,),
        expect_cn="JohnD",
    )
    assert client.status.value == "ok"
    assert (session.status.value, session.findings, refused(session)) == ("ok", (), False)
    assert [c.subject.rfc4514_string() for c in session.served_chain] == ["CN=JohnD"]
    assert len(session.verified_chain) == 2
    assert session.client is not None and session.client.sni == "localhost"
    assert session.client_auth is not None and session.client_auth.sent


def test_certificate_from_another_ca_is_rejected(partner: Partner, tmp_path: Path) -> None:
    """A certificate from a CA that is not a client CA: the handshake still completes (not
    strict), the session's primary finding says rejected, with the verify errors kept."""
    _, session = _session(
        partner, tmp_path, _client(partner.other_root), client_ca_files=(partner.client_ca,)
    )
    assert session.tls is not None
    assert session.findings[0].id == "client_certificate_rejected"
    assert "Partner Root CA" in session.findings[0].detail
    assert {e.code for e in session.verify_errors} >= {20}
    assert refused(session)


def test_no_certificate_is_missing(partner: Partner, tmp_path: Path) -> None:
    """No client certificate while client CAs are configured: client_certificate_missing."""
    _, session = _session(partner, tmp_path, None, client_ca_files=(partner.client_ca,))
    assert session.findings[0].id == "client_certificate_missing"
    assert session.findings[0].side.value == "client"
    assert session.tls is not None and session.tls.client_ca_names == ("CN = Partner Root CA",)


@pytest.mark.parametrize(
    ("flaw", "expected"),
    [
        ({"not_after": pki.utcnow() - datetime.timedelta(days=3)}, "expired"),
        ({"not_before": pki.utcnow() + datetime.timedelta(days=3)}, "not_yet_valid"),
        ({"ekus": (pki.SERVER_AUTH,)}, "wrong_eku"),
    ],
)
def test_flawed_client_certificates(
    partner: Partner, tmp_path: Path, flaw: dict[str, Any], expected: str
) -> None:
    """Expired, not yet valid, or without clientAuth: rejected, and the cause is named."""
    options = dict(flaw)
    ekus = options.pop("ekus", (pki.CLIENT_AUTH,))
    if "not_after" in options:
        options["not_before"] = options["not_after"] - datetime.timedelta(days=30)
    identity = pki.issue(partner.client_root, "JohnD", sans=(), ekus=ekus, **options)
    _, session = _session(partner, tmp_path, identity, client_ca_files=(partner.client_ca,))
    ids = [f.id for f in session.findings]
    assert ids[0] == "client_certificate_rejected"
    assert expected in ids


def test_revoked_client_certificate_names_date_reason_and_crl(
    partner: Partner, tmp_path: Path
) -> None:
    """--crl: a client certificate on its CA's CRL is rejected, and the revoked finding gives
    the revocation date, the reason and the CRL file; an unlisted one from the same CA passes."""
    revoked = _client(partner.client_root)
    revoked_at = pki.utcnow() - datetime.timedelta(days=2)
    crl = crls.make_crl(
        partner.client_root, [(revoked.cert, x509.ReasonFlags.superseded)], revoked_at=revoked_at
    )
    crl_file = tmp_path / "partner.crl"
    crl_file.write_bytes(crls.der(crl))
    listener = {"client_ca_files": (partner.client_ca,), "crl_files": (str(crl_file),)}
    _, session = _session(partner, tmp_path, revoked, **listener)
    assert {(e.depth, e.code) for e in session.verify_errors} == {(0, 23)}
    ids = [f.id for f in session.findings]
    assert ids[0] == "client_certificate_rejected" and "revoked" in ids
    finding = session.findings[ids.index("revoked")]
    assert finding.side.value == "client"
    assert f"on {certificates.iso_time(revoked_at)} (reason: superseded)" in finding.summary
    assert f"from {crl_file}" in finding.detail
    assert refused(session)
    _, fine = _session(partner, tmp_path, _client(partner.client_root), **listener)
    assert (fine.status.value, fine.verify_errors) == ("ok", ())


def test_strict_mode_refuses_a_missing_certificate(partner: Partner, tmp_path: Path) -> None:
    """--require-client-cert: the handshake fails and the server-side reason is explained."""
    client, session = _session(
        partner,
        tmp_path,
        None,
        client_ca_files=(partner.client_ca,),
        require_client_cert=True,
    )
    assert client.status.value == "failed"
    assert session.failure is not None and session.failure.phase.value == "handshake"
    assert "did not return a certificate" in (session.failure.reason or "")
    assert session.findings[0].id == "client_certificate_missing"


def test_without_client_cas_no_certificate_is_asked(partner: Partner, tmp_path: Path) -> None:
    """No --client-ca: the client is not asked for a certificate and sends none."""
    client, session = _session(partner, tmp_path, _client(partner.client_root))
    assert client.client_auth is None
    assert session.status.value == "ok"
    assert session.served_chain == () and session.client_auth is None


# -- a client certificate cryptography cannot read ----------------------------------------


@pytest.mark.parametrize("require_client_cert", [False, True])
def test_unreadable_client_certificate_is_malformed_not_missing(
    partner: Partner, tmp_path: Path, require_client_cert: bool
) -> None:
    """A client certificate with an invalid X.509 version (OpenSSL takes it, cryptography
    does not): the primary finding is malformed_certificate on the client's side with the
    parser's message, its position and subject; never client_certificate_missing; refused;
    the partner's root is not judged as if it were the client's certificate."""
    identity = _client(partner.client_root)
    bad = pki.with_version(identity.cert, partner.client_root.key, 10)
    _, session = _session(
        partner,
        tmp_path,
        identity,
        presented=[bad],
        client_ca_files=(partner.client_ca,),
        require_client_cert=require_client_cert,
        expect_cn="JohnD",
    )
    assert session.tls is not None and session.failure is None
    primary = session.findings[0]
    assert (primary.id, primary.side.value) == ("malformed_certificate", "client")
    assert "certificate 1 of 1 ('CN = JohnD'): 10 is not a valid X509 version" in primary.summary
    ids = [f.id for f in session.findings]
    assert "client_certificate_missing" not in ids and "account_mismatch" not in ids
    assert session.client_auth is not None and session.client_auth.sent
    assert (session.served_chain, session.verified_chain) == ((), ())
    assert refused(session)
    assert session.status.value != "ok"
    assert json.loads(dumps(session))["findings"][0]["id"] == "malformed_certificate"
    assert primary.summary in render_session(session)


def test_unreadable_client_intermediate_is_named_and_the_leaf_still_judged(
    partner: Partner, tmp_path: Path
) -> None:
    """The client sends its own certificate and an intermediate cryptography cannot read:
    malformed_certificate names the intermediate (certificate 2 of 2) first, the readable
    client certificate stays in the chain and is still checked against the account."""
    intermediate = pki.issue(
        partner.client_root, "Partner Issuing CA", sans=(), ekus=None, is_ca=True
    )
    identity = _client(intermediate, "Alice")
    bad = pki.with_version(intermediate.cert, partner.client_root.key, 10)
    _, session = _session(
        partner,
        tmp_path,
        identity,
        presented=[identity.cert.public_bytes(serialization.Encoding.DER), bad],
        client_ca_files=(partner.client_ca,),
        expect_cn="JohnD",
    )
    assert session.tls is not None
    primary = session.findings[0]
    assert (primary.id, primary.side.value) == ("malformed_certificate", "client")
    assert "certificate 2 of 2 ('CN = Partner Issuing CA')" in primary.summary
    assert session.served_chain == (identity.cert,)
    assert "account_mismatch" in [f.id for f in session.findings]
    assert refused(session)


# -- the account check, pure -------------------------------------------------------------


def _judged(cn: str, expect: str) -> ProbeResult:
    root = pki.make_ca("Partner Root CA")
    leaf = _client(root, cn).cert
    raw = ProbeResult(
        target=Target("https://127.0.0.1:1", "https", "127.0.0.1", 1),
        served_chain=(leaf,),
        verified_chain=(leaf, root.cert),
        client=ClientInfo("192.0.2.7", 50000),
    )
    policy = SessionPolicy(client_ca_names=("CN = Partner Root CA",), expect_cn=expect)
    return judge(raw, policy, trusted=[root.cert])


def test_case_only_difference_has_its_own_explanation() -> None:
    """'johnd' for the account 'JohnD' is a mismatch, explained as a letter-case difference."""
    finding = _judged("johnd", "JohnD").findings[0]
    assert finding.id == "account_mismatch"
    assert "letter case" in finding.summary and "192.0.2.7:50000" in finding.detail


def test_other_cn_is_a_plain_mismatch() -> None:
    """Another name altogether: account_mismatch without the letter-case explanation."""
    finding = _judged("Alice", "JohnD").findings[0]
    assert finding.id == "account_mismatch"
    assert "letter case" not in finding.summary and "'Alice'" in finding.summary


def test_matching_cn_is_no_finding() -> None:
    """The exact CN: no account finding."""
    assert _judged("JohnD", "JohnD").findings == ()


# -- limits on a fake clock ----------------------------------------------------------------


def _factory(
    partner: Partner, scheme: str = "https", **limits: Any
) -> tuple[MemoryReactorClock, ListenerFactory, list[ProbeResult]]:
    options = ListenerOptions(
        url=f"{scheme}://127.0.0.1:{PORT}",
        cert_file=partner.server_cert,
        key_file=partner.server_key,
        limits=Limits(**limits),
    )
    reactor = MemoryReactorClock()  # type: ignore[no-untyped-call]
    results: list[ProbeResult] = []
    return (
        reactor,
        ListenerFactory(
            reactor, load_material(options), results.append, reports=PLAIN_TEXT_REPORTS
        ),
        results,
    )


def test_silent_client_is_cut_off_at_the_handshake_timeout(partner: Partner) -> None:
    """A client that connects and sends nothing is dropped after the handshake timeout and
    reported as a handshake-phase timeout."""
    reactor, factory, results = _factory(partner, handshake_timeout=5.0)
    protocol = factory.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    reactor.advance(4.9)
    assert not transport.disconnecting
    reactor.advance(0.2)
    assert transport.disconnecting
    protocol.connectionLost(_lost())
    assert results[0].failure is not None
    assert (results[0].failure.kind, results[0].failure.phase.value) == ("timeout", "handshake")


def test_connections_over_the_limit_drop_the_oldest_in_its_handshake(partner: Partner) -> None:
    """Past max_connections a new connection takes the place of the oldest one still in its
    handshake, which is closed at once and makes no session (tests/listener/test_limit.py has
    the rest of the rules)."""
    _, factory, results = _factory(partner, max_connections=1)
    first = factory.buildProtocol(None)
    transport = StringTransport()
    first.makeConnection(transport)
    second = factory.buildProtocol(None)
    second.makeConnection(StringTransport())
    assert transport.disconnecting and factory.refused == 1
    first.connectionLost(_lost())
    assert len(factory.sessions) == 1 and results == []


def _lost() -> Any:
    """The reason a closed connection reports."""
    from twisted.internet.error import ConnectionDone
    from twisted.python.failure import Failure

    return Failure(ConnectionDone())


def test_stop_reports_open_sessions_as_cut_short_but_not_concluded_ones(partner: Partner) -> None:
    """Stopping the listener: a session still talking is reported as listener_stopped; one
    that already said QUIT and got its 221 is not (it is judged for what it did: no TLS)."""
    _, factory, results = _factory(partner, "ftpes")
    talking, quitting = factory.buildProtocol(None), factory.buildProtocol(None)
    transports = [StringTransport(), StringTransport()]
    talking.makeConnection(transports[0])
    quitting.makeConnection(transports[1])
    quitting.dataReceived(b"QUIT\r\n")
    assert b"\r\n221 " in transports[1].value()
    factory.close_all()
    talking.connectionLost(_lost())
    quitting.connectionLost(_lost())
    stopped, quit_ = results
    assert stopped.failure is not None and stopped.failure.kind == "listener_stopped"
    assert stopped.findings[0].id == "listener_stopped"
    assert quit_.failure is not None and quit_.failure.kind == "connection_closed"
    assert "no AUTH TLS" in quit_.failure.message
