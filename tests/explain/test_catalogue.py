"""Tests for the explanation catalogue: completeness against the linked OpenSSL, lookups."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from OpenSSL import SSL
from OpenSSL._util import ffi, lib

from diagnostics.explain import alerts
from diagnostics.explain.catalogue import (
    VERIFY_CODES,
    Explanation,
    alert,
    catalogue_ids,
    classify_tls_error,
    connection_error,
    explain,
    ftp_reply,
    verify_code,
    verify_name,
)
from diagnostics.model.result import Severity, Side
from diagnostics.render.explanation import render_explanation

UNKNOWN_VERIFY = "unknown certificate verification error"
SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
CONNECTION_KINDS = (
    "resolve_failed",
    "connection_refused",
    "connection_reset",
    "timeout",
    "no_route",
    "connection_closed",
)


def linked_verify_text(code: int) -> str:
    """X509_verify_cert_error_string() of the OpenSSL pyOpenSSL links."""
    return ffi.string(lib.X509_verify_cert_error_string(code)).decode()  # type: ignore[no-any-return]


def linked_ssl_reasons() -> dict[int, str]:
    """Every reason text of libssl (ERR_LIB_SSL = 20) in the linked OpenSSL, by number."""
    SSL.Context(SSL.TLS_METHOD)  # makes OpenSSL load libssl's error strings
    reasons = {}
    for number in range(1, 1400):
        text = lib.ERR_reason_error_string((20 << 23) | number)
        if text != ffi.NULL:
            reasons[number] = ffi.string(text).decode()
    return reasons


def linked_alert_texts() -> dict[int, str]:
    """The reason text OpenSSL gives a received alert (reason 1000 + alert number)."""
    return {n - 1000: text for n, text in linked_ssl_reasons().items() if 1000 <= n < 1256}


# -- drift against the linked OpenSSL ----------------------------------------------------


def test_verify_codes_match_linked_openssl() -> None:
    """Every verify code of the linked OpenSSL is catalogued with its exact text, and no other."""
    linked = {}
    for code in range(200):
        text = linked_verify_text(code)
        if text != UNKNOWN_VERIFY:
            linked[code] = text
    assert {code: entry.reason for code, entry in VERIFY_CODES.items()} == linked


def test_verify_macros_match_linked_constants() -> None:
    """The macro names agree with the X509_V_ERR_* constants the binding exposes."""
    constants = {name: getattr(lib, name) for name in dir(lib) if name.startswith("X509_V_ERR_")}
    assert constants  # the binding exposes at least some of them
    assert {name: VERIFY_CODES[code].macro for name, code in constants.items()} == {
        name: name for name in constants
    }
    assert VERIFY_CODES[0].macro == "X509_V_OK"


def test_alerts_match_linked_openssl() -> None:
    """Every alert the linked OpenSSL names is catalogued with its text; only close_notify extra."""
    linked = linked_alert_texts()
    catalogued = {n: alert(n).reason for n in range(256) if alert(n).reason != "unknown alert"}
    assert {n: catalogued.get(n) for n in linked} == linked
    assert set(catalogued) - set(linked) == {0}


def test_handshake_reasons_exist_in_linked_openssl() -> None:
    """Every reason text the catalogue keys on is a text of the linked OpenSSL."""
    known = set(linked_ssl_reasons().values())
    texts = {text for reason in alerts.REASONS for text in reason.texts}
    assert texts - known == set()


# -- verify codes --------------------------------------------------------------------------


def test_unknown_verify_code_is_generic() -> None:
    """An unknown code gives a generic entry with OpenSSL's 'unknown' text instead of failing."""
    entry = verify_code(101)
    assert (entry.code, entry.macro, entry.reason, entry.kind) == (
        101,
        "X509_V_ERR_UNKNOWN_101",
        UNKNOWN_VERIFY,
        "verify",
    )
    assert entry.finding_id in catalogue_ids()
    assert verify_code(-5).macro == "X509_V_ERR_UNKNOWN_-5"


