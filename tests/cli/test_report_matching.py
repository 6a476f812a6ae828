"""Which listener event ``tlsdiag report`` puts beside a probe's: the same connection."""

from __future__ import annotations

import datetime
from typing import Any

from diagnostics.cli.report import pick_views

T0 = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)


def probe_event(port: int | None) -> dict[str, Any]:
    event: dict[str, Any] = {"server.address": "127.0.0.1", "server.port": 8443}
    if port is not None:
        event |= {"source.ip": "127.0.0.1", "source.port": port}
    return event | {"tlsdiag": {"status": "ok", "who": "probe"}}


def session_event(port: int, who: str) -> dict[str, Any]:
    return {
        "server.address": "127.0.0.1",
        "server.port": 8443,
        "client.ip": "127.0.0.1",
        "client.address": "127.0.0.1",
        "client.port": port,
        "tlsdiag": {"status": "ok", "who": who},
    }


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def test_the_same_connection_wins_over_the_nearest_in_time() -> None:
    """Of two sessions on the listener, the one whose client port is the probe's source
    port is merged, though the other was logged closer to the probe."""
    chosen = [
        (at(0), "server", session_event(50001, "ours")),
        (at(0.9), "server", session_event(50002, "someone else")),
        (at(1), "client", probe_event(50001)),
    ]
    views = pick_views(chosen)
    assert [v.role for v in views] == ["client", "server"]
    assert views[1].result["who"] == "ours"


def test_no_session_of_that_connection_is_no_merge() -> None:
    """A listener session from another connection is not "what they saw" of this probe."""
    chosen = [(at(0), "server", session_event(50002, "x")), (at(1), "client", probe_event(50001))]
    assert [v.role for v in pick_views(chosen)] == ["client"]


def test_events_without_source_fall_back_to_the_nearest_in_time() -> None:
    """An older probe log (no source.port): the nearest session on the same endpoint."""
    chosen = [
        (at(0), "server", session_event(50001, "earlier")),
        (at(0.9), "server", session_event(50002, "nearest")),
        (at(1), "client", probe_event(None)),
    ]
    assert pick_views(chosen)[1].result["who"] == "nearest"


def test_outside_the_window_is_no_merge() -> None:
    """The same connection logged minutes apart is not one attempt (clocks aside)."""
    chosen = [(at(0), "server", session_event(50001, "x")), (at(600), "client", probe_event(50001))]
    assert len(pick_views(chosen)) == 1
