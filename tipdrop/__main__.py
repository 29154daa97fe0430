"""``python -m tipdrop``: the same command as ``tipdrop``."""

import sys

from tipdrop.cli import main

if __name__ == "__main__":
    sys.exit(main())
