"""``python -m feed``: the same as the ``nexy-feed`` console script."""

import sys

from .cli import main

sys.exit(main())
