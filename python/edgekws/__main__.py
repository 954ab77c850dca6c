"""``python -m edgekws``: the ``edgekws`` command, for when the script is not on PATH."""
import sys

from edgekws.cli import main

if __name__ == "__main__":
    sys.exit(main())
