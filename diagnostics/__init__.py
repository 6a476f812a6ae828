"""tlsdiag: TLS diagnostics for HTTPS, FTPS and plain TLS endpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from diagnostics.tls.verification import verify_chain

__all__ = ["__version__", "verify_chain"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: ``import diagnostics`` stays light for every other module.
    if name == "verify_chain":
        from diagnostics.tls.verification import verify_chain

        return verify_chain
    raise AttributeError(f"module 'diagnostics' has no attribute {name!r}")
