"""Property-based tests of the configuration loader: whatever a file holds, the result is a
Config or a ConfigError whose every problem is one line with its key path; no other
exception escapes."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagnostics.daemon.config import (
    DAEMON_KEYS,
    LAB_KEYS,
    LISTENER_KEYS,
    SETTING_KEYS,
    TOP_LEVEL_KEYS,
    Config,
    ConfigError,
    load_config,
    parse_config,
)

ENVIRON = {"SET_VAR": "value", "EMPTY_VAR": ""}

_scalars = (
    st.text(max_size=12)
    | st.sampled_from(["tls://127.0.0.1:1", "https://127.0.0.1/a b", "SET_VAR", "leaf", "chain"])
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True)
    | st.booleans()
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _table(keys: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(keys) | st.text(max_size=6), _values, max_size=5)


_documents = st.fixed_dictionaries(
    {},
    optional={
        "daemon": _table(DAEMON_KEYS) | _values,
        "defaults": _table(SETTING_KEYS) | _values,
        "target": st.lists(_table(("url", *SETTING_KEYS)), max_size=3) | _values,
        "module": st.dictionaries(st.text(max_size=6), _table(SETTING_KEYS), max_size=2),
        "listener": st.lists(_table(LISTENER_KEYS), max_size=2) | _values,
        "lab": _table(LAB_KEYS),
    },
) | st.dictionaries(st.sampled_from(TOP_LEVEL_KEYS) | st.text(max_size=6), _values, max_size=4)


def _judged(outcome: Config | ConfigError) -> None:
    if isinstance(outcome, ConfigError):
        assert outcome.problems
        for problem in outcome.problems:
            assert problem.message and "\n" not in problem.message and "\r" not in problem.message
            assert "\n" not in problem.key


@given(_documents)
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_structure_is_a_config_or_a_config_error(data: dict[str, Any]) -> None:
    """Tables and values of every type, in and out of place: Config or ConfigError."""
    with tempfile.TemporaryDirectory() as directory:
        path = str(Path(directory) / "tlsdiag.toml")
        try:
            outcome: Config | ConfigError = parse_config(data, path=path, environ=ENVIRON)
        except ConfigError as exc:
            outcome = exc
    _judged(outcome)


@given(st.binary(max_size=400) | st.text(max_size=200).map(str.encode))
@settings(max_examples=300, deadline=None)
def test_any_bytes_are_a_config_or_a_config_error(content: bytes) -> None:
    """A file of any bytes (binary, not UTF-8, not TOML, TOML of any shape)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "tlsdiag.toml"
        path.write_bytes(content)
        try:
            outcome: Config | ConfigError = load_config(str(path), environ=ENVIRON)
        except ConfigError as exc:
            outcome = exc
    _judged(outcome)


@given(st.lists(st.text(max_size=40), min_size=1, max_size=4))
@settings(max_examples=300, deadline=None)
def test_any_target_url_is_accepted_or_refused_at_its_key(urls: list[str]) -> None:
    """Every target URL is a target or a problem at ``target[i].url`` (never elsewhere)."""
    data = {"target": [{"url": url} for url in urls]}
    try:
        config = parse_config(data, path="/nonexistent/tlsdiag.toml", environ={})
    except ConfigError as exc:
        keys = {p.key for p in exc.problems}
        assert keys <= {f"target[{i}].url" for i in range(len(urls))}
        _judged(exc)
        return
    assert len(config.targets) == len(urls)
