"""``python -m diagnostics`` runs the ``tlsdiag`` command line."""

from __future__ import annotations

import sys

from diagnostics.cli.main import main

sys.exit(main())
