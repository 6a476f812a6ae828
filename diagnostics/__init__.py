"""tlsdiag: TLS diagnostics for HTTPS, FTPS and plain TLS endpoints.

The public Python API, loaded on first use so that ``import diagnostics`` stays light:

- :func:`verify_chain` — OpenSSL's verdict on certificates, diagnosed (no network);
- :func:`parse_target` — a probe URL (``https://``, ``ftps://``, ``ftpes://``, ``tls://``) as
  a :class:`Target`;
- :func:`probe` / :func:`probe_many` — probe targets on a Twisted reactor; the Deferred
  fires with :class:`ProbeResult` (never errbacks);
- the result types: :class:`ProbeResult`, :class:`Finding`, :class:`Status`,
  :class:`Severity`, :class:`Side`, :class:`Target`, and what a probe is asked to do,
  :class:`ProbeOptions` and :class:`TrustConfig`;
- :func:`to_json` — a result in the fixed JSON shape of ``--format json``.

Everything else is implementation, organised in one sub-package per layer
(see ``docs/architecture.md``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from diagnostics.model.version import __version__

if TYPE_CHECKING:
    from diagnostics.model.jsonform import dumps as to_json
    from diagnostics.model.options import ProbeOptions, TrustConfig
    from diagnostics.model.result import Finding, ProbeResult, Severity, Side, Status, Target
    from diagnostics.model.target import parse_target
    from diagnostics.probes.dispatch import probe, probe_many
    from diagnostics.tls.verification import verify_chain

# Public name -> (module, name in that module).
_API = {
    "verify_chain": ("diagnostics.tls.verification", "verify_chain"),
    "probe": ("diagnostics.probes.dispatch", "probe"),
    "probe_many": ("diagnostics.probes.dispatch", "probe_many"),
    "parse_target": ("diagnostics.model.target", "parse_target"),
    "to_json": ("diagnostics.model.jsonform", "dumps"),
    "ProbeOptions": ("diagnostics.model.options", "ProbeOptions"),
    "TrustConfig": ("diagnostics.model.options", "TrustConfig"),
    "ProbeResult": ("diagnostics.model.result", "ProbeResult"),
    "Finding": ("diagnostics.model.result", "Finding"),
    "Status": ("diagnostics.model.result", "Status"),
    "Severity": ("diagnostics.model.result", "Severity"),
    "Side": ("diagnostics.model.result", "Side"),
    "Target": ("diagnostics.model.result", "Target"),
}

__all__ = [
    "Finding",
    "ProbeOptions",
    "ProbeResult",
    "Severity",
    "Side",
    "Status",
    "Target",
    "TrustConfig",
    "__version__",
    "parse_target",
    "probe",
    "probe_many",
    "to_json",
    "verify_chain",
]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'diagnostics' has no attribute {name!r}")
    module, attribute = _API[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
