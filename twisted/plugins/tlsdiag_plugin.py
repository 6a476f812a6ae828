"""``twistd tlsdiag``: the daemon under twistd (the service is built by diagnostics.tap)."""

from twisted.application.service import ServiceMaker

tlsdiag = ServiceMaker(
    "tlsdiag", "diagnostics.tap", "Probe configured TLS endpoints on a schedule", "tlsdiag"
)