def test_verify_name() -> None:
    """verify_name gives the macro, or a stable placeholder for unknown codes."""
    assert verify_name(20) == "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY"
    assert verify_name(0) == "X509_V_OK"
    assert verify_name(999) == "X509_V_ERR_UNKNOWN_999"


def test_verify_titles_and_ids() -> None:
    """Titles show macro and number; the architecture's ids are used for the common codes."""
    assert VERIFY_CODES[20].title == "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY (20)"
    ids = {code: VERIFY_CODES[code].finding_id for code in (2, 9, 10, 18, 19, 20, 21, 23, 25, 62)}
    assert ids == {
        2: "unknown_issuer",
        9: "not_yet_valid",
        10: "expired",
        18: "self_signed",
        19: "untrusted_root",
        20: "unknown_issuer",
        21: "unknown_issuer",
        23: "revoked",
        25: "verify_path_length_exceeded",
        62: "hostname_mismatch",
    }


def test_only_ok_is_informational() -> None:
    """Code 0 is information; no real verification error is ever downgraded to info."""
    assert VERIFY_CODES[0].severity is Severity.INFO
    assert [c for c, e in VERIFY_CODES.items() if e.severity is Severity.INFO] == [0]
    assert VERIFY_CODES[10].severity is Severity.ERROR


# -- explain ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "kind", "key"),
    [
        ("20", "verify", "20"),
        (" 10 ", "verify", "10"),
        ("X509_V_ERR_CERT_HAS_EXPIRED", "verify", "10"),
        ("CERT_HAS_EXPIRED", "verify", "10"),
        ("x509_v_err_cert_has_expired", "verify", "10"),
        ("cert_has_expired", "verify", "10"),
        ("X509_V_OK", "verify", "0"),
        ("unable to get local issuer certificate", "verify", "20"),
        ("self signed certificate", "verify", "18"),
        ("verify error:num=21:unable to verify the first certificate", "verify", "21"),
        ("alert:48", "alert", "alert:48"),
        ("ALERT:116", "alert", "alert:116"),
        ("unknown_ca", "alert", "alert:48"),
        ("handshake_failure", "alert", "alert:40"),
        ("certificate_required", "alert", "alert:116"),
        ("user_cancelled", "alert", "alert:90"),
        ("ftp:522", "ftp", "ftp:522"),
        ("FTP:234", "ftp", "ftp:234"),
        ("wrong version number", "handshake", "wrong version number"),
        ("tlsv1 alert unknown ca", "alert", "alert:48"),
        ("timeout", "connection", "timeout"),
        ("connection refused", "connection", "connection_refused"),
    ],
)
def test_explain_forms(query: str, kind: str, key: str) -> None:
    """Every documented form of `tlsdiag explain` finds the right entry."""
    entry = explain(query)
    assert entry is not None
    assert (entry.kind, entry.key) == (kind, key)


@pytest.mark.parametrize(
    "query", ["", "   ", "101", "999", "alert:999", "alert:nope", "ftp:abc", "frobnicate", "²"]
)
def test_explain_unknown_is_none(query: str) -> None:
    """Input that names nothing known gives None."""
    assert explain(query) is None


def test_explain_openssl_3_and_4_alert_texts_alike() -> None:
    """OpenSSL 3's 'sslv3 alert …' and OpenSSL 4's 'tls alert …' give the same explanation."""
    assert explain("sslv3 alert handshake failure") == explain("tls alert handshake failure")
    entry = explain("tls alert handshake failure")
    assert entry is not None
    assert (entry.key, entry.finding_id) == ("alert:40", "handshake_failure")


def test_explain_reason_is_client_side() -> None:
    """Reason texts given to explain are read from the client side."""
    assert explain("tlsv1 alert unknown ca") == classify_tls_error(
        "tlsv1 alert unknown ca", seen_by=Side.CLIENT
    )


