"""Configuration loading: every kind of mistake is reported, all at once, with its key path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from diagnostics.daemon.config import ConfigError, load_config, matches_allowed, parse_listen
from diagnostics.model.files import MAX_FILE_BYTES
from tests.support import pki
from tests.support.daemon import config_ca, problems, write
from tests.support.deadline import within


def test_valid_config_merges_defaults_and_resolves_paths(tmp_path: Path) -> None:
    """Defaults apply to every target, a target's own key wins, paths are relative to the file."""
    path = write(
        tmp_path,
        """
[daemon]
log_dir = "logs"
metrics_listen = "[::1]:9200"
concurrency = 7
allowed_targets = ["tls://127.0.0.1:*"]

[defaults]
interval = 60
timeout = 5
ca = ["ca.pem"]
warn_days = 20

[[target]]
url = "tls://127.0.0.1:8443"
labels = { partner = "Partner Ltd" }

[[target]]
url = "ftpes://127.0.0.1:2121"
ca = []
interval = 30
user = "acme"
password_env = "FTP_PASSWORD"

[module.quick]
timeout = 2
""",
    )
    config = load_config(str(path), environ={"FTP_PASSWORD": "s3cret"})
    assert config.daemon.log_dir == str(tmp_path / "logs")
    assert (config.daemon.metrics_host, config.daemon.metrics_port) == ("::1", 9200)
    assert config.daemon.concurrency == 7
    first, second = config.targets
    assert first.settings.options.trust.ca_files == (str(tmp_path / "ca.pem"),)
    assert first.settings.interval == 60
    assert first.settings.options.warn_days == 20
    assert first.settings.labels == {"partner": "Partner Ltd"}
    assert second.settings.options.trust.ca_files == ()
    assert second.settings.interval == 30
    assert second.settings.options.password == "s3cret"
    assert "s3cret" not in repr(second)
    assert config.modules["quick"].options.timeout == 2
    assert config.modules["quick"].options.trust.ca_files == (str(tmp_path / "ca.pem"),)


def test_targets_with_the_same_settings_share_one_options_object(tmp_path: Path) -> None:
    """Ten thousand targets with the defaults hold one ProbeOptions between them, not one
    each; a target with its own setting gets its own."""
    urls = "".join(f'[[target]]\nurl = "tls://127.0.0.1:{port}"\n' for port in (1, 2, 3))
    path = write(tmp_path, f'[defaults]\nca = ["ca.pem"]\n{urls}timeout = 3\n')
    first, second, third = load_config(str(path), environ={}).targets
    assert first.settings.options is second.settings.options
    assert third.settings.options is not first.settings.options
    assert third.settings.options.timeout == 3


def test_unknown_keys(tmp_path: Path) -> None:
    """Unknown keys anywhere are named with their path and a suggestion."""
    path = write(
        tmp_path,
        """
[daemon]
concurency = 5
[[target]]
url = "tls://127.0.0.1:1"
timout = 3
[labs]
[lab]
enable = true
""",
    )
    found = problems(path)
    assert "did you mean 'concurrency'" in found["daemon.concurency"]
    assert "did you mean 'timeout'" in found["target[0].timout"]
    assert "unknown top-level table 'labs'; did you mean 'lab'" in found["labs"]
    assert "did you mean 'enabled'" in found["lab.enable"]


def test_wrong_types(tmp_path: Path) -> None:
    """Values of the wrong type are refused, each with what was found."""
    path = write(
        tmp_path,
        """
[daemon]
concurrency = "many"
[defaults]
interval = true
ca = "ca.pem"
[[target]]
url = 443
[[target]]
url = "tls://127.0.0.1:2"
labels = { team = 5 }
""",
    )
    found = problems(path)
    assert found["daemon.concurrency"] == "must be a whole number, not a string ('many')"
    assert found["defaults.interval"] == "must be a number of seconds, not a boolean (True)"
    assert found["defaults.ca"] == "must be a list of strings, not a string ('ca.pem')"
    assert found["target[0].url"] == "must be a string, not an integer (443)"
    assert found["target[1].labels.team"] == "must be a string, not an integer (5)"


