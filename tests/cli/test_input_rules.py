"""Small input rules of the command line: ranges, the targets file, explain, what a wrong
file is, and one classified line (``tlsdiag COMMAND: …``, exit 2) for every mistake.

Most run ``main()`` in this process (they stop before any reactor runs); the targets file
is also probed end to end against a closed loopback port.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnostics.cli.common import UsageError
from diagnostics.cli.main import main
from diagnostics.cli.probe import parse_targets_file
from tests.support import servers
from tests.support.servers import run_tlsdiag


def cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, list[str]]:
    """Run ``tlsdiag ARGS`` in this process: exit code, stdout, stderr lines."""
    out = io.StringIO()
    code = main([str(a) for a in args], out)
    return code, out.getvalue(), capsys.readouterr().err.splitlines()


def usage_error(capsys: pytest.CaptureFixture[str], *args: str | Path) -> str:
    """The one error line of a command that must be refused with exit 2."""
    code, out, err = cli(capsys, *args)
    assert (code, out, len(err)) == (2, "", 1), (code, out, err)
    command = str(args[0])
    assert err[0].startswith(f"tlsdiag {command}: "), err[0]
    return err[0]


# -- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--timeout", "-5"), "argument --timeout: must be more than 0 and at most 3600 seconds"),
        (("--timeout", "-0.5"), "more than 0 and at most 3600 seconds, not -0.5"),
        (("--timeout=-5",), "more than 0 and at most 3600 seconds, not -5"),
        (("--timeout", "0"), "must be more than 0 and at most 3600 seconds, not 0"),
        (("--timeout", "nan"), "must be more than 0"),
        (("--timeout", "3601"), "at most 3600 seconds, not 3601"),
        (("--concurrency", "-3"), "argument --concurrency: must be at least 1, not -3"),
        (("--warn-days", "-1"), "argument --warn-days: must be at least 1, not -1"),
        (("--critical-days", "-2"), "argument --critical-days: must be at least 1, not -2"),
    ],
)
def test_numbers_out_of_range_say_the_range(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    """A negative number reaches the option's range check ("expected one argument" no more);
    zero is not "between 0 and 3600"."""
    line = usage_error(capsys, "probe", "tls://127.0.0.1:9", *args)
    assert message in line
    assert "expected one argument" not in line and "between 0 and" not in line


def test_listener_timeouts_take_negative_numbers_too(capsys: pytest.CaptureFixture[str]) -> None:
    """The same for ``listen``'s bounds."""
    line = usage_error(
        capsys, "listen", "https://127.0.0.1:1", "--cert", "c", "--key", "k", "--idle-timeout", "-1"
    )
    assert "argument --idle-timeout: must be more than 0" in line


