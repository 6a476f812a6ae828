"""The public Python API: every name ``diagnostics`` promises is there and is what it says."""

from __future__ import annotations

import subprocess
import sys

import pytest
from twisted.internet.testing import MemoryReactorClock

import diagnostics
from diagnostics.model.result import ProbeResult, Status
from tests.support import pki


def test_every_public_name_resolves() -> None:
    assert set(diagnostics.__all__) == {"__version__", *diagnostics._API}
    for name in diagnostics.__all__:
        assert getattr(diagnostics, name) is not None, name
    assert set(diagnostics.__all__) <= set(dir(diagnostics))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = diagnostics.nothing  # type: ignore[attr-defined]


def test_importing_the_package_loads_no_layer() -> None:
    """``import diagnostics`` stays light: the API is loaded on first use."""
    code = (
        "import sys, diagnostics\n"
        "print(sorted(m for m in sys.modules if m.startswith('diagnostics.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['diagnostics.model', 'diagnostics.model.version']"


def test_verify_chain_and_to_json_from_the_package() -> None:
    chain = pki.make_chain()
    result = diagnostics.verify_chain(list(chain.served), trusted=chain.root.cert, name="localhost")
    assert isinstance(result, diagnostics.ProbeResult)
    assert result.status is diagnostics.Status.OK
    assert '"status": "ok"' in diagnostics.to_json(result)


def test_probe_from_the_package_never_errbacks() -> None:
    """A probe of a closed port on a memory reactor ends as a failed result."""
    reactor = MemoryReactorClock()
    target = diagnostics.parse_target("tls://127.0.0.1:9")
    done = diagnostics.probe(reactor, target, diagnostics.ProbeOptions(timeout=1.0))
    results: list[ProbeResult] = []
    done.addCallback(results.append)
    reactor.advance(2.0)
    assert len(results) == 1
    assert results[0].status is Status.FAILED
