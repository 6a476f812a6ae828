"""``--help`` of every sub-command: every option explained with its default, the URL schemes
and exit codes of ``probe`` and ``listen``; ``tlsdiag schema`` requires the README's fixed keys."""

from __future__ import annotations

import argparse
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from diagnostics.cli.main import build_parser
from diagnostics.model.jsonform import schema

README = Path(__file__).resolve().parents[2] / "README.md"


def _sub_parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield " ".join((*path, name)), sub
                yield from _sub_parsers(sub, (*path, name))


SUB_PARSERS = dict(_sub_parsers(build_parser()))


def _has_default(action: argparse.Action) -> bool:
    """A default worth telling: not None, not an off switch, not an empty list."""
    if action.default in (None, False, [], argparse.SUPPRESS) or action.required:
        return False
    return not isinstance(action, argparse._StoreConstAction | argparse._HelpAction)


def test_the_walk_finds_every_command() -> None:
    """Every sub-command of COMMANDS (and cert's kinds) is walked below."""
    assert {"probe", "listen", "daemon", "verify", "inspect", "explain", "cert", "lab"} <= set(
        SUB_PARSERS
    )
    assert "cert selfsigned" in SUB_PARSERS


@pytest.mark.parametrize("command", sorted(SUB_PARSERS))
def test_every_option_has_help_with_its_default(command: str) -> None:
    """Each option and argument has a help text; one with a default names it (%(default)s,
    or the value itself), and the rendered help shows that value."""
    parser = SUB_PARSERS[command]
    rendered = parser.format_help()
    missing, no_default = [], []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        if not action.help or action.help == argparse.SUPPRESS:
            missing.append(name)
            continue
        told = "%(default)" in action.help or str(action.default) in action.help
        if _has_default(action) and not told:
            no_default.append(name)
        if _has_default(action):
            assert str(action.default) in " ".join(rendered.split()), (command, name)
    assert missing == [], f"tlsdiag {command}: options without help: {missing}"
    assert no_default == [], f"tlsdiag {command}: help without the default: {no_default}"


@pytest.mark.parametrize("command", ["probe", "listen"])
def test_probe_and_listen_help_tell_the_schemes_and_exit_codes(command: str) -> None:
    """The epilog lists the URL schemes and the exit codes, laid out as written."""
    text = SUB_PARSERS[command].format_help()
    for scheme in ("https://", "ftps://", "ftpes://"):
        assert scheme in text
    assert "exit codes:" in text
    assert re.search(r"^  0  ", text, re.MULTILINE) and re.search(r"^  2  ", text, re.MULTILINE)
    if command == "probe":
        assert "tls://HOST:PORT" in text
        assert re.search(r"^  1  problems", text, re.MULTILINE)
        assert re.search(r"^  3  failed", text, re.MULTILINE)


def test_help_runs_for_every_command() -> None:
    """``tlsdiag COMMAND --help`` prints (exit 0) for every sub-command."""
    from diagnostics.cli.main import main

    for command in SUB_PARSERS:
        out = io.StringIO()
        with pytest.raises(SystemExit) as stopped:
            main([*command.split(), "--help"], out)
        assert stopped.value.code == 0


def _readme_fixed_keys() -> set[str]:
    text = README.read_text("utf-8")
    section = text[text.index("## The JSON result") :]
    section = section[: section.index("\n## ", 3)]
    keys: set[str] = set()
    for row in re.findall(r"^\| (`[^|]+`) \|", section, re.MULTILINE):
        keys.update(re.findall(r"`([a-z_]+)`", row))
    return keys


def test_schema_requires_every_key_the_readme_calls_fixed() -> None:
    """Every top-level key of the README's table of fixed keys is required by the schema."""
    fixed = _readme_fixed_keys()
    assert {"status", "client_auth", "started_at", "tlsdiag_version", "http", "ftp"} <= fixed
    assert fixed <= set(schema()["required"])
    assert set(schema()["required"]) <= set(schema()["properties"])
