"""The daemon's proxy keys: ``proxy`` and ``proxy_password_env`` in a target, [defaults] and
[module.NAME], validated with their key paths; the password never in a problem's text."""

from __future__ import annotations

from pathlib import Path

from diagnostics.daemon.config import load_config
from tests.support.daemon import problems, write


def test_proxy_keys_in_targets_defaults_and_modules(tmp_path: Path) -> None:
    """[defaults] gives every target the proxy; a module and a target may name their own;
    the password comes from the variable and the user from the URL."""
    path = write(
        tmp_path,
        """
[defaults]
proxy = "http://proxy.example:3128"
[[target]]
url = "tls://127.0.0.1:1"
[[target]]
url = "tls://127.0.0.1:2"
proxy = "http://alice@127.0.0.1:8080"
proxy_password_env = "PROXY_PW"
[module.partner]
proxy = "http://[::1]:3128"
""",
    )
    config = load_config(str(path), environ={"PROXY_PW": "s3cret-pw"})
    first, second = (t.settings.options.proxy for t in config.targets)
    assert first is not None and first.proxy.url == "http://proxy.example:3128"
    assert first.proxy.user is None and first.proxy.password is None
    assert second is not None and second.proxy.url == "http://127.0.0.1:8080"
    assert (second.proxy.user, second.proxy.password) == ("alice", "s3cret-pw")
    assert "s3cret-pw" not in repr(second)
    module = config.modules["partner"].options.proxy
    assert module is not None and module.proxy.url == "http://[::1]:3128"


def test_bad_proxy_keys_are_reported_with_their_paths(tmp_path: Path) -> None:
    """A bad URL, a password in the URL (masked in the message), a password variable that
    is unset or has no user or proxy to go with: each reported at its key."""
    path = write(
        tmp_path,
        """
[[target]]
url = "tls://127.0.0.1:1"
proxy = "socks5://127.0.0.1:1080"
[[target]]
url = "tls://127.0.0.1:2"
proxy = "http://alice:hunter22@127.0.0.1:3128"
[[target]]
url = "tls://127.0.0.1:3"
proxy = "http://127.0.0.1:3128"
proxy_password_env = "PROXY_PW"
[[target]]
url = "tls://127.0.0.1:4"
proxy_password_env = "PROXY_PW"
[[target]]
url = "tls://127.0.0.1:5"
proxy = "http://bob@127.0.0.1:3128"
proxy_password_env = "NOT_SET_ANYWHERE"
[[target]]
url = "tls://127.0.0.1:6"
proxy = 3128
""",
    )
    found = problems(path, {"PROXY_PW": "x"})
    assert "only http:// proxies" in found["target[0].proxy"]
    assert "does not belong in the URL" in found["target[1].proxy"]
    assert "hunter22" not in found["target[1].proxy"]
    assert "a user in the proxy URL" in found["target[2].proxy_password_env"]
    assert "it needs a proxy" in found["target[3].proxy_password_env"]
    assert found["target[4].proxy_password_env"] == (
        "the environment variable NOT_SET_ANYWHERE is not set"
    )
    assert "must be a string" in found["target[5].proxy"]
    assert not found["target[0].proxy"].startswith("target")
