"""Which TLS connections of probes are still alive: for scripts that probe in a process of
their own (:func:`run_script`) and check that nothing outlives its probe."""

from __future__ import annotations

import json
import subprocess
import sys
import weakref
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from OpenSSL import SSL

from diagnostics.tls import creators
from tests.support.servers import REPO


def track_client_connections() -> weakref.WeakSet[SSL.Connection]:
    """From now on, every client TLS connection a probe makes, held weakly."""
    made: weakref.WeakSet[SSL.Connection] = weakref.WeakSet()
    build = creators.RecordingClientCreator.clientConnectionForTLS

    def recording(self: creators.RecordingClientCreator, tls: Any) -> SSL.Connection:
        connection = build(self, tls)
        made.add(connection)
        return connection

    creators.RecordingClientCreator.clientConnectionForTLS = recording  # type: ignore[method-assign]
    return made


def run_script(source: str, path: Path, *args: str) -> Any:
    """Run ``source`` (written to ``path``) with the test interpreter from the repository,
    check that it ended cleanly, and return the JSON of its last line of output."""
    path.write_text(source)
    done = subprocess.run(
        [sys.executable, str(path), *args],
        cwd=REPO,
        capture_output=True,
        timeout=120,
        check=False,
    )
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    return json.loads(done.stdout.splitlines()[-1])


def run_under_reactor(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run the coroutine ``main`` under the real reactor, then stop it (a script's end)."""
    from twisted.internet import defer, reactor

    def run() -> None:
        d = defer.Deferred.fromCoroutine(main())
        d.addErrback(lambda f: (f.printTraceback(), None))
        d.addBoth(lambda _: reactor.stop())  # type: ignore[attr-defined]

    reactor.callWhenRunning(run)  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]
