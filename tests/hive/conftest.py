"""Makes tests/hive/hive_check.py importable (shared with tests/bcd)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
