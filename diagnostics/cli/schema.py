"""``tlsdiag schema``: print the JSON Schema of a result (shipped in the package)."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from diagnostics.cli.common import EXIT_OK


def register(subparsers: Any) -> None:
    """Add ``schema`` to the sub-commands."""
    subparsers.add_parser("schema", help="print the JSON Schema of a result").set_defaults(
        handler=run
    )


def run(_args: argparse.Namespace, out: TextIO) -> int:
    """Print the schema."""
    from diagnostics.model.jsonform import schema

    out.write(json.dumps(schema(), indent=2) + "\n")
    return EXIT_OK
