import os
import sys

# `reference` (the plain-Python twin of the compiled core) is imported by unit, property
# and benchmark tests alike.
sys.path.insert(0, os.path.dirname(__file__))