def test_missing_files(tmp_path: Path) -> None:
    """A file that does not exist is reported at its index, with the resolved path."""
    path = write(
        tmp_path,
        """
[[target]]
url = "tls://127.0.0.1:1"
ca = ["ca.pem", "missing.pem"]
cert = "client.pem"
key = "client-key.pem"
""",
    )
    found = problems(path)
    assert found["target[0].ca[1]"] == (
        f"file {str(tmp_path / 'missing.pem')!r} cannot be read: No such file or directory"
    )
    assert "target[0].ca[0]" not in found
    assert "cannot be read" in found["target[0].cert"]
    assert "cannot be read" in found["target[0].key"]


def test_files_that_do_not_parse(tmp_path: Path) -> None:
    """A CA, CRL, certificate or key file that exists but does not parse is refused at start,
    each at its key path; so is a key that does not belong to its certificate."""
    ca = config_ca()
    leaf = pki.issue(ca, sans=("client.example",))
    other_key = pki.make_key()
    (tmp_path / "garbage.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    (tmp_path / "empty.der").write_bytes(b"")
    (tmp_path / "leaf.pem").write_bytes(pki.pem([leaf.cert]))
    (tmp_path / "leaf.der").write_bytes(leaf.cert.public_bytes(serialization.Encoding.DER))
    (tmp_path / "leaf.key").write_bytes(pki.key_pem(leaf.key))
    (tmp_path / "other.key").write_bytes(pki.key_pem(other_key))
    (tmp_path / "locked.key").write_bytes(
        leaf.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    (tmp_path / "crl.pem").write_bytes(pki.make_crl(ca).public_bytes(serialization.Encoding.PEM))
    path = write(
        tmp_path,
        """
[[target]]
url = "tls://127.0.0.1:1"
ca = ["ca.pem", "garbage.pem", "empty.der", "leaf.der"]
crl = ["crl.pem", "leaf.pem"]
[[target]]
url = "tls://127.0.0.1:2"
cert = "leaf.der"
key = "leaf.pem"
[[target]]
url = "tls://127.0.0.1:3"
cert = "leaf.pem"
key = "locked.key"
[[target]]
url = "tls://127.0.0.1:4"
cert = "leaf.pem"
key = "other.key"
[[target]]
url = "tls://127.0.0.1:5"
cert = "leaf.pem"
key = "leaf.key"
""",
    )
    found = problems(path)
    where = str(tmp_path)
    assert found["target[0].ca[1]"] == (
        f"file '{where}/garbage.pem' holds no certificate that parses (PEM bundle or DER expected)"
    )
    assert found["target[0].ca[2]"] == f"file '{where}/empty.der' is empty"
    # A DER certificate and a correct CRL are fine.
    assert "target[0].ca[0]" not in found and "target[0].ca[3]" not in found
    assert "target[0].crl[0]" not in found
    assert found["target[0].crl[1]"] == f"file '{where}/leaf.pem' is a certificate, not a CRL"
    assert found["target[1].cert"] == (
        f"file '{where}/leaf.der' is not a PEM certificate (chain) that parses"
    )
    assert found["target[1].key"] == f"file '{where}/leaf.pem' is a certificate, not a private key"
    assert found["target[2].key"] == (
        f"file '{where}/locked.key' is an encrypted private key and no passphrase was given: "
        "put the passphrase in an environment variable and name it with key_password_env"
    )
    assert found["target[3].key"] == (
        f"the private key in '{where}/other.key' does not belong to the certificate "
        f"'{where}/leaf.pem'"
    )
    assert not [key for key in found if key.startswith("target[4]")]


def test_a_file_that_does_not_parse_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``tlsdiag daemon`` refuses to start with a CA file that does not parse: exit 2, the
    file, the key path and the reason on standard error."""
    from diagnostics.cli.main import main

    (tmp_path / "bad.pem").write_text("not a certificate\n")
    path = write(tmp_path, '[defaults]\nca = ["bad.pem"]\n[[target]]\nurl = "tls://127.0.0.1:1"\n')
    assert main(["daemon", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: defaults.ca[0]: file '{tmp_path}/bad.pem' holds no certificate" in err


def test_bad_urls_and_duplicates(tmp_path: Path) -> None:
    """Bad URLs carry the parser's reason; a URL given twice is refused."""
    path = write(
        tmp_path,
        """
[[target]]
url = "gopher://127.0.0.1:70"
[[target]]
url = "tls://127.0.0.1"
[[target]]
url = "tls://127.0.0.1:5"
[[target]]
url = "tls://127.0.0.1:5"
[[target]]
timeout = 3
""",
    )
    found = problems(path)
    assert "unsupported scheme 'gopher'" in found["target[0].url"]
    assert "needs an explicit port" in found["target[1].url"]
    assert found["target[3].url"] == "'tls://127.0.0.1:5' is already target[2].url"
    assert found["target[4].url"] == "is missing: every [[target]] needs a url"


def test_inconsistent_values(tmp_path: Path) -> None:
    """Ranges, half a client identity, unset password variables and bad listen addresses."""
    path = write(
        tmp_path,
        """
[daemon]
metrics_listen = "localhost"
[defaults]
warn_days = 5
critical_days = 10
[[target]]
url = "tls://127.0.0.1:1"
cert = "ca.pem"
password_env = "NOT_SET_ANYWHERE"
timeout = 0
""",
    )
    found = problems(path)
    assert "is not host:port" in found["daemon.metrics_listen"]
    assert "more than warn_days" in found["defaults.critical_days"]
    assert found["target[0].key"] == "a client certificate needs both cert and key"
    assert found["target[0].password_env"] == (
        "the environment variable NOT_SET_ANYWHERE is not set"
    )
    assert "out of range" in found["target[0].timeout"]


def test_all_errors_at_once(tmp_path: Path) -> None:
    """Problems in different sections are all reported together."""
    path = write(
        tmp_path,
        """
[daemon]
concurrency = 0
[[target]]
url = "nope"
[module.fast]
url = "tls://127.0.0.1:1"
[[listener]]
url = "https://127.0.0.1:8443"
""",
    )
    found = problems(path)
    assert set(found) >= {
        "daemon.concurrency",
        "target[0].url",
        "module.fast.url",
        "listener[0].cert",
        "listener[0].key",
    }


def test_toml_syntax_error(tmp_path: Path) -> None:
    """A file that is not TOML is one problem naming the line."""
    path = write(tmp_path, "[daemon\nconcurrency = 1\n")
    found = problems(path)
    assert "is not valid TOML" in found[""] and "line 1" in found[""]


def test_missing_file(tmp_path: Path) -> None:
    """A missing config file is a ConfigError, not a traceback."""
    found = problems(tmp_path / "absent.toml")
    assert "cannot be read" in found[""]


def test_listen_and_allowed_patterns() -> None:
    """host:port parsing and glob matching of allowed /probe targets."""
    assert parse_listen("127.0.0.1:9130") == ("127.0.0.1", 9130)
    assert parse_listen("[::1]:80") == ("::1", 80)
    with pytest.raises(ValueError):
        parse_listen("::1:80")
    assert matches_allowed("tls://127.0.0.1:8443", ["tls://127.0.0.1:*"])
    assert not matches_allowed("tls://10.0.0.1:8443", ["tls://127.0.0.1:*"])
    assert not matches_allowed("tls://127.0.0.1:8443", [])


def test_shipped_config_is_valid() -> None:
    """config/tlsdiag.toml loads, runs the lab on loopback and uses none of its files.

    The lab writes its files when it starts: a configured file inside its state
    folder would not exist on a fresh checkout.
    """
    root = Path(__file__).resolve().parents[2]
    config = load_config(str(root / "config" / "tlsdiag.toml"), environ={})
    assert config.lab is not None
    assert (config.lab.bind, config.daemon.metrics_host, config.daemon.metrics_port) == (
        "127.0.0.1",
        "127.0.0.1",
        9130,
    )
    assert all(t.host in ("127.0.0.1", "::1", "localhost") for t in config.targets)
    state = Path(config.lab.state_dir)
    for settings in [*(t.settings for t in config.targets), *config.modules.values()]:
        trust = settings.options.trust
        files = [*trust.ca_files, *trust.crl_files, trust.cert_file, trust.key_file]
        assert not [f for f in files if f and state in Path(f).parents]


def test_lab_table(tmp_path: Path) -> None:
    """[lab]: off unless enabled; its state folder defaults to lab/ under the log folder."""
    off = write(tmp_path, "[lab]\nbase_port = 9500\n")
    assert load_config(str(off), environ={}).lab is None
    on = write(tmp_path, '[daemon]\nlog_dir = "out"\n[lab]\nenabled = true\ninterval = 5\n')
    lab = load_config(str(on), environ={}).lab
    assert lab is not None
    assert (lab.bind, lab.base_port, lab.interval) == ("127.0.0.1", 9400, 5.0)
    assert lab.state_dir == str(tmp_path / "out" / "lab")
    bad = write(
        tmp_path,
        '[lab]\nenabled = "yes"\nbind = "localhost"\nbase_port = 65500\ninterval = 0\n',
    )
    assert set(problems(bad)) == {"lab.enabled", "lab.bind", "lab.base_port", "lab.interval"}


# -- hostile and encrypted files, names that would reach the network ---------------------------


def _locked_key(tmp_path: Path, passphrase: bytes) -> tuple[str, str]:
    """A client certificate and its key encrypted with ``passphrase``, as files."""
    leaf = pki.issue(config_ca(), sans=("client.example",))
    (tmp_path / "leaf.pem").write_bytes(pki.pem([leaf.cert]))
    (tmp_path / "locked.key").write_bytes(
        leaf.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )
    )
    return str(tmp_path / "leaf.pem"), str(tmp_path / "locked.key")


def test_key_password_env_opens_an_encrypted_key(tmp_path: Path) -> None:
    """``key_password_env`` (in [defaults], a target or a listener) names the variable holding
    the passphrase; the key opens; the value is kept out of every repr."""
    cert, key = _locked_key(tmp_path, b"pass phrase")
    path = write(
        tmp_path,
        f"""
[defaults]
key_password_env = "TLS_KEY_PASS"
[[target]]
url = "tls://127.0.0.1:1"
cert = "leaf.pem"
key = "locked.key"
[[listener]]
url = "https://127.0.0.1:8443"
cert = "{cert}"
key = "{key}"
key_password_env = "TLS_KEY_PASS"
""",
    )
    config = load_config(str(path), environ={"TLS_KEY_PASS": "pass phrase"})
    trust = config.targets[0].settings.options.trust
    assert (trust.key_file, trust.key_password) == (key, "pass phrase")
    assert config.listeners[0].key_password == "pass phrase"
    assert "pass phrase" not in repr(config)


def test_encrypted_keys_without_their_passphrase(tmp_path: Path) -> None:
    """No key_password_env, an unset variable, a wrong passphrase: each at its key path."""
    cert, key = _locked_key(tmp_path, b"pass phrase")
    path = write(
        tmp_path,
        f"""
[[target]]
url = "tls://127.0.0.1:1"
cert = "leaf.pem"
key = "locked.key"
[[target]]
url = "tls://127.0.0.1:2"
cert = "leaf.pem"
key = "locked.key"
key_password_env = "NOT_SET_ANYWHERE"
[[target]]
url = "tls://127.0.0.1:3"
cert = "leaf.pem"
key = "locked.key"
key_password_env = "WRONG_PASS"
[[listener]]
url = "https://127.0.0.1:8443"
cert = "{cert}"
key = "{key}"
""",
    )
    found = problems(path, environ={"WRONG_PASS": "guess"})
    assert found["target[0].key"] == (
        f"file {key!r} is an encrypted private key and no passphrase was given: put the "
        "passphrase in an environment variable and name it with key_password_env"
    )
    assert found["target[1].key_password_env"] == (
        "the environment variable NOT_SET_ANYWHERE is not set"
    )
    assert "target[1].key" not in found
    assert found["target[2].key"] == (
        f"file {key!r} is an encrypted private key that the passphrase given "
        "(key_password_env) does not decrypt"
    )
    assert found["listener[0].key"] == found["target[0].key"]
    assert "guess" not in str(found)


def test_names_and_paths_that_would_reach_the_network(tmp_path: Path) -> None:
    """A URL path with a space or CR/LF, a numeric host, a bad servername: config errors
    at their key paths, before anything runs."""
    path = write(
        tmp_path,
        """
[[target]]
url = "https://127.0.0.1/a b"
[[target]]
url = "https://127.0.0.1/a\\r\\nHost: x"
[[target]]
url = "https://2130706433"
[[target]]
url = "tls://127.0.0.1:4"
servername = "a b"
[module.m]
servername = "exa!mple"
[[listener]]
url = "https://127.0.0.1:8443/\\u0000"
cert = "ca.pem"
key = "ca.pem"
""",
    )
    found = problems(path)
    assert "contains a space" in found["target[0].url"]
    assert "contains a carriage return (CR)" in found["target[1].url"]
    assert "neither a host name nor an IPv4 address" in found["target[2].url"]
    assert (
        found["target[3].servername"] == "'a b' contains a space: give one host name or IP address"
    )
    assert "target[3].url" not in found
    assert found["module.m.servername"] == "'exa!mple' is not a valid host name"
    assert "U+0000" in found["listener[0].url"]


def test_hostile_config_files(tmp_path: Path) -> None:
    """The configuration itself as /dev/zero, a FIFO, a binary or an over-size file: one
    problem at once, never a traceback nor a wait."""
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b'[daemon]\nlog_dir = "\xff\xfe"\n')
    huge = tmp_path / "huge.toml"
    with huge.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b'\xef\xbb\xbf[daemon]\r\nlog_dir = "logs"\r\n')
    assert load_config(str(bom), environ={}).daemon.log_dir == str(tmp_path / "logs")
    expected = {
        "/dev/zero": "is a character device, not a regular file",
        str(fifo): "is a named pipe (FIFO), not a regular file",
        str(binary): "is not UTF-8 text (byte 0xff on line 2): a binary file, or another encoding",
        str(huge): "is larger than 64 MiB (the most tlsdiag reads from one file)",
        str(tmp_path): "is a folder, not a regular file",
    }
    for name, message in expected.items():
        with pytest.raises(ConfigError) as caught:
            within(lambda name=name: load_config(name, environ={}))
        assert [(p.key, p.message) for p in caught.value.problems] == [("", message)]