# -- classify_tls_error -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "client", "server"),
    [
        (
            "tlsv1 alert unknown ca",
            ("client_certificate_rejected", Side.CLIENT),
            ("server_certificate_rejected", Side.SERVER),
        ),
        (
            "tls alert certificate expired",
            ("client_certificate_rejected", Side.CLIENT),
            ("server_certificate_rejected", Side.SERVER),
        ),
        (
            "peer did not return a certificate",
            ("client_certificate_required", Side.CLIENT),
            ("client_certificate_missing", Side.CLIENT),
        ),
        ("wrong version number", ("not_tls", Side.EITHER), ("not_tls", Side.CLIENT)),
        ("ee key too small", ("weak_key", Side.CLIENT), ("weak_key", Side.SERVER)),
    ],
)
def test_classify_depends_on_who_saw_it(
    reason: str, client: tuple[str, Side], server: tuple[str, Side]
) -> None:
    """The same reason reads differently for the client and for the server."""
    as_client = classify_tls_error(reason, seen_by=Side.CLIENT)
    as_server = classify_tls_error(reason, seen_by=Side.SERVER)
    assert (as_client.finding_id, as_client.side) == client
    assert (as_server.finding_id, as_server.side) == server
    assert as_client.summary != as_server.summary


@pytest.mark.parametrize(
    ("reason", "finding_id"),
    [
        ("tlsv13 alert certificate required", "client_certificate_required"),
        ("tls alert handshake failure", "handshake_failure"),
        ("sslv3 alert handshake failure", "handshake_failure"),
        ("tlsv1 alert protocol version", "protocol_version"),
        ("tlsv1 unrecognized name", "unrecognized_name"),
        ("unexpected eof while reading", "connection_closed"),
        ("Unexpected EOF", "connection_closed"),
        ("no shared cipher", "no_shared_cipher"),
        ("dh key too small", "weak_dh"),
        ("ca md too weak", "weak_signature"),
        ("excessive message size", "excessive_message_size"),
        ("unsafe legacy renegotiation disabled", "legacy_renegotiation"),
        ("no protocols available", "protocol_version"),
        ("unsupported protocol", "protocol_version"),
        ("http request", "plain_http_on_tls_port"),
        ("certificate verify failed", "certificate_verify_failed"),
        # Whole error lines as servers and Python log them.
        ("error:0A000418:SSL routines::tlsv1 alert unknown ca", "client_certificate_rejected"),
        ("ssl3_get_record:wrong version number:../ssl/record/ssl3_record.c:350:", "not_tls"),
        (
            "ssl3_read_bytes:sslv3 alert bad certificate:SSL alert number 42",
            "client_certificate_rejected",
        ),
        ("SSL alert number 70", "protocol_version"),
        ("error:0A00045C:SSL routines::", "client_certificate_required"),
        (
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
            "unable to get local issuer certificate (_ssl.c:1006)",
            "certificate_verify_failed",
        ),
        ("[Errno 104] ECONNRESET", "connection_reset"),
    ],
)
def test_classify_reason_texts(reason: str, finding_id: str) -> None:
    """Reason texts, bare or inside a logged error line, are recognised (as the client)."""
    assert classify_tls_error(reason, seen_by=Side.CLIENT).finding_id == finding_id


def test_classify_reports_the_linked_librarys_words() -> None:
    """The entry names the text that matched; other versions' wording maps to today's text."""
    entry = classify_tls_error("packet length too long", seen_by=Side.CLIENT)
    assert (entry.key, entry.reason, entry.finding_id) == (
        "packet length too long",
        "packet length too long",
        "not_tls",
    )
    eof = classify_tls_error("SysCallError: (-1, 'Unexpected EOF')", seen_by=Side.SERVER)
    assert (eof.reason, eof.finding_id) == ("unexpected eof while reading", "connection_closed")


def test_classify_every_alert_with_both_prefixes() -> None:
    """Each alert is found by its OpenSSL 4 text and by the OpenSSL 3 'sslv3 alert' spelling."""
    for number, text in linked_alert_texts().items():
        entry = classify_tls_error(text, seen_by=Side.CLIENT)
        assert entry.key == f"alert:{number}"
        old = text.replace("tls alert ", "sslv3 alert ", 1)
        assert classify_tls_error(old, seen_by=Side.CLIENT) == entry


