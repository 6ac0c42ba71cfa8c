"""``python -m sim.cli``: the ``racesim`` command."""

from __future__ import annotations

import sys

from . import main

sys.exit(main())
