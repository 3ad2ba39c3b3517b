"""``python -m pelvio`` is the ``pelvio`` command."""

import sys

from pelvio.cli import main

sys.exit(main())