def test_classify_unknown_reason_quotes_it() -> None:
    """An unknown reason gives the generic handshake entry, quoting the text."""
    entry = classify_tls_error("frobnication of the widget", seen_by=Side.SERVER)
    assert (entry.kind, entry.finding_id, entry.reason) == (
        "handshake",
        "handshake_failed",
        "frobnication of the widget",
    )
    assert "frobnication of the widget" in entry.summary


# -- alerts, connection failures, FTP ------------------------------------------------------


def test_alert_entry_covers_both_directions() -> None:
    """The neutral alert entry names what each side should do."""
    entry = alert(48)
    assert (entry.kind, entry.key, entry.title) == (
        "alert",
        "alert:48",
        "unknown_ca (TLS alert 48)",
    )
    assert entry.side is Side.EITHER
    client = classify_tls_error("tlsv1 alert unknown ca", seen_by=Side.CLIENT)
    server = classify_tls_error("tlsv1 alert unknown ca", seen_by=Side.SERVER)
    assert client.remedy in entry.remedy
    assert server.remedy in entry.remedy


def test_unknown_alert_is_generic() -> None:
    """An alert number OpenSSL does not name still gets an entry."""
    entry = alert(200)
    assert (entry.key, entry.finding_id) == ("alert:200", "tls_alert_unknown")


def test_connection_kinds() -> None:
    """Each connection failure kind has its own entry and id; an unknown kind is a KeyError."""
    for kind in CONNECTION_KINDS:
        entry = connection_error(kind)
        assert (entry.kind, entry.key, entry.finding_id) == ("connection", kind, kind)
    with pytest.raises(KeyError):
        connection_error("carrier_pigeon_lost")


@pytest.mark.parametrize(
    ("code", "finding_id", "severity"),
    [
        (234, "ftp_reply_positive", Severity.INFO),
        (334, "ftps_no_tls", Severity.ERROR),
        (421, "ftp_service_unavailable", Severity.ERROR),
        (425, "ftp_data_connection_failed", Severity.ERROR),
        (522, "ftps_data_tls_failed", Severity.ERROR),
        (530, "ftp_login_refused", Severity.ERROR),
        (534, "ftps_policy_refused", Severity.ERROR),
        (536, "ftps_prot_p_refused", Severity.ERROR),
    ],
)
def test_ftp_replies(code: int, finding_id: str, severity: Severity) -> None:
    """FTPS-relevant reply codes carry their own ids and severities."""
    entry = ftp_reply(code)
    assert (entry.kind, entry.key, entry.finding_id, entry.severity) == (
        "ftp",
        f"ftp:{code}",
        finding_id,
        severity,
    )


def test_ftp_rfc_codes_are_all_specific() -> None:
    """Every reply code of RFC 959, 2228 and 4217 has a specific entry, not the class fallback."""
    rfc_codes = [110, 120, 125, 150, 200, 202, 211, 212, 213, 214, 215, 220, 221, 225, 226]
    rfc_codes += [227, 230, 232, 234, 235, 250, 257, 331, 332, 334, 335, 336, 350, 421, 425]
    rfc_codes += [426, 431, 450, 451, 452, 500, 501, 502, 503, 504, 521, 522, 530, 532, 533]
    rfc_codes += [534, 535, 536, 537, 550, 551, 552, 553, 631, 632, 633]
    generic = [code for code in rfc_codes if ftp_reply(code).reason.startswith("reply class")]
    assert generic == []


@pytest.mark.parametrize(
    ("code", "finding_id"),
    [
        (199, "ftp_reply_positive"),
        (299, "ftp_reply_positive"),
        (399, "ftp_reply_positive"),
        (499, "ftp_reply_transient_error"),
        (599, "ftp_reply_permanent_error"),
        (699, "ftp_reply_protected"),
        (42, "ftp_reply_invalid"),
        (700, "ftp_reply_invalid"),
    ],
)
def test_ftp_unknown_codes_by_first_digit(code: int, finding_id: str) -> None:
    """Codes the standards do not define are explained by their first digit."""
    assert ftp_reply(code).finding_id == finding_id


