"""``python -m featviz_extras``: see :mod:`featviz_extras.cli`."""

from featviz_extras.cli import main

raise SystemExit(main())
