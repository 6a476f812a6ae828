"""The scheme registry: every scheme has its engine, every listenable one its protocol."""

from __future__ import annotations

import pytest

from diagnostics.listener.service import GATES
from diagnostics.model.result import LISTEN_SCHEMES, SCHEMES, Scheme
from diagnostics.model.target import TargetError, parse_target
from diagnostics.probes.dispatch import ENGINES


def test_every_scheme_has_a_probe_engine() -> None:
    assert set(ENGINES) == set(Scheme)


def test_every_listenable_scheme_has_a_listener_protocol() -> None:
    assert set(GATES) == {s for s in Scheme if s.listenable}
    assert set(LISTEN_SCHEMES) == {s.value for s in GATES}


@pytest.mark.parametrize("scheme", list(Scheme))
def test_default_ports_follow_the_registry(scheme: Scheme) -> None:
    """A URL without a port gets the scheme's default, or is refused when it has none."""
    assert scheme.value in SCHEMES
    url = f"{scheme.value}://127.0.0.1"
    if scheme.default_port is None:
        with pytest.raises(TargetError, match="needs an explicit port"):
            parse_target(url)
    else:
        assert parse_target(url).port == scheme.default_port