# -- every entry ---------------------------------------------------------------------------


def all_entries() -> Iterator[Explanation]:
    """Every entry the public functions can return, for well-formedness checks."""
    yield from (verify_code(code) for code in range(-1, 200))
    yield from (alert(number) for number in range(256))
    texts = [*linked_ssl_reasons().values(), "no such reason", "ECONNRESET", "timed out"]
    for text in texts:
        for side in (Side.CLIENT, Side.SERVER, Side.EITHER):
            yield classify_tls_error(text, seen_by=side)
    yield from (connection_error(kind) for kind in (*CONNECTION_KINDS, "connect_error"))
    yield from (ftp_reply(code) for code in range(1000))


def test_every_entry_is_well_formed() -> None:
    """Each entry has words, a valid side and severity, and a snake_case finding id."""
    bad = []
    for entry in all_entries():
        if not (
            entry.title
            and entry.reason
            and entry.summary.strip()
            and entry.remedy.strip()
            and all(cause.strip() for cause in entry.causes)
            and isinstance(entry.side, Side)
            and isinstance(entry.severity, Severity)
            and SNAKE_CASE.fullmatch(entry.finding_id)
            and entry.kind in ("verify", "alert", "handshake", "connection", "ftp")
        ):
            bad.append(entry)
    assert bad == []


def test_catalogue_ids_are_complete() -> None:
    """catalogue_ids() lists exactly the ids the entries carry."""
    assert {entry.finding_id for entry in all_entries()} == catalogue_ids()


def test_architecture_vocabulary_is_used() -> None:
    """The ids the architecture names for these situations are the ones produced."""
    expected = {
        "unknown_issuer",
        "untrusted_root",
        "self_signed",
        "expired",
        "not_yet_valid",
        "hostname_mismatch",
        "weak_key",
        "weak_signature",
        "wrong_eku",
        "revoked",
        "crl_unavailable",
        "client_certificate_required",
        "client_certificate_rejected",
        "client_certificate_missing",
        "not_tls",
        "protocol_version",
        "no_shared_cipher",
        "connection_refused",
        "timeout",
        "resolve_failed",
        "ftp_login_refused",
        "ftps_prot_p_refused",
        "ftps_no_tls",
    }
    assert expected - catalogue_ids() == set()


# -- rendering -----------------------------------------------------------------------------


def test_render_explanation_has_every_part() -> None:
    """The rendered text shows title, reason, summary, each cause as a bullet, who acts, fix."""
    entry = VERIFY_CODES[20]
    lines = render_explanation(entry).splitlines()
    text = " ".join(line.strip() for line in lines)
    assert lines[0] == entry.title
    assert lines[1] == f"OpenSSL says: {entry.reason}"
    assert " ".join(entry.summary.split()) in text
    bullets = [line for line in lines if line.startswith("  - ")]
    assert len(bullets) == len(entry.causes)
    assert any(line.startswith("Who acts: either side") for line in lines)
    assert " ".join(entry.remedy.split()) in text
    assert entry.finding_id in lines[-1]


# -- robustness ----------------------------------------------------------------------------

_prefixes = st.sampled_from(
    ["", "alert:", "ftp:", "X509_V_ERR_", "tls alert ", "tlsv1 ", "error:0a000418:", "num="]
)


@given(prefix=_prefixes, text=st.text())
def test_lookups_never_raise(prefix: str, text: str) -> None:
    """explain() and classify_tls_error() accept any text without raising."""
    query = prefix + text
    result = explain(query)
    assert result is None or isinstance(result, Explanation)
    for side in (Side.CLIENT, Side.SERVER):
        assert isinstance(classify_tls_error(query, seen_by=side), Explanation)
