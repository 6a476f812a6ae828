"""The one base of every error tlsdiag raises, so that callers can catch them all.

Pure data.  A :class:`TlsdiagError` carries one sentence for the user (bad input, an unusable
file, a configuration problem); the entry points turn it into a message and an exit code,
never a traceback.  Findings are data, never exceptions: these are for what stops a command
or a step before there is anything to diagnose.
"""

from __future__ import annotations


class TlsdiagError(Exception):
    """Something tlsdiag was given or met that it cannot use, said in one sentence."""
