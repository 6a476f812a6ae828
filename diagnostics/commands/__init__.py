"""Sub-commands that live in their own module.

Each module here defines ``register(subparsers)``, which adds its sub-parser and sets
``handler=run`` on it, where ``run(args, out) -> int`` returns the exit code.  ``diagnostics.cli``
finds them all; adding a command is adding a module.
"""
