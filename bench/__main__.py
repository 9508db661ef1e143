"""``python -m bench``: run every benchmark and print each figure as a JSON line."""

import sys

from bench.run import main

sys.exit(main())
