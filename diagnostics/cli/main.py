"""The ``tlsdiag`` command line.  Every sub-command ends in an exit code, never a traceback.

Exit codes (fixed): 0 ok, 1 problems, 2 usage or configuration error, 3 failed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import TextIO

from diagnostics.cli.common import EXIT_OK, EXIT_USAGE, Parser, UsageError, prepare_process
from diagnostics.model.errors import TlsdiagError
from diagnostics.model.escape import escape, split_lines
from diagnostics.model.version import __version__

# Every sub-command, in the order ``--help`` lists them: the name of a module of this package
# with ``register(sub)``, which adds its parser and sets ``handler(args, out) -> exit code`` as
# its default.  A module is imported only when its sub-command is parsed (or all are listed),
# so that ``tlsdiag probe`` starts without the daemon, the listener, the lab or the PKI tools.
COMMANDS = (
    "probe",
    "listen",
    "daemon",
    "report",
    "verify",
    "inspect",
    "explain",
    "cert",
    "lab",
    "schema",
)


def chosen_command(argv: Sequence[str]) -> str | None:
    """The sub-command named by ``argv`` (its first word not an option), if it is one."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser of the sub-command ``argv`` names, or of every one."""
    parser = Parser(prog="tlsdiag", description="TLS diagnostics for HTTPS, FTPS and TLS.")
    parser.add_argument("--version", action="version", version=f"tlsdiag {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    chosen = chosen_command(argv or ())
    for name in (chosen,) if chosen else COMMANDS:
        importlib.import_module(f"diagnostics.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run one sub-command; returns (and, as a script, exits with) the exit code.

    Every error line starts with ``tlsdiag COMMAND:``; a :class:`TlsdiagError` that reaches
    here (bad input no handler classified) is a usage error too, never a traceback.
    """
    prepare_process()
    stream = out if out is not None else sys.stdout
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words)
    command: str | None = None
    try:
        args, extra = parser.parse_known_args(words)
        command = args.command
        if extra:
            raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
        if args.command is None:
            parser.print_help(stream)
            return EXIT_USAGE
        code: int = args.handler(args, stream)
        return code
    except TlsdiagError as exc:
        print(error_line(command, exc), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(error_line(command, "interrupted"), file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


def error_line(command: str | None, problem: object) -> str:
    """``problem`` as one line starting ``tlsdiag COMMAND:`` (unless it already does), its
    control characters escaped (``\\1B``) so that no argument or file name drives the terminal."""
    prefix = f"tlsdiag {command}:" if command else "tlsdiag:"
    lines = (line.strip() for line in split_lines(str(problem)))
    text = escape("; ".join(line for line in lines if line)) or type(problem).__name__
    return text if text.startswith("tlsdiag") else f"{prefix} {text}"
