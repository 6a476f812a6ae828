"""``twistd tlsdiag``: the daemon under twistd (the service is built by diagnostics.cli.twistd)."""

from twisted.application.service import ServiceMaker

tlsdiag = ServiceMaker(
    "tlsdiag", "diagnostics.cli.twistd", "Probe configured TLS endpoints on a schedule", "tlsdiag"
)
