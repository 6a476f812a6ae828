"""The figures of ``make bench``: a median of rounds with its min and max, printed as a line
and written as JSON when ``BENCH_JSON=FILE`` is set (one object keyed by figure)."""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Iterable
from pathlib import Path

import attrs

ENVIRONMENT = "BENCH_JSON"


@attrs.frozen
class Figure:
    """One figure of the bench: the median of its rounds, with their min and max."""

    key: str
    label: str
    values: tuple[float, ...]
    note: str = ""

    @property
    def median(self) -> float:
        """The median of the rounds."""
        return statistics.median(self.values)

    def to_json(self) -> dict[str, object]:
        """As the bench's JSON writes it."""
        return {
            "median": self.median,
            "min": min(self.values),
            "max": max(self.values),
            "runs": list(self.values),
            "note": self.note,
        }

    def line(self) -> str:
        """One line of the printed table."""
        if not self.values:
            return f"{self.label}: not measured ({self.note})"
        return (
            f"{self.label}: median {self.median:.2f} (min {min(self.values):.2f}, "
            f"max {max(self.values):.2f}, {len(self.values)} runs){'; ' if self.note else ''}"
            f"{self.note}"
        )


def write_json(figures: Iterable[Figure], environ: dict[str, str] | None = None) -> Path | None:
    """Write the figures to the file named by ``BENCH_JSON`` (merged into what it holds, so
    several parts of the bench can add theirs); the path, or None when it is not set."""
    name = (os.environ if environ is None else environ).get(ENVIRONMENT)
    if not name:
        return None
    path = Path(name)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    for figure in figures:
        data[figure.key] = figure.to_json() if figure.values else {"note": figure.note}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def table(figures: Iterable[Figure]) -> str:
    """The figures as a Markdown table: figure, median, min, max."""
    lines = ["| figure | median | min | max |", "|---|---|---|---|"]
    for f in figures:
        if f.values:
            lines.append(
                f"| {f.label} (`{f.key}`) | {f.median:.2f} | {min(f.values):.2f} "
                f"| {max(f.values):.2f} |"
            )
        else:
            lines.append(f"| {f.label} (`{f.key}`) | {f.note} | | |")
    return "\n".join(lines)
