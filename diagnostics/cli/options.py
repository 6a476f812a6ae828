"""Option groups that several sub-commands share, declared once, and their value types.

Every option has a help text that names its default (``%(default)s``); the value types
say the allowed range when a value is outside it (``--timeout -5`` reaches them: see
:class:`diagnostics.cli.common.Parser`).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from diagnostics.cli.common import UsageError

MAX_SECONDS = 3600.0


def positive_float(text: str) -> float:
    """A number of seconds above 0, at most an hour."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= MAX_SECONDS:  # also refuses nan
        raise argparse.ArgumentTypeError(
            f"must be more than 0 and at most {MAX_SECONDS:g} seconds, not {text}"
        )
    return value


def positive_int(text: str) -> int:
    """A whole number, at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def add_crl(parser: Any, whose: str, when: str = "") -> None:
    """``--crl FILE|URL`` (repeatable): CRLs of ``whose`` CAs, turning CRL checks on."""
    parser.add_argument(
        "--crl",
        action="append",
        default=[],
        metavar="FILE|URL",
        help=f"a CRL (PEM or DER file, or http:// URL{when}) of {whose}; turns CRL checks on "
        "(repeatable; default: none, no CRL check)",
    )


def check_crl_urls(entries: Sequence[str]) -> None:
    """Every ``--crl`` URL among ``entries`` is one tlsdiag can fetch; UsageError otherwise."""
    from diagnostics.model.revocation import check_url, is_url

    for entry in entries:
        problem = check_url(entry) if is_url(entry) else None
        if problem is not None:
            raise UsageError(f"--crl {problem}")


def add_output(parser: Any, formats: Sequence[str], *, default: str | None = None) -> None:
    """``--format`` among ``formats``; with no default, text on a terminal and JSON otherwise."""
    parser.add_argument(
        "--format",
        choices=tuple(formats),
        default=default,
        help="the output form (default: %(default)s)"
        if default is not None
        else "the output form (default: text on a terminal, json otherwise)",
    )


def add_log_dir(parser: Any, *, default: str | None = None, stream: str = "client.jsonl") -> None:
    """``--log-dir DIR``: where the command's JSON log stream goes."""
    parser.add_argument(
        "--log-dir",
        default=default,
        metavar="DIR",
        help=f"write {stream} (one JSON event per result) in this folder "
        + ("(default: %(default)s)" if default is not None else "(default: no log)"),
    )


def log_dir_error(path: str, exc: OSError) -> UsageError:
    """The usage error of a ``--log-dir`` that cannot be made or written, saying why."""
    if os.path.exists(path) and not os.path.isdir(path):
        why = "is a file, not a folder"
    elif isinstance(exc, NotADirectoryError):
        why = "cannot be made: a part of its path is a file, not a folder"
    else:
        why = f"cannot be used: {exc.strerror or exc}"
    return UsageError(f"--log-dir {path!r} {why}")


def add_expiry_windows(parser: Any) -> None:
    """``--warn-days`` and ``--critical-days``: the expiry warnings."""
    parser.add_argument(
        "--warn-days",
        type=positive_int,
        default=30,
        metavar="N",
        help="warn when a certificate expires within N days (default: %(default)s)",
    )
    parser.add_argument(
        "--critical-days",
        type=positive_int,
        default=7,
        metavar="N",
        help="an error when it expires within N days, at most --warn-days (default: %(default)s)",
    )


_TIMEOUT_HELP = {
    "timeout": "the bound of each probe as a whole, connection, handshake and protocol "
    "dialogue included",
    "handshake-timeout": "how long a client may take from connecting to the end of its "
    "TLS handshake",
    "idle-timeout": "how long a connection may stay silent after its handshake",
}


def add_timeouts(parser: Any, *names: tuple[str, float]) -> None:
    """One ``--NAME S`` option per ``(name, default)``: a bound in seconds."""
    for name, default in names:
        what = _TIMEOUT_HELP.get(name, f"the {name.replace('-', ' ')}")
        parser.add_argument(
            f"--{name}",
            type=positive_float,
            default=default,
            metavar="S",
            help=f"{what}, in seconds, more than 0 and at most {MAX_SECONDS:g} "
            "(default: %(default)s)",
        )


def add_key_password(parser: Any) -> None:
    """``--key-password-env VAR``: the variable holding the passphrase of ``--key``."""
    parser.add_argument(
        "--key-password-env",
        metavar="VAR",
        help="the environment variable holding the passphrase of an encrypted --key "
        "(default: none; an encrypted key is refused, never prompted for)",
    )


def secret_from_env(variable: str | None, option: str) -> str | None:
    """The value of the environment variable an option names (None when none is named)."""
    if variable is None:
        return None
    if variable not in os.environ:
        raise UsageError(f"{option}: the environment variable {variable} is not set")
    return os.environ[variable]
