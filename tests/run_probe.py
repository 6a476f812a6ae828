"""Run one probe under the real reactor and print the result as JSON (for tests).

The global reactor cannot be restarted inside pytest, so the FTPS tests run
this module in a subprocess::

    python -m tests.run_probe URL --ca FILE [--user U] [--password-env VAR]
        [--no-data-channel] [--timeout S]

Besides the serialized result, the output carries ``ftp_findings``: what
:func:`diagnostics.explain.ftps.ftp_findings` says about the result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from twisted.internet import reactor as _reactor

from diagnostics.explain.ftps import ftp_findings
from diagnostics.model.jsonform import finding_to_json, result_to_json
from diagnostics.model.options import ProbeOptions, TrustConfig
from diagnostics.model.target import parse_target
from diagnostics.probes.dispatch import probe


def main(argv: list[str]) -> int:
    """Probe the URL given in ``argv`` and print one JSON object."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--ca", action="append", default=[])
    parser.add_argument("--user", default="anonymous")
    parser.add_argument("--password-env")
    parser.add_argument("--no-data-channel", action="store_true")
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    password = os.environ[args.password_env] if args.password_env else "anonymous@"
    options = ProbeOptions(
        trust=TrustConfig(ca_files=tuple(args.ca)),
        timeout=args.timeout,
        user=args.user,
        password=password,
        data_channel=not args.no_data_channel,
    )
    reactor: Any = _reactor
    output: dict[str, Any] = {}

    def done(result: Any) -> None:
        output.update(result_to_json(result))
        output["ftp_findings"] = [finding_to_json(f) for f in ftp_findings(result)]
        reactor.stop()

    def start() -> None:
        probe(reactor, parse_target(args.url), options).addCallback(done)

    reactor.callWhenRunning(start)
    reactor.run()
    json.dump(output, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
