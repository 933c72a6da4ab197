"""``python -m cobaya_plugins``: see :mod:`cobaya_plugins.cli`."""

import sys

from cobaya_plugins.cli import main

sys.exit(main())
