"""``python -m pelvio`` is the ``pelvio`` command."""

import sys

from pelvio.app.cli import main

sys.exit(main())
