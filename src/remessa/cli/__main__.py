"""``python -m remessa.cli``: the same as the ``remessa`` command."""

import sys

from remessa.cli import main

sys.exit(main())
