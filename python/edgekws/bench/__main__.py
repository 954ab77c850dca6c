"""``python -m edgekws.bench``: the same as ``edgekws bench`` (:mod:`edgekws.bench.cli`),
for a checkout whose ``edgekws`` script is not on PATH."""
import sys

from edgekws.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
