"""Configuration loading: every kind of mistake is reported, all at once, with its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from diagnostics.config import ConfigError, load_config, matches_allowed, parse_listen


def write(tmp_path: Path, text: str) -> Path:
    """A config file in ``tmp_path`` with a CA file next to it."""
    (tmp_path / "ca.pem").write_text("placeholder: existence is what the loader checks\n")
    path = tmp_path / "tlsdiag.toml"
    path.write_text(text)
    return path


def problems(path: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The problems of a config file as {key path: message}."""
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), environ=environ or {})
    for problem in caught.value.problems:
        assert problem.file == str(path)
    return {p.key: p.message for p in caught.value.problems}


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
[lab]
""",
    )
    found = problems(path)
    assert "did you mean 'concurrency'" in found["daemon.concurency"]
    assert "did you mean 'timeout'" in found["target[0].timout"]
    assert "unknown top-level table 'lab'" in found["lab"]


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
    assert found["target[0].ca[1]"] == f"file {str(tmp_path / 'missing.pem')!r} does not exist"
    assert "target[0].ca[0]" not in found
    assert "does not exist" in found["target[0].cert"]
    assert "does not exist" in found["target[0].key"]


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


def test_unreadable_file(tmp_path: Path) -> None:
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
    """config/tlsdiag.toml loads without problems and probes only loopback addresses."""
    root = Path(__file__).resolve().parent.parent
    config = load_config(str(root / "config" / "tlsdiag.toml"), environ={})
    assert config.targets
    assert all(t.host in ("127.0.0.1", "::1", "localhost") for t in config.targets)
