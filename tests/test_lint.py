"""Style is enforced, not just written (style.md): ruff check and ruff format run as tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _helpers import REPO_ROOT

RUFF = Path(sys.executable).parent / "ruff"


def _ruff() -> str:
    found = str(RUFF) if RUFF.exists() else shutil.which("ruff")
    if found is None:
        pytest.skip("ruff not installed (it is in pebuild's test extra: pip install -e '.[test]')")
    return found


@pytest.mark.parametrize("args", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff_clean(args: list[str]) -> None:
    proc = subprocess.run(
        [_ruff(), *args, "src", "tests", "bench"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_module_past_600_lines_without_a_reason() -> None:
    """style.md: past ~600 lines a module becomes a package."""
    long = {
        str(p.relative_to(REPO_ROOT)): n
        for p in (REPO_ROOT / "src").rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 650
    }
    assert long == {}, long
