import os
import sys

# The test helpers (akida_twins) live beside the tests.
sys.path.insert(0, os.path.dirname(__file__))