def test_a_binary_config_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``tlsdiag daemon --config BINARY``: exit 2 and one line (was a UnicodeDecodeError)."""
    from diagnostics.cli.main import main

    binary = tmp_path / "binary.toml"
    binary.write_bytes(bytes(range(256)))
    assert main(["daemon", "--config", str(binary)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"tlsdiag daemon: {binary}: is not UTF-8 text (byte 0x80 on line 2): a binary file, "
        "or another encoding"
    ]


def test_files_named_by_the_config_are_read_bounded(tmp_path: Path) -> None:
    """A CA, CRL, certificate or key named by the configuration that is a device or a pipe:
    one problem at its key path (the file is never read)."""
    fifo = tmp_path / "pipe.pem"
    os.mkfifo(fifo)
    path = write(
        tmp_path,
        f"""
[[target]]
url = "tls://127.0.0.1:1"
ca = ["/dev/zero", "{fifo}"]
crl = ["/dev/zero"]
cert = "{fifo}"
key = "/dev/zero"
""",
    )
    found = within(lambda: problems(path))
    device = "file '/dev/zero' is a character device, not a regular file"
    pipe = f"file {str(fifo)!r} is a named pipe (FIFO), not a regular file"
    assert (found["target[0].ca[0]"], found["target[0].ca[1]"]) == (device, pipe)
    assert (found["target[0].crl[0]"], found["target[0].cert"]) == (device, pipe)
    assert found["target[0].key"] == device
