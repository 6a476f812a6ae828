"""The README documents every finding id the product can produce."""

from __future__ import annotations

import re
from pathlib import Path

from diagnostics.explain import catalogue

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = ("verify_", "tls_alert_", "ftp_reply_")


def _ids_in_sources() -> set[str]:
    found: set[str] = set()
    for path in sorted((ROOT / "diagnostics").rglob("*.py")):
        text = path.read_text("utf-8")
        found |= set(re.findall(r'(?:\bid=|Finding\(\s*)"([a-z][a-z0-9_]+)"', text))
    return found


def test_every_finding_id_is_documented() -> None:
    """Each id from the catalogue and the diagnosis appears in the README's tables."""
    readme = (ROOT / "README.md").read_text("utf-8")
    documented = set(re.findall(r"`([a-z][a-z0-9_]*(?:<[a-z]+>)?)`", readme))
    ids = {i for i in catalogue.catalogue_ids() | _ids_in_sources() if not i.startswith(FAMILIES)}
    missing = sorted(i for i in ids if i not in documented)
    assert missing == []
    for family in FAMILIES:
        assert any(d.startswith(family) for d in documented), family


def test_readme_shows_the_two_commands() -> None:
    """The README starts with make run and make test."""
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "make run" in readme
    assert "make test" in readme
