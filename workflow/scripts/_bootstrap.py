"""Make the zooselect library importable by the workflow's scripts.

The README's set-up pip-installs it; in a conda environment made by
``--use-conda``, or on a node that only has the repository, the library is
taken from the repository's src/ instead.
"""

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("zooselect") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
