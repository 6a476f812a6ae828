"""The ``tlsdiag`` command: one module per sub-command, the shared parts beside them.

:mod:`.main` builds the parser from :data:`.main.COMMANDS`; each sub-command module defines
``register(subparsers)``, which adds its parser and sets ``handler=run`` on it, where
``run(args, out) -> int`` returns the exit code.  :mod:`.common` holds the exit codes and the
usage error, :mod:`.options` the option groups several sub-commands share, and :mod:`.twistd`
the adapter behind the ``twistd tlsdiag`` plugin.
"""