def test_ipv4_and_ipv6_flags_still_parse(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``-4``/``-6`` stay options of their own (the next problem reported is the CA file)."""
    line = usage_error(capsys, "probe", "-4", "tls://127.0.0.1:9", "--ca", tmp_path / "none.pem")
    assert "none.pem" in line and "cannot be read" in line


# -- explain ---------------------------------------------------------------------------------


def test_explain_several_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """``explain 10 20`` explains both codes, in the order given."""
    code, out, err = cli(capsys, "explain", "10", "20")
    assert (code, err) == (0, [])
    first = out.index("X509_V_ERR_CERT_HAS_EXPIRED (10)")
    assert out.index("X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY (20)") > first


def test_explain_an_unquoted_reason_text(capsys: pytest.CaptureFixture[str]) -> None:
    """Several words that are one OpenSSL reason are still explained as that reason."""
    code, out, _ = cli(capsys, "explain", "wrong", "version", "number")
    assert code == 0 and "wrong version number" in out


@pytest.mark.parametrize("query", ["ftp:999", "ftp:700", "ftp:99", "alert:999"])
def test_explain_out_of_range_numbers_exit_2(
    capsys: pytest.CaptureFixture[str], query: str
) -> None:
    """An FTP reply outside 100-699 is refused like an alert above 255."""
    assert repr(query) in usage_error(capsys, "explain", query)


def test_explain_names_the_unknown_code(capsys: pytest.CaptureFixture[str]) -> None:
    """Among known codes, the unknown one is named."""
    line = usage_error(capsys, "explain", "10", "bogus")
    assert "'bogus'" in line and "'10'" not in line


# -- what a wrong file is --------------------------------------------------------------------


def test_a_key_given_as_a_certificate_says_so(
    capsys: pytest.CaptureFixture[str], loopback_pki: servers.PKIFiles
) -> None:
    """A private key as --ca or --cert is "a private key, not a certificate"; a certificate
    as --key is "a certificate, not a private key"."""
    key, cert = str(loopback_pki.key), str(loopback_pki.leaf)
    url = "tls://127.0.0.1:9"
    line = usage_error(capsys, "probe", url, "--ca", key)
    assert line.endswith(f"CA file {key!r} is a private key, not a certificate")
    line = usage_error(capsys, "probe", url, "--cert", key, "--key", key)
    assert line.endswith(f"client certificate {key!r} is a private key, not a certificate")
    line = usage_error(capsys, "probe", url, "--cert", cert, "--key", cert)
    assert line.endswith(f"client key {cert!r} is a certificate, not a private key")
    line = usage_error(capsys, "verify", cert, "--ca", key)
    assert "is a private key, not a certificate" in line
    listen = ["listen", "https://127.0.0.1:1", "--cert", cert, "--key", str(loopback_pki.key)]
    assert "is a private key, not a certificate" in usage_error(capsys, *listen, "--client-ca", key)


def test_log_dir_naming_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, loopback_pki: servers.PKIFiles
) -> None:
    """``--log-dir`` naming a file (or a path through one) says so."""
    taken = tmp_path / "notes.txt"
    taken.write_text("a file\n")
    line = usage_error(capsys, "probe", "tls://127.0.0.1:9", "--log-dir", taken)
    assert line == f"tlsdiag probe: --log-dir {str(taken)!r} is a file, not a folder"
    line = usage_error(capsys, "probe", "tls://127.0.0.1:9", "--log-dir", taken / "logs")
    assert "a part of its path is a file, not a folder" in line
    listen = ["listen", f"https://127.0.0.1:{servers.free_port()}"]
    listen += ["--cert", str(loopback_pki.served), "--key", str(loopback_pki.key)]
    line = usage_error(capsys, *listen, "--log-dir", taken)
    assert line == f"tlsdiag listen: --log-dir {str(taken)!r} is a file, not a folder"


# -- one classified line for every mistake -----------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("probe", "ftps://127.0.0.1", "--password-env", "TLSDIAG_TEST_UNSET_VAR"),
        ("probe", "tls://127.0.0.1:9", "--key-password-env", "TLSDIAG_TEST_UNSET_VAR"),
        ("probe", "tls://127.0.0.1:9", "--crl", "ftp://example.test/x.crl"),
        ("probe", "tls://127.0.0.1:9", "--cert", "c.pem"),
        ("probe", "tls://127.0.0.1:9", "--warn-days", "3", "--critical-days", "5"),
        ("probe", "tls://127.0.0.1:9", "--servername", "a b"),
        ("probe", "https://127.0.0.1/a b"),
        ("probe", "https://2130706433"),
        ("probe", "tls://127.0.0.1:9", "--bogus"),
        ("probe",),
        ("inspect", "x.pem", "--password-env", "TLSDIAG_TEST_UNSET_VAR"),
        ("inspect", "x.pem", "--warn-days", "3", "--critical-days", "5"),
        ("listen", "https://127.0.0.1:1", "--cert", "c", "--key", "k", "--require-client-cert"),
        ("listen", "https://127.0.0.1:1/a\r\nb", "--cert", "c", "--key", "k"),
        ("listen", "https://127.0.0.1:1", "--cert", "c", "--key", "k", "--crl", "ftp://x"),
        ("verify", "x.pem", "--name", "bad name!"),
        ("verify", "x.pem", "--at", "next tuesday"),
        ("daemon", "--shard", "7"),
        ("explain", "nonsense-xyz"),
        ("lab", "--bind", "localhost"),
        ("schema", "extra"),
    ],
)
def test_every_error_line_names_its_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    """Whatever the mistake: exit 2, one line starting ``tlsdiag COMMAND:``, no control
    character of the input on the terminal."""
    monkeypatch.delenv("TLSDIAG_TEST_UNSET_VAR", raising=False)
    line = usage_error(capsys, *args)
    assert "\r" not in line and "\x1b" not in line


def test_unset_variables_are_named(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The option and the variable are both in the line."""
    monkeypatch.delenv("TLSDIAG_TEST_UNSET_VAR", raising=False)
    line = usage_error(
        capsys, "probe", "tls://127.0.0.1:9", "--password-env", "TLSDIAG_TEST_UNSET_VAR"
    )
    assert line == (
        "tlsdiag probe: --password-env: the environment variable TLSDIAG_TEST_UNSET_VAR is not set"
    )


# -- the targets file --------------------------------------------------------------------------


def test_targets_file_comments_bom_and_crlf() -> None:
    """A byte-order mark, CRLF line ends and comments after a URL; a # inside a URL stays."""
    data = (
        b"\xef\xbb\xbfhttps://a.example.test  # production\r\n"
        b"\r\n"
        b"   # an indented comment\r\n"
        b"tls://127.0.0.1:8443\t# after a tab\r\n"
        b"https://b.example.test/#section\r\n"
        b"#https://commented.out\n"
        b"ftpes://c.example.test:21"
    )
    assert parse_targets_file(data, "t.txt") == [
        "https://a.example.test",
        "tls://127.0.0.1:8443",
        "https://b.example.test/#section",
        "ftpes://c.example.test:21",
    ]


def test_targets_file_not_utf8() -> None:
    """A binary list is one line naming the file and the place, not a traceback."""
    with pytest.raises(UsageError) as caught:
        parse_targets_file(b"https://a.test\n\xff\xfe", "list.txt")
    assert str(caught.value).startswith(
        "--targets 'list.txt' is not UTF-8 text (byte 0xff on line 2"
    )


def test_an_empty_targets_file_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """No URL in the file (only comments and blank lines, or nothing): it says so."""
    for content in (b"", b"# nothing yet\r\n\r\n   \n"):
        listed = tmp_path / "targets.txt"
        listed.write_bytes(content)
        line = usage_error(capsys, "probe", "--targets", listed)
        assert line == (
            f"tlsdiag probe: --targets {str(listed)!r} holds no URL (only blank lines and "
            "comments): write one URL per line"
        )


def test_targets_file_is_probed_as_written(tmp_path: Path, closed_port: servers.ClosedPort) -> None:
    """End to end: a Windows-edited list (BOM, CRLF, inline comments) is probed in order."""
    listed = tmp_path / "targets.txt"
    url = closed_port.url()
    listed.write_bytes(f"\ufeff{url}  # the first\r\n# skipped\r\n\r\n{url}\t# again\r\n".encode())
    run = run_tlsdiag("probe", "--targets", listed, "--format", "json", "--timeout", "5")
    assert run.returncode == 3, run.stderr
    assert [json.loads(line)["target"]["url"] for line in run.lines] == [url, url]


_LINE_PARTS = st.sampled_from(
    ["https://a.test", "tls://127.0.0.1:1", "#", " # note", "\t", " ", "x#y", "\ufeff", "é"]
)


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_any_bytes_are_urls_or_one_usage_error(data: bytes) -> None:
    """Whatever the bytes: a list of trimmed one-line entries without comments, or UsageError."""
    try:
        urls = parse_targets_file(data, "t.txt")
    except UsageError as exc:
        assert "is not UTF-8 text" in str(exc)
        return
    for url in urls:
        assert url and url == url.strip()
        assert "\n" not in url and "\r" not in url
        assert not url.startswith("#")


@given(st.lists(st.lists(_LINE_PARTS, max_size=6).map("".join), max_size=12), st.booleans())
@settings(max_examples=300, deadline=None)
def test_written_lists_read_back(lines: list[str], crlf: bool) -> None:
    """What a person writes — URLs, comments, tabs, CRLF, a BOM — reads back as the URLs
    before each comment, one per line."""
    ending = "\r\n" if crlf else "\n"
    data = ("\ufeff" + ending.join(lines)).encode("utf-8")
    urls = parse_targets_file(data, "t.txt")
    assert all(url == url.strip() and url for url in urls)
    assert len(urls) <= len(lines)
