"""Option groups that several sub-commands share, declared once, and their value types."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from diagnostics.cli.common import UsageError


def positive_float(text: str) -> float:
    """A number of seconds above 0, at most an hour."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be between 0 and 3600 seconds: {text!r}")
    return value


def positive_int(text: str) -> int:
    """A whole number, at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def add_crl(parser: Any, whose: str, when: str = "") -> None:
    """``--crl FILE|URL`` (repeatable): CRLs of ``whose`` CAs, turning CRL checks on."""
    parser.add_argument(
        "--crl",
        action="append",
        default=[],
        metavar="FILE|URL",
        help=f"a CRL (PEM or DER file, or http:// URL{when}) of {whose}; turns CRL checks on",
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
    parser.add_argument("--format", choices=tuple(formats), default=default)


def add_log_dir(parser: Any, *, default: str | None = None) -> None:
    """``--log-dir DIR``: where the command's JSON log stream goes."""
    parser.add_argument("--log-dir", default=default, metavar="DIR")


def add_expiry_windows(parser: Any) -> None:
    """``--warn-days`` and ``--critical-days``: the expiry warnings."""
    parser.add_argument("--warn-days", type=positive_int, default=30)
    parser.add_argument("--critical-days", type=positive_int, default=7)


def add_timeouts(parser: Any, *names: tuple[str, float]) -> None:
    """One ``--NAME S`` option per ``(name, default)``: a bound in seconds."""
    for name, default in names:
        parser.add_argument(f"--{name}", type=positive_float, default=default, metavar="S")
