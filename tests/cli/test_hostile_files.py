"""Every file option, given a device, a named pipe or a huge file: exit 2 at once, one line.

Each command runs as ``python -m diagnostics`` with its address space capped (2 GiB) and a
deadline: reading ``/dev/zero`` to its end would exhaust the cap, opening a FIFO nobody
writes to would never return.  The three hostile files of one option are tried at the same
time.  What must come back, for every option of every command: exit 2, one line on standard
error starting ``tlsdiag COMMAND:`` and naming the file, well within the deadline.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest
from cryptography.hazmat.primitives import serialization

from diagnostics.model.files import MAX_FILE_BYTES
from tests.support import memtls, pki, servers

DEADLINE = 30.0  # what the test waits; the answer must come far sooner
PROMPT = 10.0  # what "at once" allows, generously
ADDRESS_SPACE = 2 * 2**30


@attrs.frozen
class Good:
    """Usable files for the options that are not under test."""

    directory: Path
    cert: str
    key: str
    ca: str
    crl: str


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Good:
    directory = tmp_path_factory.mktemp("good")
    ca = pki.make_ca("Hostile Files Root")
    leaf = pki.issue(ca, sans=("localhost",))
    crl = directory / "ca.crl"
    crl.write_bytes(pki.make_crl(ca).public_bytes(serialization.Encoding.PEM))
    return Good(
        directory=directory,
        cert=memtls.write_pem(directory / "leaf.pem", [leaf.cert]),
        key=memtls.write_key(directory / "leaf.key", leaf.key),
        ca=memtls.write_pem(directory / "ca.pem", [ca.cert]),
        crl=str(crl),
    )


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """/dev/zero, a FIFO with no writer, and a sparse regular file 1 byte over the cap."""
    directory = tmp_path_factory.mktemp("hostile")
    fifo = directory / "pipe.pem"
    os.mkfifo(fifo)
    huge = directory / "huge.pem"
    with huge.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    yield {"/dev/zero": "/dev/zero", "fifo": str(fifo), "oversize": str(huge)}


def _limited() -> None:
    servers.interruptible()
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _config(good: Good, bad: str, body: str) -> str:
    path = good.directory / f"daemon-{abs(hash(bad))}-{abs(hash(body))}.toml"
    path.write_text(
        f'[daemon]\nlog_dir = "{good.directory / "logs"}"\n' + body.format(bad=bad, **_files(good))
    )
    return str(path)


def _files(good: Good) -> dict[str, str]:
    return {"cert": good.cert, "key": good.key, "ca": good.ca}


Arguments = Callable[[Good, str], list[str]]
PORT = servers.free_port()
LISTEN = ["listen", f"https://127.0.0.1:{PORT}"]


def _listen(good: Good, **given: str) -> list[str]:
    files = {"--cert": good.cert, "--key": good.key, **given}
    return [
        *LISTEN,
        *[part for option, path in files.items() for part in (option, path)],
        "--log-dir",
        str(good.directory / "listen-logs"),
    ]


CASES: dict[str, Arguments] = {
    "probe --ca": lambda g, bad: ["probe", "tls://127.0.0.1:9", "--ca", bad],
    "probe --crl": lambda g, bad: ["probe", "tls://127.0.0.1:9", "--crl", bad],
    "probe --cert": lambda g, bad: ["probe", "tls://127.0.0.1:9", "--cert", bad, "--key", g.key],
    "probe --key": lambda g, bad: ["probe", "tls://127.0.0.1:9", "--cert", g.cert, "--key", bad],
    "probe --targets": lambda g, bad: ["probe", "--targets", bad],
    "listen --cert": lambda g, bad: _listen(g, **{"--cert": bad}),
    "listen --key": lambda g, bad: _listen(g, **{"--key": bad}),
    "listen --client-ca": lambda g, bad: _listen(g, **{"--client-ca": bad}),
    "listen --crl": lambda g, bad: _listen(g, **{"--crl": bad}),
    "verify CERT": lambda g, bad: ["verify", bad],
    "verify --ca": lambda g, bad: ["verify", g.cert, "--ca", bad],
    "verify --untrusted": lambda g, bad: ["verify", g.cert, "--untrusted", bad],
    "verify --crl": lambda g, bad: ["verify", g.cert, "--crl", bad],
    "inspect FILE": lambda g, bad: ["inspect", bad],
    "daemon --config": lambda g, bad: ["daemon", "--config", bad],
    "daemon ca": lambda g, bad: [
        "daemon",
        "--config",
        _config(g, bad, '[[target]]\nurl = "tls://127.0.0.1:9"\nca = ["{bad}"]\n'),
    ],
    "daemon crl": lambda g, bad: [
        "daemon",
        "--config",
        _config(g, bad, '[[target]]\nurl = "tls://127.0.0.1:9"\ncrl = ["{bad}"]\n'),
    ],
    "daemon key": lambda g, bad: [
        "daemon",
        "--config",
        _config(g, bad, '[[target]]\nurl = "tls://127.0.0.1:9"\ncert = "{cert}"\nkey = "{bad}"\n'),
    ],
    "daemon listener cert": lambda g, bad: [
        "daemon",
        "--config",
        _config(
            g,
            bad,
            f'[[listener]]\nurl = "https://127.0.0.1:{PORT}"\ncert = "{{bad}}"\nkey = "{{key}}"\n',
        ),
    ],
    "daemon listener client_ca": lambda g, bad: [
        "daemon",
        "--config",
        _config(
            g,
            bad,
            f'[[listener]]\nurl = "https://127.0.0.1:{PORT}"\ncert = "{{cert}}"\n'
            'key = "{key}"\nclient_ca = ["{bad}"]\n',
        ),
    ],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_files_are_refused_at_once(case: str, good: Good, hostile: dict[str, str]) -> None:
    """/dev/zero, a FIFO and an over-size file: exit 2, one line naming the file, at once."""
    command = case.split()[0]
    started = time.monotonic()
    running = {
        kind: subprocess.Popen(
            [sys.executable, "-m", "diagnostics", *CASES[case](good, bad)],
            cwd=servers.REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_limited,
        )
        for kind, bad in hostile.items()
    }
    outcomes = {}
    try:
        for kind, process in running.items():
            out, err = process.communicate(
                timeout=max(1.0, DEADLINE - (time.monotonic() - started))
            )
            outcomes[kind] = (process.returncode, out, err, time.monotonic() - started)
    finally:
        for process in running.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    for kind, (code, out, err, elapsed) in outcomes.items():
        lines = err.splitlines()
        assert (code, len(lines)) == (2, 1), (kind, code, err[-2000:])
        assert lines[0].startswith(f"tlsdiag {command}: "), (kind, lines)
        assert hostile[kind] in lines[0], (kind, lines)
        assert out == ""
        assert elapsed < PROMPT, (kind, elapsed)
    problems = {kind: outcomes[kind][2] for kind in outcomes}
    assert "is a character device, not a regular file" in problems["/dev/zero"]
    assert "is a named pipe (FIFO), not a regular file" in problems["fifo"]
    assert "is larger than 64 MiB" in problems["oversize"]
